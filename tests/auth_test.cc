// Keys, roles, user tokens and TLS against the real server: an Engine on a temporary directory,
// an HttpServer on an ephemeral port of 127.0.0.1, keys written by the key store (the same code
// as `liverec keys`), certificates made by the openssl command and checked by curl --cacert,
// and the `liverec` binary itself for the CLI, protected mode and SIGHUP.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_testing.h"
#include "engine/engine_testing.h"
#include "liverec/engine.h"
#include "serve/http_server.h"
#include "serve/key_store.h"
#include "serve/user_token.h"
#include "server_testing.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

using Json = nlohmann::json;

constexpr const char* kHost = "127.0.0.1";
constexpr time_t kClientTimeoutS = 60;
constexpr int64_t kStartMs = 1'700'000'000'000;
// Well-formed, but no server made it.
constexpr const char* kUnknownKey =
    "lrk_0123456789abcdef_0000000000000000000000000000000000000000000000000000000000000000";

struct Answer {
  int status = 0;
  std::string text;
  Json body;
  std::string www_authenticate;
  std::string retry_after;
};

std::ostream& operator<<(std::ostream& os, const Answer& a) {
  return os << "HTTP " << a.status << " " << a.text;
}

std::string ErrorCode(const Answer& a) {
  if (!a.body.is_object() || !a.body.contains("error")) return "";
  return a.body["error"].value("code", "");
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using testing::CommandResult;
using testing::RunCli;

class AuthHttpTest : public testing::InProcessServerTest {
 protected:
  std::string NewKey(Role role, std::string_view name = "") {
    StatusOr<std::string> key = AddKey(root_, role, name, NowMs() / 1000, nullptr);
    EXPECT_TRUE(key.ok()) << key.status().message();
    return key.ok() ? *key : "";
  }

  // One request; `credential` goes into "Authorization: Bearer ..." unless empty; a body is
  // sent as JSON for POST and PUT.
  Answer Send(const std::string& method, const std::string& path, const std::string& credential,
              const std::string& body = "{}", const std::string& authorization = "") const {
    httplib::Client client(kHost, port_);
    client.set_tcp_nodelay(true);
    client.set_connection_timeout(kClientTimeoutS, 0);
    client.set_read_timeout(kClientTimeoutS, 0);
    httplib::Headers headers;
    if (!authorization.empty()) {
      headers.emplace("Authorization", authorization);
    } else if (!credential.empty()) {
      headers.emplace("Authorization", "Bearer " + credential);
    }
    auto request = [&]() -> httplib::Result {
      if (method == "GET") return client.Get(path, headers);
      if (method == "DELETE") return client.Delete(path, headers);
      if (method == "POST") return client.Post(path, headers, body, "application/json");
      return client.Put(path, headers, body, "application/json");
    };
    const httplib::Result result = request();
    Answer a;
    if (!result) return a;
    a.status = result->status;
    a.text = result->body;
    a.body = Json::parse(a.text, nullptr, false);
    a.www_authenticate = result->get_header_value("WWW-Authenticate");
    a.retry_after = result->get_header_value("Retry-After");
    return a;
  }

  // A concrete path for an endpoint of HttpEndpoints(): "*" segments become ids, and a
  // recommendation names user u1.
  static std::string PathOf(const EndpointInfo& e) {
    std::string path;
    std::string_view rest = e.path;
    while (!rest.empty()) {
      rest.remove_prefix(1);
      const size_t slash = rest.find('/');
      const std::string_view segment = rest.substr(0, slash);
      path += "/";
      path += segment == "*" ? "x" : std::string(segment);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    if (e.path == "/v1/recommendations") path += "?user=u1";
    if (e.path == "/ui/*") path = "/ui/app.js";
    // A stream that ends, so that the answer can be read whole.
    if (e.path == "/v1/stats/stream") path += "?max_events=1";
    return path;
  }

  std::string MintToken(const std::string& admin_key, const std::string& user) {
    const Answer a =
        Send("POST", "/v1/tokens", admin_key, Json{{"user", user}, {"ttl_s", 600}}.dump());
    EXPECT_EQ(a.status, 200) << a;
    return a.status == 200 ? a.body["token"].get<std::string>() : "";
  }
};

TEST_F(AuthHttpTest, EveryRouteRefusesMissingUnknownAndWrongRoleCredentials) {
  const std::map<Role, std::string> keys = {{Role::kRead, NewKey(Role::kRead, "r")},
                                            {Role::kIngest, NewKey(Role::kIngest, "i")},
                                            {Role::kAdmin, NewKey(Role::kAdmin, "a")}};
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string token = MintToken(keys.at(Role::kAdmin), "u1");
  const std::vector<EndpointInfo> endpoints = HttpEndpoints();
  ASSERT_GE(endpoints.size(), 19u);
  for (const EndpointInfo& e : endpoints) {
    SCOPED_TRACE(e.method + " " + e.path + " (" + e.access + ")");
    const std::string path = PathOf(e);
    const bool open = e.access == "open";
    for (const std::string& authorization :
         {std::string(), "Bearer " + std::string(kUnknownKey), std::string("Basic dTpw"),
          std::string("Bearer"), "Bearer " + token + "x"}) {
      const Answer a = Send(e.method, path, "", "{}", authorization);
      if (open) {
        EXPECT_NE(a.status, 401) << a;
        continue;
      }
      EXPECT_EQ(a.status, 401) << authorization << ": " << a;
      EXPECT_EQ(ErrorCode(a), "unauthorized") << a;
      EXPECT_EQ(a.www_authenticate, R"(Bearer realm="liverec")");
      EXPECT_FALSE(Contains(a.text, kUnknownKey)) << a;
    }
    for (const auto& [role, key] : keys) {
      const Answer a = Send(e.method, path, key);
      const bool allowed =
          open || role == Role::kAdmin ||
          (role == Role::kRead && (e.access == "read" || e.access == "read_or_user_token")) ||
          (role == Role::kIngest && e.access == "ingest");
      if (allowed) {
        EXPECT_NE(a.status, 401) << RoleName(role) << ": " << a;
        EXPECT_NE(a.status, 403) << RoleName(role) << ": " << a;
      } else {
        EXPECT_EQ(a.status, 403) << RoleName(role) << ": " << a;
        EXPECT_EQ(ErrorCode(a), "forbidden") << a;
        EXPECT_TRUE(Contains(a.text, RoleName(role))) << a;
        EXPECT_FALSE(Contains(a.text, key.substr(21))) << a;  // the secret part
      }
    }
    // A user token reads its user's recommendations and nothing else.
    const Answer by_token = Send(e.method, path, token);
    if (open || e.access == "read_or_user_token") {
      EXPECT_EQ(by_token.status, 200) << by_token;
    } else {
      EXPECT_EQ(by_token.status, 403) << by_token;
    }
  }
}

TEST_F(AuthHttpTest, UserTokenRefusedWhenExpiredTamperedForeignOrForAnotherUser) {
  const std::string admin = NewKey(Role::kAdmin);
  const std::string ingest = NewKey(Role::kIngest);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Json events = Json::array({{{"user", "u1"}, {"item", "a"}, {"timestamp", kStartMs}},
                                   {{"user", "u2"}, {"item", "b"}, {"timestamp", kStartMs + 1}}});
  ASSERT_EQ(Send("POST", "/v1/events?wait=learned", ingest, events.dump()).status, 200);

  const Answer minted = Send("POST", "/v1/tokens", admin, R"({"user":"u1","ttl_s":3600})");
  ASSERT_EQ(minted.status, 200) << minted;
  EXPECT_EQ(minted.body["user"], "u1");
  EXPECT_GT(minted.body["expires_ms"].get<int64_t>(), NowMs());
  const std::string token = minted.body["token"];

  const Answer own = Send("GET", "/v1/recommendations?user=u1", token);
  ASSERT_EQ(own.status, 200) << own;
  EXPECT_EQ(own.body["items"][0]["item"], "b");
  const Answer other = Send("GET", "/v1/recommendations?user=u2", token);
  EXPECT_EQ(other.status, 403) << other;
  EXPECT_TRUE(Contains(other.text, "another user")) << other;
  EXPECT_EQ(Send("GET", "/v1/users/u1", token).status, 403);

  // Expired: a token of this server's secret whose time has passed.
  StatusOr<TokenSecret> secret = LoadOrCreateTokenSecret(root_);
  ASSERT_TRUE(secret.ok());
  const Answer expired =
      Send("GET", "/v1/recommendations?user=u1", MintUserToken(*secret, "u1", NowMs() - 1000));
  EXPECT_EQ(expired.status, 401) << expired;
  EXPECT_TRUE(Contains(expired.text, "expired")) << expired;
  // Foreign: signed by another secret.
  TokenSecret foreign = *secret;
  foreign[7] ^= 0x40;
  const Answer forged =
      Send("GET", "/v1/recommendations?user=u1", MintUserToken(foreign, "u1", NowMs() + 60000));
  EXPECT_EQ(forged.status, 401) << forged;
  // Tampered: the payload swapped for another user's, the signature kept.
  const std::string u2 = MintToken(admin, "u2");
  const std::string spliced = u2.substr(0, u2.rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_EQ(Send("GET", "/v1/recommendations?user=u2", spliced).status, 401);

  // Minting needs admin, and a valid body.
  EXPECT_EQ(Send("POST", "/v1/tokens", ingest, R"({"user":"u1"})").status, 403);
  EXPECT_EQ(Send("POST", "/v1/tokens", token, R"({"user":"u1"})").status, 403);
  const Answer too_long = Send("POST", "/v1/tokens", admin, R"({"user":"u1","ttl_s":999999})");
  EXPECT_EQ(too_long.status, 400) << too_long;
  EXPECT_TRUE(Contains(too_long.text, "ttl_s")) << too_long;
  const Answer no_user = Send("POST", "/v1/tokens", admin, R"({"ttl_s":60})");
  EXPECT_EQ(no_user.status, 400) << no_user;
  EXPECT_TRUE(Contains(no_user.text, "user: missing")) << no_user;
}

TEST_F(AuthHttpTest, RevokedKeyIsRefusedOnTheNextRequestWithoutRestart) {
  ApiKey first;
  StatusOr<std::string> key = AddKey(root_, Role::kRead, "old", NowMs() / 1000, &first);
  ASSERT_TRUE(key.ok());
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(Send("GET", "/v1/stats", *key).status, 200);
  // Rotation: a second key of the same role works at once, beside the first.
  const std::string second = NewKey(Role::kRead, "new");
  EXPECT_EQ(Send("GET", "/v1/stats", second).status, 200);
  EXPECT_EQ(Send("GET", "/v1/stats", *key).status, 200);
  ASSERT_TRUE(RevokeKey(root_, first.id).ok());
  EXPECT_EQ(Send("GET", "/v1/stats", *key).status, 401);
  EXPECT_EQ(Send("GET", "/v1/stats", second).status, 200);
  EXPECT_TRUE(server_->Reload().ok());
  EXPECT_EQ(Send("GET", "/v1/stats", *key).status, 401);
}

TEST_F(AuthHttpTest, RevokingTheLastKeyDoesNotOpenTheServer) {
  ApiKey only;
  StatusOr<std::string> key = AddKey(root_, Role::kAdmin, "", NowMs() / 1000, &only);
  ASSERT_TRUE(key.ok());
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(RevokeKey(root_, only.id).ok());
  EXPECT_EQ(Send("GET", "/v1/stats", "").status, 401);
  EXPECT_EQ(Send("GET", "/healthz", "").status, 200);
}

TEST_F(AuthHttpTest, KeyOverItsRateLimitGets429WithRetryAfter) {
  const std::string a = NewKey(Role::kRead);
  const std::string b = NewKey(Role::kRead);
  // 0.01 requests/s: nothing refills during the test.
  ASSERT_NO_FATAL_FAILURE(StartServer({"auth.rate_limit=0.01", "auth.rate_burst=2"}));
  EXPECT_EQ(Send("GET", "/v1/stats", a).status, 200);
  EXPECT_EQ(Send("GET", "/v1/stats", a).status, 200);
  const Answer limited = Send("GET", "/v1/stats", a);
  EXPECT_EQ(limited.status, 429) << limited;
  EXPECT_EQ(ErrorCode(limited), "rate_limited");
  EXPECT_FALSE(limited.retry_after.empty());
  EXPECT_GE(std::stoi(limited.retry_after), 1);
  EXPECT_EQ(Send("GET", "/v1/stats", b).status, 200);
}

TEST_F(AuthHttpTest, UserTokensOfOneUserShareARateLimit) {
  const std::string admin = NewKey(Role::kAdmin);
  // Three requests at once, nothing refilled during the test: the admin key mints three tokens.
  ASSERT_NO_FATAL_FAILURE(StartServer({"auth.rate_limit=0.01", "auth.rate_burst=3"}));
  const std::string first = MintToken(admin, "u1");
  const std::string second = MintToken(admin, "u1");
  const std::string other = MintToken(admin, "u2");
  // Two tokens of u1 draw from one bucket; u2's token from its own.
  EXPECT_EQ(Send("GET", "/v1/recommendations?user=u1", first).status, 200);
  EXPECT_EQ(Send("GET", "/v1/recommendations?user=u1", second).status, 200);
  EXPECT_EQ(Send("GET", "/v1/recommendations?user=u1", first).status, 200);
  const Answer limited = Send("GET", "/v1/recommendations?user=u1", second);
  EXPECT_EQ(limited.status, 429) << limited;
  EXPECT_EQ(ErrorCode(limited), "rate_limited");
  EXPECT_FALSE(Contains(limited.text, "u1")) << limited;
  EXPECT_FALSE(limited.retry_after.empty());
  EXPECT_EQ(Send("GET", "/v1/recommendations?user=u2", other).status, 200);
}

TEST_F(AuthHttpTest, LoopbackWithoutKeysRunsOpen) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(Send("GET", "/v1/stats", "").status, 200);
  EXPECT_EQ(Send("POST", "/v1/admin/snapshot", "", "").status, 200);
}

TEST_F(AuthHttpTest, PublicAddressWithoutKeysIsRefusedAtBind) {
  Options options = testing::EngineOptions(root_, {"serve.host=0.0.0.0", "serve.port=0"});
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options, Context{}, "", nullptr);
  ASSERT_TRUE(engine.ok());
  HttpServer server(engine->get(), options);
  const StatusOr<int> port = server.Bind();
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(port.status().message(), "protected mode")) << port.status().message();
}

