#include "engine/pseudonyms.h"

#include <sodium.h>

#include <filesystem>

#include "common/check.h"
#include "common/strings.h"

namespace liverec {
namespace {

// 128 bits: collisions among 2^32 users have probability about 2^-64.
constexpr size_t kPseudonymBytes = 16;

// Whether the event log of `data_dir` holds any segment (written before this start).
bool HasLog(const std::string& data_dir) {
  std::error_code ec;
  const std::filesystem::path log = std::filesystem::path(data_dir) / "log";
  if (!std::filesystem::is_directory(log, ec)) return false;
  for (const auto& entry : std::filesystem::directory_iterator(log, ec)) {
    if (entry.is_regular_file(ec) && entry.file_size(ec) > 0) return true;
  }
  return false;
}

}  // namespace

std::string Pseudonyms::DefaultKeyPath(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "privacy.key").string();
}

StatusOr<Pseudonyms> Pseudonyms::Open(const Options& options, const std::string& data_dir) {
  const bool on = options.GetBool("", "privacy", "pseudonymize");
  const std::string key_file = options.GetString("", "privacy", "key_file");
  const std::string own_key = DefaultKeyPath(data_dir);
  std::error_code ec;
  const bool own_key_exists = std::filesystem::exists(own_key, ec);
  if (!on) {
    if (own_key_exists) {
      return FailedPrecondition("privacy.pseudonymize: the data directory " + data_dir +
                                " holds privacy.key, so its users are pseudonyms; expected true");
    }
    return Pseudonyms();
  }
  LIVEREC_CHECK(sodium_init() >= 0) << "libsodium failed to initialize";
  if (!key_file.empty()) {
    StatusOr<Secret256> key = ReadSecretFile(key_file);
    if (!key.ok())
      return Status(key.status().code(), "privacy.key_file: " + key.status().message());
    return Pseudonyms(*key);
  }
  if (!own_key_exists && HasLog(data_dir)) {
    return FailedPrecondition(
        "privacy.pseudonymize: the data directory " + data_dir +
        " holds events logged with raw user ids; pseudonyms start with a new data directory");
  }
  LIVEREC_ASSIGN_OR_RETURN(Secret256 key, LoadOrCreateSecretFile(own_key));
  return Pseudonyms(key);
}

std::string Pseudonyms::Of(std::string_view user) const {
  if (!key_) return std::string(user);
  unsigned char hash[kPseudonymBytes];
  LIVEREC_CHECK(crypto_generichash(hash, sizeof(hash),
                                   reinterpret_cast<const unsigned char*>(user.data()), user.size(),
                                   key_->data(), key_->size()) == 0);
  return "p" + ToHex(hash, sizeof(hash));
}

}  // namespace liverec
