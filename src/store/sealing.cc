#include "store/sealing.h"

#include <sodium.h>

#include <cstdio>
#include <cstring>

#include "common/check.h"
#include "store/log_format.h"

namespace liverec {
namespace {

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == sizeof(Secret256));
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kSealNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kSealTagBytes);

// The nonce's last 8 bytes count; the first 16 are random per Sealer.
constexpr size_t kNonceCounterOffset = kSealNonceBytes - sizeof(uint64_t);
// Additional data is the caller's plus the key id; callers' headers are a few dozen bytes
// (a snapshot section adds its name, at most 256).
constexpr size_t kMaxAdditionalDataBytes = 512;

void InitSodium() { LIVEREC_CHECK(sodium_init() >= 0) << "libsodium failed to initialize"; }

// The caller's additional data followed by the key id, in a stack buffer.
size_t BuildAdditionalData(std::string_view additional_data, uint32_t key_id, unsigned char* out) {
  LIVEREC_CHECK(additional_data.size() + kSealKeyIdBytes <= kMaxAdditionalDataBytes)
      << "additional data of " << additional_data.size() << " bytes";
  std::memcpy(out, additional_data.data(), additional_data.size());
  EncodeFixed<uint32_t>(reinterpret_cast<char*>(out) + additional_data.size(), key_id);
  return additional_data.size() + kSealKeyIdBytes;
}

}  // namespace

uint32_t SealingKeyId(const Secret256& key) {
  InitSodium();
  unsigned char hash[crypto_generichash_BYTES];
  LIVEREC_CHECK(crypto_generichash(hash, sizeof(hash), key.data(), key.size(), nullptr, 0) == 0);
  return DecodeFixed<uint32_t>(reinterpret_cast<const char*>(hash));
}

std::string KeyIdText(uint32_t key_id) {
  char text[2 + 8 + 1];
  std::snprintf(text, sizeof(text), "0x%08x", key_id);
  return text;
}

StatusOr<Keyring> Keyring::FromKeys(std::optional<Secret256> current,
                                    const std::vector<Secret256>& old_keys) {
  Keyring ring;
  auto add = [&ring](const Secret256& key) -> Status {
    const SealingKey sealing{key, SealingKeyId(key)};
    if (const SealingKey* same_id = ring.Find(sealing.id); same_id != nullptr) {
      if (same_id->key == key) return Status::Ok();  // listed twice
      return InvalidArgument("two different keys share key id " + KeyIdText(sealing.id) +
                             "; replace one of them");
    }
    ring.keys_.push_back(sealing);
    return Status::Ok();
  };
  if (current) {
    LIVEREC_RETURN_IF_ERROR(add(*current));
    ring.current_ = ring.keys_.front();
  }
  for (const Secret256& key : old_keys) LIVEREC_RETURN_IF_ERROR(add(key));
  return ring;
}

StatusOr<Keyring> Keyring::FromFiles(const std::string& current_file,
                                     const std::vector<std::string>& old_files) {
  std::optional<Secret256> current;
  if (!current_file.empty()) {
    LIVEREC_ASSIGN_OR_RETURN(current, ReadSecretFile(current_file));
  }
  std::vector<Secret256> old_keys;
  for (const std::string& file : old_files) {
    LIVEREC_ASSIGN_OR_RETURN(Secret256 key, ReadSecretFile(file));
    old_keys.push_back(key);
  }
  return FromKeys(current, old_keys);
}

StatusOr<Keyring> Keyring::Rotated(const Keyring& next, const Keyring& previous) {
  std::optional<Secret256> current;
  if (next.current() != nullptr) current = next.current()->key;
  std::vector<Secret256> old_keys;
  for (const Keyring* ring : {&next, &previous}) {
    for (const SealingKey& key : ring->keys_) old_keys.push_back(key.key);
  }
  return FromKeys(current, old_keys);
}

const SealingKey* Keyring::Find(uint32_t key_id) const {
  for (const SealingKey& key : keys_) {
    if (key.id == key_id) return &key;
  }
  return nullptr;
}

std::string Keyring::KnownIds() const {
  if (keys_.empty()) return "none";
  std::string ids;
  for (const SealingKey& key : keys_) {
    if (!ids.empty()) ids += ", ";
    ids += KeyIdText(key.id);
  }
  return ids;
}

Sealer::Sealer(const SealingKey& key) : key_(key) {
  InitSodium();
  randombytes_buf(nonce_.data(), kNonceCounterOffset);
}

void Sealer::Seal(std::string_view additional_data, std::string_view plaintext, std::string* out) {
  EncodeFixed<uint64_t>(reinterpret_cast<char*>(nonce_.data()) + kNonceCounterOffset, counter_++);
  unsigned char ad[kMaxAdditionalDataBytes];
  const size_t ad_size = BuildAdditionalData(additional_data, key_.id, ad);
  const size_t start = out->size();
  out->resize(start + kSealOverheadBytes + plaintext.size());
  char* envelope = out->data() + start;
  EncodeFixed<uint32_t>(envelope, key_.id);
  std::memcpy(envelope + kSealKeyIdBytes, nonce_.data(), kSealNonceBytes);
  unsigned long long sealed_size = 0;
  LIVEREC_CHECK(crypto_aead_xchacha20poly1305_ietf_encrypt(
                    reinterpret_cast<unsigned char*>(envelope + kSealKeyIdBytes + kSealNonceBytes),
                    &sealed_size, reinterpret_cast<const unsigned char*>(plaintext.data()),
                    plaintext.size(), ad, ad_size, nullptr, nonce_.data(), key_.key.data()) == 0);
  LIVEREC_CHECK(sealed_size == plaintext.size() + kSealTagBytes);
}

uint32_t SealedKeyId(std::string_view envelope) {
  LIVEREC_CHECK(envelope.size() >= kSealKeyIdBytes);
  return DecodeFixed<uint32_t>(envelope.data());
}

Status OpenSealed(const Keyring& keys, std::string_view additional_data, std::string_view envelope,
                  std::string* plaintext) {
  if (envelope.size() < kSealOverheadBytes) {
    return Corruption("sealed payload of " + std::to_string(envelope.size()) +
                      " bytes, shorter than the " + std::to_string(kSealOverheadBytes) +
                      " of key id, nonce and tag");
  }
  const uint32_t key_id = SealedKeyId(envelope);
  const SealingKey* key = keys.Find(key_id);
  if (key == nullptr) {
    return FailedPrecondition("no key for key id " + KeyIdText(key_id) +
                              " (keys known: " + keys.KnownIds() +
                              "; storage.key_file and storage.old_key_files name them)");
  }
  unsigned char ad[kMaxAdditionalDataBytes];
  const size_t ad_size = BuildAdditionalData(additional_data, key_id, ad);
  const size_t ciphertext_size = envelope.size() - kSealKeyIdBytes - kSealNonceBytes;
  plaintext->resize(ciphertext_size - kSealTagBytes);
  unsigned long long opened_size = 0;
  const auto* nonce = reinterpret_cast<const unsigned char*>(envelope.data() + kSealKeyIdBytes);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plaintext->data()), &opened_size, nullptr,
          nonce + kSealNonceBytes, ciphertext_size, ad, ad_size, nonce, key->key.data()) != 0) {
    plaintext->clear();
    return Corruption("authentication failed under key id " + KeyIdText(key_id) +
                      " (the bytes were changed, or belong to another record or section)");
  }
  return Status::Ok();
}

}  // namespace liverec
