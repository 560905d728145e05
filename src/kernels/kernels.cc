#include "kernels/kernels.h"

#include <cmath>
#include <limits>

#include "common/check.h"
#include "kernels/kernels_avx2.h"

namespace liverec {

namespace ref {

float Dot(const float* a, const float* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void Axpy(float alpha, const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void Scale(float alpha, float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] *= alpha;
}

void SgdPairStep(float* p, float* q, float g, float lr, float reg, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float p_old = p[i];
    const float q_old = q[i];
    p[i] = p_old - lr * (g * q_old + reg * p_old);
    q[i] = q_old - lr * (g * p_old + reg * q_old);
  }
}

void AdagradStep(const float* g, float lr, float* theta, float* sum, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    sum[i] += g[i] * g[i];
    theta[i] -= lr * g[i] / std::sqrt(sum[i]);
  }
}

void DotRows(const float* query, const float* table, size_t stride, const uint32_t* rows,
             size_t num_rows, size_t dim, float* out) {
  for (size_t r = 0; r < num_rows; ++r) out[r] = Dot(query, table + rows[r] * stride, dim);
}

void CountAboveEqual(const float* scores, size_t n, float threshold, size_t* above, size_t* equal) {
  size_t num_above = 0;
  size_t num_equal = 0;
  for (size_t i = 0; i < n; ++i) {
    num_above += scores[i] > threshold;
    num_equal += scores[i] == threshold;
  }
  *above = num_above;
  *equal = num_equal;
}

size_t TopK(const float* scores, size_t n, size_t k, uint32_t* out_idx) {
  LIVEREC_CHECK(n <= std::numeric_limits<uint32_t>::max()) << "n = " << n;
  if (k == 0) return 0;
  kernels_internal::TopKHeap heap(scores, k, out_idx);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isnan(scores[i])) heap.Offer(static_cast<uint32_t>(i));
  }
  return heap.Finish();
}

}  // namespace ref

namespace {

// The implementation chosen for this CPU. Chosen on first use rather than by a namespace-scope
// initializer, so a kernel called from another translation unit's static initializer still
// finds the table filled in.
struct KernelTable {
  float (*dot)(const float*, const float*, size_t);
  void (*axpy)(float, const float*, float*, size_t);
  void (*scale)(float, float*, size_t);
  void (*sgd_pair_step)(float*, float*, float, float, float, size_t);
  void (*adagrad_step)(const float*, float, float*, float*, size_t);
  void (*dot_rows)(const float*, const float*, size_t, const uint32_t*, size_t, size_t, float*);
  void (*count_above_equal)(const float*, size_t, float, size_t*, size_t*);
  size_t (*top_k)(const float*, size_t, size_t, uint32_t*);
  const char* isa;
};

KernelTable ChooseKernels() {
  if (Avx2Supported()) {
    return {.dot = avx2::Dot,
            .axpy = avx2::Axpy,
            .scale = avx2::Scale,
            .sgd_pair_step = avx2::SgdPairStep,
            .adagrad_step = avx2::AdagradStep,
            .dot_rows = avx2::DotRows,
            .count_above_equal = avx2::CountAboveEqual,
            .top_k = avx2::TopK,
            .isa = "avx2"};
  }
  return {.dot = ref::Dot,
          .axpy = ref::Axpy,
          .scale = ref::Scale,
          .sgd_pair_step = ref::SgdPairStep,
          .adagrad_step = ref::AdagradStep,
          .dot_rows = ref::DotRows,
          .count_above_equal = ref::CountAboveEqual,
          .top_k = ref::TopK,
          .isa = "scalar"};
}

const KernelTable& Kernels() {
  static const KernelTable table = ChooseKernels();
  return table;
}

}  // namespace

float Dot(const float* a, const float* b, size_t n) { return Kernels().dot(a, b, n); }

void Axpy(float alpha, const float* x, float* y, size_t n) { Kernels().axpy(alpha, x, y, n); }

void Scale(float alpha, float* x, size_t n) { Kernels().scale(alpha, x, n); }

void SgdPairStep(float* p, float* q, float g, float lr, float reg, size_t n) {
  Kernels().sgd_pair_step(p, q, g, lr, reg, n);
}

void AdagradStep(const float* g, float lr, float* theta, float* sum, size_t n) {
  Kernels().adagrad_step(g, lr, theta, sum, n);
}

void DotRows(const float* query, const float* table, size_t stride, const uint32_t* rows,
             size_t num_rows, size_t dim, float* out) {
  Kernels().dot_rows(query, table, stride, rows, num_rows, dim, out);
}

void CountAboveEqual(const float* scores, size_t n, float threshold, size_t* above, size_t* equal) {
  Kernels().count_above_equal(scores, n, threshold, above, equal);
}

size_t TopK(const float* scores, size_t n, size_t k, uint32_t* out_idx) {
  return Kernels().top_k(scores, n, k, out_idx);
}

const char* KernelIsa() { return Kernels().isa; }

}  // namespace liverec
