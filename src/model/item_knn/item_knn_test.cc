#include "model/item_knn/item_knn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <deque>
#include <map>
#include <ranges>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/random.h"
#include "liverec/options.h"
#include "model/item_knn/flat_map.h"
#include "model/model_testing.h"

namespace liverec {
namespace {

using testing::AllItems;
using testing::kDayMs;
using testing::kEpochMs;
using testing::kHourMs;
using testing::kHourS;
using testing::kMinuteMs;
using testing::kSecondMs;
using testing::MakeEvent;
using testing::SaveBytes;
using testing::ScoreAll;

// ---------------------------------------------------------------------------------------------
// FlatMap

TEST(FlatMapTest, MatchesUnorderedMapOnRandomInserts) {
  Random random(11);
  FlatMap map;
  std::unordered_map<uint32_t, float> oracle;
  constexpr int kInserts = 20000;
  for (int k = 0; k < kInserts; ++k) {
    // Mix runs of consecutive ids (the co-occurrence pattern) with scattered ones, and repeats.
    uint32_t key = 0;
    switch (random.Uniform(3)) {
      case 0:
        key = static_cast<uint32_t>(k / 4);
        break;
      case 1:
        key = random.Uniform(5000);
        break;
      default:
        key = 0xfffffffeu - random.Uniform(100);
        break;
    }
    const float delta = static_cast<float>(1 + random.Uniform(8)) * 0.25f;
    map.Add(key, delta);
    oracle[key] += delta;
    ASSERT_EQ(map.size(), oracle.size());
    ASSERT_EQ(map.capacity(), FlatMap::CapacityFor(map.size()));
    ASSERT_LE(map.size() * 10, map.capacity() * 7);
    ASSERT_TRUE(std::has_single_bit(map.capacity()));
  }
  ASSERT_EQ(map.size(), oracle.size());
  for (const auto& [key, value] : oracle) ASSERT_EQ(map.Get(key), value) << key;
  for (uint32_t key = 5000; key < 6000; ++key) {
    if (!oracle.contains(key)) {
      EXPECT_EQ(map.Find(key), nullptr) << key;
    }
  }
  size_t visited = 0;
  map.ForEach([&](uint32_t key, float value) {
    ++visited;
    ASSERT_TRUE(oracle.contains(key));
    EXPECT_EQ(oracle[key], value);
  });
  EXPECT_EQ(visited, oracle.size());

  map.Scale(0.5f);
  for (const auto& [key, value] : oracle) ASSERT_EQ(map.Get(key), value * 0.5f) << key;

  FlatMap copy = map;
  copy.Add(1, 100);
  EXPECT_EQ(map.Get(1), oracle[1] * 0.5f);
}

TEST(FlatMapTest, EmptyMapAllocatesNothingAndFindsNothing) {
  FlatMap map;
  EXPECT_EQ(map.capacity(), 0u);
  EXPECT_EQ(map.MemoryBytes(), 0u);
  EXPECT_EQ(map.Find(3), nullptr);
  EXPECT_EQ(map.Get(3), 0.0f);
  map.Add(3, 1.5f);
  EXPECT_EQ(map.capacity(), FlatMap::kMinCapacity);
  EXPECT_EQ(map.Get(3), 1.5f);
}

TEST(FlatMapTest, SaveLoadRestoresTheExactLayout) {
  Random random(5);
  FlatMap map;
  for (int k = 0; k < 300; ++k) map.Add(random.Uniform(1000), 1.0f);
  BinaryWriter writer;
  map.Save(&writer);
  const std::string saved = writer.Release();

  FlatMap loaded;
  BinaryReader reader(saved);
  ASSERT_TRUE(loaded.Load(&reader, 1000).ok());
  EXPECT_EQ(reader.remaining(), 0u);
  BinaryWriter again;
  loaded.Save(&again);
  EXPECT_EQ(again.data(), saved);

  BinaryReader small_limit(saved);
  EXPECT_EQ(loaded.Load(&small_limit, 10).code(), StatusCode::kCorruption);
  for (size_t length = 0; length < saved.size(); length += 7) {
    FlatMap target;
    BinaryReader truncated(std::string_view(saved).substr(0, length));
    EXPECT_EQ(target.Load(&truncated, 1000).code(), StatusCode::kCorruption) << length;
  }
}

TEST(FlatMapTest, KeepLargestKeepsTheStrongestEntriesInACompactTable) {
  Random random(8);
  FlatMap map;
  std::map<uint32_t, float> oracle;
  for (int k = 0; k < 500; ++k) {
    const uint32_t key = random.Uniform(400);
    // Small integers: many ties, which must go to the lower key.
    const float delta = static_cast<float>(random.Uniform(4));
    map.Add(key, delta);
    oracle[key] += delta;
  }
  std::vector<std::pair<float, uint32_t>> ranked;
  for (const auto& [key, value] : oracle) ranked.emplace_back(-value, key);
  std::sort(ranked.begin(), ranked.end());
  constexpr size_t kKeep = 37;
  map.KeepLargest(kKeep);
  ASSERT_EQ(map.size(), kKeep);
  EXPECT_EQ(map.capacity(), FlatMap::CapacityFor(kKeep));
  for (size_t r = 0; r < ranked.size(); ++r) {
    const float* value = map.Find(ranked[r].second);
    if (r < kKeep) {
      ASSERT_NE(value, nullptr) << "rank " << r;
      EXPECT_EQ(*value, -ranked[r].first);
    } else {
      EXPECT_EQ(value, nullptr) << "rank " << r;
    }
  }
  // The pruned table is a valid layout: it saves, loads and keeps growing.
  BinaryWriter writer;
  map.Save(&writer);
  FlatMap loaded;
  BinaryReader reader(writer.data());
  ASSERT_TRUE(loaded.Load(&reader, 400).ok());
  map.KeepLargest(kKeep);  // no-op at the bound
  EXPECT_EQ(map.size(), kKeep);
  map.Add(1000, 1.0f);
  EXPECT_EQ(map.Get(1000), 1.0f);
}

TEST(FlatMapTest, EraseIfRemovesTheChosenKeysIntoACompactTable) {
  Random random(9);
  FlatMap map;
  std::map<uint32_t, float> oracle;
  for (int k = 0; k < 300; ++k) {
    const uint32_t key = random.Uniform(200);
    map.Add(key, 1.0f);
    oracle[key] += 1.0f;
  }
  const auto odd = [](uint32_t key) { return key % 2 == 1; };
  EXPECT_EQ(map.EraseIf([](uint32_t key) { return key >= 1000; }), 0u);  // nothing moves
  size_t odd_keys = 0;
  for (const auto& [key, value] : oracle) odd_keys += odd(key) ? 1 : 0;
  EXPECT_EQ(map.EraseIf(odd), odd_keys);
  ASSERT_EQ(map.size(), oracle.size() - odd_keys);
  EXPECT_EQ(map.capacity(), FlatMap::CapacityFor(map.size()));
  for (const auto& [key, value] : oracle) {
    const float* found = map.Find(key);
    if (odd(key)) {
      EXPECT_EQ(found, nullptr) << key;
    } else {
      ASSERT_NE(found, nullptr) << key;
      EXPECT_EQ(*found, value);
    }
  }
  // A valid layout: it saves and loads, and emptied it allocates nothing.
  BinaryWriter writer;
  map.Save(&writer);
  FlatMap loaded;
  BinaryReader reader(writer.data());
  ASSERT_TRUE(loaded.Load(&reader, 200).ok());
  EXPECT_EQ(map.EraseIf([](uint32_t) { return true; }), loaded.size());
  EXPECT_EQ(map.capacity(), 0u);
  EXPECT_EQ(map.MemoryBytes(), 0u);
}

TEST(FlatMapTest, LoadRejectsKeysProbingCannotFind) {
  // Capacity 4, one entry with key 0 (home slot 0) stored in slot 2 behind an empty slot.
  BinaryWriter writer;
  writer.Put<uint32_t>(4);
  writer.Put<uint32_t>(1);
  writer.Put<uint32_t>(2);
  writer.Put<uint32_t>(0);
  writer.Put<float>(1.0f);
  FlatMap map;
  BinaryReader reader(writer.data());
  EXPECT_EQ(map.Load(&reader, 10).code(), StatusCode::kCorruption);
}

// ---------------------------------------------------------------------------------------------
// Hand-computed values

// Items A=0, B=1, C=2. u0: A B C; u1: A B; u2: B C.
// n: A=2, B=3, C=2. c(A,B) = 2 (u0, u1), c(A,C) = 1 (u0), c(B,C) = 2 (u0, u2).
void LearnToyStream(Model* model) {
  constexpr ItemId kA = 0, kB = 1, kC = 2;
  const Event stream[] = {MakeEvent(1, 0, kA), MakeEvent(2, 1, kA), MakeEvent(3, 0, kB),
                          MakeEvent(4, 2, kB), MakeEvent(5, 1, kB), MakeEvent(6, 0, kC),
                          MakeEvent(7, 2, kC)};
  for (const Event& event : stream) model->Learn(event);
}

TEST(ItemKnnModelTest, ToyStreamHasHandComputedCountsAndCosines) {
  ItemKnnModel model(/*window=*/10, /*half_life_s=*/0, KnnSimilarity::kCosine);
  EXPECT_EQ(model.type(), "item_knn");
  EXPECT_FALSE(model.iterative());
  LearnToyStream(&model);
  EXPECT_EQ(model.ItemCount(0, 7), 2);
  EXPECT_EQ(model.ItemCount(1, 7), 3);
  EXPECT_EQ(model.ItemCount(2, 7), 2);
  EXPECT_EQ(model.CoCount(0, 1, 7), 2);
  EXPECT_EQ(model.CoCount(1, 0, 7), 2);
  EXPECT_EQ(model.CoCount(0, 2, 7), 1);
  EXPECT_EQ(model.CoCount(1, 2, 7), 2);
  EXPECT_EQ(model.num_pairs(), 6u);

  const float ab = static_cast<float>(2 / std::sqrt(6.0));
  EXPECT_FLOAT_EQ(model.Similarity(0, 1), ab);
  EXPECT_FLOAT_EQ(model.Similarity(0, 2), 0.5f);
  EXPECT_FLOAT_EQ(model.Similarity(2, 1), ab);
  EXPECT_EQ(model.Similarity(0, 0), 0.0f);

  // u1's window is [A, B]: score(c) = sim(A, c) + sim(B, c).
  const std::vector<float> scores = ScoreAll(model, 1, 3);
  EXPECT_FLOAT_EQ(scores[0], ab);
  EXPECT_FLOAT_EQ(scores[1], ab);
  EXPECT_FLOAT_EQ(scores[2], 0.5f + ab);
  const std::vector<ItemId> recent(model.RecentItems(0).begin(), model.RecentItems(0).end());
  EXPECT_EQ(recent, (std::vector<ItemId>{0, 1, 2}));
}

TEST(ItemKnnModelTest, ToyStreamHasHandComputedJaccards) {
  ItemKnnModel model(/*window=*/10, /*half_life_s=*/0, KnnSimilarity::kJaccard);
  LearnToyStream(&model);
  // c / (n_i + n_j - c): AB = 2/3, AC = 1/3, BC = 2/3.
  EXPECT_FLOAT_EQ(model.Similarity(0, 1), 2.0f / 3);
  EXPECT_FLOAT_EQ(model.Similarity(0, 2), 1.0f / 3);
  EXPECT_FLOAT_EQ(model.Similarity(1, 2), 2.0f / 3);
  const std::vector<float> scores = ScoreAll(model, 2, 3);  // u2's window is [B, C]
  EXPECT_FLOAT_EQ(scores[0], 2.0f / 3 + 1.0f / 3);
  EXPECT_FLOAT_EQ(scores[1], 2.0f / 3);
  EXPECT_FLOAT_EQ(scores[2], 2.0f / 3);
}

TEST(ItemKnnModelTest, UnknownItemsAreUnscoredAndUsersWithoutHistoryScoreZero) {
  ItemKnnModel model(10, 0, KnnSimilarity::kCosine);
  model.Learn(MakeEvent(1, 3, 0));
  model.Learn(MakeEvent(2, 3, 2));  // item 1 is a hole in the ids
  const std::vector<float> scores_of_stranger = ScoreAll(model, 99, 4);
  EXPECT_EQ(scores_of_stranger, (std::vector<float>{0, kUnscored, 0, kUnscored}));
  const std::vector<float> scores_of_hole_user = ScoreAll(model, 1, 4);  // id below the table
  EXPECT_EQ(scores_of_hole_user, (std::vector<float>{0, kUnscored, 0, kUnscored}));
  EXPECT_TRUE(model.RecentItems(99).empty());
  const std::vector<float> scores = ScoreAll(model, 3, 4);
  EXPECT_EQ(scores[1], kUnscored);
  EXPECT_EQ(scores[3], kUnscored);
  EXPECT_FLOAT_EQ(scores[0], 1.0f);  // window [0, 2]: sim(2, 0) = 1 / sqrt(1 * 1)
  std::vector<std::pair<ItemId, float>> similar;
  model.Similar(1, 5, &similar);
  EXPECT_TRUE(similar.empty());
  model.Similar(7, 5, &similar);
  EXPECT_TRUE(similar.empty());
}

TEST(ItemKnnModelTest, ItemsThatLeftTheWindowNoLongerCoOccur) {
  ItemKnnModel model(/*window=*/2, 0, KnnSimilarity::kCosine);
  for (ItemId item : {0u, 1u, 2u, 3u}) model.Learn(MakeEvent(item, 0, item));
  // 2 arrives to [0, 1]; 3 arrives to [1, 2]: item 0 had already left.
  EXPECT_EQ(model.CoCount(2, 0, 4), 1);
  EXPECT_EQ(model.CoCount(2, 1, 4), 1);
  EXPECT_EQ(model.CoCount(3, 1, 4), 1);
  EXPECT_EQ(model.CoCount(3, 2, 4), 1);
  EXPECT_EQ(model.CoCount(3, 0, 4), 0);
  EXPECT_EQ(model.Similarity(3, 0), 0.0f);
  const std::vector<ItemId> recent(model.RecentItems(0).begin(), model.RecentItems(0).end());
  EXPECT_EQ(recent, (std::vector<ItemId>{2, 3}));
}

TEST(ItemKnnModelTest, RepeatRefreshesTheWindowAndCountsAgainWithoutSelfPairs) {
  ItemKnnModel model(/*window=*/2, 0, KnnSimilarity::kCosine);
  // 0 1 0 2: the repeat of 0 pairs with 1 again and moves 0 to the newest end, so 2 evicts 1.
  for (ItemId item : {0u, 1u, 0u, 2u}) model.Learn(MakeEvent(1, 0, item));
  EXPECT_EQ(model.ItemCount(0, 1), 2);
  EXPECT_EQ(model.CoCount(0, 1, 1), 2);
  EXPECT_EQ(model.CoCount(0, 0, 1), 0);
  EXPECT_EQ(model.CoCount(2, 0, 1), 1);
  EXPECT_EQ(model.CoCount(2, 1, 1), 1);  // 1 was still in the window [1, 0] when 2 arrived
  const std::vector<ItemId> recent(model.RecentItems(0).begin(), model.RecentItems(0).end());
  EXPECT_EQ(recent, (std::vector<ItemId>{0, 2}));
}

TEST(ItemKnnModelTest, OldCoOccurrencesMatterLessUnderHalfLife) {
  // Item 0 co-occurs with 1 at t = 0 and with 2 ten hours later, once each.
  const Event stream[] = {MakeEvent(kEpochMs, 0, 0), MakeEvent(kEpochMs, 0, 1),
                          MakeEvent(kEpochMs + 10 * kHourMs, 1, 0),
                          MakeEvent(kEpochMs + 10 * kHourMs, 1, 2)};
  ItemKnnModel decayed(10, kHourS, KnnSimilarity::kCosine);
  ItemKnnModel all_time(10, 0, KnnSimilarity::kCosine);
  for (const Event& event : stream) {
    decayed.Learn(event);
    all_time.Learn(event);
  }
  const int64_t now_ms = kEpochMs + 10 * kHourMs;
  EXPECT_DOUBLE_EQ(decayed.CoCount(0, 1, now_ms), std::exp2(-10));
  EXPECT_DOUBLE_EQ(decayed.CoCount(0, 2, now_ms), 1);
  EXPECT_DOUBLE_EQ(decayed.ItemCount(0, now_ms), 1 + std::exp2(-10));
  // A third user who has seen only item 0.
  decayed.Learn(MakeEvent(now_ms, 2, 0));
  all_time.Learn(MakeEvent(now_ms, 2, 0));
  const std::vector<float> decayed_scores = ScoreAll(decayed, 2, 3);
  const std::vector<float> all_time_scores = ScoreAll(all_time, 2, 3);
  EXPECT_GT(decayed_scores[2], decayed_scores[1]);
  EXPECT_EQ(all_time_scores[2], all_time_scores[1]);
  // Cosine is a ratio, so a single co-occurrence stays perfect for the old pair's own counts:
  // n(1) decayed as much as c(0, 1), and only n(0) mixes old and new.
  EXPECT_NEAR(decayed_scores[1], std::exp2(-10) / std::sqrt(std::exp2(-10) * (2 + std::exp2(-10))),
              1e-6);
}

TEST(ItemKnnModelTest, PairsWeighAsTheirOlderEvent) {
  // One user sees item 0, then item 1 ten half-lives later: the pair is as old as the view of 0.
  ItemKnnModel model(10, kHourS, KnnSimilarity::kCosine);
  model.Learn(MakeEvent(kEpochMs, 0, 0));
  model.Learn(MakeEvent(kEpochMs + 10 * kHourMs, 0, 1));
  const int64_t now_ms = kEpochMs + 10 * kHourMs;
  EXPECT_DOUBLE_EQ(model.CoCount(0, 1, now_ms), std::exp2(-10));
  EXPECT_DOUBLE_EQ(model.CoCount(1, 0, now_ms), std::exp2(-10));
  // cos = 2^-10 / sqrt(2^-10 * 1) = 2^-5, not the 2^5 that the newer event's weight would give.
  EXPECT_FLOAT_EQ(model.Similarity(0, 1), 1.0f / 32);
  // A repeat refreshes the window entry's weight: 0 again now, then 2 pairs with it at full
  // weight.
  model.Learn(MakeEvent(now_ms, 0, 0));
  model.Learn(MakeEvent(now_ms, 0, 2));
  EXPECT_DOUBLE_EQ(model.CoCount(0, 2, now_ms), 1);
  EXPECT_DOUBLE_EQ(model.CoCount(1, 2, now_ms), 1);
}

// ---------------------------------------------------------------------------------------------
// Brute-force oracle: the definitions of item_knn.h with plain maps and the time of every counted
// event kept (a pair's time is that of its older event), decayed directly as of `now` in double.

class KnnOracle {
 public:
  KnnOracle(size_t window, double half_life_ms, KnnSimilarity similarity)
      : window_(window), half_life_ms_(half_life_ms), similarity_(similarity) {}

