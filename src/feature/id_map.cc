#include "feature/id_map.h"

#include "common/check.h"

namespace liverec {
namespace {
constexpr uint32_t kIdMapTag = 0x4d444950;  // "PIDM"
constexpr uint32_t kIdMapVersion = 1;
}  // namespace

uint32_t IdMap::GetOrAdd(std::string_view key) {
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  LIVEREC_CHECK(keys_.size() < kInvalidId) << "id space exhausted";
  uint32_t id = static_cast<uint32_t>(keys_.size());
  keys_.emplace_back(key);
  ids_.emplace(keys_.back(), id);
  return id;
}

uint32_t IdMap::Find(std::string_view key) const {
  auto it = ids_.find(key);
  return it == ids_.end() ? kInvalidId : it->second;
}

void IdMap::Clear() {
  ids_.clear();
  keys_.clear();
}

void IdMap::Save(BinaryWriter* out) const {
  out->Put(kIdMapTag);
  out->Put(kIdMapVersion);
  out->Put<uint64_t>(keys_.size());
  for (const std::string& key : keys_) out->PutString(key);
}

Status IdMap::Load(BinaryReader* in) {
  Clear();
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kIdMapTag, kIdMapVersion, "id map"));
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  for (uint64_t i = 0; i < n; ++i) {
    std::string key;
    LIVEREC_RETURN_IF_ERROR(in->GetString(&key));
    if (GetOrAdd(key) != i) return Corruption("id map: duplicate key " + key);
  }
  return Status::Ok();
}

}  // namespace liverec
