// AVX2+FMA kernels. Every function here carries the target attribute instead of the whole file
// being compiled with -mavx2, so the rest of the binary stays portable and the dispatcher in
// kernels.cc decides at run time whether these may run. Each kernel hands the last n % 8
// elements to its plain-loop reference in kernels.cc.
#include "kernels/kernels_avx2.h"

#include <cmath>
#include <limits>

#include "common/check.h"
#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace liverec {

#if defined(__x86_64__)

bool Avx2Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

namespace avx2 {
namespace {

constexpr size_t kLanes = 8;  // floats per __m256

LIVEREC_TARGET_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// Dot products of `query` with kRows rows at once: four accumulators per row (blocks of 8
// taken round-robin) keep four FMA chains in flight, which at the dimensions we use (16-128)
// is what bounds a dot product's latency. Every row gets exactly the arithmetic of a lone
// Dot, whatever kRows and the row's position.
template <size_t kRows>
LIVEREC_TARGET_AVX2 inline void DotBlock(const float* query, const float* const* rows, size_t n,
                                         float* out) {
  constexpr size_t kChains = 4;
  __m256 acc[kRows][kChains];
#pragma GCC unroll 8
  for (size_t r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (size_t c = 0; c < kChains; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  // Adds block `c` of 8 at offset i into chain c of every row.
  auto step = [&](size_t i, size_t c) LIVEREC_TARGET_AVX2 {
    const __m256 q = _mm256_loadu_ps(query + i);
#pragma GCC unroll 8
    for (size_t r = 0; r < kRows; ++r) {
      acc[r][c] = _mm256_fmadd_ps(q, _mm256_loadu_ps(rows[r] + i), acc[r][c]);
    }
  };
  size_t i = 0;
  for (; i + kChains * kLanes <= n; i += kChains * kLanes) {
    step(i, 0);
    step(i + kLanes, 1);
    step(i + 2 * kLanes, 2);
    step(i + 3 * kLanes, 3);
  }
  // Up to three whole blocks left: they continue the round-robin.
  if (i + kLanes <= n) {
    step(i, 0);
    i += kLanes;
    if (i + kLanes <= n) {
      step(i, 1);
      i += kLanes;
      if (i + kLanes <= n) {
        step(i, 2);
        i += kLanes;
      }
    }
  }
#pragma GCC unroll 8
  for (size_t r = 0; r < kRows; ++r) {
    float sum = HorizontalSum(
        _mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]), _mm256_add_ps(acc[r][2], acc[r][3])));
    if (i < n) sum += ref::Dot(query + i, rows[r] + i, n - i);
    out[r] = sum;
  }
}

}  // namespace

float Dot(const float* a, const float* b, size_t n) {
  float sum = 0;
  DotBlock<1>(a, &b, n, &sum);
  return sum;
}

void Axpy(float alpha, const float* x, float* y, size_t n) {
  const __m256 a = _mm256_set1_ps(alpha);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  if (i < n) ref::Axpy(alpha, x + i, y + i, n - i);
}

void Scale(float alpha, float* x, size_t n) {
  const __m256 a = _mm256_set1_ps(alpha);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    _mm256_storeu_ps(x + i, _mm256_mul_ps(a, _mm256_loadu_ps(x + i)));
  }
  if (i < n) ref::Scale(alpha, x + i, n - i);
}

// p - lr * (g * q + reg * p) regrouped as (1 - lr * reg) * p - (lr * g) * q: a multiply and
// a fused multiply-subtract per vector instead of four operations, which shortens the chain
// p -> next step's Dot in online learning. Differs from the reference by rounding only.
void SgdPairStep(float* p, float* q, float g, float lr, float reg, size_t n) {
  const __m256 keep = _mm256_set1_ps(1.0f - lr * reg);
  const __m256 step = _mm256_set1_ps(lr * g);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 vp = _mm256_loadu_ps(p + i);
    const __m256 vq = _mm256_loadu_ps(q + i);
    _mm256_storeu_ps(p + i, _mm256_fnmadd_ps(step, vq, _mm256_mul_ps(keep, vp)));
    _mm256_storeu_ps(q + i, _mm256_fnmadd_ps(step, vp, _mm256_mul_ps(keep, vq)));
  }
  if (i < n) ref::SgdPairStep(p + i, q + i, g, lr, reg, n - i);
}

// Vector square root and division are correctly rounded, as the scalar ones are; the only
// difference from the reference is the fused g * g + sum.
void AdagradStep(const float* g, float lr, float* theta, float* sum, size_t n) {
  const __m256 rate = _mm256_set1_ps(lr);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 vg = _mm256_loadu_ps(g + i);
    const __m256 vs = _mm256_fmadd_ps(vg, vg, _mm256_loadu_ps(sum + i));
    _mm256_storeu_ps(sum + i, vs);
    const __m256 step = _mm256_div_ps(_mm256_mul_ps(rate, vg), _mm256_sqrt_ps(vs));
    _mm256_storeu_ps(theta + i, _mm256_sub_ps(_mm256_loadu_ps(theta + i), step));
  }
  if (i < n) ref::AdagradStep(g + i, lr, theta + i, sum + i, n - i);
}

