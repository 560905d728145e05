#include "retrieval/exact_index.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/check.h"
#include "kernels/kernels.h"

namespace liverec {
namespace {

constexpr size_t kRowAlignmentBytes = 64;  // one cache line; also the widest vector load
constexpr size_t kStrideFloats = kRowAlignmentBytes / sizeof(float);
constexpr size_t kMinCapacityRows = 64;
// Ids scored per kernel call in Search: scores, ids and top-k indices of one block take 3 KB,
// which stays in L1 next to the query.
constexpr size_t kBlockRows = 256;

size_t RoundUpToStride(size_t dim) {
  return (dim + kStrideFloats - 1) / kStrideFloats * kStrideFloats;
}

// Best first: higher score, then lower id, so ties come out in a defined order. Scores are
// never NaN here (TopK does not select NaN), so this is a strict weak order.
bool Better(const VectorIndex::ScoredId& a, const VectorIndex::ScoredId& b) {
  return a.second > b.second || (a.second == b.second && a.first < b.first);
}

}  // namespace

void ExactIndex::AlignedFree::operator()(float* p) const { std::free(p); }

ExactIndex::ExactIndex(size_t dim) : dim_(dim), stride_(RoundUpToStride(dim)) {
  LIVEREC_CHECK(dim >= 1) << "a vector index needs dim >= 1";
}

void ExactIndex::Reserve(size_t n) {
  if (n <= capacity_) return;
  const size_t new_capacity = std::max({n, 2 * capacity_, kMinCapacityRows});
  const size_t bytes = new_capacity * stride_ * sizeof(float);
  // bytes is a multiple of the alignment, as aligned_alloc requires, because stride_ is.
  float* p = static_cast<float*>(std::aligned_alloc(kRowAlignmentBytes, bytes));
  if (p == nullptr) throw std::bad_alloc();
  const size_t used_bytes = num_ids_ * stride_ * sizeof(float);
  if (used_bytes > 0) std::memcpy(p, data_.get(), used_bytes);
  // Zeroed so that padding and rows of ids never upserted hold finite values.
  std::memset(reinterpret_cast<char*>(p) + used_bytes, 0, bytes - used_bytes);
  data_.reset(p);
  capacity_ = new_capacity;
}

void ExactIndex::Upsert(uint32_t id, const float* vector) {
  LIVEREC_CHECK(id != UINT32_MAX) << "kInvalidId cannot be indexed";
  if (id >= num_ids_) {
    Reserve(size_t{id} + 1);
    num_ids_ = size_t{id} + 1;
    live_.resize(num_ids_, 0);
  }
  float* row = data_.get() + size_t{id} * stride_;
  if (row != vector) std::memcpy(row, vector, dim_ * sizeof(float));
  if (live_[id] == 0) {
    live_[id] = 1;
    ++num_live_;
  }
}

void ExactIndex::UpsertBatch(const uint32_t* ids, size_t num_ids, const float* vectors,
                             size_t stride) {
  LIVEREC_CHECK(stride >= dim_) << "stride " << stride << " < dim " << dim_;
  if (num_ids == 0) return;
  Reserve(size_t{*std::max_element(ids, ids + num_ids)} + 1);
  for (size_t i = 0; i < num_ids; ++i) Upsert(ids[i], vectors + i * stride);
}

void ExactIndex::Remove(uint32_t id) {
  if (!contains(id)) return;
  live_[id] = 0;
  --num_live_;
}

void ExactIndex::ScoreIds(const float* query, const uint32_t* ids, size_t num_ids,
                          float* out) const {
  for (size_t i = 0; i < num_ids; ++i) LIVEREC_DCHECK(ids[i] < num_ids_);
  DotRows(query, data_.get(), stride_, ids, num_ids, dim_, out);
}

void ExactIndex::Search(const float* query, size_t k, const Filter& allow,
                        std::vector<ScoredId>* out) const {
  out->clear();
  if (k == 0 || num_live_ == 0) return;
  const size_t keep = std::min(k, num_live_);
  // *out collects each block's best and is cut back to `keep` whenever it reaches twice that,
  // so selection costs O(num_ids log keep) overall whatever k is. After the first cut, the
  // keep-th best score so far is a bar: ids ascend, so a later id scoring at most that loses
  // to every kept one and is dropped before selection (most of them, once the bar is high).
  const size_t prune_at = 2 * keep + kBlockRows;
  out->reserve(prune_at);
  bool have_bar = false;
  float bar = 0;
  auto prune = [&] {
    if (out->size() < keep) return;
    std::nth_element(out->begin(), out->begin() + static_cast<ptrdiff_t>(keep - 1), out->end(),
                     Better);
    out->resize(keep);
    have_bar = true;
    bar = (*out)[keep - 1].second;
  };

  uint32_t ids[kBlockRows];
  float scores[kBlockRows];
  uint32_t top[kBlockRows];
  size_t num_block = 0;
  auto flush = [&] {
    DotRows(query, data_.get(), stride_, ids, num_block, dim_, scores);
    if (have_bar) {
      size_t num_above = 0;
      for (size_t j = 0; j < num_block; ++j) {
        if (!(scores[j] > bar)) continue;
        ids[num_above] = ids[j];
        scores[num_above] = scores[j];
        ++num_above;
      }
      num_block = num_above;
    }
    // Ids of a block ascend, so TopK's tie rule (lower index first) is the lower id.
    const size_t num_top = TopK(scores, num_block, std::min(keep, num_block), top);
    for (size_t j = 0; j < num_top; ++j) out->emplace_back(ids[top[j]], scores[top[j]]);
    if (out->size() + kBlockRows > prune_at || (!have_bar && out->size() >= keep)) prune();
    num_block = 0;
  };
  for (size_t id = 0; id < num_ids_; ++id) {
    if (live_[id] == 0) continue;
    if (allow && !allow(static_cast<uint32_t>(id))) continue;
    ids[num_block++] = static_cast<uint32_t>(id);
    if (num_block == kBlockRows) flush();
  }
  if (num_block > 0) flush();
  prune();
  std::sort(out->begin(), out->end(), Better);
}

size_t ExactIndex::MemoryBytes() const {
  return capacity_ * stride_ * sizeof(float) + live_.capacity();
}

}  // namespace liverec
