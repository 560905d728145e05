// Sealing: authenticated encryption of the bytes the store writes (log record payloads, snapshot
// sections) under 256-bit keys, with XChaCha20-Poly1305 (IETF) from libsodium.
//
// A sealed envelope, all integers little-endian:
//
//   [0, 4)            u32 key id (SealingKeyId of the key that sealed it)
//   [4, 28)           24-byte nonce
//   [28, 28 + n)      ciphertext of the n plaintext bytes
//   [28 + n, 44 + n)  16-byte Poly1305 tag
//
// The caller's additional data (the record's or section's header fields) followed by the u32
// key id is authenticated with it: a byte changed anywhere, an envelope moved to another record
// or section, or a key that is not the sealing one fails to open.
//
// Nonces: each Sealer draws a random 128-bit prefix when made and counts the last 64 bits up,
// so nonces never repeat within a Sealer and collide across Sealers with probability about
// 2^-128 per pair (XChaCha20's 192-bit nonces make random ones safe; the counter only spares
// a getrandom call per record).
//
// Thread safety: a Keyring is immutable once made and may be shared between threads; a Sealer
// belongs to one thread at a time; OpenSealed is a pure function.
#ifndef LIVEREC_STORE_SEALING_H_
#define LIVEREC_STORE_SEALING_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liverec/status.h"
#include "store/secret_file.h"

namespace liverec {

inline constexpr size_t kSealKeyIdBytes = 4;
inline constexpr size_t kSealNonceBytes = 24;
inline constexpr size_t kSealTagBytes = 16;
// Bytes an envelope adds to its plaintext.
inline constexpr size_t kSealOverheadBytes = kSealKeyIdBytes + kSealNonceBytes + kSealTagBytes;

// The first 4 bytes (little-endian) of BLAKE2b-256 of the key: names a key in envelopes and
// error messages without revealing it.
uint32_t SealingKeyId(const Secret256& key);

// "0x1a2b3c4d": how messages print a key id.
std::string KeyIdText(uint32_t key_id);

struct SealingKey {
  Secret256 key{};
  uint32_t id = 0;
};

// The keys of a data directory: the current key (new writes are sealed with it; none: nothing
// is sealed) and older keys still accepted for reading (key rotation).
class Keyring {
 public:
  // No keys: nothing is sealed and sealed bytes cannot be opened.
  Keyring() = default;

  // From keys in memory (tests, tools). InvalidArgument if two different keys share a key id.
  static StatusOr<Keyring> FromKeys(std::optional<Secret256> current,
                                    const std::vector<Secret256>& old_keys);

  // From secret files (64 hex digits each, store/secret_file.h): `current_file` may be empty
  // (no sealing); `old_files` are read-only keys. Errors name the file: NotFound for a missing
  // one, Corruption for bad contents, InvalidArgument for colliding key ids.
  static StatusOr<Keyring> FromFiles(const std::string& current_file,
                                     const std::vector<std::string>& old_files);

  // `next`'s current key for new writes, and every key of `next` and `previous` for reading (a
  // rotation while running: what was sealed until now stays readable). InvalidArgument for two
  // different keys with one id.
  static StatusOr<Keyring> Rotated(const Keyring& next, const Keyring& previous);

  // The key new bytes are sealed with, or null when writes are plain.
  const SealingKey* current() const { return current_ ? &*current_ : nullptr; }
  // The key with this id (current or old), or null.
  const SealingKey* Find(uint32_t key_id) const;
  // "0x1a2b3c4d, 0x..." (current first), or "none": for error messages.
  std::string KnownIds() const;

 private:
  std::optional<SealingKey> current_;
  std::vector<SealingKey> keys_;  // current first, then the old ones, no two with one id
};

// Seals with one key. Not thread-safe (owns the nonce counter).
class Sealer {
 public:
  // Draws the nonce prefix from the operating system's random generator.
  explicit Sealer(const SealingKey& key);

  // Appends to *out the envelope of `plaintext` (kSealOverheadBytes + plaintext.size() bytes)
  // with `additional_data` authenticated beside it.
  void Seal(std::string_view additional_data, std::string_view plaintext, std::string* out);

  uint32_t key_id() const { return key_.id; }

 private:
  SealingKey key_;
  std::array<uint8_t, kSealNonceBytes> nonce_{};
  uint64_t counter_ = 0;
};

// The key id at the start of an envelope; requires envelope.size() >= kSealKeyIdBytes.
uint32_t SealedKeyId(std::string_view envelope);

// Opens `envelope` sealed with `additional_data` into *plaintext (replacing its contents).
// Errors (messages say what failed, the caller adds where): FailedPrecondition "no key for key
// id 0x... (keys known: ...)" when `keys` lacks the sealing key (a configuration problem, not
// damage); Corruption "envelope of N bytes, shorter than ..." or "authentication failed (the
// bytes were changed, or sealed with other additional data)".
Status OpenSealed(const Keyring& keys, std::string_view additional_data, std::string_view envelope,
                  std::string* plaintext);

}  // namespace liverec

#endif  // LIVEREC_STORE_SEALING_H_
