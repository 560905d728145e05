#include "event/synthetic.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "event/dataset_testing.h"
#include "event/readers.h"

namespace liverec {
namespace {

using ::testing::HasSubstr;

constexpr double kMsPerDay = 86'400'000.0;

Dataset Generate(const SyntheticOptions& o) {
  StatusOr<Dataset> d = GenerateSynthetic(o);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(d).value() : Dataset();
}

// A stationary world: no drift, no arrivals, no waves.
SyntheticOptions Stationary() {
  SyntheticOptions o;
  o.drift_per_day = 0;
  o.new_items_per_day = 0;
  return o;
}

using testing::Row;
using testing::Rows;

// The `k` most frequent items (by count, ties by id) among events [begin, end) of `user`, or
// of everyone when user == kInvalidId.
std::vector<ItemId> TopItems(const Dataset& d, size_t begin, size_t end, UserId user, size_t k) {
  std::unordered_map<ItemId, int> counts;
  for (size_t e = begin; e < end; ++e) {
    if (user == kInvalidId || d.events[e].user == user) ++counts[d.events[e].item];
  }
  std::vector<std::pair<int, ItemId>> order;
  for (const auto& [item, count] : counts) order.emplace_back(-count, item);
  std::sort(order.begin(), order.end());
  std::vector<ItemId> top;
  for (size_t i = 0; i < order.size() && i < k; ++i) top.push_back(order[i].second);
  return top;
}

// Generation ---------------------------------------------------------------------------------

TEST(SyntheticTest, SameSeedGivesIdenticalEventsAndOtherSeedsDiffer) {
  SyntheticOptions o;
  o.num_events = 20000;
  o.item_lifetime_days = 1;
  o.popularity_wave_days = 0.5;
  const std::vector<Row> a = Rows(Generate(o));
  const std::vector<Row> b = Rows(Generate(o));
  EXPECT_TRUE(a == b);
  o.seed = 2;
  const std::vector<Row> c = Rows(Generate(o));
  ASSERT_EQ(c.size(), a.size());
  size_t same_item = 0;
  for (size_t i = 0; i < a.size(); ++i) same_item += a[i].item == c[i].item ? 1 : 0;
  EXPECT_LT(same_item, a.size() / 10);
}

TEST(SyntheticTest, EventsAreSortedRatingsWithPlainKeys) {
  SyntheticOptions o;
  o.num_events = 5000;
  o.start_time_ms = 1'000'000;
  const Dataset d = Generate(o);
  ASSERT_EQ(d.events.size(), 5000u);
  EXPECT_EQ(d.events.front().time_ms, o.start_time_ms);
  ASSERT_EQ(d.event_types.size(), 1u);
  EXPECT_EQ(d.event_types.Key(0), "rating");
  uint32_t next_item = 0;
  for (size_t i = 0; i < d.events.size(); ++i) {
    const Event& e = d.events[i];
    if (i > 0) {
      ASSERT_LE(d.events[i - 1].time_ms, e.time_ms);
    }
    ASSERT_LE(e.item, next_item);  // renumbered by first appearance
    if (e.item == next_item) ++next_item;
    ASSERT_TRUE(e.value == 1 || e.value == 2 || e.value == 3 || e.value == 4 || e.value == 5)
        << e.value;
    ASSERT_EQ(e.type, 0);
    ASSERT_EQ(e.context_size, 0);
    const std::string& user = d.users.Key(e.user);
    const std::string& item = d.items.Key(e.item);
    ASSERT_TRUE(user[0] == 'u' && std::stoul(user.substr(1)) < o.num_users) << user;
    ASSERT_EQ(item[0], 'i');
  }
}

TEST(SyntheticTest, MeanGapMatchesEventsPerDay) {
  SyntheticOptions o = Stationary();
  o.num_events = 40000;
  o.events_per_day = 500;
  const Dataset d = Generate(o);
  const double mean_gap = static_cast<double>(d.events.back().time_ms - d.events.front().time_ms) /
                          static_cast<double>(d.events.size() - 1);
  // Exponential gaps: the mean of 40000 has a relative standard error of 0.5%.
  EXPECT_NEAR(mean_gap, kMsPerDay / o.events_per_day, 0.025 * kMsPerDay / o.events_per_day);
}

TEST(SyntheticTest, UserActivityIsSkewed) {
  SyntheticOptions o = Stationary();
  o.num_events = 50000;
  const Dataset d = Generate(o);
  std::vector<int> counts(d.num_users());
  for (const Event& e : d.events) ++counts[e.user];
  std::sort(counts.rbegin(), counts.rend());
  // Zipf-like: the top 1% of users make far more than 1% of the events.
  int top = 0;
  for (size_t i = 0; i < d.num_users() / 100; ++i) top += counts[i];
  EXPECT_GT(top, 50000 / 10);
}

// Affinity: with noise-free ratings, rating = round(3 + 2.5 <u, v>) clamped, so the mean rating
// reads out the mean <u, v> of the chosen items; random items have mean <u, v> = 0.
TEST(SyntheticTest, AffinityMakesChosenItemsCloseToTheirUser) {
  SyntheticOptions o = Stationary();
  o.num_events = 30000;
  o.rating_noise = 0;
  auto mean_rating = [](const Dataset& d) {
    double sum = 0;
    for (const Event& e : d.events) sum += e.value;
    return sum / static_cast<double>(d.events.size());
  };
  o.affinity = 0;
  const double random_choice = mean_rating(Generate(o));
  o.affinity = 4;
  const double planted = mean_rating(Generate(o));
  EXPECT_NEAR(random_choice, 3.0, 0.1);
  EXPECT_GT(planted, 3.7);
}

// Learnable in principle: a user's own past items predict their future ones much better than
// the globally popular items do, but only when the structure is planted.
double PersonalOverGlobalHitRate(double affinity) {
  SyntheticOptions o = Stationary();
  o.affinity = affinity;
  o.num_users = 100;
  o.num_initial_items = 300;
  o.num_events = 60000;
  const Dataset d = Generate(o);
  const size_t half = d.events.size() / 2;
  constexpr size_t kTop = 10;
  const std::vector<ItemId> global = TopItems(d, 0, half, kInvalidId, kTop);
  std::vector<std::unordered_set<ItemId>> personal(d.num_users());
  for (UserId u = 0; u < d.num_users(); ++u) {
    std::vector<ItemId> top = TopItems(d, 0, half, u, kTop);
    personal[u].insert(top.begin(), top.end());
  }
  size_t personal_hits = 0;
  size_t global_hits = 0;
  for (size_t e = half; e < d.events.size(); ++e) {
    const Event& ev = d.events[e];
    personal_hits += personal[ev.user].count(ev.item);
    global_hits += std::count(global.begin(), global.end(), ev.item);
  }
  return static_cast<double>(personal_hits) / static_cast<double>(global_hits);
}

TEST(SyntheticTest, PlantedStructureIsLearnable) {
  // Measured: 1.73 with affinity 4, 0.88 without (personal top lists are then only noisier
  // copies of the global one).
  EXPECT_GT(PersonalOverGlobalHitRate(4.0), 1.4);
  EXPECT_LT(PersonalOverGlobalHitRate(0.0), 1.0);
}

// Drift: the items a user favours at the start are not those favoured at the end.
double TopItemOverlapFirstVsLastTenth(double drift_per_day) {
  SyntheticOptions o = Stationary();
  o.drift_per_day = drift_per_day;
  o.num_users = 20;
  o.num_initial_items = 200;
  o.num_events = 100000;
  o.events_per_day = 1000;  // a 100-day stream
  const Dataset d = Generate(o);
  const size_t tenth = d.events.size() / 10;
  constexpr size_t kTop = 10;
  double overlap = 0;
  for (UserId u = 0; u < d.num_users(); ++u) {
    std::vector<ItemId> first = TopItems(d, 0, tenth, u, kTop);
    std::vector<ItemId> last = TopItems(d, d.events.size() - tenth, d.events.size(), u, kTop);
    for (ItemId i : first) overlap += std::count(last.begin(), last.end(), i);
  }
  return overlap / static_cast<double>(kTop * d.num_users());
}

TEST(SyntheticTest, InterestDriftChangesEachUsersFavouriteItems) {
  const double frozen = TopItemOverlapFirstVsLastTenth(0.0);
  const double drifting = TopItemOverlapFirstVsLastTenth(0.1);
  // Measured: 0.73 frozen, 0.17 drifting.
  EXPECT_GT(frozen, 0.5);
  EXPECT_LT(drifting, frozen / 2);
}

TEST(SyntheticTest, NewItemsArriveAtTheirRate) {
  SyntheticOptions o = Stationary();
  o.num_initial_items = 100;
  o.new_items_per_day = 50;
  o.num_events = 50000;
  o.events_per_day = 5000;  // 10 days: ~500 arrivals (Poisson, sd ~22)
  const Dataset d = Generate(o);
  std::vector<int64_t> first_seen(d.num_items());
  for (size_t e = d.events.size(); e-- > 0;) first_seen[d.events[e].item] = d.events[e].time_ms;
  int arrived = 0;
  const int64_t start = d.events.front().time_ms;
  for (ItemId i = 0; i < d.num_items(); ++i) {
    const int index = std::stoi(d.items.Key(i).substr(1));
    if (index < static_cast<int>(o.num_initial_items)) continue;
    ++arrived;
    // Item 100 + m is the m-th arrival, due after ~m / 50 days; those due in the second half
    // of the stream (m >= 250, sd of the arrival time ~0.3 days) cannot appear before day 4.
    if (index >= 350) {
      EXPECT_GE(first_seen[i] - start, 4 * kMsPerDay) << d.items.Key(i);
    }
  }
  EXPECT_NEAR(arrived, 500, 90);
}

TEST(SyntheticTest, ItemsRetireAfterTheirLifetime) {
  SyntheticOptions o = Stationary();
  o.new_items_per_day = 100;
  o.item_lifetime_days = 2;
  o.num_events = 50000;
  o.events_per_day = 5000;
  const Dataset d = Generate(o);
  std::vector<int64_t> first(d.num_items(), INT64_MAX), last(d.num_items(), INT64_MIN);
  for (const Event& e : d.events) {
    first[e.item] = std::min(first[e.item], e.time_ms);
    last[e.item] = std::max(last[e.item], e.time_ms);
  }
  double longest_days = 0;
  for (ItemId i = 0; i < d.num_items(); ++i) {
    longest_days = std::max(longest_days, static_cast<double>(last[i] - first[i]) / kMsPerDay);
  }
  EXPECT_LE(longest_days, o.item_lifetime_days);
  EXPECT_GT(longest_days, 0.8 * o.item_lifetime_days);
}

// Waves: each item's events bunch around its peak instead of spreading over the stream.
double MeanItemTimeSpreadDays(double wave_days) {
  SyntheticOptions o = Stationary();
  o.popularity_wave_days = wave_days;
  o.new_items_per_day = 30;
  o.num_events = 40000;
  o.events_per_day = 2000;  // 20 days
  const Dataset d = Generate(o);
  std::vector<double> sum(d.num_items()), sum_sq(d.num_items()), n(d.num_items());
  for (const Event& e : d.events) {
    const double t = static_cast<double>(e.time_ms - d.events.front().time_ms) / kMsPerDay;
    sum[e.item] += t;
    sum_sq[e.item] += t * t;
    n[e.item] += 1;
  }
  double spread = 0;
  int items = 0;
  for (ItemId i = 0; i < d.num_items(); ++i) {
    if (n[i] < 20) continue;
    const double mean = sum[i] / n[i];
    spread += std::sqrt(std::max(0.0, sum_sq[i] / n[i] - mean * mean));
    ++items;
  }
  return spread / items;
}

TEST(SyntheticTest, PopularityWavesBunchEachItemsEventsInTime) {
  const double flat = MeanItemTimeSpreadDays(0);
  const double waves = MeanItemTimeSpreadDays(1);
  // Measured: 4.9 days flat, 1.1 days with 1-day waves.
  EXPECT_GT(flat, 3.0);
  EXPECT_LT(waves, flat / 2);
}

TEST(SyntheticTest, InvalidOptionsNameTheField) {
  auto error = [](auto change) {
    SyntheticOptions o;
    change(o);
    StatusOr<Dataset> d = GenerateSynthetic(o);
    EXPECT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    return d.status().message();
  };
  EXPECT_THAT(error([](SyntheticOptions& o) { o.num_users = 0; }), HasSubstr("num_users"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.num_initial_items = 0; }),
              HasSubstr("num_initial_items"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.dim = 0; }), HasSubstr("dim"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.affinity = NAN; }), HasSubstr("affinity"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.events_per_day = 0; }),
              HasSubstr("events_per_day"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.drift_per_day = 1.5; }),
              HasSubstr("drift_per_day"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.new_items_per_day = -1; }),
              HasSubstr("new_items_per_day"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.item_lifetime_days = -1; }),
              HasSubstr("item_lifetime_days"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.popularity_wave_days = INFINITY; }),
              HasSubstr("popularity_wave_days"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.rating_noise = -0.1; }), HasSubstr("rating_noise"));
  EXPECT_THAT(error([](SyntheticOptions& o) { o.events_per_day = 1e-9; }),
              HasSubstr("events_per_day"));
}

