#include "rank/similarity.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace liverec {

ItemCategoryTable::ItemCategoryTable(const std::vector<std::vector<uint32_t>>& categories) {
  begin_.reserve(categories.size() + 1);
  begin_.push_back(0);
  std::vector<uint32_t> sorted;
  for (const std::vector<uint32_t>& item : categories) {
    sorted = item;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    ids_.insert(ids_.end(), sorted.begin(), sorted.end());
    if (!sorted.empty()) num_categories_ = std::max(num_categories_, sorted.back() + 1);
    LIVEREC_CHECK(ids_.size() <= UINT32_MAX) << "too many item categories";
    begin_.push_back(static_cast<uint32_t>(ids_.size()));
  }
}

float SortedJaccard(std::span<const uint32_t> x, std::span<const uint32_t> y) {
  if (x.empty() || y.empty()) return 0;
  // A merge of two sorted lists: items carry a handful of categories, so this beats hashing.
  size_t common = 0;
  size_t i = 0;
  size_t j = 0;
  while (i < x.size() && j < y.size()) {
    if (x[i] < y[j]) {
      ++i;
    } else if (y[j] < x[i]) {
      ++j;
    } else {
      ++common;
      ++i;
      ++j;
    }
  }
  return static_cast<float>(common) / static_cast<float>(x.size() + y.size() - common);
}

float ItemCategoryTable::Jaccard(ItemId a, ItemId b) const {
  return SortedJaccard(Categories(a), Categories(b));
}

ItemSimilarity ItemCategoryTable::JaccardSimilarity() const {
  return [this](ItemId a, ItemId b) { return Jaccard(a, b); };
}

ItemCategories ItemCategoryTable::CategoriesAccessor() const {
  return [this](ItemId item) { return Categories(item); };
}

}  // namespace liverec
