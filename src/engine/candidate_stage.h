// RetrievalIndexes: the candidate stage of the models that score by an inner product
// (EmbeddingRetrieval, model/capabilities.h) and have no candidate source of their own: one
// vector index (retrieval/) per such model over the model's item vectors, kept current as the
// model learns; per live instance and ensemble member. Under rank.retrieval=auto (the default)
// an ensemble member's index is exact and lives only while the member has at most
// rank.hnsw_min_items items: only a request that names the member searches it (the ensemble
// ranks its proposing members' candidates), which does not pay for a graph kept current by
// every learned event.
//
// Measured and left out: adding an indexed member's own best items to the ensemble's
// candidates changed no list that mattered (served Recall@10 0.1931 on MovieLens-100K and
// 0.5313 on Globo, both as before: popularity's and item_knn's 1,000 candidates hold mf's best)
// and made serving about 1.5 times slower (docs/quality.md).
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
  // "auto": for a live instance, an HnswIndex whose graph waits for rank.hnsw_min_items items:
  // exact (the scan's lists) below, approximate above; for an ensemble member, an ExactIndex
  // dropped once the member has more than rank.hnsw_min_items items.
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
  // Brings every index up to date with the items its model changed since the last Sync or Add,
  // and drops a member's index that outgrew its bound (kAuto).
  void Sync();

  // Replaces *out with up to n items that `model` scores best for `user` among those `admit`
  // accepts (the exact n best with the exact index), in ascending id order, and returns true;
  // false, leaving *out alone, when `model` has no index (or it was dropped).
  bool Retrieve(const Model* model, UserId user, size_t n, const VectorIndex::Filter& admit,
                std::vector<ItemId>* out) const;
  // The index of `model`, or null.
  const VectorIndex* Find(const Model* model) const;

 private:
  struct Entry {
    const Model* model;
    EmbeddingRetrieval* source;
    std::unique_ptr<VectorIndex> index;  // null once dropped
    size_t id_bound = 0;                 // one past the largest id ever upserted
    size_t max_items = SIZE_MAX;         // more live items drop the index (kAuto members)
  };
  // The entry of `model`, or null.
  const Entry* FindEntry(const Model* model) const;
  // Upserts or removes `item` as the model has it now.
  void Update(Entry* entry, ItemId item);
  // Reads every item of `entry`'s model afresh: upserts the listed ones, removes the rest.
  void Reindex(Entry* entry);
  // Drops `entry`'s index when it holds more than entry->max_items items.
  static void DropIfOutgrown(Entry* entry);

  RetrievalSettings settings_;
  std::vector<Entry> entries_;  // a handful: a linear search
  // Scratch of Sync (not state).
  std::vector<ItemId> changed_;
  std::vector<float> vector_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_CANDIDATE_STAGE_H_