TEST_F(AuthHttpTest, ServeRefusesAPublicAddressWithoutKeysInOneLineOnStderr) {
  const std::string err = root_ + "/stderr.txt";
  const CommandResult serve =
      RunCli("serve --host 0.0.0.0 --port 0 --data-dir " + root_ + "/data", err);
  EXPECT_NE(serve.exit_code, 0);
  const std::string text = testing::ReadFile(err);
  EXPECT_TRUE(Contains(text, "protected mode")) << text;
  EXPECT_TRUE(Contains(text, "liverec keys add")) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  // Nothing was recovered or created before the refusal.
  EXPECT_FALSE(std::filesystem::exists(root_ + "/data/log"));
}

TEST_F(AuthHttpTest, KeysCommandAddsListsAndRevokes) {
  const std::string dir = root_ + "/data";
  const CommandResult added = RunCli("keys add --data-dir " + dir + " --role ingest --name etl");
  ASSERT_EQ(added.exit_code, 0) << added.out;
  ASSERT_TRUE(added.out.starts_with("lrk_")) << added.out;
  const std::string key = added.out.substr(0, added.out.find('\n'));
  const std::string id = key.substr(4, kKeyIdHexDigits);
  const CommandResult listed = RunCli("keys list --data-dir " + dir);
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_TRUE(Contains(listed.out, id)) << listed.out;
  EXPECT_TRUE(Contains(listed.out, "ingest")) << listed.out;
  EXPECT_TRUE(Contains(listed.out, "etl")) << listed.out;
  EXPECT_FALSE(Contains(listed.out, key.substr(21))) << listed.out;
  EXPECT_FALSE(Contains(testing::ReadFile(KeyFilePath(dir)), key.substr(21)));
  EXPECT_EQ(RunCli("keys add --data-dir " + dir + " --role root").exit_code, 2);
  ASSERT_EQ(RunCli("keys revoke --data-dir " + dir + " " + id).exit_code, 0);
  EXPECT_FALSE(Contains(RunCli("keys list --data-dir " + dir).out, id));
  EXPECT_NE(RunCli("keys revoke --data-dir " + dir + " " + id).exit_code, 0);
}

