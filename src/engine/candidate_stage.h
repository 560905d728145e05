// RetrievalIndexes: the candidate stage of the models that score by an inner product
// (EmbeddingRetrieval, model/capabilities.h) and have no candidate source of their own: one
// vector index (retrieval/) per such model over the model's item vectors, kept current as the
// model learns; per live instance and ensemble member, except that rank.retrieval=auto (the
// default) indexes live instances only.
//
// The owner (EngineState) calls Sync where learning ends, under its write lock, so readers
// always search the vectors the model scores with; Sync reads only the items the model
// changed since the last call. Retrieve answers with items, not scores: the recommender ranks
// them with the model's own Score, so with the exact index a list equals the full scan's.
//
// Thread safety: Retrieve may run concurrently with itself (per-thread scratch); Reset, Add and
// Sync need exclusive access.
#ifndef LIVEREC_ENGINE_CANDIDATE_STAGE_H_
#define LIVEREC_ENGINE_CANDIDATE_STAGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/model.h"
#include "retrieval/vector_index.h"

namespace liverec {

// The index behind the stage, from rank.retrieval.
enum class RetrievalKind : uint8_t {
  kScan = 0,   // "scan": no index; the model scores the catalogue (Add indexes nothing)
  kExact = 1,  // "exact": ExactIndex, the same lists as the scan
  kHnsw = 2,   // "hnsw": HnswIndex, approximate, its graph maintained from the first item
  // "auto": for live instances only (not ensemble members, which the ensemble never asks for
  // candidates), an HnswIndex whose graph waits for rank.hnsw_min_items items: exact (the
  // scan's lists) below, approximate above.
  kAuto = 3,
};

// rank.retrieval and the HNSW settings it uses.
struct RetrievalSettings {
  RetrievalKind kind = RetrievalKind::kScan;
  size_t hnsw_min_items = 0;  // rank.hnsw_min_items (kAuto)
  size_t hnsw_ef = 0;         // rank.hnsw_ef; 0 = HnswIndexOptions' default
  size_t hnsw_m = 0;          // rank.hnsw_m; 0 = HnswIndexOptions' default

  // Reads rank.retrieval, rank.hnsw_min_items, rank.hnsw_ef and rank.hnsw_m.
  static RetrievalSettings FromOptions(const Options& options);
};

class RetrievalIndexes {
 public:
  RetrievalIndexes() = default;
  explicit RetrievalIndexes(const RetrievalSettings& settings) : settings_(settings) {}

  // Drops every index.
  void Clear() { entries_.clear(); }
  // Indexes `model` (which offers `source`; `member` when it is an ensemble member rather than
  // a live instance) with every item it has a vector for now, unless the kind is kScan, or
  // kAuto and `member`. Both must outlive the entry (until Clear).
  void Add(const Model* model, EmbeddingRetrieval* source, bool member);
  // Brings every index up to date with the items its model changed since the last Sync or Add.
  void Sync();

  // Replaces *out with up to n items that `model` scores best for `user` among those `admit`
  // accepts (the exact n best with the exact index), in ascending id order, and returns true;
  // false, leaving *out alone, when `model` has no index.
  bool Retrieve(const Model* model, UserId user, size_t n, const VectorIndex::Filter& admit,
                std::vector<ItemId>* out) const;
  // The index of `model`, or null.
  const VectorIndex* Find(const Model* model) const;

 private:
  struct Entry {
    const Model* model;
    EmbeddingRetrieval* source;
    std::unique_ptr<VectorIndex> index;
    size_t id_bound = 0;  // one past the largest id ever upserted
  };
  // The entry of `model`, or null.
  const Entry* FindEntry(const Model* model) const;
  // Upserts or removes `item` as the model has it now.
  void Update(Entry* entry, ItemId item);
  // Reads every item of `entry`'s model afresh: upserts the listed ones, removes the rest.
  void Reindex(Entry* entry);

  RetrievalSettings settings_;
  std::vector<Entry> entries_;  // a handful: a linear search
  // Scratch of Sync (not state).
  std::vector<ItemId> changed_;
  std::vector<float> vector_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_CANDIDATE_STAGE_H_
