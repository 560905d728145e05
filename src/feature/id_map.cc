#include "feature/id_map.h"

#include <string>

#include "common/check.h"

namespace liverec {
namespace {
constexpr uint32_t kIdMapTag = 0x4d444950;  // "PIDM"
// Version 2 appends the freed ids; version 1 (no erasure) still loads.
constexpr uint32_t kIdMapVersion = 2;
}  // namespace

uint32_t IdMap::GetOrAdd(std::string_view key) {
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  uint32_t id = 0;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
    keys_[id] = key;
  } else {
    LIVEREC_CHECK(keys_.size() < kInvalidId) << "id space exhausted";
    id = static_cast<uint32_t>(keys_.size());
    keys_.emplace_back(key);
  }
  ids_.emplace(keys_[id], id);
  return id;
}

void IdMap::Erase(std::string_view key) {
  auto it = ids_.find(key);
  if (it == ids_.end()) return;
  const uint32_t id = it->second;
  ids_.erase(it);
  keys_[id] = std::string();
  free_.push_back(id);
}

uint32_t IdMap::Find(std::string_view key) const {
  auto it = ids_.find(key);
  return it == ids_.end() ? kInvalidId : it->second;
}

void IdMap::Clear() {
  ids_.clear();
  keys_.clear();
  free_.clear();
}

void IdMap::Save(BinaryWriter* out) const {
  out->Put(kIdMapTag);
  out->Put(kIdMapVersion);
  out->Put<uint64_t>(keys_.size());
  for (const std::string& key : keys_) out->PutString(key);
  out->PutVector(free_);
}

Status IdMap::Load(BinaryReader* in) {
  Clear();
  uint32_t tag = 0;
  uint32_t version = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&tag));
  LIVEREC_RETURN_IF_ERROR(in->Get(&version));
  if (tag != kIdMapTag || version < 1 || version > kIdMapVersion) {
    return Corruption("id map: tag " + std::to_string(tag) + " version " + std::to_string(version) +
                      ", expected tag " + std::to_string(kIdMapTag) + " version 1 to " +
                      std::to_string(kIdMapVersion));
  }
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  // Every key holds at least its u64 length, which bounds a corrupt count.
  if (n > in->remaining() / sizeof(uint64_t)) {
    return Corruption("id map: " + std::to_string(n) + " keys in " +
                      std::to_string(in->remaining()) + " bytes");
  }
  keys_.resize(n);
  for (std::string& key : keys_) LIVEREC_RETURN_IF_ERROR(in->GetString(&key));
  if (version >= 2) LIVEREC_RETURN_IF_ERROR(in->GetVector(&free_));
  std::vector<uint8_t> freed(n, 0);
  for (uint32_t id : free_) {
    if (id >= n || freed[id] != 0 || !keys_[id].empty()) {
      Clear();
      return Corruption("id map: freed id " + std::to_string(id) + " of " + std::to_string(n) +
                        " is out of range, repeated or has a key");
    }
    freed[id] = 1;
  }
  for (uint32_t id = 0; id < n; ++id) {
    if (freed[id] != 0) continue;
    if (!ids_.emplace(keys_[id], id).second) {
      const std::string key = keys_[id];
      Clear();
      return Corruption("id map: duplicate key " + key);
    }
  }
  return Status::Ok();
}

}  // namespace liverec