TEST(SyntheticTest, ZeroEventsGiveAnEmptyDataset) {
  SyntheticOptions o;
  o.num_events = 0;
  EXPECT_TRUE(Generate(o).events.empty());
}

// Writing -------------------------------------------------------------------------------------

class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("liverec_synthetic_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

TEST(SyntheticTest, WrittenCsvAndJsonlReadBackAsTheSameEvents) {
  SyntheticOptions o;
  o.num_events = 3000;
  o.rating_noise = 1;
  const Dataset d = Generate(o);
  ScratchDir dir;
  for (std::string name : {"s.csv", "s.jsonl", "s.csv.gz", "s.ndjson.gz"}) {
    ASSERT_TRUE(WriteDataset(d, dir.Path(name)).ok()) << name;
    StatusOr<Dataset> back = ReadDataset(dir.Path(name), {});
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(Rows(*back) == Rows(d)) << name;
    for (size_t i = 0; i < d.events.size(); ++i) {
      ASSERT_EQ(back->events[i].user, d.events[i].user);
      ASSERT_EQ(back->events[i].item, d.events[i].item);
    }
  }
}

// Keys and values that need quoting or escaping, context, ids, several types, odd floats.
Dataset AwkwardDataset() {
  Dataset d;
  d.event_types.GetOrAdd("");
  // Millisecond times above 1e11, as CSV's automatic time unit expects of them.
  constexpr int64_t kT = 1'700'000'000'000;
  d.Add("comma,user", "quote\"item", kT + 3).value = 0.1f;
  d.AddContext("device", "tv");
  d.AddContext("note", "line1\nline2\r\n\ttab \\ back");
  d.Add("ünïcødé", "i2", kT + 1).value = -2.5e-7f;
  d.AddContext("note", "x");
  d.Add("u3", "i3", kT + 2).value = 3.4e38f;
  d.SortByTime();
  return d;
}

TEST(SyntheticTest, WrittenAwkwardKeysAndContextReadBackExactly) {
  Dataset d = AwkwardDataset();
  ScratchDir dir;
  ASSERT_TRUE(WriteDataset(d, dir.Path("a.csv")).ok());
  StatusOr<Dataset> csv = ReadDataset(dir.Path("a.csv"), {});
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  // CSV gives the rating column's type; everything else is the same.
  std::vector<Row> expected = Rows(d);
  for (Row& r : expected) r.type = "rating";
  EXPECT_TRUE(Rows(*csv) == expected);

  d.events[1].type = static_cast<EventTypeId>(d.event_types.GetOrAdd("click"));
  d.events[2].id = d.event_ids.GetOrAdd("event-7");
  ASSERT_TRUE(WriteDataset(d, dir.Path("a.jsonl")).ok());
  StatusOr<Dataset> jsonl = ReadDataset(dir.Path("a.jsonl"), {});
  ASSERT_TRUE(jsonl.ok()) << jsonl.status().ToString();
  std::vector<Row> rows = Rows(*jsonl);
  EXPECT_TRUE(rows == Rows(d));
  EXPECT_EQ(rows[1].type, "click");
  EXPECT_EQ(rows[2].id, "event-7");
}

TEST(SyntheticTest, WriteDatasetRefusesWhatItCannotWrite) {
  ScratchDir dir;
  Dataset d = AwkwardDataset();
  Status unknown = WriteDataset(d, dir.Path("a.parquet"));
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr(".csv or .jsonl"));
  d.event_types.GetOrAdd("click");
  Status types = WriteDataset(d, dir.Path("a.csv"));
  EXPECT_EQ(types.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(types.message(), HasSubstr("event types"));
  Status no_folder = WriteDataset(Dataset(), dir.Path("missing/a.jsonl"));
  EXPECT_EQ(no_folder.code(), StatusCode::kIOError);
}

}  // namespace
}  // namespace liverec
