#include "train/metrics.h"

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

TEST(MetricsTest, AucOfRankIsTheShareOfOthersBelow) {
  EXPECT_DOUBLE_EQ(AucOfRank(1, 4), 1.0);   // above all four others
  EXPECT_DOUBLE_EQ(AucOfRank(2, 4), 0.75);  // one of four above
  EXPECT_DOUBLE_EQ(AucOfRank(5, 4), 0.0);   // last
  EXPECT_DOUBLE_EQ(AucOfRank(1, 1), 1.0);
  EXPECT_DOUBLE_EQ(AucOfRank(9, 4), 0.0);  // past the others (a NaN score): clamped
}

TEST(MetricsTest, AucCountsTiesHalfInExpectationOfTheRandomTieShare) {
  // 10 others: 2 strictly above the item, 4 tied with it, 4 below. Exact AUC with ties counted
  // half: (4 + 4 / 2) / 10 = 0.6. The ranker draws rank = 1 + 2 + U, U uniform on {0..4}.
  double sum = 0;
  for (uint64_t share = 0; share <= 4; ++share) sum += AucOfRank(1 + 2 + share, 10);
  EXPECT_DOUBLE_EQ(sum / 5, 0.6);
}

TEST(MetricsTest, AucAveragesOverRankedEventsOnlyByHand) {
  MetricAccumulator acc(10);
  acc.Add(1, false, 4);    // 1.0
  acc.Add(3, true, 4);     // 0.5
  acc.Add(0, false, 4);    // a miss: no AUC
  acc.Add(1, false, 0);    // the only candidate: no AUC
  acc.Add(11, false, 20);  // 0.5
  acc.Add(2, false);       // no count of others given: no AUC
  MetricSummary s = acc.Summary();
  EXPECT_EQ(s.events, 6u);
  EXPECT_EQ(s.auc_events, 3u);
  EXPECT_DOUBLE_EQ(s.auc, (1.0 + 0.5 + 0.5) / 3);
  MetricAccumulator first(10), second(10);
  first.Add(1, false, 4);
  first.Add(3, true, 4);
  second.Add(0, false, 4);
  second.Add(11, false, 20);
  first.Merge(second);
  EXPECT_EQ(first.Summary().auc_events, 3u);
  EXPECT_DOUBLE_EQ(first.Summary().auc, (1.0 + 0.5 + 0.5) / 3);
}

TEST(MetricsTest, EmptyAccumulatorIsAllZero) {
  MetricSummary s = MetricAccumulator(10).Summary();
  EXPECT_EQ(s.events, 0u);
  EXPECT_EQ(s.recall, 0);
  EXPECT_EQ(s.auc_events, 0u);
  EXPECT_EQ(s.auc, 0);
}

TEST(MetricsTest, DiversityAveragesOverLists) {
  DiversityAccumulator acc;
  EXPECT_EQ(acc.Summary().lists, 0u);
  EXPECT_EQ(acc.Summary().ild, 0);
  acc.Add(0.5, 3);
  acc.Add(1.0, 6);
  DiversityAccumulator other;
  other.Add(0.0, 0);
  acc.Merge(other);
  const DiversitySummary s = acc.Summary();
  EXPECT_EQ(s.lists, 3u);
  EXPECT_DOUBLE_EQ(s.ild, 0.5);
  EXPECT_DOUBLE_EQ(s.categories, 3.0);
}

}  // namespace
}  // namespace liverec
