#include "eval/served.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "event/synthetic.h"

namespace liverec {
namespace {

ReplayOptions ServedOptions(const std::vector<ModelSpec>& models) {
  ReplayOptions o;
  o.models = models;
  o.protocols = {Protocol::kOnline, Protocol::kServed};
  o.context.num_threads = 2;
  o.bootstrap_resamples = 0;
  EXPECT_TRUE(o.options.Set("popularity.half_life", "1d").ok());
  EXPECT_TRUE(o.options.Set("mf.dim", "16").ok());
  return o;
}

const RunResult& Find(const ReplayReport& report, const std::string& model, Protocol p) {
  for (const RunResult& r : report.results) {
    if (r.model == model && r.protocol == p) return r;
  }
  ADD_FAILURE() << "no result for " << model;
  return report.results.front();
}

// Popularity's served list is knowable by hand: a new user gets the fallback list, a known
// one the same list less what they consumed, a new item is a miss, and a repeat is not scored.
TEST(ServedTest, ScoresTheListTheServerServes) {
  Dataset data;
  int64_t t = 1'000'000;
  for (const auto& [user, item] : std::vector<std::pair<std::string, std::string>>{
           {"u1", "A"},
           {"u2", "A"},
           {"u3", "A"},
           {"u1", "B"},
           {"u2", "B"},
           {"u1", "C"},
           // scored from here (train_fraction 0.6 of 10 events)
           {"u4", "A"},
           {"u3", "B"},
           {"u1", "A"},
           {"u5", "D"}}) {
    data.Add(user, item, t += 1000);
  }
  data.SortByTime();
  ReplayOptions o = ServedOptions({{"popularity", "popularity"}});
  o.protocols = {Protocol::kServed};
  o.k = 2;
  o.train_fraction = 0.6;
  StatusOr<ReplayReport> report = RunReplay(data, o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const RunResult& r = report->results.front();
  EXPECT_EQ(r.protocol, Protocol::kServed);
  // u4 (new): [A, B], A first. u3 (has A): [B, C], B first. u1's A: a repeat. u5's D: a miss.
  EXPECT_EQ(r.repeats_skipped, 1u);
  EXPECT_EQ(r.metrics.events, 3u);
  EXPECT_DOUBLE_EQ(r.metrics.recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.metrics.mrr, 2.0 / 3.0);
  EXPECT_EQ(r.metrics.auc_events, 0u);
}

Dataset Drift(uint64_t seed) {
  SyntheticOptions s;
  s.seed = seed;
  s.num_users = 300;
  s.num_initial_items = 200;
  s.num_events = 20000;
  s.events_per_day = 1000;
  s.drift_per_day = 0.1;
  s.new_items_per_day = 10;
  s.item_lifetime_days = 10;
  StatusOr<Dataset> d = GenerateSynthetic(s);
  EXPECT_TRUE(d.ok());
  return std::move(d).value();
}

// Two instruments, one answer: for popularity (no ties under decay, every item a candidate,
// the fallback the same model) the served list's hit rate is the rank metric's Recall@k, on
// the same events. mf personalizes, in the served list too.
TEST(ServedTest, AgreesWithTheOnlineProtocolWhereTheyMeasureTheSameList) {
  Dataset data = Drift(3);
  StatusOr<ReplayReport> report =
      RunReplay(data, ServedOptions({{"popularity", "popularity"}, {"mf", "mf"}}));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const RunResult& online = Find(*report, "popularity", Protocol::kOnline);
  const RunResult& served = Find(*report, "popularity", Protocol::kServed);
  EXPECT_GT(served.metrics.events, 4000u);
  EXPECT_EQ(served.metrics.events, online.metrics.events);
  EXPECT_EQ(served.repeats_skipped, online.repeats_skipped);
  EXPECT_NEAR(served.metrics.recall, online.metrics.recall, 0.002);
  EXPECT_NEAR(served.metrics.ndcg, online.metrics.ndcg, 0.002);
  const RunResult& mf = Find(*report, "mf", Protocol::kServed);
  EXPECT_EQ(mf.metrics.events, online.metrics.events);
  EXPECT_GT(mf.metrics.recall, served.metrics.recall);
  EXPECT_FALSE(mf.series.empty());
  EXPECT_GT(mf.coverage, 0);
}

TEST(ServedTest, ParsesAsAProtocol) {
  StatusOr<Protocol> p = ParseProtocol("served");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, Protocol::kServed);
  EXPECT_EQ(ProtocolName(Protocol::kServed), "served");
}

}  // namespace
}  // namespace liverec
