#include "kernels/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <ostream>
#include <string>
#include <vector>

#include "common/random.h"
#include "kernels/kernels_avx2.h"

namespace liverec {
namespace {

constexpr size_t kSizes[] = {0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 1000, 1682};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr uint32_t kSentinel = 0xdeadbeef;  // marks out_idx slots a kernel must not write

// One implementation of every kernel: the dispatched one, or the AVX2 one called directly.
struct KernelSet {
  std::string name;
  bool needs_avx2;
  float (*dot)(const float*, const float*, size_t);
  void (*axpy)(float, const float*, float*, size_t);
  void (*scale)(float, float*, size_t);
  void (*sgd_pair_step)(float*, float*, float, float, float, size_t);
  void (*adagrad_step)(const float*, float, float*, float*, size_t);
  void (*dot_rows)(const float*, const float*, size_t, const uint32_t*, size_t, size_t, float*);
  void (*count_above_equal)(const float*, size_t, float, size_t*, size_t*);
  size_t (*top_k)(const float*, size_t, size_t, uint32_t*);
};

const KernelSet kDispatched{"dispatched",    false,       Dot,         Axpy,
                            Scale,           SgdPairStep, AdagradStep, DotRows,
                            CountAboveEqual, TopK};
const KernelSet kAvx2{"avx2",
                      true,
                      avx2::Dot,
                      avx2::Axpy,
                      avx2::Scale,
                      avx2::SgdPairStep,
                      avx2::AdagradStep,
                      avx2::DotRows,
                      avx2::CountAboveEqual,
                      avx2::TopK};

// Names the parameter in gtest's failure messages.
void PrintTo(const KernelSet& set, std::ostream* os) { *os << set.name; }

std::vector<float> RandomVector(Random* rng, size_t n) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng->Normal());
  return v;
}

// The rounding error bound of a float sum of n products, relative to the sum of their
// magnitudes, with a margin: both summation orders are within n * eps of the exact sum.
float DotTolerance(const float* a, const float* b, size_t n) {
  double magnitude = 0;
  for (size_t i = 0; i < n; ++i) magnitude += std::fabs(static_cast<double>(a[i]) * b[i]);
  return static_cast<float>(2.0 * (static_cast<double>(n) + 1) * FLT_EPSILON * magnitude) + FLT_MIN;
}

