// Keys, user tokens and the Authenticator on real files in a temporary data directory.
#include "serve/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "serve/key_store.h"
#include "serve/user_token.h"
#include "store/secret_file.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

constexpr int64_t kNowS = 1'700'000'000;
constexpr int64_t kNowMs = kNowS * 1000;

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

class AuthTest : public testing::TempDirTest {
 protected:
  Options MakeOptions(std::initializer_list<std::string_view> sets = {}) {
    Options options;
    EXPECT_TRUE(options.Set("serve.data_dir", root_).ok());
    for (std::string_view set : sets) EXPECT_TRUE(options.SetAssignment(set).ok()) << set;
    return options;
  }
  std::string AddKeyOrDie(Role role, std::string_view name = "") {
    StatusOr<std::string> key = AddKey(root_, role, name, kNowS, nullptr);
    EXPECT_TRUE(key.ok()) << key.status().message();
    return key.ok() ? *key : "";
  }
};

TEST_F(AuthTest, KeyFileRoundTripsAndStoresOnlyTheHash) {
  ApiKey added;
  StatusOr<std::string> key = AddKey(root_, Role::kIngest, "loader-1", kNowS, &added);
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_TRUE(key->starts_with("lrk_" + added.id + "_")) << *key;
  std::ifstream in(KeyFilePath(root_));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The key's secret part is nowhere in the file; its hash is.
  EXPECT_FALSE(Contains(text, key->substr(4 + kKeyIdHexDigits + 1))) << text;
  EXPECT_TRUE(Contains(text, ToHex(Sha256(*key).data(), 32))) << text;
  struct stat st {};
  ASSERT_EQ(::stat(KeyFilePath(root_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  StatusOr<std::vector<ApiKey>> parsed = ParseKeyFile(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].id, added.id);
  EXPECT_EQ((*parsed)[0].role, Role::kIngest);
  EXPECT_EQ((*parsed)[0].name, "loader-1");
  EXPECT_EQ((*parsed)[0].created_s, kNowS);
  EXPECT_EQ(RenderKeyFile(*parsed), text);
}

TEST_F(AuthTest, KeyFileErrorsNameTheLineAndField) {
  const std::string hash(64, 'a');
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"liverec-keys 2\n", "header"},
      {"liverec-keys 1\n0123456789abcdef root " + hash + " 1 n\n", "line 2: role"},
      {"liverec-keys 1\n0123456789ABCDEF read " + hash + " 1 n\n", "line 2: id"},
      {"liverec-keys 1\n0123456789abcdef read abc 1 n\n", "line 2: sha256"},
      {"liverec-keys 1\n0123456789abcdef read " + hash + " -4 n\n", "line 2: created"},
      {"liverec-keys 1\n0123456789abcdef read " + hash + " 1 a b\n", "line 2: name"},
      {"liverec-keys 1\n0123456789abcdef read " + hash + "\n", "5 fields"},
      {"liverec-keys 1\n0123456789abcdef read " + hash + " 1 a\n0123456789abcdef admin " + hash +
           " 1 b\n",
       "line 3: id: 0123456789abcdef appears twice"},
  };
  for (const Case& c : cases) {
    StatusOr<std::vector<ApiKey>> parsed = ParseKeyFile(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(parsed.status().message(), c.expected))
        << parsed.status().message() << " / " << c.expected;
  }
}

TEST_F(AuthTest, KeySetFindsOnlyTheExactKey) {
  const std::string read = AddKeyOrDie(Role::kRead);
  const std::string admin = AddKeyOrDie(Role::kAdmin);
  bool exists = false;
  StatusOr<std::vector<ApiKey>> keys = ReadKeyFile(root_, &exists);
  ASSERT_TRUE(keys.ok() && exists);
  const KeySet set(std::move(keys).value());
  ASSERT_NE(set.Find(read), nullptr);
  EXPECT_EQ(set.Find(read)->role, Role::kRead);
  EXPECT_EQ(set.Find(admin)->role, Role::kAdmin);
  std::string flipped = admin;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(set.Find(flipped), nullptr);
  EXPECT_EQ(set.Find(admin.substr(0, admin.size() - 1)), nullptr);
  EXPECT_EQ(set.Find(""), nullptr);
  // The id of one key with the secret of another.
  EXPECT_EQ(set.Find(read.substr(0, 21) + admin.substr(21)), nullptr);
}

