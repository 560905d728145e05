#include "serve/key_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <memory>

#include "common/check.h"
#include "store/posix_file.h"
#include "store/secret_file.h"

namespace liverec {
namespace {

constexpr std::string_view kHeader = "liverec-keys 1";
constexpr std::string_view kKeyPrefix = "lrk_";

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Status CheckName(std::string_view name, const std::string& where) {
  if (name.size() > kMaxKeyNameBytes) {
    return InvalidArgument(where + "name: longer than " + std::to_string(kMaxKeyNameBytes) +
                           " bytes (" + std::to_string(name.size()) + ")");
  }
  if (!std::all_of(name.begin(), name.end(), IsNameChar)) {
    return InvalidArgument(where + "name: only letters, digits and . _ - are allowed");
  }
  return Status::Ok();
}

uint8_t HexValue(char c) { return static_cast<uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); }

// Splits `line` at single spaces into at most `max_fields` fields; the last keeps the rest.
std::vector<std::string_view> SplitFields(std::string_view line, size_t max_fields) {
  std::vector<std::string_view> fields;
  while (fields.size() + 1 < max_fields) {
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) break;
    fields.push_back(line.substr(0, space));
    line.remove_prefix(space + 1);
  }
  fields.push_back(line);
  return fields;
}

// Serializes writers of one key file (two `liverec keys add` at once would otherwise each
// rewrite the file they read, and one key would be lost). Readers need no lock: the file is
// replaced by rename. The lock is held while the descriptor lives.
StatusOr<std::unique_ptr<ScopedFd>> LockKeyFile(const std::string& data_dir) {
  const std::filesystem::path dir = std::filesystem::path(KeyFilePath(data_dir)).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IOError("create directory " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  const std::string path = (dir / "keys.lock").string();
  auto fd = std::make_unique<ScopedFd>(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd->get() < 0) return ErrnoError("open", path, errno);
  if (::flock(fd->get(), LOCK_EX) != 0) return ErrnoError("flock", path, errno);
  return fd;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kIngest:
      return "ingest";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

StatusOr<Role> ParseRole(std::string_view text, std::string_view field) {
  for (Role role : {Role::kRead, Role::kIngest, Role::kAdmin}) {
    if (text == RoleName(role)) return role;
  }
  return InvalidArgument(std::string(field) + ": expected read, ingest or admin, got '" +
                         std::string(text.substr(0, kMaxKeyNameBytes)) + "'");
}

Sha256Digest Sha256(std::string_view bytes) {
  Sha256Digest digest{};
  unsigned int size = 0;
  LIVEREC_CHECK(
      EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1 &&
      size == digest.size())
      << "EVP_Digest(sha256)";
  return digest;
}

std::string RandomHex(size_t num_bytes) {
  std::vector<uint8_t> bytes(num_bytes);
  LIVEREC_CHECK(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) == 1)
      << "RAND_bytes: the system's random generator failed";
  return ToHex(bytes.data(), bytes.size());
}

StatusOr<std::vector<ApiKey>> ParseKeyFile(std::string_view text) {
  std::vector<ApiKey> keys;
  size_t line_number = 0;
  bool header_seen = false;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    const std::string where = "key file line " + std::to_string(line_number) + ": ";
    if (!header_seen) {
      if (line != kHeader) {
        return InvalidArgument(where + "expected the header '" + std::string(kHeader) + "'");
      }
      header_seen = true;
      continue;
    }
    if (line.empty()) continue;
    if (keys.size() == kMaxKeys) {
      return InvalidArgument(where + "more than " + std::to_string(kMaxKeys) + " keys");
    }
    const std::vector<std::string_view> fields = SplitFields(line, 5);
    if (fields.size() != 5) {
      return InvalidArgument(where + "expected 5 fields (id role sha256 created name), got " +
                             std::to_string(fields.size()));
    }
    ApiKey key;
    if (fields[0].size() != kKeyIdHexDigits || !IsLowerHex(fields[0])) {
      return InvalidArgument(where + "id: expected " + std::to_string(kKeyIdHexDigits) +
                             " lowercase hex digits");
    }
    key.id = fields[0];
    LIVEREC_ASSIGN_OR_RETURN(key.role, ParseRole(fields[1], where + "role"));
    if (fields[2].size() != 2 * key.hash.size() || !IsLowerHex(fields[2])) {
      return InvalidArgument(where + "sha256: expected 64 lowercase hex digits");
    }
    for (size_t i = 0; i < key.hash.size(); ++i) {
      key.hash[i] =
          static_cast<uint8_t>(HexValue(fields[2][2 * i]) << 4 | HexValue(fields[2][2 * i + 1]));
    }
    const std::string_view created = fields[3];
    auto [end, ec] =
        std::from_chars(created.data(), created.data() + created.size(), key.created_s);
    if (ec != std::errc() || end != created.data() + created.size() || key.created_s < 0) {
      return InvalidArgument(where + "created: expected unix seconds");
    }
    LIVEREC_RETURN_IF_ERROR(CheckName(fields[4], where));
    key.name = fields[4];
    for (const ApiKey& other : keys) {
      if (other.id == key.id) return InvalidArgument(where + "id: " + key.id + " appears twice");
    }
    keys.push_back(std::move(key));
  }
  if (!header_seen) return InvalidArgument("key file: empty (expected the header)");
  return keys;
}