TEST_F(AuthHttpTest, PreflightAllowsTheAuthorizationHeader) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.cors_origins=https://app.example"}));
  httplib::Client client(kHost, port_);
  const httplib::Result result =
      client.Options("/v1/recommendations", {{"Origin", "https://app.example"}});
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 204);
  EXPECT_TRUE(Contains(result->get_header_value("Access-Control-Allow-Headers"), "Authorization"));
}

// --- TLS ---

// Runs a shell command; its exit code.
int Shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A self-signed certificate for 127.0.0.1 and its key (EC P-256: quick to make).
void MakeCertificate(const std::string& cert, const std::string& key) {
  ASSERT_EQ(Shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                  "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
                  key + " -out " + cert + " 2>/dev/null"),
            0);
}

// The HTTP status curl gets for GET `path` over HTTPS trusting only `ca`; 0 if the TLS
// connection failed (an untrusted certificate).
int CurlStatus(int port, const std::string& path, const std::string& ca,
               const std::string& header = "") {
  const std::string command = "curl -s -o /dev/null -w '%{http_code}' --max-time 60 --cacert " +
                              ca + (header.empty() ? "" : " -H '" + header + "'") +
                              " https://127.0.0.1:" + std::to_string(port) + path;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char out[16] = {};
  const size_t n = fread(out, 1, sizeof(out) - 1, pipe);
  pclose(pipe);
  return n == 0 ? -1 : std::atoi(out);
}

