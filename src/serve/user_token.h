// User tokens: signed, expiring bearer tokens that may read one user's recommendations and
// nothing else (POST /v1/tokens mints them for an admin; a browser then asks for its own list).
//
// A token is "lrt1.<payload>.<mac>", both parts base64url without padding:
//   payload = "<expires unix ms>:<user>"  (the user's key as the client sends it)
//   mac     = HMAC-SHA256(secret, "lrt1.<payload>")  over the token's own bytes
// The secret is 32 random bytes in <data_dir>/auth/token_secret (64 hex digits), created on the
// first start; replacing the file (and restarting) revokes every token. Tokens are verified
// before anything of the payload is decoded, and compared in constant time (CRYPTO_memcmp).
//
// Thread safety: pure functions, except LoadOrCreateTokenSecret (one file).
#ifndef LIVEREC_SERVE_USER_TOKEN_H_
#define LIVEREC_SERVE_USER_TOKEN_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "liverec/status.h"

namespace liverec {

using TokenSecret = std::array<uint8_t, 32>;

// The longest user key a token may carry (the tokens travel in one header).
inline constexpr size_t kMaxTokenUserBytes = 1024;

// The token secret of a data directory, created (mode 0600) when missing. Corruption if the
// file exists but is not 64 hex digits.
StatusOr<TokenSecret> LoadOrCreateTokenSecret(const std::string& data_dir);
std::string TokenSecretPath(const std::string& data_dir);

// A token for `user` that expires at `expires_ms` (unix ms). Requires a user of 1 to
// kMaxTokenUserBytes bytes.
std::string MintUserToken(const TokenSecret& secret, std::string_view user, int64_t expires_ms);

// True if `text` has the shape of a user token (its prefix), whether valid or not.
bool LooksLikeUserToken(std::string_view text);

struct UserToken {
  std::string user;
  int64_t expires_ms = 0;
};

// The user and expiry of a valid token. InvalidArgument (a 401) saying what is wrong when
// `token` is malformed, its signature does not match, or it expired at or before `now_ms`;
// the message never repeats the token.
StatusOr<UserToken> VerifyUserToken(const TokenSecret& secret, std::string_view token,
                                    int64_t now_ms);

// The body of POST /v1/tokens: {"user": "u1", "ttl_s": 3600}; ttl_s defaults to 3600 and must
// be an integer in 1..max_ttl_s. InvalidArgument naming the field otherwise (unknown fields
// too).
struct TokenRequest {
  std::string user;
  int64_t ttl_s = 3600;
};
StatusOr<TokenRequest> ParseTokenRequest(std::string_view body, int64_t max_ttl_s);

}  // namespace liverec

#endif  // LIVEREC_SERVE_USER_TOKEN_H_
