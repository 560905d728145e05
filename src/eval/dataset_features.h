// DatasetFeatures: the FeatureSource of replay (model/features.h) over a Dataset and the item
// metadata read for it (event/item_metadata.h).
//
//   event features  FeatureHash("key=value") of each of the event's context pairs, optionally
//                   only those whose key is in a given list; computed once per distinct
//                   interned pair at construction, looked up per event;
//   item features   FeatureHash("category:" + c), ("tag:" + t), ("token:" + w) of the item's
//                   metadata, computed at construction and stored flat (item i's features are
//                   hashes[begin[i], begin[i + 1])).
//
// Thread safety: immutable after construction; every method may run concurrently.
#ifndef LIVEREC_EVAL_DATASET_FEATURES_H_
#define LIVEREC_EVAL_DATASET_FEATURES_H_

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "event/dataset.h"
#include "event/item_metadata.h"
#include "model/features.h"

namespace liverec {

class DatasetFeatures final : public FeatureSource {
 public:
  // `dataset` must outlive this object and keep its context arena; `metadata` (may be null:
  // no item features) is copied in hashed form. `context_keys`: the context keys whose pairs
  // become features; empty = every key. Keys the data set does not have are ignored.
  DatasetFeatures(const Dataset& dataset, const ItemMetadataTable* metadata,
                  std::span<const std::string> context_keys = {});

  void EventFeatures(const Event& event, std::vector<uint64_t>* out) const override;
  // Nothing for items without metadata, beyond the data set, or kInvalidId.
  void ItemFeatures(ItemId item, std::vector<uint64_t>* out) const override;

  // Distinct (key, value) pairs that have a feature.
  size_t num_context_features() const { return pair_hashes_.size(); }
  // Items with at least one metadata feature.
  size_t num_items_with_features() const;

 private:
  static uint64_t PairKey(const ContextPair& pair) { return uint64_t{pair.key} << 32 | pair.value; }

  const Dataset& dataset_;
  std::unordered_map<uint64_t, uint64_t> pair_hashes_;  // PairKey -> FeatureHash("key=value")
  std::vector<uint32_t> item_begin_;                    // size num_items + 1 (or 0: none)
  std::vector<uint64_t> item_hashes_;
};

}  // namespace liverec

#endif  // LIVEREC_EVAL_DATASET_FEATURES_H_
