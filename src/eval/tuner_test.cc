#include "eval/tuner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#include "event/synthetic.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

// popularity.half_life's grid in these tests, shortest first (0 = no decay, the longest).
const std::vector<std::string> kHalfLives = {"10m", "30m", "1h", "3h", "12h", "2d", "0"};

// A stream whose popularity is the only signal (no user structure), with the time scale of its
// changes planted: items arrive, peak for a wave of `wave_days` and retire after `life_days`.
// wave_days = 0 with no arrivals is a stationary stream.
Dataset PlantedStream(double wave_days, double life_days, double new_per_day, uint64_t seed) {
  SyntheticOptions o;
  o.seed = seed;
  o.num_users = 3000;
  o.num_initial_items = 300;
  o.num_events = 24'000;
  o.events_per_day = 8'000;
  o.affinity = 0;
  o.drift_per_day = 0;
  o.popularity_wave_days = wave_days;
  o.item_lifetime_days = life_days;
  o.new_items_per_day = new_per_day;
  StatusOr<Dataset> d = GenerateSynthetic(o);
  EXPECT_TRUE(d.ok()) << d.status().message();
  return std::move(d).value();
}

TuneOptions PopularityTune(uint64_t seed) {
  TuneOptions o;
  o.models = {{"popularity", "popularity"}};
  o.spaces["popularity"] = {{"half_life", kHalfLives}};
  o.configs = 9;  // the whole grid of 7, after the defaults
  o.min_prefix_events = 1000;
  o.budget_seconds = 600;
  o.replay.bootstrap_resamples = 20;
  o.replay.context.num_threads = 2;
  o.replay.context.seed = seed;
  return o;
}

// Index in kHalfLives of a setting's half-life.
int GridIndex(const TuneSetting& setting) {
  EXPECT_EQ(setting.size(), 1u);
  return static_cast<int>(std::find(kHalfLives.begin(), kHalfLives.end(), setting[0].second) -
                          kHalfLives.begin());
}