  void Learn(const Event& event) {
    item_times_[event.item].push_back(event.time_ms);
    std::deque<std::pair<ItemId, int64_t>>& window = windows_[event.user];
    for (const auto& [other, other_time_ms] : window) {
      if (other == event.item) continue;
      pair_times_[std::minmax(other, event.item)].push_back(std::min(event.time_ms, other_time_ms));
    }
    auto it = std::find_if(window.begin(), window.end(),
                           [&](const auto& entry) { return entry.first == event.item; });
    if (it != window.end()) {
      window.erase(it);
    } else if (window.size() == window_) {
      window.pop_front();
    }
    window.emplace_back(event.item, event.time_ms);
  }

  double Decayed(const std::vector<int64_t>& times, int64_t now_ms) const {
    double sum = 0;
    for (const int64_t t : times) {
      sum += half_life_ms_ > 0 ? std::exp2(-static_cast<double>(now_ms - t) / half_life_ms_) : 1;
    }
    return sum;
  }
  double N(ItemId item, int64_t now_ms) const {
    auto it = item_times_.find(item);
    return it == item_times_.end() ? 0 : Decayed(it->second, now_ms);
  }
  double C(ItemId a, ItemId b, int64_t now_ms) const {
    auto it = pair_times_.find(std::minmax(a, b));
    return it == pair_times_.end() ? 0 : Decayed(it->second, now_ms);
  }
  double Sim(ItemId a, ItemId b, int64_t now_ms) const {
    const double co = C(a, b, now_ms);
    if (co == 0) return 0;
    const double na = N(a, now_ms);
    const double nb = N(b, now_ms);
    return similarity_ == KnnSimilarity::kCosine ? co / std::sqrt(na * nb) : co / (na + nb - co);
  }
  // Score of every item in [0, num_items) for `user`; NaN marks unknown items.
  std::vector<double> Scores(UserId user, size_t num_items, int64_t now_ms) const {
    return ScoresAndErrors(user, num_items, now_ms).first;
  }

