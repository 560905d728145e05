// Numeric kernels: the only home of SIMD intrinsics in liverec.
//
// Each kernel has a plain-loop reference in namespace `ref` (its definition, and the oracle of
// its tests) and a fast path chosen once at startup from the CPU's features (AVX2+FMA on
// x86-64), so the default build stays portable. Results of the fast path equal the reference up
// to floating-point reassociation (tests bound the difference); top-k and counting results are
// exact.
//
// Pointers need no particular alignment; rows of embedding tables are 64-byte aligned anyway.
#ifndef LIVEREC_KERNELS_KERNELS_H_
#define LIVEREC_KERNELS_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace liverec {

// Sum of a[i] * b[i].
float Dot(const float* a, const float* b, size_t n);

// y[i] += alpha * x[i].
void Axpy(float alpha, const float* x, float* y, size_t n);

// x[i] *= alpha.
void Scale(float alpha, float* x, size_t n);

// One SGD step on a factor pair for a gradient scale g = dLoss/dScore (negated error):
//   p' = p - lr * (g * q + reg * p),  q' = q - lr * (g * p + reg * q),
// both computed from the old p and q.
void SgdPairStep(float* p, float* q, float g, float lr, float reg, size_t n);

// One AdaGrad step on n coordinates: sum[i] += g[i]^2, then theta[i] -= lr * g[i] / sqrt(sum[i]).
// sum[i] must be positive after the add (an accumulator starts above zero).
void AdagradStep(const float* g, float lr, float* theta, float* sum, size_t n);

// out[r] = Dot(query, table + rows[r] * stride, dim) for r in [0, num_rows).
void DotRows(const float* query, const float* table, size_t stride, const uint32_t* rows,
             size_t num_rows, size_t dim, float* out);

// Counts entries of scores[0, n) strictly above `threshold` and equal to it.
void CountAboveEqual(const float* scores, size_t n, float threshold, size_t* above, size_t* equal);

// Selects the min(k, n) largest scores; writes their indices to out_idx in descending order of
// score, ties broken by the lower index. Returns the number written. NaN scores are never
// selected.
size_t TopK(const float* scores, size_t n, size_t k, uint32_t* out_idx);

// Which implementation the dispatcher chose ("avx2" or "scalar").
const char* KernelIsa();

namespace ref {
float Dot(const float* a, const float* b, size_t n);
void Axpy(float alpha, const float* x, float* y, size_t n);
void Scale(float alpha, float* x, size_t n);
void SgdPairStep(float* p, float* q, float g, float lr, float reg, size_t n);
void AdagradStep(const float* g, float lr, float* theta, float* sum, size_t n);
void DotRows(const float* query, const float* table, size_t stride, const uint32_t* rows,
             size_t num_rows, size_t dim, float* out);
void CountAboveEqual(const float* scores, size_t n, float threshold, size_t* above, size_t* equal);
size_t TopK(const float* scores, size_t n, size_t k, uint32_t* out_idx);
}  // namespace ref

}  // namespace liverec

#endif  // LIVEREC_KERNELS_KERNELS_H_