// The exhaustive oracle: every half-life replayed on the whole tuning slice, scored as the
// tuner's last rung scores; the index of the best.
int ExhaustiveBest(const Dataset& dataset, const TuneOptions& tune) {
  Dataset slice = dataset;
  slice.events.resize(static_cast<size_t>(dataset.events.size() * tune.tune_fraction));
  ReplayOptions replay = tune.replay;
  replay.protocols = {Protocol::kOnline};
  replay.train_fraction = 1 - tune.score_fraction;
  replay.bootstrap_resamples = 0;
  for (size_t i = 0; i < kHalfLives.size(); ++i) {
    const std::string name = "p" + std::to_string(i);
    replay.models.push_back({name, "popularity"});
    EXPECT_TRUE(replay.options.Set(name + ".half_life", kHalfLives[i]).ok());
  }
  StatusOr<ReplayReport> report = RunReplay(slice, replay);
  EXPECT_TRUE(report.ok()) << report.status().message();
  int best = 0;
  for (size_t i = 0; i < report->results.size(); ++i) {
    if (report->results[i].metrics.recall > report->results[best].metrics.recall) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

TEST(TunerTest, FindsThePlantedHalfLifeOnADriftingStream) {
  // Items live two days and peak for a wave about seven hours wide: counts of the last day mislead,
  // counts of the last minutes are too few. The best half-life lies inside the grid (an hour:
  // ExhaustiveBest), not at either end.
  const Dataset stream = PlantedStream(/*wave_days=*/0.3, /*life_days=*/2,
                                       /*new_per_day=*/150, /*seed=*/3);
  const TuneOptions tune = PopularityTune(7);
  StatusOr<TuneReport> report = RunTune(stream, tune);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->choices.size(), 1u);
  const int chosen = GridIndex(report->choices[0].setting);
  const int oracle = ExhaustiveBest(stream, tune);
  EXPECT_LE(std::abs(chosen - oracle), 1) << TuneTable(*report, tune.metric);
  // The planted time scale: between half an hour and three hours, not all-time counts (the
  // defaults), which the tuner beats.
  EXPECT_GE(chosen, 1) << TuneTable(*report, tune.metric);
  EXPECT_LE(chosen, 3) << TuneTable(*report, tune.metric);
  EXPECT_NE(report->choices[0].config, 0u);
  EXPECT_GT(report->choices[0].score, report->choices[0].default_score);
  EXPECT_FALSE(report->budget_reached);
}

TEST(TunerTest, KeepsAllTimeCountsOnAStationaryStream) {
  const Dataset stream = PlantedStream(/*wave_days=*/0, /*life_days=*/0, /*new_per_day=*/0,
                                       /*seed=*/5);
  const TuneOptions tune = PopularityTune(7);
  StatusOr<TuneReport> report = RunTune(stream, tune);
  ASSERT_TRUE(report.ok()) << report.status().message();
  const int chosen = GridIndex(report->choices[0].setting);
  // Long memory wins: no decay, or its neighbour on the grid.
  EXPECT_GE(chosen, static_cast<int>(kHalfLives.size()) - 2) << TuneTable(*report, tune.metric);
}

TEST(TunerTest, HalvesTheSettingsOnLongerPrefixes) {
  const Dataset stream = PlantedStream(0.04, 0.5, 600, 3);
  TuneOptions tune = PopularityTune(7);
  tune.eta = 2;
  StatusOr<TuneReport> report = RunTune(stream, tune);
  ASSERT_TRUE(report.ok()) << report.status().message();
  // The defaults (half-life 0) and the grid's 6 other half-lives: rungs of 7, 4 and 2 settings
  // (the third rung keeps 1 of 2 and is the last), on prefixes of a quarter, a half and all of
  // the slice. The grid is spent in the first bracket, so there is no second.
  EXPECT_EQ(report->brackets_run, 1u);
  std::vector<size_t> per_rung(3);
  std::vector<size_t> prefix(3);
  for (const TuneTrial& t : report->trials) {
    ASSERT_LT(t.rung, 3);
    ++per_rung[t.rung];
    prefix[t.rung] = t.prefix_events;
  }
  EXPECT_EQ(per_rung, (std::vector<size_t>{7, 4, 2}));
  EXPECT_EQ(prefix[2], stream.events.size() / 2);
  EXPECT_EQ(prefix[1], prefix[2] / 2);
  EXPECT_EQ(prefix[0], prefix[2] / 4);
}

TEST(TunerTest, SameSeedSameSearch) {
  const Dataset stream = PlantedStream(0.04, 0.5, 600, 3);
  TuneOptions tune;
  tune.models = {{"mf", "mf"}};
  tune.configs = 3;
  tune.brackets = 2;
  tune.min_prefix_events = 1000;
  tune.replay.bootstrap_resamples = 0;
  tune.replay.context.num_threads = 2;
  tune.replay.context.seed = 11;
  tune.spaces["mf"] = {{"dim", {"8", "16"}}, {"learning_rate", {"0.05", "0.1", "0.2", "0.4"}}};
  StatusOr<TuneReport> a = RunTune(stream, tune);
  StatusOr<TuneReport> b = RunTune(stream, tune);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(TuneConfigFile(*a, tune.metric, "x"), TuneConfigFile(*b, tune.metric, "x"));
  ASSERT_EQ(a->trials.size(), b->trials.size());
  for (size_t i = 0; i < a->trials.size(); ++i) {
    EXPECT_EQ(a->trials[i].setting, b->trials[i].setting);
    EXPECT_EQ(a->trials[i].score, b->trials[i].score);
  }
  // Two brackets of three settings, the defaults first, none tried twice.
  EXPECT_EQ(a->brackets_run, 2u);
  std::set<TuneSetting> distinct;
  size_t first_rung_trials = 0;
  for (const TuneTrial& t : a->trials) {
    if (t.rung != 0) continue;
    ++first_rung_trials;
    distinct.insert(t.setting);
  }
  EXPECT_EQ(first_rung_trials, 6u);
  EXPECT_EQ(distinct.size(), 6u);
  EXPECT_TRUE(a->trials[0].setting.empty());
  EXPECT_EQ(a->trials.back().bracket, 1u);
}

class TunerFileTest : public testing::TempDirTest {};

TEST_F(TunerFileTest, ConfigFileLoadsAsOptions) {
  const Dataset stream = PlantedStream(0.04, 0.5, 600, 3);
  TuneOptions tune = PopularityTune(7);
  tune.models = {{"popularity", "popularity"}, {"knn_short", "item_knn"}};
  tune.spaces["item_knn"] = {{"window", {"5", "20"}}, {"half_life", {"0", "1h"}}};
  StatusOr<TuneReport> report = RunTune(stream, tune);
  ASSERT_TRUE(report.ok()) << report.status().message();
  const std::string path = root_ + "/tuned.conf";
  std::ofstream(path) << TuneConfigFile(*report, tune.metric, "tuned on a test stream");
  Options options;
  ASSERT_TRUE(options.LoadConfigFile(path).ok());
  EXPECT_TRUE(options.Validate({{"knn_short", "item_knn"}}).ok());
  const TuneChoice& pop = report->choices[0];
  const TuneChoice& knn = report->choices[1];
  EXPECT_EQ(options.overrides().at("popularity.half_life"), pop.setting[0].second);
  EXPECT_EQ(options.overrides().at("knn_short.window"), knn.setting[0].second);
  EXPECT_EQ(options.overrides().at("knn_short.half_life"), knn.setting[1].second);
}

TEST(TunerTest, BadInputNamesTheField) {
  const Dataset stream = PlantedStream(0.04, 0.5, 600, 3);
  TuneOptions tune = PopularityTune(7);
  tune.spaces["popularity"] = {{"half_lfe", {"1h"}}};
  StatusOr<TuneReport> report = RunTune(stream, tune);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("popularity.half_lfe"), std::string::npos);

  tune.spaces["popularity"] = {{"half_life", {"soon"}}};
  report = RunTune(stream, tune);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("popularity.half_life"), std::string::npos)
      << report.status().message();

  tune = PopularityTune(7);
  tune.eta = 1;
  report = RunTune(stream, tune);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("eta"), std::string::npos);

  tune = PopularityTune(7);
  tune.models = {{"r", "router"}};
  tune.spaces.clear();
  report = RunTune(stream, tune);
  ASSERT_FALSE(report.ok());
}

TEST(TunerTest, ATightBudgetEndsTheSearchWithTheBestSoFar) {
  const Dataset stream = PlantedStream(0.04, 0.5, 600, 3);
  TuneOptions tune = PopularityTune(7);
  tune.budget_seconds = 1e-9;  // no rung after the first fits
  StatusOr<TuneReport> report = RunTune(stream, tune);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->budget_reached);
  EXPECT_EQ(report->brackets_run, 1u);
  for (const TuneTrial& t : report->trials) EXPECT_EQ(t.rung, 0);
  const TuneTrial& best =
      *std::max_element(report->trials.begin(), report->trials.end(),
                        [](const TuneTrial& a, const TuneTrial& b) { return a.score < b.score; });
  EXPECT_EQ(report->choices[0].score, best.score);
}

}  // namespace
}  // namespace liverec