std::string RenderKeyFile(const std::vector<ApiKey>& keys) {
  std::string out(kHeader);
  out += '\n';
  for (const ApiKey& key : keys) {
    out += key.id + " " + RoleName(key.role) + " " + ToHex(key.hash.data(), key.hash.size()) + " " +
           std::to_string(key.created_s) + " " + key.name + "\n";
  }
  return out;
}

std::string KeyFilePath(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "auth" / "keys").string();
}

StatusOr<std::vector<ApiKey>> ReadKeyFile(const std::string& data_dir, bool* exists) {
  const std::string path = KeyFilePath(data_dir);
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  *exists = fd.get() >= 0 || errno != ENOENT;
  if (fd.get() < 0) {
    if (!*exists) return std::vector<ApiKey>();
    return ErrnoError("open", path, errno);
  }
  // kMaxKeys lines of at most ~170 bytes: anything longer is not a key file.
  constexpr size_t kMaxFileBytes = kMaxKeys * 256;
  std::string text(kMaxFileBytes + 1, '\0');
  size_t got = 0;
  LIVEREC_RETURN_IF_ERROR(ReadUpTo(fd.get(), text.data(), text.size(), path, &got));
  if (got > kMaxFileBytes) {
    return InvalidArgument(path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
  }
  text.resize(got);
  StatusOr<std::vector<ApiKey>> keys = ParseKeyFile(text);
  if (!keys.ok()) return keys.status().WithPrefix(path);
  return keys;
}

StatusOr<std::string> AddKey(const std::string& data_dir, Role role, std::string_view name,
                             int64_t now_s, ApiKey* added) {
  LIVEREC_RETURN_IF_ERROR(CheckName(name, ""));
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<ScopedFd> lock, LockKeyFile(data_dir));
  bool exists = false;
  LIVEREC_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, ReadKeyFile(data_dir, &exists));
  if (keys.size() >= kMaxKeys) {
    return ResourceExhausted("the key file holds " + std::to_string(kMaxKeys) +
                             " keys already: revoke some first");
  }
  ApiKey key;
  do {
    key.id = RandomHex(kKeyIdHexDigits / 2);
  } while (std::any_of(keys.begin(), keys.end(),
                       [&](const ApiKey& other) { return other.id == key.id; }));
  std::string text = std::string(kKeyPrefix) + key.id + "_" + RandomHex(kKeySecretHexDigits / 2);
  key.role = role;
  key.hash = Sha256(text);
  key.created_s = now_s;
  key.name = name;
  keys.push_back(key);
  LIVEREC_RETURN_IF_ERROR(WriteSecretFile(KeyFilePath(data_dir), RenderKeyFile(keys)));
  if (added != nullptr) *added = std::move(key);
  return text;
}

Status RevokeKey(const std::string& data_dir, std::string_view id) {
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<ScopedFd> lock, LockKeyFile(data_dir));
  bool exists = false;
  LIVEREC_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, ReadKeyFile(data_dir, &exists));
  const auto it =
      std::find_if(keys.begin(), keys.end(), [&](const ApiKey& key) { return key.id == id; });
  if (it == keys.end()) {
    return NotFound("no key with id '" + std::string(id.substr(0, kKeyIdHexDigits * 2)) + "' in " +
                    KeyFilePath(data_dir));
  }
  keys.erase(it);
  return WriteSecretFile(KeyFilePath(data_dir), RenderKeyFile(keys));
}

KeySet::KeySet(std::vector<ApiKey> keys) : keys_(std::move(keys)) {
  std::sort(keys_.begin(), keys_.end(),
            [](const ApiKey& a, const ApiKey& b) { return a.id < b.id; });
}

const ApiKey* KeySet::Find(std::string_view presented) const {
  // "lrk_" id "_" secret: the id picks the entry; the digest of the whole text decides.
  constexpr size_t kLength = kKeyPrefix.size() + kKeyIdHexDigits + 1 + kKeySecretHexDigits;
  if (presented.size() != kLength || presented.substr(0, kKeyPrefix.size()) != kKeyPrefix) {
    return nullptr;
  }
  const std::string_view id = presented.substr(kKeyPrefix.size(), kKeyIdHexDigits);
  const auto it =
      std::lower_bound(keys_.begin(), keys_.end(), id,
                       [](const ApiKey& key, std::string_view v) { return key.id < v; });
  if (it == keys_.end() || it->id != id) return nullptr;
  const Sha256Digest digest = Sha256(presented);
  if (CRYPTO_memcmp(digest.data(), it->hash.data(), digest.size()) != 0) return nullptr;
  return &*it;
}

}  // namespace liverec
