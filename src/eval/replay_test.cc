#include "eval/replay.h"

#include <gtest/gtest.h>

#include "event/synthetic.h"
#include "model/registry.h"

namespace liverec {
namespace {

// A drifting stream: interests move, items arrive and retire, popularity comes in waves.
Dataset DriftStream(uint64_t seed) {
  SyntheticOptions o;
  o.seed = seed;
  o.num_users = 300;
  o.num_initial_items = 200;
  o.num_events = 30000;
  o.events_per_day = 1000;
  o.drift_per_day = 0.1;
  o.new_items_per_day = 10;
  o.item_lifetime_days = 10;
  o.popularity_wave_days = 3;
  StatusOr<Dataset> d = GenerateSynthetic(o);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return std::move(d).value();
}

ReplayOptions BaseOptions() {
  ReplayOptions o;
  o.models = {{"popularity", "popularity"}, {"mf", "mf"}};
  o.protocols = {Protocol::kOnline, Protocol::kStatic, Protocol::kPeriodic, Protocol::kWarm};
  o.context.num_threads = 2;
  EXPECT_TRUE(o.options.Set("train.validation_events", "500").ok());
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

TEST(ReplayTest, OnlineAndWarmBeatStaticOnADriftingStream) {
  Dataset data = DriftStream(5);
  StatusOr<ReplayReport> report = RunReplay(data, BaseOptions());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->results.size(), 8u);
  for (const std::string model : {"popularity", "mf"}) {
    const double online = Find(*report, model, Protocol::kOnline).metrics.recall;
    const double warm = Find(*report, model, Protocol::kWarm).metrics.recall;
    const double stale = Find(*report, model, Protocol::kStatic).metrics.recall;
    const double periodic = Find(*report, model, Protocol::kPeriodic).metrics.recall;
    EXPECT_GT(online, stale * 1.2) << model;
    EXPECT_GT(warm, stale * 1.2) << model;
    EXPECT_GT(periodic, stale) << model;
  }
  // mf personalizes: it beats popularity online on a stream with planted user factors.
  EXPECT_GT(Find(*report, "mf", Protocol::kOnline).metrics.recall,
            Find(*report, "popularity", Protocol::kOnline).metrics.recall);
}

TEST(ReplayTest, EveryProtocolIsScoredOnTheSameEvents) {
  Dataset data = DriftStream(6);
  ReplayOptions o = BaseOptions();
  o.models = {{"pop", "popularity"}};
  StatusOr<ReplayReport> report = RunReplay(data, o);
  ASSERT_TRUE(report.ok());
  const RunResult& first = report->results.front();
  EXPECT_GT(first.metrics.events, 5000u);
  for (const RunResult& r : report->results) {
    EXPECT_EQ(r.metrics.events, first.metrics.events);
    EXPECT_EQ(r.repeats_skipped, first.repeats_skipped);
    EXPECT_EQ(r.metrics.events + r.repeats_skipped, report->scored_events);
    EXPECT_FALSE(r.series.empty());
    uint64_t in_windows = 0;
    for (const WindowPoint& p : r.series) in_windows += p.events;
    EXPECT_EQ(in_windows, r.metrics.events);
  }
  EXPECT_GT(Find(*report, "pop", Protocol::kPeriodic).rebuilds, 5u);
}

TEST(ReplayTest, ResultsAreReproducible) {
  Dataset data = DriftStream(7);
  ReplayOptions o = BaseOptions();
  o.protocols = {Protocol::kOnline, Protocol::kWarm};
  StatusOr<ReplayReport> a = RunReplay(data, o);
  o.context.num_threads = 1;
  StatusOr<ReplayReport> b = RunReplay(data, o);
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t i = 0; i < a->results.size(); ++i) {
    EXPECT_EQ(a->results[i].metrics.recall, b->results[i].metrics.recall);
    EXPECT_EQ(a->results[i].metrics.mrr, b->results[i].metrics.mrr);
    EXPECT_EQ(a->results[i].coverage, b->results[i].coverage);
  }
}

TEST(ReplayTest, RebuildOfACountModelEqualsItsOnlineState) {
  // The exactness argument behind periodic replay of count models (see replay.h).
  Dataset data = DriftStream(8);
  Options options;
  ASSERT_TRUE(options.Set("popularity.half_life", "6h").ok());
  ASSERT_TRUE(options.Set("item_knn.half_life", "2d").ok());
  Context context;
  for (const char* type : {"popularity", "item_knn"}) {
    auto online = CreateModel(OptionView(&options, type, type), context);
    auto rebuilt = CreateModel(OptionView(&options, type, type), context);
    ASSERT_TRUE(online.ok() && rebuilt.ok());
    std::span<const Event> prefix = std::span(data.events).first(12345);
    for (const Event& e : prefix) (*online)->Learn(e);
    TrainBatch(rebuilt->get(), prefix, BatchTrainOptions(), nullptr);
    BinaryWriter a, b;
    (*online)->Save(&a);
    (*rebuilt)->Save(&b);
    EXPECT_EQ(a.data(), b.data()) << type;
  }
}

TEST(ReplayTest, ActiveWindowShrinksTheCandidates) {
  Dataset data = DriftStream(9);
  ReplayOptions o = BaseOptions();
  o.models = {{"popularity", "popularity"}};
  o.protocols = {Protocol::kOnline};
  StatusOr<ReplayReport> all = RunReplay(data, o);
  o.active_window_ms = 86'400'000;
  StatusOr<ReplayReport> recent = RunReplay(data, o);
  ASSERT_TRUE(all.ok() && recent.ok());
  // Retired items drop out of a one-day window, so ranking gets easier.
  EXPECT_GT(recent->results[0].metrics.mrr, all->results[0].metrics.mrr);
}

TEST(ReplayTest, BadOptionsAreRejectedWithReasons) {
  Dataset data = DriftStream(10);
  ReplayOptions o = BaseOptions();
  o.models.push_back({"mf", "mf"});
  EXPECT_NE(RunReplay(data, o).status().message().find("given twice"), std::string::npos);
  o = BaseOptions();
  ASSERT_TRUE(o.options.Set("mf_big.dim", "8").ok());
  EXPECT_NE(RunReplay(data, o).status().message().find("unknown option 'mf_big.dim'"),
            std::string::npos);
  EXPECT_FALSE(ParseModelSpec("wide:nosuch").ok());
  EXPECT_EQ(ParseModelSpec("mf_wide:mf")->type, "mf");
  EXPECT_EQ(ParseModelSpec("mf")->name, "mf");
  EXPECT_FALSE(ParseProtocol("nightly").ok());
}

}  // namespace
}  // namespace liverec