class TlsTest : public AuthHttpTest {
 protected:
  void SetUp() override {
    AuthHttpTest::SetUp();
    cert_ = root_ + "/cert.pem";
    key_ = root_ + "/key.pem";
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(cert_, key_));
    ca1_ = root_ + "/ca1.pem";
    std::filesystem::copy_file(cert_, ca1_);
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(root_ + "/cert2.pem", root_ + "/key2.pem"));
  }
  // Puts the second certificate and key in the paths the server reads.
  void RenewCertificate() {
    std::filesystem::rename(root_ + "/cert2.pem", cert_);
    std::filesystem::rename(root_ + "/key2.pem", key_);
  }
  std::string TlsSet(const char* name, const std::string& path) {
    return std::string(name) + "=" + path;
  }
  std::string cert_, key_, ca1_;
};

TEST_F(TlsTest, CurlTrustingTheCertificateGetsAnswersAndReloadSwitchesCertificates) {
  const std::string cert_set = TlsSet("serve.tls_cert", cert_);
  const std::string key_set = TlsSet("serve.tls_key", key_);
  Options options = testing::EngineOptions(root_, {cert_set, key_set, "serve.port=0"});
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options, Context{}, "", nullptr);
  ASSERT_TRUE(engine.ok());
  engine_ = std::move(engine).value();
  server_ = std::make_unique<HttpServer>(engine_.get(), options);
  StatusOr<int> port = server_->Bind();
  ASSERT_TRUE(port.ok()) << port.status().message();
  port_ = *port;
  thread_ = std::thread([this] { server_->Run(); });

  EXPECT_EQ(CurlStatus(port_, "/healthz", ca1_), 200);
  EXPECT_EQ(CurlStatus(port_, "/v1/stats", ca1_), 200);  // loopback without keys: open
  EXPECT_EQ(CurlStatus(port_, "/v1/nothing", ca1_), 404);
  // Plain HTTP to the TLS port gets no HTTP answer.
  EXPECT_EQ(Send("GET", "/healthz", "").status, 0);
  // A client that trusts another certificate refuses the connection.
  EXPECT_EQ(CurlStatus(port_, "/healthz", root_ + "/cert2.pem"), 0);

  const std::string ca2 = root_ + "/ca2.pem";
  std::filesystem::copy_file(root_ + "/cert2.pem", ca2);
  RenewCertificate();
  ASSERT_TRUE(server_->Reload().ok());
  EXPECT_EQ(CurlStatus(port_, "/healthz", ca2), 200);
  EXPECT_EQ(CurlStatus(port_, "/healthz", ca1_), 0);

  // A key that does not match the certificate is refused, and the pair in use stays.
  std::filesystem::copy_file(root_ + "/ca1.pem", cert_,
                             std::filesystem::copy_options::overwrite_existing);
  const Status bad = server_->Reload();
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad.message(), "serve.tls_key")) << bad.message();
  EXPECT_EQ(CurlStatus(port_, "/healthz", ca2), 200);
}

