#include "embed/embedding_table.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/random.h"
#include "kernels/kernels.h"

namespace liverec {
namespace {

constexpr size_t kRowAlignmentBytes = 64;  // one cache line; also the widest vector load
constexpr size_t kStrideFloats = kRowAlignmentBytes / sizeof(float);
constexpr uint32_t kTag = 0x54424d45;  // "EMBT" in little-endian bytes
constexpr uint32_t kVersion = 1;

size_t RoundUpToStride(size_t dim) {
  return (dim + kStrideFloats - 1) / kStrideFloats * kStrideFloats;
}

// A block for `rows` rows of `stride` floats; the size is a multiple of the alignment, as
// aligned_alloc requires, because stride is.
float* AllocateRows(size_t rows, size_t stride) {
  if (rows == 0) return nullptr;
  void* p = std::aligned_alloc(kRowAlignmentBytes, rows * stride * sizeof(float));
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<float*>(p);
}

}  // namespace

void EmbeddingTable::AlignedFree::operator()(float* p) const { std::free(p); }

EmbeddingTable::EmbeddingTable(size_t dim, float init_std, uint64_t seed)
    : dim_(dim), stride_(RoundUpToStride(dim)), init_std_(init_std), seed_(seed) {
  LIVEREC_CHECK(dim >= 1) << "an embedding table needs dim >= 1";
}

EmbeddingTable::EmbeddingTable(const EmbeddingTable& other)
    : dim_(other.dim_),
      stride_(other.stride_),
      init_std_(other.init_std_),
      seed_(other.seed_),
      num_rows_(other.num_rows_),
      capacity_(other.num_rows_),
      data_(AllocateRows(other.num_rows_, other.stride_)) {
  if (num_rows_ > 0)
    std::memcpy(data_.get(), other.data_.get(), num_rows_ * stride_ * sizeof(float));
}

EmbeddingTable& EmbeddingTable::operator=(const EmbeddingTable& other) {
  if (this != &other) *this = EmbeddingTable(other);
  return *this;
}

void EmbeddingTable::EnsureRows(size_t n) {
  if (n <= num_rows_) return;
  // Doubling keeps the copying amortized O(1) per row as ids arrive one at a time.
  if (n > capacity_) Reserve(std::max(n, 2 * capacity_));
  for (size_t i = num_rows_; i < n; ++i) InitRow(i, i);
  num_rows_ = n;
}

void EmbeddingTable::Reserve(size_t rows) {
  std::unique_ptr<float[], AlignedFree> grown(AllocateRows(rows, stride_));
  if (num_rows_ > 0) std::memcpy(grown.get(), data_.get(), num_rows_ * stride_ * sizeof(float));
  data_ = std::move(grown);
  capacity_ = rows;
}

// The generator depends on (seed, row) only, so a row's initial values do not depend on when
// or in which batch of growth it was created; replay and recovery rely on that.
void EmbeddingTable::InitRow(size_t i, uint64_t key) {
  Random rng(DeriveSeed(seed_, key));
  float* r = row(i);
  for (size_t d = 0; d < dim_; ++d) r[d] = static_cast<float>(rng.Normal() * init_std_);
  std::fill(r + dim_, r + stride_, 0.0f);
}

void EmbeddingTable::ResetRow(size_t i, uint64_t key) {
  LIVEREC_CHECK(i < num_rows_) << "row " << i << " of " << num_rows_;
  InitRow(i, key);
}

// Format: tag, version, u64 dim, f32 init_std, u64 seed, u64 num_rows, then num_rows rows of
// dim floats each (the padding is not stored).
void EmbeddingTable::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kTag);
  out->Put<uint32_t>(kVersion);
  out->Put<uint64_t>(dim_);
  out->Put<float>(init_std_);
  out->Put<uint64_t>(seed_);
  out->Put<uint64_t>(num_rows_);
  for (size_t i = 0; i < num_rows_; ++i) out->PutBytes(row(i), dim_ * sizeof(float));
}

Status EmbeddingTable::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kTag, kVersion, "embedding table"));
  uint64_t dim = 0;
  float init_std = 0;
  uint64_t seed = 0;
  uint64_t num_rows = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&dim));
  if (dim != dim_) {
    return Corruption("embedding table: stored dim " + std::to_string(dim) +
                      " does not match this table's dim " + std::to_string(dim_));
  }
  LIVEREC_RETURN_IF_ERROR(in->Get(&init_std));
  LIVEREC_RETURN_IF_ERROR(in->Get(&seed));
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_rows));
  // Checked before allocating, so a corrupt count cannot ask for a huge block.
  const size_t row_bytes = dim_ * sizeof(float);
  if (num_rows > in->remaining() / row_bytes) {
    return Corruption("embedding table: " + std::to_string(num_rows) + " rows of " +
                      std::to_string(row_bytes) + " bytes do not fit in the " +
                      std::to_string(in->remaining()) + " bytes left");
  }
  std::unique_ptr<float[], AlignedFree> data(AllocateRows(num_rows, stride_));
  for (size_t i = 0; i < num_rows; ++i) {
    float* r = data.get() + i * stride_;
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(r, row_bytes));
    std::fill(r + dim_, r + stride_, 0.0f);
  }
  init_std_ = init_std;
  seed_ = seed;
  num_rows_ = num_rows;
  capacity_ = num_rows;
  data_ = std::move(data);
  return Status::Ok();
}

float EmbeddingCosine(const float* a, const float* b, size_t dim) {
  // The product of the squared norms in double: it may overflow float for long rows.
  const double norms = static_cast<double>(Dot(a, a, dim)) * static_cast<double>(Dot(b, b, dim));
  if (!(norms > 0)) return 0;
  return static_cast<float>(std::clamp(Dot(a, b, dim) / std::sqrt(norms), 0.0, 1.0));
}

}  // namespace liverec
