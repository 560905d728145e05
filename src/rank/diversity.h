// How diverse a recommendation list is, measured with an item similarity (rank/similarity.h):
//
//   intra-list diversity  ILD(L) = mean over unordered pairs {a, b} of L of (1 - sim(a, b))
//                         (Ziegler et al. 2005); 0 for a list of fewer than two items. 1 = no
//                         two items alike, 0 = all the same;
//   category coverage     the number of distinct categories among L's items.
//
// Both are per list; train/metrics.h averages them over the lists of a replay.
#ifndef LIVEREC_RANK_DIVERSITY_H_
#define LIVEREC_RANK_DIVERSITY_H_

#include <cstddef>
#include <span>

#include "common/types.h"
#include "rank/similarity.h"

namespace liverec {

// ILD of `list` (|L| (|L| - 1) / 2 calls of `sim`).
double IntraListDiversity(std::span<const ItemId> list, const ItemSimilarity& sim);

// Distinct categories of `list`'s items.
size_t CategoryCoverage(std::span<const ItemId> list, const ItemCategories& categories);

}  // namespace liverec

#endif  // LIVEREC_RANK_DIVERSITY_H_
