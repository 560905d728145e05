// Authenticator: who may call which route (docs/http_api.md, "Keys and roles").
//
// A request carries "Authorization: Bearer <credential>", where the credential is an API key
// (serve/key_store.h) or a user token (serve/user_token.h). A route needs a role; an admin key
// may call every route, a read or ingest key the routes of its role, a user token only
// GET /v1/recommendations for its own user. Missing, unknown, malformed or expired
// credentials: 401; a valid one without the right: 403; a key over auth.rate_limit: 429.
//
// Keys are enforced when the data directory has a key file (even one emptied by revocations:
// revoking the last key does not open the server) and always off loopback: protected mode
// refuses to start on a non-loopback serve.host without a key (CheckProtectedMode). On loopback
// without a key file the server runs open, as it did before keys existed.
//
// The key file is read again when it changes (checked by stat on every request, about a
// microsecond) and on Reload (SIGHUP), so `liverec keys revoke` takes effect on the next
// request without a restart. A key file that fails to parse refuses every key until it parses.
//
// Thread safety: Check, Reload and MintToken may be called from any thread at once.
#ifndef LIVEREC_SERVE_AUTH_H_
#define LIVEREC_SERVE_AUTH_H_

#include <memory>
#include <string>
#include <string_view>

#include "liverec/options.h"
#include "liverec/status.h"
#include "serve/key_store.h"
#include "serve/user_token.h"

namespace liverec {

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

// FailedPrecondition with one line saying why and how to fix it when serve.host is not
// loopback and the data directory holds no key; OK otherwise. Reads the key file.
Status CheckProtectedMode(const Options& options);

// What a route asks of the caller.
enum class Access {
  kOpen,           // no credential (health checks)
  kRead,           // a read key (or admin)
  kReadUserToken,  // a read key, or a user token for the request's user
  kIngest,         // an ingest key (or admin)
  kAdmin,          // an admin key
};

// The outcome of Authenticator::Check.
struct AuthDecision {
  int http_status = 200;  // 200: go on; 401, 403 or 429 otherwise
  std::string code;       // "unauthorized", "forbidden", "rate_limited"
  std::string message;    // never contains the credential
  int retry_after_s = 0;  // for 429
  std::string key_id;     // the API key presented, when known (for the request log); else ""
};

class Authenticator {
 public:
  // Reads auth.* and serve.host / serve.data_dir.
  explicit Authenticator(const Options& options);
  ~Authenticator();

  // Loads the key file and the token secret (created on the first start), and applies
  // protected mode. Must succeed before Check.
  Status Start();

  // Decides whether a request with `authorization` (the header's value, "" if absent) may
  // call a route of `access`; `user` is the request's user for kReadUserToken.
  AuthDecision Check(Access access, std::string_view authorization, std::string_view user);

  // Reads the key file again (SIGHUP); the error, if any, is also what Check then acts on.
  Status Reload();

  // A user token for `user`, valid `ttl_s` seconds from now; *expires_ms receives its expiry.
  std::string MintToken(std::string_view user, int64_t ttl_s, int64_t* expires_ms);

  // auth.max_token_ttl in seconds.
  int64_t max_token_ttl_s() const;
  // True while keys are enforced (see the top of this file).
  bool enforced() const;

  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace liverec

#endif  // LIVEREC_SERVE_AUTH_H_
