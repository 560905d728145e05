#include "serve/auth.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "common/log.h"
#include "common/mutex.h"

namespace liverec {
namespace {

constexpr std::string_view kBearer = "Bearer ";

// User tokens' rate buckets kept before the full ones are swept out: a few MB at most.
constexpr size_t kMaxTokenBuckets = 65536;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// What identifies one version of the key file: any rewrite (the CLI renames a new file into
// place) changes the inode, and an edit in place the modification time or size.
struct FileVersion {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  off_t size = 0;
  bool operator==(const FileVersion&) const = default;
};

FileVersion Stat(const std::string& path) {
  struct stat st {};
  FileVersion v;
  if (::stat(path.c_str(), &st) != 0) return v;
  v.exists = true;
  v.dev = st.st_dev;
  v.ino = st.st_ino;
  v.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  v.size = st.st_size;
  return v;
}

AuthDecision Refuse(int http_status, std::string message) {
  AuthDecision d;
  d.http_status = http_status;
  d.code = http_status == 401 ? "unauthorized" : "forbidden";
  d.message = std::move(message);
  return d;
}

Role RoleOf(Access access) {
  switch (access) {
    case Access::kIngest:
      return Role::kIngest;
    case Access::kAdmin:
      return Role::kAdmin;
    case Access::kOpen:
    case Access::kRead:
    case Access::kReadUserToken:
      return Role::kRead;
  }
  return Role::kAdmin;
}

std::string ProtectedModeMessage(const std::string& host, const std::string& data_dir) {
  return "protected mode: refusing to listen on " + host +
         " (not loopback) without an API key, since anyone who reaches the port could write "
         "events, roll the model back and read every user's history; create a key with "
         "`liverec keys add --data-dir " +
         data_dir + " --role admin`, or listen on 127.0.0.1";
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

Status CheckProtectedMode(const Options& options) {
  const std::string host = options.GetString("", "serve", "host");
  if (IsLoopbackHost(host)) return Status::Ok();
  const std::string data_dir = options.GetString("", "serve", "data_dir");
  bool exists = false;
  LIVEREC_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, ReadKeyFile(data_dir, &exists));
  if (keys.empty()) return FailedPrecondition(ProtectedModeMessage(host, data_dir));
  return Status::Ok();
}

class Authenticator::Impl {
 public:
  explicit Impl(const Options& options)
      : host_(options.GetString("", "serve", "host")),
        data_dir_(options.GetString("", "serve", "data_dir")),
        key_path_(KeyFilePath(data_dir_)),
        rate_per_s_(options.GetFloat("", "auth", "rate_limit")),
        burst_(static_cast<double>(options.GetInt("", "auth", "rate_burst"))),
        max_token_ttl_s_(
            static_cast<int64_t>(options.GetDurationSeconds("", "auth", "max_token_ttl"))) {}

  Status Start() {
    LIVEREC_ASSIGN_OR_RETURN(secret_, LoadOrCreateTokenSecret(data_dir_));
    const Status loaded = Reload();
    if (!loaded.ok()) return loaded;
    MutexLock lock(&mu_);
    if (!IsLoopbackHost(host_) && keys_->size() == 0) {
      return FailedPrecondition(ProtectedModeMessage(host_, data_dir_));
    }
    return Status::Ok();
  }

  Status Reload() {
    const FileVersion version = Stat(key_path_);
    bool exists = false;
    StatusOr<std::vector<ApiKey>> keys = ReadKeyFile(data_dir_, &exists);
    MutexLock lock(&mu_);
    version_ = version;
    enforced_ = exists || !IsLoopbackHost(host_);
    if (!keys.ok()) {
      // Fail closed: a key that was revoked must not come back because the file broke.
      keys_ = std::make_shared<const KeySet>();
      Log(LogLevel::kError,
          keys.status().message() + "; every key is refused until the file is fixed");
      return keys.status();
    }
    auto loaded = std::make_shared<const KeySet>(std::move(keys).value());
    keys_ = loaded;
    // Buckets of revoked keys go with them. (The lambda sees a local: the lock analysis checks
    // a lambda as a function of its own.)
    std::erase_if(buckets_, [&loaded](const auto& entry) {
      return std::none_of(loaded->keys().begin(), loaded->keys().end(),
                          [&](const ApiKey& k) { return k.id == entry.first; });
    });
    return Status::Ok();
  }

  AuthDecision Check(Access access, std::string_view authorization, std::string_view user) {
    if (access == Access::kOpen) return {};
    std::shared_ptr<const KeySet> keys = CurrentKeys();
    if (keys == nullptr) return {};  // not enforced
    if (authorization.empty()) {
      return Refuse(401, "Authorization: missing; send 'Authorization: Bearer <key>'");
    }
    if (authorization.size() < kBearer.size() ||
        !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return Refuse(401, "Authorization: expected 'Bearer <key>'");
    }
    std::string_view credential = authorization.substr(kBearer.size());
    while (!credential.empty() && credential.front() == ' ') credential.remove_prefix(1);
    while (!credential.empty() && credential.back() == ' ') credential.remove_suffix(1);
    if (LooksLikeUserToken(credential)) return CheckToken(access, credential, user);
    const ApiKey* key = keys->Find(credential);
    if (key == nullptr) return Refuse(401, "Authorization: unknown or revoked key");
    const Role needed = RoleOf(access);
    AuthDecision decision =
        key->role != Role::kAdmin && key->role != needed
            ? Refuse(403, "key " + key->id + " has role " + RoleName(key->role) +
                              "; this route needs " + RoleName(needed))
            : TakeToken(key->id);
    decision.key_id = key->id;
    return decision;
  }

