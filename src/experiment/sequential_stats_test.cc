#include "experiment/sequential_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/random.h"

namespace liverec {
namespace {

constexpr double kAlpha = 0.05;
constexpr double kNOpt = 10000;

TEST(RegularizedGammaQTest, MatchesChiSquareTables) {
  // Critical values of the chi-square distribution (df, x at p = 0.05 and 0.001).
  EXPECT_NEAR(RegularizedGammaQ(0.5, 3.841459 / 2), 0.05, 1e-6);
  EXPECT_NEAR(RegularizedGammaQ(1.0, 5.991465 / 2), 0.05, 1e-6);
  EXPECT_NEAR(RegularizedGammaQ(1.5, 7.814728 / 2), 0.05, 1e-6);
  EXPECT_NEAR(RegularizedGammaQ(0.5, 10.827566 / 2), 0.001, 1e-8);
  EXPECT_NEAR(RegularizedGammaQ(5.0, 29.588298 / 2), 0.001, 1e-8);  // df = 10
  // Q(1, x) = exp(-x) on both sides of the series / continued fraction switch.
  for (double x : {0.1, 1.0, 1.9, 2.1, 10.0, 50.0}) {
    EXPECT_NEAR(RegularizedGammaQ(1, x), std::exp(-x), 1e-12 * std::max(1.0, std::exp(-x)));
  }
  EXPECT_EQ(RegularizedGammaQ(3, 0), 1);
}

TEST(ChiSquarePValueTest, ReadsCountsAgainstShares) {
  EXPECT_EQ(ChiSquarePValue(std::vector<uint64_t>{0, 0}, std::vector<double>{0.5, 0.5}), 1);
  EXPECT_NEAR(ChiSquarePValue(std::vector<uint64_t>{500, 500}, std::vector<double>{0.5, 0.5}), 1,
              1e-12);
  // 45/55 of 2000: statistic (100^2 / 1000) * 2 = 20, p = 7.74e-6.
  EXPECT_NEAR(ChiSquarePValue(std::vector<uint64_t>{900, 1100}, std::vector<double>{0.5, 0.5}),
              7.744e-6, 1e-8);
  EXPECT_EQ(ChiSquarePValue(std::vector<uint64_t>{10, 1}, std::vector<double>{1, 0}), 0);
}

TEST(ConfidenceSequenceTest, ClaimsNothingFromFewOutcomesAndNarrowsWithMore) {
  OutcomeStats stats;
  for (int i = 0; i < static_cast<int>(kMinOutcomes) - 1; ++i) stats.Add(i % 2);
  EXPECT_EQ(ConfidenceSequence(stats, kAlpha, kNOpt), (Interval{0, 1}));
  Random rng(1);
  double last_width = 1;
  for (int n = 1; n <= 100000; ++n) {
    stats.Add(rng.UniformDouble() < 0.1 ? 1 : 0);
    if (n % 10000 != 0) continue;
    const Interval ci = ConfidenceSequence(stats, kAlpha, kNOpt);
    EXPECT_LT(ci.hi - ci.lo, last_width);
    last_width = ci.hi - ci.lo;
  }
  EXPECT_LT(last_width, 0.01);
  // No clicks yet: the regularized variance keeps the interval open above 0.
  OutcomeStats none;
  for (int i = 0; i < 100; ++i) none.Add(0);
  EXPECT_GT(ConfidenceSequence(none, kAlpha, kNOpt).hi, 0.02);
}

// The point of a confidence sequence: read after every outcome, it still errs at most alpha of
// the time. A fixed-n 95 % interval read the same way errs in most runs.
TEST(ConfidenceSequenceTest, StaysValidWhenReadAfterEveryOutcome) {
  constexpr int kRuns = 200;
  constexpr int kOutcomes = 20000;
  constexpr double kCtr = 0.05;
  int sequence_errors = 0;
  int fixed_errors = 0;
  for (int run = 0; run < kRuns; ++run) {
    Random rng(DeriveSeed(7, run));
    OutcomeStats stats;
    bool sequence_erred = false;
    bool fixed_erred = false;
    for (int n = 0; n < kOutcomes; ++n) {
      stats.Add(rng.UniformDouble() < kCtr ? 1 : 0);
      if (stats.n() < kMinOutcomes) continue;
      sequence_erred |= ConfidenceSequence(stats, kAlpha, kNOpt).Excludes(kCtr);
      const double half = 1.96 * std::sqrt(stats.variance() / static_cast<double>(stats.n()));
      fixed_erred |= std::abs(stats.mean() - kCtr) > half;
    }
    sequence_errors += sequence_erred;
    fixed_errors += fixed_erred;
  }
  EXPECT_LE(sequence_errors, kRuns * kAlpha);
  EXPECT_GT(fixed_errors, kRuns / 4);
}

TEST(DifferenceSequenceTest, FindsARealDifferenceAndNoFalseOne) {
  constexpr int kRuns = 100;
  int false_winners = 0;
  int found = 0;
  for (int run = 0; run < kRuns; ++run) {
    Random rng(DeriveSeed(11, run));
    OutcomeStats a, a2, b;
    bool aa_excluded = false;
    for (int n = 0; n < 30000; ++n) {
      a.Add(rng.UniformDouble() < 0.10 ? 1 : 0);
      a2.Add(rng.UniformDouble() < 0.10 ? 1 : 0);
      b.Add(rng.UniformDouble() < 0.13 ? 1 : 0);
      if (n % 100 == 0) aa_excluded |= DifferenceSequence(a2, a, kAlpha, kNOpt).Excludes(0);
    }
    false_winners += aa_excluded;
    found += DifferenceSequence(b, a, kAlpha, kNOpt).lo > 0;
  }
  EXPECT_LE(false_winners, kRuns * kAlpha);
  EXPECT_GE(found, kRuns * 9 / 10);
}

TEST(SequentialSrmTest, FlagsASkewAndStaysQuietOnAFairSplit) {
  const std::vector<double> shares{0.5, 0.5};
  int false_alarms = 0;
  for (int run = 0; run < 100; ++run) {
    Random rng(DeriveSeed(13, run));
    SequentialSrm fair(shares);
    for (int n = 0; n < 20000; ++n) fair.Add(rng.UniformDouble() < 0.5 ? 0 : 1);
    false_alarms += fair.p_value() < 0.001;
  }
  EXPECT_LE(false_alarms, 1);

  Random rng(17);
  SequentialSrm skewed(shares);
  for (int n = 0; n < 5000; ++n) skewed.Add(rng.UniformDouble() < 0.45 ? 0 : 1);
  EXPECT_LT(skewed.p_value(), 0.001);
  EXPECT_LT(ChiSquarePValue(skewed.counts(), shares), 0.001);
}

TEST(SequentialSrmTest, SaveLoadRoundTrips) {
  SequentialSrm srm({0.3, 0.7});
  for (int i = 0; i < 100; ++i) srm.Add(i % 3 == 0 ? 0 : 1);
  BinaryWriter out;
  srm.Save(&out);
  SequentialSrm loaded({0.3, 0.7});
  BinaryReader in(out.data());
  ASSERT_TRUE(loaded.Load(&in).ok());
  EXPECT_EQ(loaded.p_value(), srm.p_value());
  EXPECT_TRUE(std::equal(loaded.counts().begin(), loaded.counts().end(), srm.counts().begin()));
  SequentialSrm three({0.2, 0.3, 0.5});
  BinaryReader again(out.data());
  EXPECT_EQ(three.Load(&again).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace liverec
