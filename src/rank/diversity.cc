#include "rank/diversity.h"

#include <algorithm>
#include <vector>

namespace liverec {

double IntraListDiversity(std::span<const ItemId> list, const ItemSimilarity& sim) {
  if (list.size() < 2) return 0;
  double sum = 0;
  for (size_t a = 0; a < list.size(); ++a) {
    for (size_t b = a + 1; b < list.size(); ++b) sum += 1.0 - sim(list[a], list[b]);
  }
  const double pairs = static_cast<double>(list.size() * (list.size() - 1) / 2);
  return sum / pairs;
}

size_t CategoryCoverage(std::span<const ItemId> list, const ItemCategories& categories) {
  std::vector<uint32_t> seen;
  for (ItemId item : list) {
    for (uint32_t category : categories(item)) seen.push_back(category);
  }
  std::sort(seen.begin(), seen.end());
  return static_cast<size_t>(std::unique(seen.begin(), seen.end()) - seen.begin());
}

}  // namespace liverec