TEST_F(AuthTest, RevokedKeyLeavesTheFileAndUnknownIdIsNotFound) {
  ApiKey a;
  ASSERT_TRUE(AddKey(root_, Role::kRead, "a", kNowS, &a).ok());
  AddKeyOrDie(Role::kRead, "b");
  ASSERT_TRUE(RevokeKey(root_, a.id).ok());
  bool exists = false;
  StatusOr<std::vector<ApiKey>> keys = ReadKeyFile(root_, &exists);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].name, "b");
  const Status again = RevokeKey(root_, a.id);
  EXPECT_EQ(again.code(), StatusCode::kNotFound) << again.message();
}

TEST_F(AuthTest, ConcurrentAddsKeepEveryKey) {
  constexpr int kThreads = 4;
  constexpr int kKeysEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < kKeysEach; ++i) AddKeyOrDie(Role::kRead);
    });
  }
  for (std::thread& t : threads) t.join();
  bool exists = false;
  StatusOr<std::vector<ApiKey>> keys = ReadKeyFile(root_, &exists);
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  EXPECT_EQ(keys->size(), static_cast<size_t>(kThreads * kKeysEach));
}

TEST_F(AuthTest, KeyNameWithSpacesIsRefusedNamingName) {
  StatusOr<std::string> key = AddKey(root_, Role::kRead, "my key", kNowS, nullptr);
  ASSERT_FALSE(key.ok());
  EXPECT_TRUE(key.status().message().starts_with("name:")) << key.status().message();
}

TEST_F(AuthTest, UserTokenVerifiesUntilItExpires) {
  StatusOr<TokenSecret> secret = LoadOrCreateTokenSecret(root_);
  ASSERT_TRUE(secret.ok()) << secret.status().message();
  StatusOr<TokenSecret> again = LoadOrCreateTokenSecret(root_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*secret, *again);  // created once, then read
  const std::string token = MintUserToken(*secret, "u:1 ü", kNowMs + 1000);
  StatusOr<UserToken> parsed = VerifyUserToken(*secret, token, kNowMs);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->user, "u:1 ü");
  EXPECT_EQ(parsed->expires_ms, kNowMs + 1000);
  StatusOr<UserToken> expired = VerifyUserToken(*secret, token, kNowMs + 1000);
  ASSERT_FALSE(expired.ok());
  EXPECT_TRUE(Contains(expired.status().message(), "expired")) << expired.status().message();
}

TEST_F(AuthTest, TamperedOrForeignTokensAreRefused) {
  StatusOr<TokenSecret> secret = LoadOrCreateTokenSecret(root_);
  ASSERT_TRUE(secret.ok());
  const std::string token = MintUserToken(*secret, "u1", kNowMs + 1000);
  for (size_t i = 5; i < token.size(); ++i) {
    std::string tampered = token;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(VerifyUserToken(*secret, tampered, kNowMs).ok()) << i;
  }
  TokenSecret other = *secret;
  other[0] ^= 1;
  StatusOr<UserToken> foreign = VerifyUserToken(other, token, kNowMs);
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(Contains(foreign.status().message(), "signature")) << foreign.status().message();
  // A token whose payload names another user, signed by another server.
  EXPECT_FALSE(VerifyUserToken(*secret, MintUserToken(other, "u2", kNowMs + 1000), kNowMs).ok());
}

TEST_F(AuthTest, TokenRequestErrorsNameTheField) {
  StatusOr<TokenRequest> ok = ParseTokenRequest(R"({"user":"u1","ttl_s":60})", 3600);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->user, "u1");
  EXPECT_EQ(ok->ttl_s, 60);
  struct Case {
    std::string body;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{{R"({"ttl_s":60})", "user:"},
                                         {R"({"user":""})", "user:"},
                                         {R"({"user":7})", "user:"},
                                         {R"({"user":"u","ttl_s":0})", "ttl_s:"},
                                         {R"({"user":"u","ttl_s":7200})", "ttl_s:"},
                                         {R"({"user":"u","ttl_s":1.5})", "ttl_s:"},
                                         {R"({"user":"u","tll_s":5})", "\"tll_s\":"},
                                         {R"([1])", "body:"},
                                         {R"({"user":)", "body:"}}) {
    StatusOr<TokenRequest> parsed = ParseTokenRequest(c.body, 3600);
    ASSERT_FALSE(parsed.ok()) << c.body;
    EXPECT_TRUE(parsed.status().message().starts_with(c.field))
        << c.body << ": " << parsed.status().message();
  }
}

TEST_F(AuthTest, LoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
}

