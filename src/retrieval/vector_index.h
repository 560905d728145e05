// VectorIndex: maximum-inner-product search over item vectors that change online.
//
// One interface for the exact twin (ExactIndex, the oracle) and the approximate index
// (HnswIndex). Ids are dense uint32 item ids; the index grows as needed, so ids need not be
// inserted in order. Scores are inner products <query, v>, higher is better.
//
// Thread safety: const methods (Search, size, dim) may run concurrently with each other, never
// with Upsert/UpsertBatch/Remove. The engine holds a reader-writer lock (writers exclusive).
#ifndef LIVEREC_RETRIEVAL_VECTOR_INDEX_H_
#define LIVEREC_RETRIEVAL_VECTOR_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace liverec {

class VectorIndex {
 public:
  // Search filter: true for ids that may be returned. An empty function allows every id.
  // It is called from the searching thread only, possibly more than once per id.
  using Filter = std::function<bool(uint32_t)>;
  // (id, inner product) pair of a result.
  using ScoredId = std::pair<uint32_t, float>;

  virtual ~VectorIndex() = default;

  // Inserts or replaces the vector of `id` (dim() floats, copied). Brings a removed id back.
  // Requires id != UINT32_MAX (kInvalidId).
  virtual void Upsert(uint32_t id, const float* vector) = 0;

  // Upserts ids[i] with the vector at vectors + i * stride, for i in [0, num_ids), as if by
  // Upsert in that order (implementations may reserve space once first). Requires
  // stride >= dim(). Rebuilding from an embedding table: ids 0..n-1, table.data(),
  // table.stride().
  virtual void UpsertBatch(const uint32_t* ids, size_t num_ids, const float* vectors,
                           size_t stride) = 0;

  // Removes `id` from results; no-op if absent or already removed. Upsert brings it back.
  virtual void Remove(uint32_t id) = 0;

  // Replaces *out with up to k (id, score) pairs with the highest <query, v> among live ids
  // for which `allow(id)` is true, best first; equal scores in ascending id order for the
  // exact index. Fewer than k when fewer ids qualify. `query` has dim() floats.
  virtual void Search(const float* query, size_t k, const Filter& allow,
                      std::vector<ScoredId>* out) const = 0;

  // Number of live (inserted and not removed) ids.
  virtual size_t size() const = 0;
  virtual size_t dim() const = 0;
};

}  // namespace liverec

#endif  // LIVEREC_RETRIEVAL_VECTOR_INDEX_H_
