// The AVX2+FMA implementations of the kernels in kernels.h, and the top-k heap both top-k
// kernels share. Internal to src/kernels: other code
// calls the dispatched functions of kernels.h. Tests and benchmarks call these directly to check
// and time both paths, and only when Avx2Supported() is true: on a CPU without AVX2 they would
// fault with an illegal instruction.
//
// Each function has the contract of its namespace-level twin in kernels.h. On hosts other than
// x86-64 they exist but forward to the `ref` kernels, and Avx2Supported() is false.
//
// DotRows computes each row with exactly the arithmetic of avx2::Dot, so a row's score does not
// depend on its position in the batch, and DotRows(q, ..., {r}) == Dot(q, row r) bit for bit.
#ifndef LIVEREC_KERNELS_KERNELS_AVX2_H_
#define LIVEREC_KERNELS_KERNELS_AVX2_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#define LIVEREC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define LIVEREC_TARGET_AVX2
#endif

namespace liverec {

// True when this CPU (and its operating system) can run the avx2 kernels.
bool Avx2Supported();

namespace avx2 {
LIVEREC_TARGET_AVX2 float Dot(const float* a, const float* b, size_t n);
LIVEREC_TARGET_AVX2 void Axpy(float alpha, const float* x, float* y, size_t n);
LIVEREC_TARGET_AVX2 void Scale(float alpha, float* x, size_t n);
LIVEREC_TARGET_AVX2 void SgdPairStep(float* p, float* q, float g, float lr, float reg, size_t n);
LIVEREC_TARGET_AVX2 void AdagradStep(const float* g, float lr, float* theta, float* sum, size_t n);
LIVEREC_TARGET_AVX2 void DotRows(const float* query, const float* table, size_t stride,
                                 const uint32_t* rows, size_t num_rows, size_t dim, float* out);
LIVEREC_TARGET_AVX2 void CountAboveEqual(const float* scores, size_t n, float threshold,
                                         size_t* above, size_t* equal);
LIVEREC_TARGET_AVX2 size_t TopK(const float* scores, size_t n, size_t k, uint32_t* out_idx);
}  // namespace avx2

namespace kernels_internal {

// The selection state shared by both top-k kernels: indices out[0, size) form a binary heap
// (std::push_heap order) whose top out[0] is the worst kept entry, so a candidate replaces it
// when it ranks before it. The ranking is a strict total order on non-NaN entries, hence the
// selected set, and the output, are unique whatever the scan order.
class TopKHeap {
 public:
  TopKHeap(const float* scores, size_t k, uint32_t* out) : scores_(scores), k_(k), out_(out) {}

  bool full() const { return size_ == k_; }
  // The score of the worst kept entry; requires size() > 0.
  float worst_score() const { return scores_[out_[0]]; }

  // Considers index i (scores[i] not NaN).
  void Offer(uint32_t i) {
    if (size_ < k_) {
      out_[size_++] = i;
      std::push_heap(out_, out_ + size_, RanksBefore{scores_});
    } else if (RanksBefore{scores_}(i, out_[0])) {
      std::pop_heap(out_, out_ + size_, RanksBefore{scores_});
      out_[size_ - 1] = i;
      std::push_heap(out_, out_ + size_, RanksBefore{scores_});
    }
  }

  // Sorts the kept entries best first; returns their number.
  size_t Finish() {
    std::sort_heap(out_, out_ + size_, RanksBefore{scores_});
    return size_;
  }

 private:
  // Higher score first, then lower index.
  struct RanksBefore {
    const float* scores;
    bool operator()(uint32_t a, uint32_t b) const {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    }
  };

  const float* scores_;
  size_t k_;
  uint32_t* out_;
  size_t size_ = 0;
};

}  // namespace kernels_internal

}  // namespace liverec

#endif  // LIVEREC_KERNELS_KERNELS_AVX2_H_