// A client that opens a connection and sends half a ClientHello is cut at the request deadline:
// the handshake runs under the connection loop's deadline, not in a blocking SSL_accept.
TEST_F(TlsTest, StalledHandshakeIsClosedAtTheRequestDeadline) {
  Options options =
      testing::EngineOptions(root_, {TlsSet("serve.tls_cert", cert_), TlsSet("serve.tls_key", key_),
                                     "serve.port=0", "serve.request_timeout=200ms"});
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options, Context{}, "", nullptr);
  ASSERT_TRUE(engine.ok());
  engine_ = std::move(engine).value();
  server_ = std::make_unique<HttpServer>(engine_.get(), options);
  StatusOr<int> port = server_->Bind();
  ASSERT_TRUE(port.ok()) << port.status().message();
  port_ = *port;
  thread_ = std::thread([this] { server_->Run(); });

  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  ::inet_pton(AF_INET, kHost, &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval bound{kClientTimeoutS, 0};  // a bound on a hung test, not a synchronization
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  // A TLS handshake record header announcing 512 bytes, then nothing.
  const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  ASSERT_EQ(::send(fd, partial, sizeof(partial), MSG_NOSIGNAL), 6);
  const auto start = std::chrono::steady_clock::now();
  char byte;
  const ssize_t got = ::recv(fd, &byte, 1, 0);
  const double waited_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  EXPECT_TRUE(got == 0 || (got < 0 && errno == ECONNRESET)) << got << " " << errno;
  EXPECT_LT(waited_s, kClientTimeoutS / 2.0);
  // Others are served meanwhile and after.
  EXPECT_EQ(CurlStatus(port_, "/healthz", ca1_), 200);
}

