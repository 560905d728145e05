#include "eval/dataset_features.h"

#include <algorithm>

#include "common/check.h"

namespace liverec {

DatasetFeatures::DatasetFeatures(const Dataset& dataset, const ItemMetadataTable* metadata,
                                 std::span<const std::string> context_keys)
    : dataset_(dataset) {
  std::vector<bool> key_used(dataset.context_keys.size(), context_keys.empty());
  for (const std::string& key : context_keys) {
    const uint32_t id = dataset.context_keys.Find(key);
    if (id != kInvalidId) key_used[id] = true;
  }
  // One pass over the arena finds the distinct pairs; each is hashed once, so an event costs a
  // lookup per pair instead of building and hashing its text.
  for (const ContextPair& pair : dataset.context) {
    if (!key_used[pair.key]) continue;
    auto [it, inserted] = pair_hashes_.try_emplace(PairKey(pair), 0);
    if (!inserted) continue;
    it->second =
        ContextFeature(dataset.context_keys.Key(pair.key), dataset.context_values.Key(pair.value));
  }
  if (metadata == nullptr) return;
  LIVEREC_CHECK(metadata->items.size() <= dataset.num_items())
      << metadata->items.size() << " metadata entries for " << dataset.num_items() << " items";
  item_begin_.reserve(metadata->items.size() + 1);
  item_begin_.push_back(0);
  for (const ItemMetadataRecord& item : metadata->items) {
    AppendItemFeatures(item.categories, item.tags, item.tokens, &item_hashes_);
    LIVEREC_CHECK(item_hashes_.size() <= UINT32_MAX) << "too many metadata features";
    item_begin_.push_back(static_cast<uint32_t>(item_hashes_.size()));
  }
}

void DatasetFeatures::EventFeatures(const Event& event, std::vector<uint64_t>* out) const {
  if (pair_hashes_.empty()) return;
  for (const ContextPair& pair : dataset_.ContextOf(event)) {
    auto it = pair_hashes_.find(PairKey(pair));
    if (it != pair_hashes_.end()) out->push_back(it->second);
  }
}

void DatasetFeatures::ItemFeatures(ItemId item, std::vector<uint64_t>* out) const {
  if (size_t{item} + 1 >= item_begin_.size()) return;  // also kInvalidId and no metadata
  out->insert(out->end(), item_hashes_.begin() + item_begin_[item],
              item_hashes_.begin() + item_begin_[item + 1]);
}

size_t DatasetFeatures::num_items_with_features() const {
  size_t n = 0;
  for (size_t i = 0; i + 1 < item_begin_.size(); ++i) n += item_begin_[i + 1] > item_begin_[i];
  return n;
}

}  // namespace liverec
