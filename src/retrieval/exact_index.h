// ExactIndex: brute-force maximum-inner-product search, the oracle of every other VectorIndex.
//
// Layout: one flat block of rows, 64-byte aligned; row(id) = data + id * stride, stride = dim
// rounded up to a multiple of 16 floats (64 bytes), padding zeroed. The block covers ids
// [0, num_ids()) where num_ids() is one past the largest id ever upserted; ids never upserted
// or removed keep a row but are not live (one byte per id says which). Growth doubles the
// capacity and invalidates pointers returned by row().
//
// Search scores live ids in blocks with the DotRows/TopK kernels, so it allocates nothing
// beyond the caller's output vector. Equal scores come out in ascending id order.
//
// Thread safety: as VectorIndex (const methods concurrently; mutation exclusive).
#ifndef LIVEREC_RETRIEVAL_EXACT_INDEX_H_
#define LIVEREC_RETRIEVAL_EXACT_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "retrieval/vector_index.h"

namespace liverec {

class ExactIndex final : public VectorIndex {
 public:
  // Requires dim >= 1.
  explicit ExactIndex(size_t dim);
  ExactIndex(ExactIndex&&) noexcept = default;
  ExactIndex& operator=(ExactIndex&&) noexcept = default;

  void Upsert(uint32_t id, const float* vector) override;
  void UpsertBatch(const uint32_t* ids, size_t num_ids, const float* vectors,
                   size_t stride) override;
  void Remove(uint32_t id) override;
  void Search(const float* query, size_t k, const Filter& allow,
              std::vector<ScoredId>* out) const override;
  size_t size() const override { return num_live_; }
  size_t dim() const override { return dim_; }

  // One past the largest id ever upserted (live or not).
  size_t num_ids() const { return num_ids_; }
  // True if `id` was upserted and not removed since.
  bool contains(uint32_t id) const { return id < num_ids_ && live_[id] != 0; }
  // The stored vector of `id` (dim() floats); requires id < num_ids(). Valid until the next
  // mutation.
  const float* row(uint32_t id) const { return data_.get() + size_t{id} * stride_; }

  // out[i] = <query, vector(ids[i])> for i in [0, num_ids), computed exactly as Search
  // computes scores (bit for bit). Requires every ids[i] < num_ids().
  void ScoreIds(const float* query, const uint32_t* ids, size_t num_ids, float* out) const;

  // Makes room for ids [0, n) without changing num_ids().
  void Reserve(size_t n);

  size_t MemoryBytes() const;

 private:
  struct AlignedFree {
    void operator()(float* p) const;
  };

  size_t dim_;
  size_t stride_;
  size_t num_ids_ = 0;
  size_t num_live_ = 0;
  size_t capacity_ = 0;  // rows allocated
  std::unique_ptr<float[], AlignedFree> data_;
  std::vector<uint8_t> live_;  // live_[id] != 0 iff contains(id); size num_ids_
};

}  // namespace liverec

#endif  // LIVEREC_RETRIEVAL_EXACT_INDEX_H_
