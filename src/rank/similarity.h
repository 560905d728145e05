// Item similarity for the ranking stage: the accessor types the re-ranker and the diversity
// metric take, and ways to build one.
//
// A similarity is a callable sim(a, b) -> [0, 1], symmetric (an item is never compared with
// itself); the caller decides what it means (shared categories, close embeddings, co-occurrence).
// Categories are dense category ids per item (any subset of uint32_t), as the caller interned them.
//
//   ItemCategoryTable  the categories of every item in one flat block: item i's sorted, distinct
//                      ids are ids[begin[i], begin[i + 1]). Similarity = Jaccard of the two sets,
//                      0 when either item has none (an item without metadata resembles nothing).
//   SortedJaccard      the same Jaccard over any two sorted id lists (the engine's per-item
//                      category vectors);
//   (EmbeddingCosine, the similarity of two embedding rows, is embed/embedding_table.h's.)
//
// Thread safety: ItemCategoryTable is immutable after construction; any method may run
// concurrently.
#ifndef LIVEREC_RANK_SIMILARITY_H_
#define LIVEREC_RANK_SIMILARITY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/types.h"

namespace liverec {

// sim(a, b) in [0, 1].
using ItemSimilarity = std::function<float(ItemId a, ItemId b)>;
// The category ids of an item (empty: none). The span must stay valid until the next call.
using ItemCategories = std::function<std::span<const uint32_t>(ItemId item)>;

class ItemCategoryTable {
 public:
  ItemCategoryTable() = default;
  // categories[i] are item i's category ids, in any order, repeats allowed.
  explicit ItemCategoryTable(const std::vector<std::vector<uint32_t>>& categories);

  // Item `item`'s sorted distinct ids; empty beyond the table.
  std::span<const uint32_t> Categories(ItemId item) const {
    if (size_t{item} + 1 >= begin_.size()) return {};
    return std::span<const uint32_t>(ids_).subspan(begin_[item], begin_[item + 1] - begin_[item]);
  }
  // |A ∩ B| / |A ∪ B| of the two items' sets; 0 when either is empty.
  float Jaccard(ItemId a, ItemId b) const;

  size_t num_items() const { return begin_.empty() ? 0 : begin_.size() - 1; }
  // One more than the largest id (0 when no item has a category).
  uint32_t num_categories() const { return num_categories_; }
  // Accessors bound to this table, which must outlive them.
  ItemSimilarity JaccardSimilarity() const;
  ItemCategories CategoriesAccessor() const;

 private:
  std::vector<uint32_t> begin_;  // size num_items + 1
  std::vector<uint32_t> ids_;
  uint32_t num_categories_ = 0;
};

// |A ∩ B| / |A ∪ B| of two sorted, distinct id lists; 0 when either is empty.
float SortedJaccard(std::span<const uint32_t> a, std::span<const uint32_t> b);

}  // namespace liverec

#endif  // LIVEREC_RANK_SIMILARITY_H_
