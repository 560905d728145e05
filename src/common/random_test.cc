#include "common/random.h"

#include <gtest/gtest.h>

#include <vector>

namespace liverec {
namespace {

TEST(RandomTest, SameSeedSameStream) {
  Random a(7), b(7), c(8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs = differs || x != c.Next();
  }
  EXPECT_TRUE(differs);
}

TEST(RandomTest, UniformStaysInRangeAndCoversIt) {
  Random rng(1);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 100000; ++i) {
    uint32_t v = rng.Uniform(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  EXPECT_EQ(rng.Uniform(1), 0u);
}

TEST(RandomTest, NormalHasUnitMoments) {
  Random rng(3);
  double sum = 0, sum_sq = 0;
  constexpr int kN = 200000;
  for (int i = 0; i < kN; ++i) {
    double x = rng.Normal();
    sum += x;
    sum_sq += x * x;
  }
  EXPECT_NEAR(sum / kN, 0, 0.01);
  EXPECT_NEAR(sum_sq / kN, 1, 0.02);
}

}  // namespace
}  // namespace liverec
