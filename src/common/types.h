// Ids and keys: the internal names of users and items.
//
// External keys (UserKey, ItemKey: strings from clients and files) and internal ids (UserId,
// ItemId: dense uint32_t, 0..n-1 in order of first appearance) are different types; they meet
// only in an IdMap (src/feature/id_map.h). Everything below the edge works on internal ids; the
// public API (include/liverec/) speaks only of keys.
#ifndef LIVEREC_COMMON_TYPES_H_
#define LIVEREC_COMMON_TYPES_H_

#include <cstdint>
#include <limits>
#include <string>

namespace liverec {

using UserId = uint32_t;
using ItemId = uint32_t;
inline constexpr uint32_t kInvalidId = std::numeric_limits<uint32_t>::max();

// An external key as a client or a file spells it. A distinct type so that a key cannot be
// passed where a dense id is expected, or the other way round.
template <typename Tag>
struct Key {
  std::string value;
  friend bool operator==(const Key&, const Key&) = default;
};
struct UserKeyTag {};
struct ItemKeyTag {};
using UserKey = Key<UserKeyTag>;
using ItemKey = Key<ItemKeyTag>;

}  // namespace liverec

#endif  // LIVEREC_COMMON_TYPES_H_