  // The scores, and for each how far a model may be off it because its counts are floats: each
  // count carries a relative rounding error of up to kCountRounding, which a similarity
  // amplifies by its condition number. Jaccard's n_i + n_j - c_ij cancels when repeats within
  // windows make c_ij approach n_i + n_j, so there the float counts no longer determine it.
  std::pair<std::vector<double>, std::vector<double>> ScoresAndErrors(UserId user, size_t num_items,
                                                                      int64_t now_ms) const {
    constexpr double kCountRounding = 1e-5;
    std::vector<double> scores(num_items, 0);
    std::vector<double> errors(num_items, 0);
    auto window = windows_.find(user);
    for (size_t c = 0; c < num_items; ++c) {
      const ItemId candidate = static_cast<ItemId>(c);
      if (!item_times_.contains(candidate)) {
        scores[c] = std::nan("");
        continue;
      }
      if (window == windows_.end()) continue;
      for (const ItemId j : std::views::keys(window->second)) {
        const double sim = Sim(j, candidate, now_ms);
        scores[c] += sim;
        double condition = 2;
        if (similarity_ == KnnSimilarity::kJaccard && sim > 0) {
          const double co = C(j, candidate, now_ms);
          condition = 1 + (N(j, now_ms) + N(candidate, now_ms) + co) * sim / co;
        }
        errors[c] += sim * condition * kCountRounding;
      }
    }
    return {scores, errors};
  }
  std::vector<ItemId> Window(UserId user) const {
    auto it = windows_.find(user);
    if (it == windows_.end()) return {};
    std::vector<ItemId> items;
    for (const ItemId item : std::views::keys(it->second)) items.push_back(item);
    return items;
  }

