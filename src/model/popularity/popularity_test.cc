#include "model/popularity/popularity.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"
#include "liverec/options.h"
#include "model/model_testing.h"

namespace liverec {
namespace {

using testing::kDayMs;
using testing::kEpochMs;
using testing::kHourMs;
using testing::kHourS;
using testing::kMinuteMs;
using testing::kSecondMs;
using testing::MakeEvent;
using testing::SaveBytes;
using testing::ScoreAll;

TEST(PopularityModelTest, CountsEventsWithoutDecay) {
  PopularityModel model(0);
  EXPECT_EQ(model.type(), "popularity");
  EXPECT_FALSE(model.iterative());
  const ItemId stream[] = {0, 1, 0, 2, 0, 4};
  for (size_t k = 0; k < std::size(stream); ++k) {
    model.Learn(MakeEvent(kEpochMs + static_cast<int64_t>(k) * kDayMs, 7, stream[k]));
  }
  // Item 3 is a hole in the ids and item 5 is beyond the table: never learned either way.
  const std::vector<float> scores = ScoreAll(model, /*user=*/12345, 6);
  EXPECT_EQ(scores, (std::vector<float>{3, 1, 1, kUnscored, 1, kUnscored}));
  EXPECT_EQ(model.Count(0, kEpochMs + 1000 * kDayMs), 3);
  EXPECT_EQ(model.Count(3, kEpochMs), 0);
}

TEST(PopularityModelTest, HalvesCountsEveryHalfLife) {
  PopularityModel model(kHourS);
  model.Learn(MakeEvent(kEpochMs, 0, 0));
  model.Learn(MakeEvent(kEpochMs + kHourMs, 1, 0));
  model.Learn(MakeEvent(kEpochMs + 2 * kHourMs, 2, 1));
  // As of the latest event (2 h): item 0 = 2^-2 + 2^-1, item 1 = 1.
  const std::vector<float> scores = ScoreAll(model, 0, 2);
  EXPECT_FLOAT_EQ(scores[0], 0.75f);
  EXPECT_FLOAT_EQ(scores[1], 1.0f);
  EXPECT_DOUBLE_EQ(model.Count(0, kEpochMs + 3 * kHourMs), 0.375);
  EXPECT_DOUBLE_EQ(model.Count(1, kEpochMs + 3 * kHourMs + 30 * 60 * kSecondMs), std::exp2(-1.5));
}

TEST(PopularityModelTest, RecentBurstOvertakesOldHitOnlyUnderHalfLife) {
  constexpr int kOldHits = 100;
  constexpr int kBurst = 30;
  PopularityModel decayed(6 * kHourS);
  PopularityModel all_time(0);
  for (Model* model : {static_cast<Model*>(&decayed), static_cast<Model*>(&all_time)}) {
    for (int k = 0; k < kOldHits; ++k) model->Learn(MakeEvent(kEpochMs + k * kSecondMs, k, 0));
    for (int k = 0; k < kBurst; ++k) {
      model->Learn(MakeEvent(kEpochMs + 2 * kDayMs + k * kSecondMs, k, 1));
    }
  }
  const std::vector<float> decayed_scores = ScoreAll(decayed, 0, 2);
  const std::vector<float> all_time_scores = ScoreAll(all_time, 0, 2);
  EXPECT_GT(decayed_scores[1], decayed_scores[0]);
  EXPECT_LT(all_time_scores[1], all_time_scores[0]);
  EXPECT_EQ(all_time_scores[0], kOldHits);
  EXPECT_EQ(all_time_scores[1], kBurst);
}

// Σ 2^(-(now - t_e)/h) per item, straight from the definition, in double.
std::vector<double> DirectDecayedCounts(const std::vector<Event>& events, double half_life_ms,
                                        int64_t now_ms, size_t num_items) {
  std::vector<double> counts(num_items, 0);
  for (const Event& event : events) {
    counts[event.item] += std::exp2(-static_cast<double>(now_ms - event.time_ms) / half_life_ms);
  }
  return counts;
}

TEST(PopularityModelTest, ThirtyDaysWithOneHourHalfLifeMatchDirectDecayedSums) {
  // Renormalization happens every ~32 h of this stream; the counts must not show it.
  constexpr size_t kNumItems = 50;
  constexpr int64_t kSpanMs = 30 * kDayMs;
  constexpr int64_t kMeanGapMs = 2 * 60 * kSecondMs;
  Random random(7);
  PopularityModel model(kHourS);
  std::vector<Event> events;
  int64_t time_ms = kEpochMs;
  while (time_ms < kEpochMs + kSpanMs) {
    // Item popularity drifts: the favourite item changes every few days.
    const ItemId base = static_cast<ItemId>((time_ms - kEpochMs) / (3 * kDayMs));
    const ItemId item =
        random.Uniform(4) == 0 ? random.Uniform(kNumItems) : (base + random.Uniform(3)) % kNumItems;
    events.push_back(MakeEvent(time_ms, random.Uniform(1000), item));
    model.Learn(events.back());
    time_ms += 1 + random.Uniform(2 * kMeanGapMs);
  }
  const int64_t now_ms = events.back().time_ms;
  const std::vector<double> want =
      DirectDecayedCounts(events, static_cast<double>(kHourMs), now_ms, kNumItems);
  const std::vector<float> scores = ScoreAll(model, 0, kNumItems);
  for (size_t i = 0; i < kNumItems; ++i) {
    ASSERT_TRUE(std::isfinite(scores[i])) << "item " << i;
    const double got = model.Count(static_cast<ItemId>(i), now_ms);
    EXPECT_NEAR(got, want[i], 1e-4 * want[i]) << "item " << i;
    EXPECT_NEAR(scores[i], want[i], 1e-4 * want[i]) << "item " << i;
  }
  // Scores order the items as the direct sums do wherever those differ by more than rounding.
  for (size_t a = 0; a < kNumItems; ++a) {
    for (size_t b = 0; b < kNumItems; ++b) {
      if (want[a] > want[b] * (1 + 1e-3)) {
        EXPECT_GT(scores[a], scores[b]) << a << " vs " << b;
      }
    }
  }
}

TEST(PopularityModelTest, LateEventsWeighLessAndLongGapsStayFinite) {
  PopularityModel model(kHourS);
  model.Learn(MakeEvent(kEpochMs, 0, 0));
  // A year of silence (8760 half-lives) then two events; one of them arrives 2 h late.
  const int64_t later_ms = kEpochMs + 365 * kDayMs;
  model.Learn(MakeEvent(later_ms, 0, 1));
  model.Learn(MakeEvent(later_ms - 2 * kHourMs, 0, 2));
  const std::vector<float> scores = ScoreAll(model, 0, 3);
  EXPECT_EQ(scores[0], 0.0f);  // decayed below double range: learned, but worth nothing
  EXPECT_FLOAT_EQ(scores[1], 1.0f);
  EXPECT_FLOAT_EQ(scores[2], 0.25f);
}

TEST(PopularityModelTest, ReadsHalfLifeFromOptions) {
  Options options;
  ASSERT_TRUE(options.Set("popularity.half_life", "2h").ok());
  PopularityModel model(OptionView(&options, "popularity", "popularity"), Context{});
  EXPECT_DOUBLE_EQ(model.decay().half_life_s(), 2 * kHourS);
  model.Learn(MakeEvent(kEpochMs, 0, 0));
  EXPECT_DOUBLE_EQ(model.Count(0, kEpochMs + 4 * kHourMs), 0.25);
}

std::vector<Event> RandomStream(uint64_t seed, size_t num_events, int64_t start_ms) {
  Random random(seed);
  std::vector<Event> events;
  int64_t time_ms = start_ms;
  for (size_t k = 0; k < num_events; ++k) {
    time_ms += random.Uniform(static_cast<uint32_t>(kHourMs));
    events.push_back(MakeEvent(time_ms, random.Uniform(20), random.Uniform(30)));
  }
  return events;
}

TEST(PopularityModelTest, SaveLoadRoundTripIsByteIdenticalAndContinuesIdentically) {
  const std::vector<Event> events = RandomStream(3, 2000, kEpochMs);
  PopularityModel uninterrupted(kHourS);
  PopularityModel first_half(kHourS);
  for (size_t k = 0; k < events.size() / 2; ++k) first_half.Learn(events[k]);
  const std::string saved = SaveBytes(first_half);

  PopularityModel loaded(kHourS);
  BinaryReader reader(saved);
  ASSERT_TRUE(loaded.Load(&reader).ok());
  EXPECT_EQ(reader.remaining(), 0u);
  EXPECT_EQ(SaveBytes(loaded), saved);
  EXPECT_EQ(ScoreAll(loaded, 0, 31), ScoreAll(first_half, 0, 31));

  for (const Event& event : events) uninterrupted.Learn(event);
  for (size_t k = events.size() / 2; k < events.size(); ++k) loaded.Learn(events[k]);
  EXPECT_EQ(SaveBytes(loaded), SaveBytes(uninterrupted));
}

TEST(PopularityModelTest, LoadRejectsForeignTruncatedAndMismatchedState) {
  PopularityModel model(kHourS);
  for (const Event& event : RandomStream(4, 100, kEpochMs)) model.Learn(event);
  const std::string saved = SaveBytes(model);

  for (size_t length = 0; length < saved.size(); ++length) {
    PopularityModel target(kHourS);
    BinaryReader reader(std::string_view(saved).substr(0, length));
    EXPECT_EQ(target.Load(&reader).code(), StatusCode::kCorruption) << "length " << length;
  }
  std::string foreign = saved;
  foreign[0] ^= 1;
  PopularityModel target(kHourS);
  BinaryReader foreign_reader(foreign);
  EXPECT_EQ(target.Load(&foreign_reader).code(), StatusCode::kCorruption);

  PopularityModel other_half_life(2 * kHourS);
  BinaryReader reader(saved);
  EXPECT_EQ(other_half_life.Load(&reader).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(other_half_life.num_items(), 0u);  // unchanged on error
}

TEST(PopularityModelTest, CloneIsIndependent) {
  PopularityModel model(0);
  model.Learn(MakeEvent(kEpochMs, 0, 0));
  std::unique_ptr<Model> clone = model.Clone();
  const std::string clone_bytes = SaveBytes(*clone);
  model.Learn(MakeEvent(kEpochMs + 1, 0, 0));
  model.Learn(MakeEvent(kEpochMs + 2, 0, 1));
  EXPECT_EQ(ScoreAll(*clone, 0, 2), (std::vector<float>{1, kUnscored}));
  EXPECT_EQ(ScoreAll(model, 0, 2), (std::vector<float>{2, 1}));
  EXPECT_EQ(SaveBytes(*clone), clone_bytes);
  EXPECT_EQ(clone->type(), "popularity");
}

TEST(PopularityModelTest, MemoryGrowsWithTheCatalogue) {
  PopularityModel model(0);
  const size_t empty = model.MemoryBytes();
  model.Learn(MakeEvent(kEpochMs, 0, 999));
  EXPECT_GE(model.MemoryBytes(), empty + 1000 * sizeof(double));
}

// Checks that Candidates(n) is the top n of Score, best first, ties by lower id.
void ExpectTopOfScores(const PopularityModel& model, size_t num_items, size_t n) {
  const std::vector<float> scores = ScoreAll(model, 0, num_items);
  std::vector<ItemId> want;
  for (ItemId item = 0; item < num_items; ++item) {
    if (scores[item] != kUnscored) want.push_back(item);
  }
  std::stable_sort(want.begin(), want.end(),
                   [&](ItemId a, ItemId b) { return scores[a] > scores[b]; });
  want.resize(std::min(n, want.size()));
  std::vector<ItemId> got = {kInvalidId};  // Candidates appends
  model.Candidates(/*user=*/5, n, &got);
  ASSERT_EQ(got.front(), kInvalidId);
  EXPECT_EQ(std::vector<ItemId>(got.begin() + 1, got.end()), want) << "n " << n;
}

TEST(PopularityModelTest, CandidatesAreTheTopScoresThroughRescalesAndLoads) {
  // 30 days at a one-hour half-life renormalizes the counts many times; item ids have holes.
  // The second head holds fewer items than n: items move in and out of it, and larger
  // requests scan.
  for (const size_t head_size : {PopularityModel::kDefaultHeadSize, size_t{5}}) {
    SCOPED_TRACE("head " + std::to_string(head_size));
    constexpr size_t kNumItems = 80;
    Random random(9);
    PopularityModel model(kHourS, head_size);
    int64_t time_ms = kEpochMs;
    while (time_ms < kEpochMs + 30 * kDayMs) {
      const ItemId base = static_cast<ItemId>((time_ms - kEpochMs) / (2 * kDayMs));
      const ItemId item = random.Uniform(3) == 0 ? random.Uniform(kNumItems / 2) * 2
                                                 : (base + random.Uniform(4)) * 2 % kNumItems;
      model.Learn(MakeEvent(time_ms, random.Uniform(100), item));
      time_ms += 1 + random.Uniform(static_cast<uint32_t>(4 * kMinuteMs));
      if (random.Uniform(500) == 0) {
        for (const size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
          ExpectTopOfScores(model, kNumItems, n);
        }
      }
      if (random.Uniform(2000) == 0) {  // the head loses items and is filled again
        model.ForgetItems(std::vector<ItemId>{0, 2, 4, 6});
        ExpectTopOfScores(model, kNumItems, 7);
      }
    }
    PopularityModel loaded(kHourS, head_size);
    const std::string saved = SaveBytes(model);
    BinaryReader reader(saved);
    ASSERT_TRUE(loaded.Load(&reader).ok());
    ExpectTopOfScores(loaded, kNumItems, 1000);
    ExpectTopOfScores(loaded, kNumItems, 3);
    ExpectTopOfScores(dynamic_cast<const PopularityModel&>(*model.Clone()), kNumItems, 1000);
  }

  // Without decay, equal counts tie and the lower id goes first.
  PopularityModel counts(0);
  for (const ItemId item : {4, 2, 9, 2, 4, 7}) counts.Learn(MakeEvent(kEpochMs, 0, item));
  std::vector<ItemId> got;
  counts.Candidates(0, 3, &got);
  EXPECT_EQ(got, (std::vector<ItemId>{2, 4, 7}));
}

// A head of five items over forty, with its best items forgotten now and then: the head is
// filled again from the counts, and items below it move in as they pass its last.
TEST(PopularityModelTest, ASmallHeadStaysTheTopThroughForgetting) {
  constexpr size_t kNumItems = 40;
  Random random(21);
  PopularityModel model(0, /*head_size=*/5);
  for (int e = 0; e < 4000; ++e) {
    model.Learn(MakeEvent(kEpochMs, 0, random.Uniform(kNumItems)));
    if (e % 97 == 0) {
      std::vector<ItemId> top;
      model.Candidates(0, 2, &top);
      model.ForgetItems(top);
    }
    if (e % 13 == 0) ExpectTopOfScores(model, kNumItems, e % 2 == 0 ? 5 : 3);
  }
}

// The top of the index is copied once per change and shared: after each Learn and ForgetItems
// every request sees the new order, requests larger than the copy still get the whole top, and
// threads asking at once (TSan runs this) all get the same list.
TEST(PopularityModelTest, ConcurrentCandidatesFollowEveryChange) {
  constexpr size_t kNumItems = 10000;  // more than the head holds
  Random random(4);
  // Without decay the counts are whole numbers, which the oracle's float scores order exactly.
  PopularityModel model(0);
  int64_t time_ms = kEpochMs;
  for (int e = 0; e < 50000; ++e) {
    model.Learn(MakeEvent(time_ms, 0, random.Uniform(kNumItems)));
    time_ms += random.Uniform(1000);
  }
  for (int round = 0; round < 20; ++round) {
    // Now and then more than the copy holds, or than the head holds.
    const size_t n = round % 5 == 4 ? 2000 : round % 7 == 6 ? 5000 : 1000;
    std::vector<std::vector<ItemId>> lists(4);
    std::vector<std::thread> threads;
    for (auto& list : lists) {
      threads.emplace_back([&model, &list, n] { model.Candidates(0, n, &list); });
    }
    for (std::thread& thread : threads) thread.join();
    ExpectTopOfScores(model, kNumItems, n);
    for (const auto& list : lists) EXPECT_EQ(list, lists[0]) << "round " << round;
    // The item at position 500 moves up, and now and then the top one goes.
    model.Learn(MakeEvent(time_ms, 0, lists[0][500]));
    model.Learn(MakeEvent(time_ms, 0, lists[0][500]));
    if (round % 3 == 0) model.ForgetItems(std::vector<ItemId>{lists[0][0]});
  }
}

}  // namespace
}  // namespace liverec
