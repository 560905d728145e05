// IdMap: external string keys <-> dense internal ids 0..size()-1, assigned in order of first
// insertion. The only place where keys and ids meet. Erase frees a key's id, and the next new
// key takes the most recently freed id before the id space grows, so that ids stay dense and
// their count bounded by the keys live at once (the engine erases users idle past a TTL).
//
// Thread safety: const methods may run concurrently; mutation needs external exclusion.
#ifndef LIVEREC_FEATURE_ID_MAP_H_
#define LIVEREC_FEATURE_ID_MAP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/serialize.h"
#include "common/types.h"

namespace liverec {

class IdMap {
 public:
  // The id of `key`, inserting it with the next id if new.
  uint32_t GetOrAdd(std::string_view key);
  // The id of `key`, or kInvalidId.
  uint32_t Find(std::string_view key) const;
  // The key of `id` ("" for a freed id); requires id < size().
  const std::string& Key(uint32_t id) const { return keys_[id]; }
  // Frees the id of `key` for reuse; no-op for unknown keys.
  void Erase(std::string_view key);
  // The id space: every id below it is live or free.
  size_t size() const { return keys_.size(); }
  // Keys mapped now.
  size_t num_live() const { return ids_.size(); }
  void Clear();

  void Save(BinaryWriter* out) const;
  Status Load(BinaryReader* in);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> ids_;
  std::vector<std::string> keys_;
  std::vector<uint32_t> free_;  // freed ids, the next to reuse last
};

}  // namespace liverec

#endif  // LIVEREC_FEATURE_ID_MAP_H_
