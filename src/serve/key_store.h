// API keys and their roles: the key file of a data directory and its parser, and lookup of a
// presented key.
//
// A key is "lrk_<id>_<secret>": <id> is 16 lowercase hex digits that name the key in
// `liverec keys list|revoke`, in rate limits and in error messages; <secret> is 64 hex digits
// (256 random bits). Only the SHA-256 of the whole key text is stored: a key is printed once,
// at creation, and cannot be recovered from the data directory. SHA-256 without salt or
// stretching is enough for 256-bit random secrets (nothing to guess from a dictionary).
//
// The key file, <data_dir>/auth/keys (docs/http_api.md, "Keys and roles"), is text:
//
//   liverec-keys 1
//   <id> <role> <sha256 hex> <created unix seconds> <name>
//   ...
//
// one key per line, fields separated by one space, the name last (possibly empty; letters,
// digits and ._- only, at most kMaxKeyNameBytes). Writers replace it atomically (a temporary
// file, fsync, rename, fsync of the directory), so a running server reads either the old or
// the new set.
//
// Thread safety: the functions are pure or touch only the files named; KeySet is immutable.
#ifndef LIVEREC_SERVE_KEY_STORE_H_
#define LIVEREC_SERVE_KEY_STORE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"  // ToHex
#include "liverec/status.h"

namespace liverec {

// What a key may do (docs/http_api.md lists each route's role). kAdmin may do everything.
enum class Role { kRead, kIngest, kAdmin };

// "read", "ingest", "admin".
const char* RoleName(Role role);
// InvalidArgument naming `field` unless `text` is one of RoleName's answers.
StatusOr<Role> ParseRole(std::string_view text, std::string_view field);

using Sha256Digest = std::array<uint8_t, 32>;
Sha256Digest Sha256(std::string_view bytes);

inline constexpr size_t kKeyIdHexDigits = 16;
inline constexpr size_t kKeySecretHexDigits = 64;
inline constexpr size_t kMaxKeyNameBytes = 64;
// The most keys a key file may hold: far above rotation needs, a bound for the parser.
inline constexpr size_t kMaxKeys = 10000;

struct ApiKey {
  std::string id;  // kKeyIdHexDigits lowercase hex digits
  Role role = Role::kRead;
  Sha256Digest hash{};  // of the whole key text "lrk_<id>_<secret>"
  int64_t created_s = 0;
  std::string name;
};

// Parses a key file's text. InvalidArgument naming the line and field on any deviation from
// the format above (unknown version, role, malformed hash, duplicate id, too many keys).
StatusOr<std::vector<ApiKey>> ParseKeyFile(std::string_view text);
// The text ParseKeyFile reads back as `keys`.
std::string RenderKeyFile(const std::vector<ApiKey>& keys);

// The key file of a data directory: <data_dir>/auth/keys.
std::string KeyFilePath(const std::string& data_dir);

// Random bytes from the operating system's generator (OpenSSL RAND_bytes), as lowercase hex.
std::string RandomHex(size_t num_bytes);

// Reads the key file. *exists is false (and the answer empty) when there is none.
StatusOr<std::vector<ApiKey>> ReadKeyFile(const std::string& data_dir, bool* exists);

// Creates a key of `role` named `name` (InvalidArgument naming "name" if it breaks the rule
// above), appends it to the key file (created with its directory, mode 0600/0700, if missing)
// and returns the key text, the only time it exists outside the client.
StatusOr<std::string> AddKey(const std::string& data_dir, Role role, std::string_view name,
                             int64_t now_s, ApiKey* added);
// Removes the key `id` from the key file; NotFound if there is none. The file stays, possibly
// empty: a server that had keys keeps asking for them (revoking the last key does not open it).
Status RevokeKey(const std::string& data_dir, std::string_view id);

// The keys of one key file, for lookup on every request.
class KeySet {
 public:
  KeySet() = default;
  explicit KeySet(std::vector<ApiKey> keys);

  // The key whose text is `presented`, or nullptr. Finds the entry by the id inside the text,
  // then compares SHA-256 digests in constant time (CRYPTO_memcmp): the time taken does not
  // depend on how much of a guessed secret is right.
  const ApiKey* Find(std::string_view presented) const;

  size_t size() const { return keys_.size(); }
  const std::vector<ApiKey>& keys() const { return keys_; }

 private:
  std::vector<ApiKey> keys_;  // sorted by id
};

}  // namespace liverec

#endif  // LIVEREC_SERVE_KEY_STORE_H_
