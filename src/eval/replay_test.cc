#include "eval/replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "eval/report.h"
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

TEST(ReplayTest, PartitionedLearningCostsLittleWithShortRoundsAndIsReproducible) {
  // The one-process simulation of a cluster (model/partitioned.h): four partitions exchanging
  // every hour of stream time, about 40 events a round.
  Dataset data = DriftStream(9);
  ReplayOptions o = BaseOptions();
  o.protocols = {Protocol::kOnline};
  o.models = {{"popularity", "popularity"}, {"mf", "mf"}, {"fm", "fm"}};
  ASSERT_TRUE(o.options.Set("fm.dim", "8").ok());
  ASSERT_TRUE(o.options.Set("fm.hash_bits", "14").ok());
  StatusOr<ReplayReport> alone = RunReplay(data, o);
  o.partitions = 4;
  o.round_ms = 3'600'000;
  StatusOr<ReplayReport> partitioned = RunReplay(data, o);
  o.context.num_threads = 1;
  StatusOr<ReplayReport> again = RunReplay(data, o);
  ASSERT_TRUE(alone.ok() && partitioned.ok() && again.ok()) << partitioned.status().ToString();
  for (const std::string model : {"popularity", "mf", "fm"}) {
    const double one = Find(*alone, model, Protocol::kOnline).metrics.recall;
    const double four = Find(*partitioned, model, Protocol::kOnline).metrics.recall;
    EXPECT_GT(four, 0.9 * one) << model;
    EXPECT_LT(four, 1.1 * one) << model;
    EXPECT_EQ(Find(*again, model, Protocol::kOnline).metrics.recall, four) << model;
  }
}

TEST(ReplayTest, PartitionsNeedTheOnlineProtocolAndModelsThatLearnInRounds) {
  Dataset data = DriftStream(10);
  ReplayOptions o = BaseOptions();
  o.partitions = 4;
  StatusOr<ReplayReport> report = RunReplay(data, o);
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("static"), std::string::npos);
  o.protocols = {Protocol::kOnline};
  o.models = {{"seq", "seq"}};
  report = RunReplay(data, o);
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("seq"), std::string::npos);
  o.models = {{"mf", "mf"}};
  o.round_ms = 0;
  EXPECT_EQ(RunReplay(data, o).status().code(), StatusCode::kInvalidArgument);
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

// A shorter drifting stream.
Dataset SmallStream(uint64_t seed) {
  SyntheticOptions o;
  o.seed = seed;
  o.num_users = 200;
  o.num_initial_items = 150;
  o.num_events = 12000;
  o.events_per_day = 1000;
  o.new_items_per_day = 5;
  StatusOr<Dataset> d = GenerateSynthetic(o);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return std::move(d).value();
}

constexpr size_t kHits = 20;

// Item metadata with planted categories: the kHits most consumed items are all "hits" (so a
// popularity list is all alike), every other item i is in category "c(i % 5)", and every third
// of them also in "c((i + 1) % 5)".
ItemMetadataTable PlantedCategories(const Dataset& data) {
  std::vector<std::pair<uint64_t, ItemId>> counts(data.num_items());
  for (ItemId i = 0; i < data.num_items(); ++i) counts[i] = {0, i};
  for (const Event& e : data.events) ++counts[e.item].first;
  std::sort(counts.rbegin(), counts.rend());
  ItemMetadataTable metadata;
  metadata.items.resize(data.num_items());
  for (size_t r = 0; r < counts.size(); ++r) {
    const ItemId i = counts[r].second;
    std::vector<std::string>& categories = metadata.items[i].categories;
    if (r < kHits) {
      categories.push_back("hits");
      continue;
    }
    categories.push_back("c" + std::to_string(i % 5));
    if (i % 3 == 0) categories.push_back("c" + std::to_string((i + 1) % 5));
  }
  return metadata;
}

ReplayOptions OnlineOptions(const ItemMetadataTable* metadata) {
  ReplayOptions o;
  o.models = {{"popularity", "popularity"}, {"mf", "mf"}};
  o.protocols = {Protocol::kOnline};
  o.context.num_threads = 2;
  o.item_metadata = metadata;
  EXPECT_TRUE(o.options.Set("mf.dim", "16").ok());
  return o;
}