  std::string MintToken(std::string_view user, int64_t ttl_s, int64_t* expires_ms) {
    *expires_ms = WallMs() + ttl_s * 1000;
    return MintUserToken(secret_, user, *expires_ms);
  }

  int64_t max_token_ttl_s() const { return max_token_ttl_s_; }
  bool enforced() {
    MutexLock lock(&mu_);
    return enforced_;
  }

 private:
  struct Bucket {
    double tokens = 0;
    double at_s = 0;
  };

  // The keys to check against, read again first if the file changed; nullptr when keys are
  // not enforced.
  std::shared_ptr<const KeySet> CurrentKeys() {
    const FileVersion version = Stat(key_path_);
    {
      MutexLock lock(&mu_);
      if (version == version_) return enforced_ ? keys_ : nullptr;
    }
    // Two threads may both read the new file: the same answer, written twice.
    (void)Reload();
    MutexLock lock(&mu_);
    return enforced_ ? keys_ : nullptr;
  }

  AuthDecision CheckToken(Access access, std::string_view token, std::string_view user) {
    StatusOr<UserToken> parsed = VerifyUserToken(secret_, token, WallMs());
    if (!parsed.ok()) return Refuse(401, "Authorization: " + parsed.status().message());
    if (access != Access::kReadUserToken) {
      return Refuse(403, "a user token may only read recommendations (GET /v1/recommendations)");
    }
    if (parsed->user != user) {
      return Refuse(403, "user: this token reads the recommendations of another user only");
    }
    // A token lives in a browser: its user's requests share one bucket, as a key's do.
    return TakeToken(std::string(parsed->user), /*user_token=*/true);
  }

  // A token bucket per key, and per user of user tokens: auth.rate_burst requests at once,
  // refilled at auth.rate_limit per second.
  AuthDecision TakeToken(const std::string& id, bool user_token = false) {
    if (rate_per_s_ <= 0) return {};
    const double now_s = SteadySeconds();
    MutexLock lock(&mu_);
    auto& buckets = user_token ? token_buckets_ : buckets_;
    if (user_token && buckets.size() >= kMaxTokenBuckets) {
      // Users come and go: the buckets that refilled since are the same as none.
      std::erase_if(buckets, [&](const auto& entry) {
        return entry.second.tokens + (now_s - entry.second.at_s) * rate_per_s_ >= burst_;
      });
    }
    auto [it, inserted] = buckets.try_emplace(id, Bucket{burst_, now_s});
    Bucket& b = it->second;
    b.tokens = std::min(burst_, b.tokens + (now_s - b.at_s) * rate_per_s_);
    b.at_s = now_s;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return {};
    }
    AuthDecision d;
    d.http_status = 429;
    d.code = "rate_limited";
    d.message = (user_token ? std::string("this user token") : "key " + id) +
                " is over auth.rate_limit=" + std::to_string(rate_per_s_) +
                " requests/s (burst auth.rate_burst=" + std::to_string(burst_) + ")";
    d.retry_after_s = static_cast<int>(std::ceil((1 - b.tokens) / rate_per_s_));
    return d;
  }

  const std::string host_;
  const std::string data_dir_;
  const std::string key_path_;
  const double rate_per_s_;
  const double burst_;
  const int64_t max_token_ttl_s_;
  TokenSecret secret_{};  // written by Start only, before any Check

  Mutex mu_;
  FileVersion version_ LIVEREC_GUARDED_BY(mu_);
  bool enforced_ LIVEREC_GUARDED_BY(mu_) = true;
  std::shared_ptr<const KeySet> keys_ LIVEREC_GUARDED_BY(mu_) = std::make_shared<const KeySet>();
  std::unordered_map<std::string, Bucket> buckets_ LIVEREC_GUARDED_BY(mu_);
  // User tokens' buckets by user, at most about kMaxTokenBuckets (full ones are dropped).
  std::unordered_map<std::string, Bucket> token_buckets_ LIVEREC_GUARDED_BY(mu_);
};

Authenticator::Authenticator(const Options& options) : impl_(std::make_unique<Impl>(options)) {}
Authenticator::~Authenticator() = default;
Status Authenticator::Start() { return impl_->Start(); }
AuthDecision Authenticator::Check(Access access, std::string_view authorization,
                                  std::string_view user) {
  return impl_->Check(access, authorization, user);
}
Status Authenticator::Reload() { return impl_->Reload(); }
std::string Authenticator::MintToken(std::string_view user, int64_t ttl_s, int64_t* expires_ms) {
  return impl_->MintToken(user, ttl_s, expires_ms);
}
int64_t Authenticator::max_token_ttl_s() const { return impl_->max_token_ttl_s(); }
bool Authenticator::enforced() const { return impl_->enforced(); }

}  // namespace liverec