TEST_F(TlsTest, MissingCertificateIsRefusedAtBindNamingTheOption) {
  Options options = testing::EngineOptions(
      root_, {TlsSet("serve.tls_cert", root_ + "/none.pem"), TlsSet("serve.tls_key", key_)});
  ASSERT_TRUE(options.Set("serve.port", "0").ok());
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options, Context{}, "", nullptr);
  ASSERT_TRUE(engine.ok());
  HttpServer server(engine->get(), options);
  const StatusOr<int> port = server.Bind();
  ASSERT_FALSE(port.ok());
  EXPECT_TRUE(port.status().message().starts_with("serve.tls_cert:")) << port.status().message();
}

// A `liverec serve` process: its stdout and stderr read line by line.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& args) {
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::close(out[0]);
      ::close(err[0]);
      std::vector<char*> argv;
      std::string binary = LIVEREC_CLI_PATH;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (std::string& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = ::fdopen(out[0], "r");
    err_ = ::fdopen(err[0], "r");
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ != nullptr) std::fclose(out_);
    if (err_ != nullptr) std::fclose(err_);
  }
  // The next line of stdout (or stderr); "" at the end.
  std::string OutLine() { return Line(out_); }
  std::string ErrLine() { return Line(err_); }
  // Reads stderr up to a line containing `part`; false if it ended first.
  bool WaitForErr(std::string_view part) {
    for (std::string line = ErrLine(); !line.empty(); line = ErrLine()) {
      if (Contains(line, part)) return true;
    }
    return false;
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  static std::string Line(FILE* f) {
    if (f == nullptr) return "";
    char buf[4096];
    return std::fgets(buf, sizeof(buf), f) == nullptr ? "" : std::string(buf);
  }
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  FILE* err_ = nullptr;
};

TEST_F(TlsTest, SighupReloadsCertificateAndKeysOfARunningServe) {
  const std::string data = root_ + "/data";
  const std::string admin = [&] {
    StatusOr<std::string> k = AddKey(data, Role::kAdmin, "", NowMs() / 1000, nullptr);
    EXPECT_TRUE(k.ok());
    return k.ok() ? *k : "";
  }();
  ServeProcess serve({"serve", "--port", "0", "--data-dir", data, "--set",
                      "serve.tls_cert=" + cert_, "--set", "serve.tls_key=" + key_, "--set",
                      "mf.dim=8", "--set", "fm.dim=8"});
  const std::string listening = serve.OutLine();
  ASSERT_TRUE(Contains(listening, "https://127.0.0.1:")) << listening;
  const int port = std::stoi(listening.substr(listening.rfind(':') + 1));
  const std::string bearer = "Authorization: Bearer " + admin;
  EXPECT_EQ(CurlStatus(port, "/v1/stats", ca1_), 401);
  EXPECT_EQ(CurlStatus(port, "/v1/stats", ca1_, bearer), 200);

  const std::string ca2 = root_ + "/ca2.pem";
  std::filesystem::copy_file(root_ + "/cert2.pem", ca2);
  RenewCertificate();
  serve.Signal(SIGHUP);
  ASSERT_TRUE(serve.WaitForErr("SIGHUP: keys and certificates reloaded"));
  EXPECT_EQ(CurlStatus(port, "/v1/stats", ca2, bearer), 200);
  EXPECT_EQ(CurlStatus(port, "/v1/stats", ca1_, bearer), 0);

  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(), 0);
}

}  // namespace
}  // namespace liverec