TEST(ReplayTest, DiversityRaisesIntraListDiversityAndTheReportShowsIt) {
  const Dataset data = SmallStream(11);
  const ItemMetadataTable metadata = PlantedCategories(data);
  ReplayOptions o = OnlineOptions(&metadata);
  StatusOr<ReplayReport> plain = RunReplay(data, o);
  ASSERT_TRUE(o.options.Set("rank.diversity", "0.5").ok());
  StatusOr<ReplayReport> diverse = RunReplay(data, o);
  ASSERT_TRUE(plain.ok() && diverse.ok()) << diverse.status().ToString();
  EXPECT_FALSE(plain->rank.active());
  EXPECT_TRUE(diverse->rank.active());
  for (size_t r = 0; r < plain->results.size(); ++r) {
    const RunResult& a = plain->results[r];
    const RunResult& b = diverse->results[r];
    EXPECT_EQ(a.ild_similarity, "category");
    EXPECT_EQ(a.diversity.lists, a.metrics.events);  // every evaluated list, K = 10 items
    EXPECT_EQ(b.diversity.lists, b.metrics.events);
    EXPECT_GT(b.diversity.ild, a.diversity.ild + 0.1) << a.model;
    EXPECT_GT(b.diversity.categories, a.diversity.categories) << a.model;
    EXPECT_LE(b.diversity.ild, 1.0);
    EXPECT_GT(b.metrics.recall, 0) << a.model;
  }
  const std::string table = ReportTable(*diverse);
  EXPECT_NE(table.find("re-ranked: diversity 0.5 (MMR lambda 0.5), similarity category"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("ild@k"), std::string::npos);
  char ild[32];
  std::snprintf(ild, sizeof(ild), "%.4f", diverse->results[0].diversity.ild);
  EXPECT_NE(table.find(ild), std::string::npos) << table;
  const nlohmann::json json = nlohmann::json::parse(ReportJson(*diverse));
  EXPECT_DOUBLE_EQ(json["results"][1]["ild"].get<double>(), diverse->results[1].diversity.ild);
  EXPECT_EQ(json["results"][1]["ild_similarity"], "category");
  EXPECT_DOUBLE_EQ(json["rank"]["lambda"].get<double>(), 0.5);
}

TEST(ReplayTest, CategoryCapOfOneLeavesNoTwoListedItemsAlike) {
  const Dataset data = SmallStream(12);
  const ItemMetadataTable metadata = PlantedCategories(data);
  ReplayOptions o = OnlineOptions(&metadata);
  o.models = {{"popularity", "popularity"}};
  ASSERT_TRUE(o.options.Set("rank.category_cap", "1").ok());
  StatusOr<ReplayReport> report = RunReplay(data, o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const RunResult& r = report->results[0];
  // No two items share a category, so every pair's Jaccard is 0; six categories hold at most
  // six items, each in one or two of them.
  EXPECT_EQ(r.diversity.ild, 1.0);
  EXPECT_LE(r.diversity.categories, 6.0);
  EXPECT_GE(r.diversity.categories, 4.0);
}

TEST(ReplayTest, ZeroDiversityChangesNothing) {
  const Dataset data = SmallStream(13);
  const ItemMetadataTable metadata = PlantedCategories(data);
  StatusOr<ReplayReport> without = RunReplay(data, OnlineOptions(nullptr));
  ReplayOptions o = OnlineOptions(&metadata);
  ASSERT_TRUE(o.options.Set("rank.diversity", "0").ok());
  StatusOr<ReplayReport> with = RunReplay(data, o);
  ASSERT_TRUE(without.ok() && with.ok());
  for (size_t r = 0; r < with->results.size(); ++r) {
    const RunResult& a = without->results[r];
    const RunResult& b = with->results[r];
    EXPECT_EQ(a.metrics.recall, b.metrics.recall);
    EXPECT_EQ(a.metrics.mrr, b.metrics.mrr);
    EXPECT_EQ(a.metrics.auc, b.metrics.auc);
    EXPECT_EQ(a.coverage, b.coverage);
    EXPECT_EQ(a.diversity.lists, 0u);  // no categories and rank.similarity=category
    EXPECT_TRUE(a.ild_similarity.empty());
    EXPECT_GT(b.diversity.lists, 0u);
  }
}

TEST(ReplayTest, ModelSimilaritiesDiversifyWithoutMetadata) {
  const Dataset data = SmallStream(14);
  for (const auto& [type, similarity] :
       {std::pair<std::string, std::string>{"mf", "embedding"}, {"item_knn", "knn"}}) {
    ReplayOptions o = OnlineOptions(nullptr);
    o.models = {{type, type}};
    ASSERT_TRUE(o.options.Set("rank.similarity", similarity).ok());
    StatusOr<ReplayReport> plain = RunReplay(data, o);
    ASSERT_TRUE(o.options.Set("rank.diversity", "0.5").ok());
    StatusOr<ReplayReport> diverse = RunReplay(data, o);
    ASSERT_TRUE(plain.ok() && diverse.ok()) << diverse.status().ToString();
    EXPECT_EQ(plain->results[0].ild_similarity, similarity);
    EXPECT_GT(diverse->results[0].diversity.ild, plain->results[0].diversity.ild) << type;
  }
}

TEST(ReplayTest, RankOptionsNeedWhatTheyMeasureWith) {
  const Dataset data = SmallStream(15);
  ReplayOptions o = OnlineOptions(nullptr);
  ASSERT_TRUE(o.options.Set("rank.diversity", "0.3").ok());
  EXPECT_NE(RunReplay(data, o).status().message().find("category needs item categories"),
            std::string::npos);
  ASSERT_TRUE(o.options.Set("rank.similarity", "embedding").ok());
  EXPECT_NE(RunReplay(data, o).status().message().find("model 'popularity'"), std::string::npos);
  o = OnlineOptions(nullptr);
  ASSERT_TRUE(o.options.Set("rank.category_cap", "2").ok());
  EXPECT_NE(RunReplay(data, o).status().message().find("rank.category_cap needs item categories"),
            std::string::npos);
}

}  // namespace
}  // namespace liverec
