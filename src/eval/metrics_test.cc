#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace liverec {
namespace {

TEST(MetricsTest, PerEventValuesMatchTheirDefinitions) {
  EXPECT_DOUBLE_EQ(NdcgAt(1, 10), 1.0);
  EXPECT_DOUBLE_EQ(NdcgAt(3, 10), 0.5);  // 1 / log2(4)
  EXPECT_DOUBLE_EQ(NdcgAt(10, 10), 1.0 / std::log2(11.0));
  EXPECT_DOUBLE_EQ(NdcgAt(11, 10), 0.0);
  EXPECT_DOUBLE_EQ(NdcgAt(0, 10), 0.0);
  EXPECT_DOUBLE_EQ(ReciprocalRank(4), 0.25);
  EXPECT_DOUBLE_EQ(ReciprocalRank(0), 0.0);
}

TEST(MetricsTest, SummaryAveragesOverEventsByHand) {
  // Ranks 1, 3, 20 and a miss, K = 10; the first two users are cold.
  MetricAccumulator acc(10);
  acc.Add(1, true);
  acc.Add(3, true);
  acc.Add(20, false);
  acc.Add(0, false);
  MetricSummary s = acc.Summary();
  EXPECT_EQ(s.events, 4u);
  EXPECT_DOUBLE_EQ(s.recall, 0.5);
  EXPECT_DOUBLE_EQ(s.ndcg, (1.0 + 0.5) / 4);
  EXPECT_DOUBLE_EQ(s.mrr, (1.0 + 1.0 / 3 + 1.0 / 20) / 4);
  EXPECT_EQ(s.cold_events, 2u);
  EXPECT_DOUBLE_EQ(s.cold_recall, 1.0);
  EXPECT_EQ(s.warm_events, 2u);
  EXPECT_DOUBLE_EQ(s.warm_recall, 0.0);
}

TEST(MetricsTest, MergeEqualsOneAccumulator) {
  MetricAccumulator a(5), b(5), all(5);
  for (uint64_t r : {1, 2, 7, 0}) {
    a.Add(r, false);
    all.Add(r, false);
  }
  for (uint64_t r : {5, 6}) {
    b.Add(r, true);
    all.Add(r, true);
  }
  a.Merge(b);
  EXPECT_DOUBLE_EQ(a.Summary().ndcg, all.Summary().ndcg);
  EXPECT_DOUBLE_EQ(a.Summary().recall, all.Summary().recall);
  EXPECT_EQ(a.Summary().cold_events, 2u);
}

TEST(MetricsTest, EmptyAccumulatorIsAllZero) {
  MetricSummary s = MetricAccumulator(10).Summary();
  EXPECT_EQ(s.events, 0u);
  EXPECT_EQ(s.recall, 0);
}

}  // namespace
}  // namespace liverec