TEST_F(AuthTest, ProtectedModeRefusesAPublicAddressWithoutKeysInOneLine) {
  const Options options = MakeOptions({"serve.host=0.0.0.0"});
  const Status refused = CheckProtectedMode(options);
  ASSERT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(refused.message(), "0.0.0.0")) << refused.message();
  EXPECT_TRUE(Contains(refused.message(), "liverec keys add")) << refused.message();
  EXPECT_FALSE(Contains(refused.message(), "\n"));
  Authenticator auth(options);
  EXPECT_EQ(auth.Start().code(), StatusCode::kFailedPrecondition);
  AddKeyOrDie(Role::kAdmin);
  EXPECT_TRUE(CheckProtectedMode(options).ok());
  EXPECT_TRUE(auth.Start().ok());
  EXPECT_TRUE(CheckProtectedMode(MakeOptions()).ok());  // loopback: no key needed
}

TEST_F(AuthTest, LoopbackWithoutKeyFileIsOpenUntilAKeyIsAdded) {
  Authenticator auth(MakeOptions());
  ASSERT_TRUE(auth.Start().ok());
  EXPECT_FALSE(auth.enforced());
  EXPECT_EQ(auth.Check(Access::kAdmin, "", "").http_status, 200);
  const std::string key = AddKeyOrDie(Role::kRead);
  // Seen on the next check, without Reload.
  EXPECT_EQ(auth.Check(Access::kAdmin, "", "").http_status, 401);
  EXPECT_TRUE(auth.enforced());
  EXPECT_EQ(auth.Check(Access::kRead, "Bearer " + key, "").http_status, 200);
  EXPECT_EQ(auth.Check(Access::kIngest, "Bearer " + key, "").http_status, 403);
}

TEST_F(AuthTest, RateLimitAnswers429WithRetryAfterPerKey) {
  // 0.01 requests/s: the bucket does not refill during the test.
  Authenticator auth(MakeOptions({"auth.rate_limit=0.01", "auth.rate_burst=3"}));
  const std::string a = AddKeyOrDie(Role::kRead);
  const std::string b = AddKeyOrDie(Role::kRead);
  ASSERT_TRUE(auth.Start().ok());
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(auth.Check(Access::kRead, "Bearer " + a, "").http_status, 200);
  const AuthDecision limited = auth.Check(Access::kRead, "Bearer " + a, "");
  EXPECT_EQ(limited.http_status, 429);
  EXPECT_EQ(limited.code, "rate_limited");
  EXPECT_GE(limited.retry_after_s, 1);
  EXPECT_LE(limited.retry_after_s, 100);
  EXPECT_EQ(auth.Check(Access::kRead, "Bearer " + b, "").http_status, 200);  // its own bucket
}

// Readers check keys on many threads while the key file is rewritten under them (TSan runs
// this): every check sees a whole key set, the kept key always passes, and the revoked one
// fails once its revocation is read.
TEST_F(AuthTest, ConcurrentChecksWhileKeysAreAddedAndRevoked) {
  Authenticator auth(MakeOptions());
  const std::string kept = AddKeyOrDie(Role::kRead);
  ApiKey revoked_key;
  StatusOr<std::string> revoked = AddKey(root_, Role::kRead, "", kNowS, &revoked_key);
  ASSERT_TRUE(revoked.ok());
  ASSERT_TRUE(auth.Start().ok());
  constexpr int kThreads = 4;
  std::atomic<bool> done{false};
  std::atomic<int> kept_refused{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kThreads; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        if (auth.Check(Access::kRead, "Bearer " + kept, "").http_status != 200) ++kept_refused;
        auth.Check(Access::kRead, "Bearer " + *revoked, "");
      }
    });
  }
  for (int i = 0; i < 10; ++i) AddKeyOrDie(Role::kIngest);
  ASSERT_TRUE(RevokeKey(root_, revoked_key.id).ok());
  EXPECT_EQ(auth.Check(Access::kRead, "Bearer " + *revoked, "").http_status, 401);
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(kept_refused.load(), 0);
}

TEST_F(AuthTest, CorruptKeyFileRefusesEveryKey) {
  Authenticator auth(MakeOptions());
  const std::string key = AddKeyOrDie(Role::kAdmin);
  ASSERT_TRUE(auth.Start().ok());
  EXPECT_EQ(auth.Check(Access::kAdmin, "Bearer " + key, "").http_status, 200);
  ASSERT_TRUE(WriteSecretFile(KeyFilePath(root_), "not a key file\n").ok());
  EXPECT_FALSE(auth.Reload().ok());
  EXPECT_EQ(auth.Check(Access::kAdmin, "Bearer " + key, "").http_status, 401);
}

}  // namespace
}  // namespace liverec
