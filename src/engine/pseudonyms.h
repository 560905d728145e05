// Pseudonyms: with privacy.pseudonymize=true, every user id is replaced at the engine's edge
// (Ingest, Recommend, GetUser, PutUser), before anything is logged or stored, by a keyed hash:
// "p" and the 32 hex digits of BLAKE2b-128(key, user) (libsodium's crypto_generichash). The
// key is 256 bits, from privacy.key_file, or generated into <data_dir>/privacy.key on first
// start. Without the key a pseudonym cannot be linked to its user; with it, the same user
// always gets the same pseudonym, so a restart and a replay find their history. The API takes
// and answers the client's ids: only the data directory, the logs and /metrics see
// pseudonyms (experiments assign users by their pseudonyms).
//
// A data directory is one or the other for its life: the server refuses pseudonyms over a log
// written with raw ids, and raw ids over a directory that holds privacy.key.
//
// Thread safety: Of is const and may run concurrently.
#ifndef LIVEREC_ENGINE_PSEUDONYMS_H_
#define LIVEREC_ENGINE_PSEUDONYMS_H_

#include <optional>
#include <string>
#include <string_view>

#include "liverec/options.h"
#include "liverec/status.h"
#include "store/secret_file.h"

namespace liverec {

class Pseudonyms {
 public:
  // Off: Of returns its argument.
  Pseudonyms() = default;
  // From privacy.pseudonymize and privacy.key_file for the data directory `data_dir` (which
  // exists). FailedPrecondition when the directory was written the other way, NotFound for a
  // privacy.key_file that does not exist, Corruption for a key file that is not 64 hex digits.
  static StatusOr<Pseudonyms> Open(const Options& options, const std::string& data_dir);
  // The key file a data directory keeps when privacy.key_file is empty.
  static std::string DefaultKeyPath(const std::string& data_dir);

  bool enabled() const { return key_.has_value(); }
  // The stored id of `user`.
  std::string Of(std::string_view user) const;

 private:
  explicit Pseudonyms(const Secret256& key) : key_(key) {}
  std::optional<Secret256> key_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_PSEUDONYMS_H_