 private:
  size_t window_;
  double half_life_ms_;
  KnnSimilarity similarity_;
  std::map<UserId, std::deque<std::pair<ItemId, int64_t>>> windows_;  // (item, time) oldest first
  std::map<ItemId, std::vector<int64_t>> item_times_;
  std::map<std::pair<ItemId, ItemId>, std::vector<int64_t>> pair_times_;
};

// Users with skewed activity over items with skewed popularity, events every `mean_gap_ms` on
// average; users start `num_users` apart so some ids stay unused at first.
std::vector<Event> RandomStream(uint64_t seed, size_t num_events, size_t num_users,
                                size_t num_items, int64_t mean_gap_ms) {
  Random random(seed);
  std::vector<Event> events;
  int64_t time_ms = kEpochMs;
  for (size_t k = 0; k < num_events; ++k) {
    time_ms += random.Uniform(static_cast<uint32_t>(2 * mean_gap_ms));
    const uint32_t user = random.Uniform(random.Uniform(2) == 0 ? 5 : num_users);
    // Popularity drifts through the catalogue as time goes on.
    const uint32_t hot = static_cast<uint32_t>(k * num_items / num_events);
    const uint32_t item =
        random.Uniform(2) == 0 ? (hot + random.Uniform(10)) % num_items : random.Uniform(num_items);
    events.push_back(MakeEvent(time_ms, user, item));
  }
  return events;
}

// |got - want| <= 1e-4 |want| + 1e-6.
void ExpectClose(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, 1e-4 * std::abs(want) + 1e-6) << what;
}

// Counts in *well_conditioned the scores checked to the plain 1e-4 relative tolerance.
void CheckAgainstOracle(const ItemKnnModel& model, const KnnOracle& oracle, size_t num_users,
                        size_t num_items, int64_t now_ms, size_t* well_conditioned) {
  for (size_t i = 0; i < num_items; ++i) {
    const ItemId item = static_cast<ItemId>(i);
    ExpectClose(model.ItemCount(item, now_ms), oracle.N(item, now_ms),
                "n(" + std::to_string(i) + ")");
    for (size_t j = 0; j < num_items; j += 7) {
      const ItemId other = static_cast<ItemId>(j);
      ExpectClose(model.CoCount(item, other, now_ms), oracle.C(item, other, now_ms),
                  "c(" + std::to_string(i) + ", " + std::to_string(j) + ")");
    }
  }
  for (size_t u = 0; u <= num_users; ++u) {  // num_users itself never appears
    const UserId user = static_cast<UserId>(u);
    const std::vector<ItemId> recent(model.RecentItems(user).begin(),
                                     model.RecentItems(user).end());
    ASSERT_EQ(recent, oracle.Window(user)) << "user " << u;
    const auto [want, error] = oracle.ScoresAndErrors(user, num_items + 1, now_ms);
    const std::vector<float> got = ScoreAll(model, user, num_items + 1);
    for (size_t c = 0; c < want.size(); ++c) {
      const std::string what = "user " + std::to_string(u) + " item " + std::to_string(c);
      if (std::isnan(want[c])) {
        EXPECT_EQ(got[c], kUnscored) << what;
        continue;
      }
      ASSERT_TRUE(std::isfinite(got[c])) << what;
      EXPECT_NEAR(got[c], want[c], 1e-4 * std::abs(want[c]) + error[c] + 1e-6) << what;
      if (error[c] <= 1e-4 * std::abs(want[c])) ++*well_conditioned;
      // One candidate at a time takes the probing path; it adds the same terms in the same
      // order.
      const ItemId candidate = static_cast<ItemId>(c);
      float single = 0;
      model.Score(user, std::span<const ItemId>(&candidate, 1), &single);
      EXPECT_FLOAT_EQ(single, got[c]) << what;
    }
  }
}

TEST(ItemKnnModelTest, ScoreMatchesBruteForceOracleOnRandomStreams) {
  constexpr size_t kNumEvents = 3000;
  constexpr size_t kNumUsers = 40;
  constexpr size_t kNumItems = 300;
  constexpr size_t kWindow = 5;
  // 80 h of stream under a 1 h half-life: two renormalizations, nothing below 2^-100.
  constexpr int64_t kMeanGapMs = 80 * kHourMs / kNumEvents;
  const std::vector<Event> events = RandomStream(21, kNumEvents, kNumUsers, kNumItems, kMeanGapMs);
  const int64_t now_ms = events.back().time_ms;
  for (const KnnSimilarity similarity : {KnnSimilarity::kCosine, KnnSimilarity::kJaccard}) {
    for (const double half_life_s : {0.0, kHourS}) {
      SCOPED_TRACE("similarity " + std::to_string(static_cast<int>(similarity)) + " half-life " +
                   std::to_string(half_life_s));
      ItemKnnModel model(kWindow, half_life_s, similarity);
      KnnOracle oracle(kWindow, half_life_s * 1000, similarity);
      for (const Event& event : events) {
        model.Learn(event);
        oracle.Learn(event);
      }
      size_t well_conditioned = 0;
      CheckAgainstOracle(model, oracle, kNumUsers, kNumItems, now_ms, &well_conditioned);
      // The check is not vacuous: nearly every score is held to the plain tolerance.
      EXPECT_GT(well_conditioned, (kNumUsers + 1) * kNumItems * 9 / 10);
    }
  }
}

TEST(ItemKnnModelTest, ThirtyDaysWithOneHourHalfLifeStayFiniteAndOrdered) {
  // Every user stays active, so windows stay within a few dozen half-lives; 720 half-lives
  // pass in all, ~22 renormalizations.
  constexpr size_t kNumUsers = 60;
  constexpr size_t kNumItems = 150;
  constexpr size_t kWindow = 8;
  constexpr int64_t kSpanMs = 30 * kDayMs;
  constexpr int64_t kMeanGapMs = 4 * kMinuteMs;
  constexpr size_t kNumEvents = kSpanMs / kMeanGapMs;
  std::vector<Event> events = RandomStream(8, kNumEvents, kNumUsers, kNumItems, kMeanGapMs);
  for (size_t k = 0; k < events.size(); ++k) events[k].user = static_cast<UserId>(k % kNumUsers);
  ItemKnnModel model(kWindow, kHourS, KnnSimilarity::kCosine);
  KnnOracle oracle(kWindow, kHourS * 1000, KnnSimilarity::kCosine);
  for (const Event& event : events) {
    model.Learn(event);
    oracle.Learn(event);
  }
  const int64_t now_ms = events.back().time_ms;
  for (UserId user = 0; user < kNumUsers; user += 3) {
    const std::vector<double> want = oracle.Scores(user, kNumItems, now_ms);
    const std::vector<float> got = ScoreAll(model, user, kNumItems);
    for (size_t a = 0; a < kNumItems; ++a) {
      ASSERT_TRUE(std::isfinite(got[a])) << "user " << user << " item " << a;
      ExpectClose(got[a], want[a], "user " + std::to_string(user) + " item " + std::to_string(a));
      for (size_t b = 0; b < kNumItems; ++b) {
        if (want[a] > want[b] * (1 + 1e-3) + 1e-5) {
          EXPECT_GT(got[a], got[b]) << "user " << user << ": " << a << " vs " << b;
        }
      }
    }
  }
}

TEST(ItemKnnModelTest, SimilarOrdersBySimilarityThenLowerId) {
  ItemKnnModel model(10, 0, KnnSimilarity::kCosine);
  // A=0 with B=1 twice, with C=3 once, with D=2 once; C is learned before D.
  // n: A=4, B=2, C=1, D=1: sim(A,B) = 2/sqrt(8), sim(A,C) = sim(A,D) = 1/2.
  const Event stream[] = {MakeEvent(1, 0, 0), MakeEvent(2, 0, 1), MakeEvent(3, 1, 0),
                          MakeEvent(4, 1, 1), MakeEvent(5, 2, 0), MakeEvent(6, 2, 3),
                          MakeEvent(7, 3, 0), MakeEvent(8, 3, 2)};
  for (const Event& event : stream) model.Learn(event);
  std::vector<std::pair<ItemId, float>> similar;
  model.Similar(0, 10, &similar);
  ASSERT_EQ(similar.size(), 3u);
  EXPECT_EQ(similar[0].first, 1u);
  EXPECT_FLOAT_EQ(similar[0].second, static_cast<float>(2 / std::sqrt(8.0)));
  EXPECT_EQ(similar[1].first, 2u);
  EXPECT_EQ(similar[2].first, 3u);
  EXPECT_FLOAT_EQ(similar[1].second, 0.5f);
  EXPECT_FLOAT_EQ(similar[2].second, 0.5f);
  model.Similar(0, 2, &similar);
  ASSERT_EQ(similar.size(), 2u);
  EXPECT_EQ(similar[1].first, 2u);
  model.Similar(0, 0, &similar);
  EXPECT_TRUE(similar.empty());
}

TEST(ItemKnnModelTest, SimilarMatchesPairSimilaritiesOnRandomStream) {
  const std::vector<Event> events = RandomStream(31, 2000, 30, 100, kMinuteMs);
  ItemKnnModel model(6, kHourS, KnnSimilarity::kJaccard);
  for (const Event& event : events) model.Learn(event);
  const int64_t now_ms = events.back().time_ms;
  constexpr size_t kTop = 5;
  for (ItemId item = 0; item < 100; ++item) {
    std::vector<std::pair<ItemId, float>> want;
    for (ItemId other = 0; other < 100; ++other) {
      const float sim = model.Similarity(item, other);
      if (model.CoCount(item, other, now_ms) > 0) want.emplace_back(other, sim);
    }
    std::stable_sort(want.begin(), want.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (want.size() > kTop) want.resize(kTop);
    std::vector<std::pair<ItemId, float>> got;
    model.Similar(item, kTop, &got);
    EXPECT_EQ(got, want) << "item " << item;
  }
}

TEST(ItemKnnModelTest, SaveLoadRoundTripScoresIdenticallyAndContinuesIdentically) {
  const std::vector<Event> events = RandomStream(41, 4000, 50, 200, 2 * kMinuteMs);
  ItemKnnModel uninterrupted(7, kHourS, KnnSimilarity::kCosine);
  ItemKnnModel first_half(7, kHourS, KnnSimilarity::kCosine);
  for (size_t k = 0; k < events.size() / 2; ++k) first_half.Learn(events[k]);
  const std::string saved = SaveBytes(first_half);

  ItemKnnModel loaded(7, kHourS, KnnSimilarity::kCosine);
  BinaryReader reader(saved);
  const Status status = loaded.Load(&reader);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(reader.remaining(), 0u);
  EXPECT_EQ(SaveBytes(loaded), saved);
  for (UserId user = 0; user <= 50; ++user) {
    EXPECT_EQ(ScoreAll(loaded, user, 201), ScoreAll(first_half, user, 201)) << user;
  }

  for (const Event& event : events) uninterrupted.Learn(event);
  for (size_t k = events.size() / 2; k < events.size(); ++k) loaded.Learn(events[k]);
  EXPECT_EQ(SaveBytes(loaded), SaveBytes(uninterrupted));
}

TEST(ItemKnnModelTest, LoadRejectsForeignTruncatedAndMismatchedState) {
  ItemKnnModel model(4, kHourS, KnnSimilarity::kCosine);
  for (const Event& event : RandomStream(51, 60, 6, 12, kMinuteMs)) model.Learn(event);
  const std::string saved = SaveBytes(model);
  for (size_t length = 0; length < saved.size(); ++length) {
    ItemKnnModel target(4, kHourS, KnnSimilarity::kCosine);
    BinaryReader reader(std::string_view(saved).substr(0, length));
    ASSERT_EQ(target.Load(&reader).code(), StatusCode::kCorruption) << "length " << length;
    EXPECT_EQ(target.num_items(), 0u);
  }
  std::string foreign = saved;
  foreign[1] ^= 1;
  ItemKnnModel target(4, kHourS, KnnSimilarity::kCosine);
  BinaryReader foreign_reader(foreign);
  EXPECT_EQ(target.Load(&foreign_reader).code(), StatusCode::kCorruption);

  for (ItemKnnModel other : {ItemKnnModel(5, kHourS, KnnSimilarity::kCosine),
                             ItemKnnModel(4, 2 * kHourS, KnnSimilarity::kCosine),
                             ItemKnnModel(4, kHourS, KnnSimilarity::kJaccard)}) {
    BinaryReader reader(saved);
    EXPECT_EQ(other.Load(&reader).code(), StatusCode::kFailedPrecondition);
  }
}

TEST(ItemKnnModelTest, BoundedListsKeepTheStrongestNeighbours) {
  // Item 0 co-occurs with 1 three times, with 2 twice, with 3, 4 and 5 once: the fifth
  // distinct neighbour fills the 8 slots that 2 * 2 entries need (5 entries at load 0.7), and
  // only the two strongest stay.
  ItemKnnModel model(10, 0, KnnSimilarity::kCosine, /*max_neighbours=*/2);
  const std::vector<ItemId> partners = {1, 1, 1, 2, 2, 3, 4, 5};
  int64_t t = kEpochMs;
  for (UserId user = 0; user < partners.size(); ++user) {
    model.Learn(MakeEvent(t++, user, 0));
    model.Learn(MakeEvent(t++, user, partners[user]));
  }
  std::vector<std::pair<ItemId, float>> similar;
  model.Similar(0, 10, &similar);
  ASSERT_EQ(similar.size(), 2u);
  EXPECT_EQ(similar[0].first, 1u);
  EXPECT_EQ(similar[1].first, 2u);
  EXPECT_EQ(model.Similarity(0, 3), 0.0f);
  // Item 3's own list still holds item 0: pruning is per list.
  EXPECT_GT(model.Similarity(3, 0), 0.0f);
  // A pruned pair that co-occurs again starts over from one.
  model.Learn(MakeEvent(t++, 100, 0));
  model.Learn(MakeEvent(t++, 100, 3));
  EXPECT_DOUBLE_EQ(model.CoCount(0, 3, t), 1.0);

  const std::string saved = SaveBytes(model);
  ItemKnnModel unbounded(10, 0, KnnSimilarity::kCosine);
  BinaryReader reader(saved);
  EXPECT_EQ(unbounded.Load(&reader).code(), StatusCode::kFailedPrecondition);
  ItemKnnModel same(10, 0, KnnSimilarity::kCosine, 2);
  BinaryReader again(saved);
  ASSERT_TRUE(same.Load(&again).ok());
  EXPECT_EQ(SaveBytes(same), saved);
}

TEST(ItemKnnModelTest, CloneIsIndependent) {
  ItemKnnModel model(10, 0, KnnSimilarity::kCosine);
  LearnToyStream(&model);
  std::unique_ptr<Model> clone = model.Clone();
  const std::string clone_bytes = SaveBytes(*clone);
  const std::vector<float> clone_scores = ScoreAll(*clone, 1, 3);
  model.Learn(MakeEvent(8, 1, 2));
  model.Learn(MakeEvent(9, 1, 3));
  EXPECT_EQ(SaveBytes(*clone), clone_bytes);
  EXPECT_EQ(ScoreAll(*clone, 1, 4),
            (std::vector<float>{clone_scores[0], clone_scores[1], clone_scores[2], kUnscored}));
  EXPECT_NE(SaveBytes(model), clone_bytes);
}

TEST(ItemKnnModelTest, ConcurrentScoresMatchSerialScores) {
  const std::vector<Event> events = RandomStream(61, 3000, 40, 400, kMinuteMs);
  ItemKnnModel model(10, kHourS, KnnSimilarity::kCosine);
  for (const Event& event : events) model.Learn(event);
  constexpr UserId kNumUsers = 41;
  std::vector<std::vector<float>> serial;
  for (UserId user = 0; user < kNumUsers; ++user) serial.push_back(ScoreAll(model, user, 400));

  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (UserId user = 0; user < kNumUsers; ++user) {
          if (ScoreAll(model, (user + t) % kNumUsers, 400) != serial[(user + t) % kNumUsers]) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(kThreads, 0));
}

TEST(ItemKnnModelTest, ReadsOptions) {
  Options options;
  ASSERT_TRUE(options.Set("item_knn.window", "3").ok());
  ASSERT_TRUE(options.Set("item_knn.half_life", "30m").ok());
  ASSERT_TRUE(options.Set("item_knn.similarity", "jaccard").ok());
  ItemKnnModel model(OptionView(&options, "item_knn", "item_knn"), Context{});
  EXPECT_EQ(model.window(), 3u);
  EXPECT_DOUBLE_EQ(model.decay().half_life_s(), 1800);
  EXPECT_EQ(model.similarity(), KnnSimilarity::kJaccard);
  EXPECT_EQ(model.max_neighbours(), 200u);
  EXPECT_EQ(ParseKnnSimilarity("cosine").value(), KnnSimilarity::kCosine);
  EXPECT_EQ(ParseKnnSimilarity("dice").status().code(), StatusCode::kInvalidArgument);
}

TEST(ItemKnnModelTest, MemoryCountsNeighbourMapsAndWindows) {
  ItemKnnModel model(10, 0, KnnSimilarity::kCosine);
  const size_t empty = model.MemoryBytes();
  LearnToyStream(&model);
  // Three items with one map of kMinCapacity slots each, three users' windows.
  EXPECT_GE(model.MemoryBytes(),
            empty + 3 * FlatMap::kMinCapacity * sizeof(FlatMap::Slot) + 7 * sizeof(ItemId));
}

}  // namespace
}  // namespace liverec

