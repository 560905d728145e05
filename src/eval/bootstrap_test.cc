#include "eval/bootstrap.h"

#include <gtest/gtest.h>

#include <string>

#include "common/random.h"
#include "eval/replay.h"
#include "eval/report.h"

namespace liverec {
namespace {

constexpr uint32_t kK = 10;

// Users who each hit (rank 1) with their own probability around `hit_rate`, a few events each,
// so that events of one user are correlated, as on real streams.
UserBootstrap PlantedUsers(uint64_t seed, uint32_t num_users, double hit_rate) {
  Random random(seed);
  UserBootstrap bootstrap(kK);
  for (UserId user = 0; user < num_users; ++user) {
    // Per-user rates of hit_rate +- 0.2, uniform: the population rate is hit_rate.
    const double rate = hit_rate + 0.4 * (random.UniformDouble() - 0.5);
    const uint32_t events = 1 + random.Uniform(5);
    for (uint32_t e = 0; e < events; ++e) {
      bootstrap.Add(user, random.UniformDouble() < rate ? 1 + random.Uniform(kK) : 0);
    }
  }
  return bootstrap;
}

TEST(UserBootstrapTest, NinetyFivePercentIntervalsCoverThePlantedRateAboutThatOften) {
  constexpr double kRate = 0.3;
  constexpr int kTrials = 100;
  int covered = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const UserBootstrap bootstrap = PlantedUsers(1000 + trial, 400, kRate);
    const MetricIntervals ci = bootstrap.Intervals(200, 0.95, 7);
    EXPECT_LT(ci.recall.low, ci.recall.high);
    EXPECT_LT(ci.recall.high - ci.recall.low, 0.15);
    covered += ci.recall.low <= kRate && kRate <= ci.recall.high;
  }
  // 95 expected; a binomial(100, 0.95) falls below 88 with probability under 0.1 %.
  EXPECT_GE(covered, 88);
  EXPECT_LE(covered, 100);
}

TEST(UserBootstrapTest, TheSameSeedGivesTheSameIntervalAndAnotherSeedAnother) {
  const UserBootstrap bootstrap = PlantedUsers(3, 300, 0.2);
  const MetricIntervals a = bootstrap.Intervals(200, 0.95, 11);
  const MetricIntervals b = bootstrap.Intervals(200, 0.95, 11);
  const MetricIntervals c = bootstrap.Intervals(200, 0.95, 12);
  EXPECT_EQ(a.recall.low, b.recall.low);
  EXPECT_EQ(a.recall.high, b.recall.high);
  EXPECT_EQ(a.mrr.low, b.mrr.low);
  EXPECT_NE(a.recall.low, c.recall.low);
  EXPECT_EQ(a.users, 300u);
  EXPECT_EQ(a.resamples, 200u);
  // A narrower level gives a narrower interval inside the wider one.
  const MetricIntervals narrow = bootstrap.Intervals(200, 0.5, 11);
  EXPECT_GE(narrow.recall.low, a.recall.low);
  EXPECT_LE(narrow.recall.high, a.recall.high);
}

TEST(UserBootstrapTest, OneUserCollapsesToTheFigureAndNoUserGivesNoInterval) {
  UserBootstrap bootstrap(kK);
  EXPECT_EQ(bootstrap.Intervals(50, 0.95, 1).resamples, 0u);
  bootstrap.Add(4, 1);   // NDCG 1, RR 1
  bootstrap.Add(4, 0);   // a miss
  bootstrap.Add(4, 11);  // past K: a miss for Recall and NDCG, RR 1/11
  const MetricIntervals ci = bootstrap.Intervals(50, 0.95, 1);
  EXPECT_DOUBLE_EQ(ci.recall.low, 1.0 / 3);
  EXPECT_DOUBLE_EQ(ci.recall.high, 1.0 / 3);
  EXPECT_DOUBLE_EQ(ci.ndcg.low, 1.0 / 3);
  EXPECT_DOUBLE_EQ(ci.mrr.high, (1 + 1.0 / 11) / 3);
}

// A stream whose Recall@1 under popularity is known: one item, "hit", is clicked by everyone in
// the first half; in the second half each new user clicks "hit" with probability 0.4 (ranked
// first: the most popular item they have not consumed) or an item never seen before (not a
// candidate: a miss).
Dataset KnownRecallStream(uint64_t seed, double rate) {
  Random random(seed);
  Dataset data;
  int64_t time_ms = 1'000'000;
  constexpr int kTrainUsers = 2000;
  for (int u = 0; u < kTrainUsers; ++u) data.Add("t" + std::to_string(u), "hit", time_ms += 1000);
  for (int u = 0; u < kTrainUsers; ++u) {
    const bool hit = random.UniformDouble() < rate;
    data.Add("s" + std::to_string(u), hit ? "hit" : "new" + std::to_string(u), time_ms += 1000);
  }
  data.SortByTime();
  return data;
}

TEST(ReplayIntervalTest, ReplayReportsAnIntervalThatCoversTheKnownRecallAndRepeatsUnderTheSeed) {
  constexpr double kRate = 0.4;
  const Dataset data = KnownRecallStream(5, kRate);
  ReplayOptions options;
  options.models = {{"popularity", "popularity"}};
  options.protocols = {Protocol::kOnline};
  options.k = 1;
  options.context.num_threads = 1;
  StatusOr<ReplayReport> first = RunReplay(data, options);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const RunResult& run = first->results.front();
  EXPECT_EQ(run.metrics.events, 2000u);
  EXPECT_EQ(run.intervals.resamples, 200u);
  EXPECT_EQ(run.intervals.users, 2000u);
  EXPECT_LE(run.intervals.recall.low, run.metrics.recall);
  EXPECT_GE(run.intervals.recall.high, run.metrics.recall);
  EXPECT_LE(run.intervals.recall.low, kRate);
  EXPECT_GE(run.intervals.recall.high, kRate);
  // The binomial standard error at n = 2000 is 0.011: the 95 % interval spans about 0.043.
  EXPECT_NEAR(run.intervals.recall.high - run.intervals.recall.low, 0.043, 0.01);

  StatusOr<ReplayReport> again = RunReplay(data, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->results.front().intervals.recall.low, run.intervals.recall.low);
  EXPECT_EQ(again->results.front().intervals.recall.high, run.intervals.recall.high);
  EXPECT_NE(ReportTable(*first).find("recall interval"), std::string::npos);
  EXPECT_NE(ReportJson(*first).find("\"intervals\""), std::string::npos);

  options.bootstrap_resamples = 0;
  StatusOr<ReplayReport> without = RunReplay(data, options);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->results.front().intervals.resamples, 0u);
  EXPECT_EQ(without->results.front().metrics.recall, run.metrics.recall);
  EXPECT_EQ(ReportJson(*without).find("\"intervals\""), std::string::npos);

  options.confidence_level = 1;
  EXPECT_EQ(RunReplay(data, options).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace liverec