// The independent oracle of top-k: every non-NaN index, sorted by score then index.
std::vector<uint32_t> SortedTopK(const std::vector<float>& scores, size_t k) {
  std::vector<uint32_t> idx;
  for (uint32_t i = 0; i < scores.size(); ++i) {
    if (!std::isnan(scores[i])) idx.push_back(i);
  }
  std::stable_sort(idx.begin(), idx.end(),
                   [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
  idx.resize(std::min(k, idx.size()));
  return idx;
}

std::vector<uint32_t> RunTopK(size_t (*top_k)(const float*, size_t, size_t, uint32_t*),
                              const std::vector<float>& scores, size_t k) {
  std::vector<uint32_t> out(k + 1, kSentinel);
  const size_t written = top_k(scores.data(), scores.size(), k, out.data());
  EXPECT_EQ(out[k], kSentinel) << "wrote past k";
  out.resize(written);
  return out;
}

// Score vectors that exercise top-k and counting: random, heavy ties, NaN, infinities,
// -FLT_MAX (kUnscored), signed zeros, sorted runs.
std::vector<std::vector<float>> ScoreCases(size_t n, Random* rng) {
  std::vector<std::vector<float>> cases;
  cases.push_back(RandomVector(rng, n));
  std::vector<float> ties(n);
  for (float& x : ties) x = static_cast<float>(rng->Uniform(4));
  cases.push_back(ties);
  std::vector<float> special = RandomVector(rng, n);
  const float specials[] = {kNaN, -FLT_MAX, kInf, -kInf, 0.0f, -0.0f, FLT_MAX};
  for (size_t i = 0; i < n; ++i) {
    if (rng->Uniform(3) == 0) special[i] = specials[rng->Uniform(std::size(specials))];
  }
  cases.push_back(special);
  cases.push_back(std::vector<float>(n, -FLT_MAX));
  cases.push_back(std::vector<float>(n, kNaN));
  std::vector<float> ascending(n);
  std::iota(ascending.begin(), ascending.end(), 0.0f);
  cases.push_back(ascending);
  std::vector<float> descending(ascending.rbegin(), ascending.rend());
  cases.push_back(descending);
  return cases;
}

TEST(RefKernelsTest, DotMatchesDoublePrecisionSum) {
  Random rng(1);
  for (size_t n : kSizes) {
    const std::vector<float> a = RandomVector(&rng, n);
    const std::vector<float> b = RandomVector(&rng, n);
    double exact = 0;
    for (size_t i = 0; i < n; ++i) exact += static_cast<double>(a[i]) * b[i];
    EXPECT_NEAR(ref::Dot(a.data(), b.data(), n), exact, DotTolerance(a.data(), b.data(), n))
        << "n = " << n;
  }
}

TEST(RefKernelsTest, SgdPairStepUsesOldValuesOfBothVectors) {
  float p[] = {1.0f, -2.0f};
  float q[] = {0.5f, 4.0f};
  ref::SgdPairStep(p, q, /*g=*/2.0f, /*lr=*/0.5f, /*reg=*/0.25f, 2);
  // p' = p - 0.5 * (2 q + 0.25 p), q' = q - 0.5 * (2 p + 0.25 q).
  EXPECT_FLOAT_EQ(p[0], 1.0f - 0.5f * (1.0f + 0.25f));
  EXPECT_FLOAT_EQ(p[1], -2.0f - 0.5f * (8.0f - 0.5f));
  EXPECT_FLOAT_EQ(q[0], 0.5f - 0.5f * (2.0f + 0.125f));
  EXPECT_FLOAT_EQ(q[1], 4.0f - 0.5f * (-4.0f + 1.0f));
}

TEST(RefKernelsTest, AdagradStepAccumulatesThenDividesByTheRootOfTheSum) {
  const float g[] = {3.0f, -1.0f};
  float theta[] = {1.0f, 2.0f};
  float sum[] = {16.0f, 0.0f};
  ref::AdagradStep(g, /*lr=*/0.5f, theta, sum, 2);
  EXPECT_FLOAT_EQ(sum[0], 25.0f);
  EXPECT_FLOAT_EQ(sum[1], 1.0f);
  EXPECT_FLOAT_EQ(theta[0], 1.0f - 0.5f * 3.0f / 5.0f);
  EXPECT_FLOAT_EQ(theta[1], 2.0f + 0.5f);
}

TEST(RefKernelsTest, TopKMatchesFullSortOnHandPickedScores) {
  const std::vector<float> scores = {3, kNaN, 5, 3, -FLT_MAX, 5, 1};
  EXPECT_EQ(RunTopK(ref::TopK, scores, 4), (std::vector<uint32_t>{2, 5, 0, 3}));
  EXPECT_EQ(RunTopK(ref::TopK, scores, 100), (std::vector<uint32_t>{2, 5, 0, 3, 6, 4}));
  EXPECT_TRUE(RunTopK(ref::TopK, scores, 0).empty());
}

TEST(RefKernelsTest, TopKMatchesFullSort) {
  Random rng(2);
  for (size_t n : kSizes) {
    for (const std::vector<float>& scores : ScoreCases(n, &rng)) {
      for (size_t k : {size_t{0}, size_t{1}, size_t{3}, size_t{10}, n, n + 5}) {
        EXPECT_EQ(RunTopK(ref::TopK, scores, k), SortedTopK(scores, k))
            << "n = " << n << ", k = " << k;
      }
    }
  }
}

TEST(RefKernelsTest, CountAboveEqualCountsHandPickedScores) {
  const std::vector<float> scores = {1, 2, 2, kNaN, 3, -FLT_MAX, 2};
  size_t above = 99;
  size_t equal = 99;
  ref::CountAboveEqual(scores.data(), scores.size(), 2.0f, &above, &equal);
  EXPECT_EQ(above, 1u);
  EXPECT_EQ(equal, 3u);
  ref::CountAboveEqual(scores.data(), scores.size(), kNaN, &above, &equal);
  EXPECT_EQ(above, 0u);
  EXPECT_EQ(equal, 0u);
}

TEST(DispatchTest, KernelIsaNamesTheCpusPath) {
  EXPECT_STREQ(KernelIsa(), Avx2Supported() ? "avx2" : "scalar");
}

class FastKernelsTest : public testing::TestWithParam<KernelSet> {
 protected:
  void SetUp() override {
    if (GetParam().needs_avx2 && !Avx2Supported()) GTEST_SKIP() << "this CPU has no AVX2+FMA";
  }
};

TEST_P(FastKernelsTest, DotMatchesRef) {
  Random rng(3);
  for (size_t n : kSizes) {
    const std::vector<float> a = RandomVector(&rng, n);
    const std::vector<float> b = RandomVector(&rng, n);
    EXPECT_NEAR(GetParam().dot(a.data(), b.data(), n), ref::Dot(a.data(), b.data(), n),
                DotTolerance(a.data(), b.data(), n))
        << "n = " << n;
  }
}

TEST_P(FastKernelsTest, DotReadsNoUnalignedOrExtraElements) {
  // Offsets by one float make every load unaligned; a NaN just past the end would leak into
  // the sum if the kernel read beyond n.
  Random rng(4);
  for (size_t n : kSizes) {
    std::vector<float> a = RandomVector(&rng, n + 2);
    std::vector<float> b = RandomVector(&rng, n + 2);
    a[n + 1] = b[n + 1] = kNaN;
    const float got = GetParam().dot(a.data() + 1, b.data() + 1, n);
    EXPECT_FALSE(std::isnan(got)) << "n = " << n;
    EXPECT_NEAR(got, ref::Dot(a.data() + 1, b.data() + 1, n),
                DotTolerance(a.data() + 1, b.data() + 1, n));
  }
}

TEST_P(FastKernelsTest, AxpyMatchesRef) {
  Random rng(5);
  for (size_t n : kSizes) {
    const std::vector<float> x = RandomVector(&rng, n + 1);
    std::vector<float> y = RandomVector(&rng, n + 1);
    std::vector<float> want = y;
    const float alpha = -0.75f;
    GetParam().axpy(alpha, x.data(), y.data(), n);
    ref::Axpy(alpha, x.data(), want.data(), n);
    for (size_t i = 0; i < n; ++i) {
      // A fused multiply-add rounds once instead of twice: at most one rounding apart.
      EXPECT_NEAR(y[i], want[i], 2 * FLT_EPSILON * (std::fabs(alpha * x[i]) + std::fabs(y[i])))
          << "n = " << n << ", i = " << i;
    }
    EXPECT_EQ(y[n], want[n]) << "wrote past n = " << n;
  }
}

TEST_P(FastKernelsTest, ScaleMatchesRefExactly) {
  Random rng(6);
  for (size_t n : kSizes) {
    std::vector<float> x = RandomVector(&rng, n + 1);
    std::vector<float> want = x;
    GetParam().scale(1.5f, x.data(), n);
    ref::Scale(1.5f, want.data(), n);
    EXPECT_EQ(x, want) << "n = " << n;
  }
}

TEST_P(FastKernelsTest, SgdPairStepMatchesRef) {
  Random rng(7);
  const float g = 0.8f;
  const float lr = 0.05f;
  const float reg = 0.01f;
  for (size_t n : kSizes) {
    std::vector<float> p = RandomVector(&rng, n + 1);
    std::vector<float> q = RandomVector(&rng, n + 1);
    std::vector<float> want_p = p;
    std::vector<float> want_q = q;
    GetParam().sgd_pair_step(p.data(), q.data(), g, lr, reg, n);
    ref::SgdPairStep(want_p.data(), want_q.data(), g, lr, reg, n);
    for (size_t i = 0; i < n; ++i) {
      const float scale = 4 * FLT_EPSILON * (std::fabs(want_p[i]) + std::fabs(want_q[i]) + 1);
      EXPECT_NEAR(p[i], want_p[i], scale) << "n = " << n << ", i = " << i;
      EXPECT_NEAR(q[i], want_q[i], scale) << "n = " << n << ", i = " << i;
    }
    EXPECT_EQ(p[n], want_p[n]) << "wrote past n = " << n;
    EXPECT_EQ(q[n], want_q[n]) << "wrote past n = " << n;
  }
}

TEST_P(FastKernelsTest, AdagradStepMatchesRef) {
  Random rng(17);
  const float lr = 0.3f;
  for (size_t n : kSizes) {
    const std::vector<float> g = RandomVector(&rng, n + 1);
    std::vector<float> theta = RandomVector(&rng, n + 1);
    std::vector<float> sum(n + 1);
    for (float& s : sum) s = 0.1f + rng.UniformFloat();
    std::vector<float> want_theta = theta;
    std::vector<float> want_sum = sum;
    GetParam().adagrad_step(g.data(), lr, theta.data(), sum.data(), n);
    ref::AdagradStep(g.data(), lr, want_theta.data(), want_sum.data(), n);
    for (size_t i = 0; i < n; ++i) {
      // The fused g * g + sum rounds once where the reference rounds twice.
      EXPECT_NEAR(sum[i], want_sum[i], 2 * FLT_EPSILON * want_sum[i]) << "n = " << n;
      EXPECT_NEAR(theta[i], want_theta[i], 4 * FLT_EPSILON * (std::fabs(want_theta[i]) + lr))
          << "n = " << n << ", i = " << i;
    }
    EXPECT_EQ(theta[n], want_theta[n]) << "wrote past n = " << n;
    EXPECT_EQ(sum[n], want_sum[n]) << "wrote past n = " << n;
  }
}

TEST_P(FastKernelsTest, DotRowsMatchesRefAndEqualsDotOfEachRow) {
  Random rng(8);
  const size_t num_table_rows = 50;
  for (size_t dim : {size_t{1}, size_t{7}, size_t{8}, size_t{16}, size_t{33}, size_t{64}}) {
    // A stride that is not a multiple of 8 makes rows unaligned.
    for (size_t stride : {dim, dim + 3, (dim + 15) / 16 * 16}) {
      const std::vector<float> table = RandomVector(&rng, num_table_rows * stride);
      const std::vector<float> query = RandomVector(&rng, dim);
      for (size_t num_rows : {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size_t{9}, size_t{65}}) {
        std::vector<uint32_t> rows(num_rows);
        for (uint32_t& r : rows) r = rng.Uniform(num_table_rows);
        std::vector<float> got(num_rows + 1, 0.0f);
        std::vector<float> want(num_rows);
        GetParam().dot_rows(query.data(), table.data(), stride, rows.data(), num_rows, dim,
                            got.data());
        ref::DotRows(query.data(), table.data(), stride, rows.data(), num_rows, dim, want.data());
        for (size_t r = 0; r < num_rows; ++r) {
          const float* row = table.data() + rows[r] * stride;
          EXPECT_NEAR(got[r], want[r], DotTolerance(query.data(), row, dim));
          // Position independence: the batch agrees bit for bit with a single Dot.
          EXPECT_EQ(got[r], GetParam().dot(query.data(), row, dim))
              << "dim = " << dim << ", r = " << r;
          EXPECT_EQ(want[r], ref::Dot(query.data(), row, dim));
        }
        EXPECT_EQ(got[num_rows], 0.0f) << "wrote past num_rows";
      }
    }
  }
}

TEST_P(FastKernelsTest, CountAboveEqualMatchesRefExactly) {
  Random rng(9);
  for (size_t n : kSizes) {
    for (const std::vector<float>& scores : ScoreCases(n, &rng)) {
      std::vector<float> thresholds = {0.0f, 1.0f, 2.0f, -FLT_MAX, kInf, -kInf, kNaN, -0.0f};
      if (n > 0) thresholds.push_back(scores[rng.Uniform(static_cast<uint32_t>(n))]);
      for (float t : thresholds) {
        size_t above = 0;
        size_t equal = 0;
        size_t want_above = 0;
        size_t want_equal = 0;
        GetParam().count_above_equal(scores.data(), n, t, &above, &equal);
        ref::CountAboveEqual(scores.data(), n, t, &want_above, &want_equal);
        EXPECT_EQ(above, want_above) << "n = " << n << ", threshold = " << t;
        EXPECT_EQ(equal, want_equal) << "n = " << n << ", threshold = " << t;
      }
    }
  }
}

TEST_P(FastKernelsTest, TopKEqualsRefIncludingTiesNaNAndSmallN) {
  Random rng(10);
  for (size_t n : kSizes) {
    for (const std::vector<float>& scores : ScoreCases(n, &rng)) {
      for (size_t k : {size_t{0}, size_t{1}, size_t{3}, size_t{10}, size_t{100}, n, n + 5}) {
        EXPECT_EQ(RunTopK(GetParam().top_k, scores, k), RunTopK(ref::TopK, scores, k))
            << "n = " << n << ", k = " << k;
      }
    }
  }
}

TEST_P(FastKernelsTest, TopKKeepsTheLowerIndexAmongEqualScoresAcrossBlocks) {
  // Equal scores spread over many blocks of 8: the k-th slot must go to the lowest indices,
  // never to a later index that merely equals the threshold.
  std::vector<float> scores(1000, 1.0f);
  scores[500] = 2.0f;
  scores[999] = kNaN;
  EXPECT_EQ(RunTopK(GetParam().top_k, scores, 4), (std::vector<uint32_t>{500, 0, 1, 2}));
}

INSTANTIATE_TEST_SUITE_P(Paths, FastKernelsTest, testing::Values(kDispatched, kAvx2),
                         [](const testing::TestParamInfo<KernelSet>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace liverec