namespace liverec {
namespace {

TEST(ItemKnnObserveTest, ObserveMovesTheWindowButLearnsNothing) {
  ItemKnnModel learned(3, 0, KnnSimilarity::kCosine);
  Event e;
  e.time_ms = 1;
  for (auto [user, item] : std::vector<std::pair<UserId, ItemId>>{{0, 0}, {0, 1}, {1, 1}, {1, 2}}) {
    e.user = user;
    e.item = item;
    learned.Learn(e);
  }
  ItemKnnModel observed = learned;
  e.user = 0;
  e.item = 2;
  observed.Observe(e);
  EXPECT_EQ(std::vector<ItemId>(observed.RecentItems(0).begin(), observed.RecentItems(0).end()),
            (std::vector<ItemId>{0, 1, 2}));
  EXPECT_EQ(observed.num_pairs(), learned.num_pairs());
  EXPECT_EQ(observed.Similarity(1, 2), learned.Similarity(1, 2));
  EXPECT_EQ(observed.Similarity(0, 2), 0.0f);
  // The observed item drives scores like any window entry: its neighbour, item 1, gains.
  std::vector<ItemId> items = {0, 1, 2};
  std::vector<float> before(3), after(3);
  learned.Score(0, items, before.data());
  observed.Score(0, items, after.data());
  EXPECT_GT(after[1], before[1]);
}

TEST(ItemKnnModelTest, CandidatesAreExactlyTheItemsScoringAboveZero) {
  ItemKnnModel model(/*window=*/5, /*half_life_s=*/0, KnnSimilarity::kCosine);
  Random rng(7);
  constexpr size_t kItems = 300;
  for (int t = 0; t < 3000; ++t) {
    model.Learn(MakeEvent(t, rng.Uniform(50), rng.Uniform(kItems)));
  }
  for (UserId user = 0; user < 50; ++user) {
    std::vector<ItemId> candidates;
    model.CandidatesFor(user, &candidates);
    std::vector<ItemId> sorted = candidates;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "repeats";
    const std::vector<float> scores = ScoreAll(model, user, kItems);
    std::vector<ItemId> positive;
    for (ItemId item = 0; item < kItems; ++item) {
      if (scores[item] > 0) positive.push_back(item);
    }
    EXPECT_EQ(sorted, positive) << "user " << user;
  }
}

TEST(ItemKnnModelTest, CandidatesAreTheTopNOfTheCoOccurringItemsBestFirst) {
  ItemKnnModel model(/*window=*/5, /*half_life_s=*/kHourS, KnnSimilarity::kCosine,
                     /*max_neighbours=*/20);
  Random rng(8);
  constexpr size_t kItems = 300;
  for (int t = 0; t < 3000; ++t) {
    model.Learn(MakeEvent(kEpochMs + t * kMinuteMs, rng.Uniform(50), rng.Uniform(kItems)));
  }
  for (UserId user = 0; user < 50; ++user) {
    // The oracle: every co-occurring item, scored against the whole catalogue, sorted.
    std::vector<ItemId> pool;
    model.CandidatesFor(user, &pool);
    const std::vector<float> scores = ScoreAll(model, user, kItems);
    std::sort(pool.begin(), pool.end(), [&](ItemId a, ItemId b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    for (const size_t n : {size_t{0}, size_t{1}, size_t{10}, size_t{10000}}) {
      std::vector<ItemId> got = {kInvalidId};
      model.Candidates(user, n, &got);
      const std::vector<ItemId> want(
          pool.begin(), pool.begin() + static_cast<ptrdiff_t>(std::min(n, pool.size())));
      ASSERT_EQ(got.front(), kInvalidId);  // appended
      EXPECT_EQ(std::vector<ItemId>(got.begin() + 1, got.end()), want) << "user " << user;
    }
  }
  std::vector<ItemId> unknown;
  model.Candidates(1000, 10, &unknown);
  EXPECT_TRUE(unknown.empty());
}

}  // namespace
}  // namespace liverec
