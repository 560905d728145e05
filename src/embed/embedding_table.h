// EmbeddingTable: a growable table of float rows in one flat, 64-byte aligned block.
//
// Layout: row(i) = data() + i * stride(), stride = dim rounded up to a multiple of 16 floats
// (64 bytes), padding zeroed. Rows are created on demand by EnsureRows(n); a new row i is
// initialized from N(0, init_std^2) with a generator seeded by (seed, i) alone, so the table's
// contents do not depend on the order in which rows were created (exact replay).
//
// Growth reallocates (amortized doubling) and invalidates row pointers.
// Thread safety: none; the owner serializes mutation.
#ifndef LIVEREC_EMBED_EMBEDDING_TABLE_H_
#define LIVEREC_EMBED_EMBEDDING_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/serialize.h"
#include "liverec/status.h"

namespace liverec {

class EmbeddingTable {
 public:
  EmbeddingTable(size_t dim, float init_std, uint64_t seed);
  EmbeddingTable(EmbeddingTable&&) noexcept = default;
  EmbeddingTable& operator=(EmbeddingTable&&) noexcept = default;
  EmbeddingTable(const EmbeddingTable& other);
  EmbeddingTable& operator=(const EmbeddingTable& other);

  size_t dim() const { return dim_; }
  size_t stride() const { return stride_; }
  size_t num_rows() const { return num_rows_; }
  const float* data() const { return data_.get(); }

  float* row(size_t i) { return data_.get() + i * stride_; }
  const float* row(size_t i) const { return data_.get() + i * stride_; }

  // Makes rows [num_rows(), n) exist, initialized as described above. No-op if n <= num_rows().
  void EnsureRows(size_t n);
  // Overwrites row i with the initial values of row `key` (the generator seeded by (seed, key)),
  // padding zeroed: a row handed to a new owner starts as that owner's own row would. Requires
  // i < num_rows().
  void ResetRow(size_t i, uint64_t key);

  size_t MemoryBytes() const { return capacity_ * stride_ * sizeof(float); }

  void Save(BinaryWriter* out) const;
  // Replaces the contents; dim must match this table's.
  Status Load(BinaryReader* in);

 private:
  struct AlignedFree {
    void operator()(float* p) const;
  };
  void InitRow(size_t i, uint64_t key);
  void Reserve(size_t rows);

  size_t dim_;
  size_t stride_;
  float init_std_;
  uint64_t seed_;
  size_t num_rows_ = 0;
  size_t capacity_ = 0;
  std::unique_ptr<float[], AlignedFree> data_;
};

// Cosine of two embedding rows of `dim` floats clamped at 0, max(0, <a, b> / (|a| |b|)): a
// similarity in [0, 1] for re-ranking, where anti-aligned items are as unlike as orthogonal
// ones. 0 when either row is all zeros.
float EmbeddingCosine(const float* a, const float* b, size_t dim);

}  // namespace liverec

#endif  // LIVEREC_EMBED_EMBEDDING_TABLE_H_