// Two rows at a time share each load of the query (two rows of four chains fill half the
// registers); each row is computed exactly as Dot computes it.
void DotRows(const float* query, const float* table, size_t stride, const uint32_t* rows,
             size_t num_rows, size_t dim, float* out) {
  constexpr size_t kRowsPerPass = 2;
  size_t r = 0;
  for (; r + kRowsPerPass <= num_rows; r += kRowsPerPass) {
    const float* pass[kRowsPerPass] = {table + rows[r] * stride, table + rows[r + 1] * stride};
    DotBlock<kRowsPerPass>(query, pass, dim, out + r);
  }
  if (r < num_rows) {
    const float* row = table + rows[r] * stride;
    DotBlock<1>(query, &row, dim, out + r);
  }
}

void CountAboveEqual(const float* scores, size_t n, float threshold, size_t* above, size_t* equal) {
  const __m256 t = _mm256_set1_ps(threshold);
  size_t num_above = 0;
  size_t num_equal = 0;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 v = _mm256_loadu_ps(scores + i);
    // Ordered, non-signalling predicates: a NaN on either side compares false, as in C++.
    num_above += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(v, t, _CMP_GT_OQ)));
    num_equal += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(v, t, _CMP_EQ_OQ)));
  }
  size_t tail_above = 0;
  size_t tail_equal = 0;
  ref::CountAboveEqual(scores + i, n - i, threshold, &tail_above, &tail_equal);
  *above = num_above + tail_above;
  *equal = num_equal + tail_equal;
}

// Once the heap holds k entries, a later index can enter only with a score strictly above the
// worst kept one (on equal scores the lower, kept index wins). Most blocks of 8 have none, and
// one compare against the broadcast threshold skips them.
size_t TopK(const float* scores, size_t n, size_t k, uint32_t* out_idx) {
  LIVEREC_CHECK(n <= std::numeric_limits<uint32_t>::max()) << "n = " << n;
  if (k == 0) return 0;
  kernels_internal::TopKHeap heap(scores, k, out_idx);
  size_t i = 0;
  for (; i < n && !heap.full(); ++i) {
    if (!std::isnan(scores[i])) heap.Offer(static_cast<uint32_t>(i));
  }
  if (heap.full()) {
    __m256 threshold = _mm256_set1_ps(heap.worst_score());
    for (; i + kLanes <= n; i += kLanes) {
      unsigned mask = static_cast<unsigned>(
          _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(scores + i), threshold, _CMP_GT_OQ)));
      if (mask == 0) continue;
      while (mask != 0) {
        const size_t j = i + static_cast<size_t>(__builtin_ctz(mask));
        mask &= mask - 1;
        // The threshold may have risen since the compare; Offer checks again.
        heap.Offer(static_cast<uint32_t>(j));
      }
      threshold = _mm256_set1_ps(heap.worst_score());
    }
  }
  for (; i < n; ++i) {
    if (!std::isnan(scores[i])) heap.Offer(static_cast<uint32_t>(i));
  }
  return heap.Finish();
}

}  // namespace avx2

#else  // !defined(__x86_64__)

bool Avx2Supported() { return false; }

namespace avx2 {

float Dot(const float* a, const float* b, size_t n) { return ref::Dot(a, b, n); }
void Axpy(float alpha, const float* x, float* y, size_t n) { ref::Axpy(alpha, x, y, n); }
void Scale(float alpha, float* x, size_t n) { ref::Scale(alpha, x, n); }
void SgdPairStep(float* p, float* q, float g, float lr, float reg, size_t n) {
  ref::SgdPairStep(p, q, g, lr, reg, n);
}
void AdagradStep(const float* g, float lr, float* theta, float* sum, size_t n) {
  ref::AdagradStep(g, lr, theta, sum, n);
}
void DotRows(const float* query, const float* table, size_t stride, const uint32_t* rows,
             size_t num_rows, size_t dim, float* out) {
  ref::DotRows(query, table, stride, rows, num_rows, dim, out);
}
void CountAboveEqual(const float* scores, size_t n, float threshold, size_t* above, size_t* equal) {
  ref::CountAboveEqual(scores, n, threshold, above, equal);
}
size_t TopK(const float* scores, size_t n, size_t k, uint32_t* out_idx) {
  return ref::TopK(scores, n, k, out_idx);
}

}  // namespace avx2

#endif  // defined(__x86_64__)

}  // namespace liverec
