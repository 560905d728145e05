#include "model/transitions/transitions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
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
using testing::MakeEvent;
using testing::SaveBytes;
using testing::ScoreAll;

constexpr uint32_t kUsers = 25;
constexpr double kOlder = 0.5;
constexpr double kBackoff = 0.1;
constexpr uint32_t kItems = 30;

// Random users clicking random items, with runs of repeats, minutes to hours apart.
std::vector<Event> RandomStream(uint64_t seed, size_t size) {
  Random random(seed);
  std::vector<Event> events;
  int64_t time_ms = kEpochMs;
  for (size_t k = 0; k < size; ++k) {
    time_ms += static_cast<int64_t>(random.Uniform(90)) * kMinuteMs;
    const UserId user = random.Uniform(kUsers);
    // A small share of the items takes most clicks, and a user often repeats an item.
    const ItemId item = random.Uniform(4) == 0 ? random.Uniform(kItems) : random.Uniform(8);
    events.push_back(MakeEvent(time_ms, user, item));
  }
  return events;
}

// The definition in the header, computed afresh: per user, the sequence of distinct last
// items; a transition j -> i weighs 2^(-(now - t) / h) (1 without decay).
struct BruteForce {
  std::map<std::pair<ItemId, ItemId>, double> pairs;
  std::map<ItemId, double> out;
  std::map<ItemId, double> in;
  double total = 0;
  std::map<UserId, std::vector<ItemId>> last;  // oldest first, distinct, at most `window`

  BruteForce(const std::vector<Event>& events, size_t window, double half_life_ms, int64_t now_ms) {
    for (const Event& e : events) {
      std::vector<ItemId>& items = last[e.user];
      const double w = half_life_ms > 0
                           ? std::exp2(-static_cast<double>(now_ms - e.time_ms) / half_life_ms)
                           : 1.0;
      in[e.item] += w;
      total += w;
      if (!items.empty() && items.back() != e.item) {
        pairs[{items.back(), e.item}] += w;
        out[items.back()] += w;
      }
      items.erase(std::remove(items.begin(), items.end(), e.item), items.end());
      items.push_back(e.item);
      if (items.size() > window) items.erase(items.begin());
    }
  }

  double Score(UserId user, ItemId item) const {
    const auto n = in.find(item);
    double score = n == in.end() ? 0 : kBackoff * n->second / total;
    double factor = 1;
    const auto it = last.find(user);
    if (it == last.end()) return score;
    for (auto j = it->second.rbegin(); j != it->second.rend(); ++j, factor /= 2) {
      const auto pair = pairs.find({*j, item});
      if (pair != pairs.end()) score += factor * pair->second / out.at(*j);
    }
    return score;
  }
};

TEST(TransitionsModelTest, ToyStreamCountsNextItemsOnly) {
  TransitionsModel model(/*window=*/1, /*half_life_s=*/0, kOlder, /*backoff=*/0);
  EXPECT_EQ(model.type(), "transitions");
  EXPECT_FALSE(model.iterative());
  // User 0: 1 -> 2 -> 2 (a repeat: no transition) -> 3; user 1: 1 -> 3.
  const std::pair<UserId, ItemId> stream[] = {{0, 1}, {1, 1}, {0, 2}, {0, 2}, {0, 3}, {1, 3}};
  int64_t time_ms = kEpochMs;
  for (const auto& [user, item] : stream) model.Learn(MakeEvent(time_ms += kMinuteMs, user, item));
  EXPECT_EQ(model.TransitionCount(1, 2, time_ms), 1);
  EXPECT_EQ(model.TransitionCount(1, 3, time_ms), 1);
  EXPECT_EQ(model.TransitionCount(2, 3, time_ms), 1);
  EXPECT_EQ(model.TransitionCount(2, 2, time_ms), 0);
  EXPECT_EQ(model.OutCount(1, time_ms), 2);
  EXPECT_EQ(model.OutCount(3, time_ms), 0);
  // A new user 2 whose last item is 1: P(2 | 1) = P(3 | 1) = 1/2; item 0 is a hole, 4 unknown.
  model.Observe(MakeEvent(time_ms, 2, 1));
  EXPECT_EQ(ScoreAll(model, 2, 5), (std::vector<float>{kUnscored, 0, 0.5f, 0.5f, kUnscored}));
  EXPECT_EQ(ScoreAll(model, 99, 4), (std::vector<float>{kUnscored, 0, 0, 0}));
}

TEST(TransitionsModelTest, CountsAndScoresMatchBruteForceOnRandomStreams) {
  for (const double half_life_s : {0.0, 3 * kHourS}) {
    for (const size_t window : {size_t{1}, size_t{3}}) {
      SCOPED_TRACE("half-life " + std::to_string(half_life_s) + " window " +
                   std::to_string(window));
      const std::vector<Event> events = RandomStream(7 + window, 3000);
      TransitionsModel model(window, half_life_s, kOlder, kBackoff);
      for (const Event& e : events) model.Learn(e);
      const int64_t now_ms = events.back().time_ms;
      const BruteForce oracle(events, window, half_life_s * 1000, now_ms);
      for (ItemId from = 0; from < kItems; ++from) {
        const auto out = oracle.out.find(from);
        const double expected_out = out == oracle.out.end() ? 0 : out->second;
        EXPECT_NEAR(model.OutCount(from, now_ms), expected_out, 1e-9 * (1 + expected_out));
        for (ItemId to = 0; to < kItems; ++to) {
          const auto pair = oracle.pairs.find({from, to});
          const double expected = pair == oracle.pairs.end() ? 0 : pair->second;
          EXPECT_NEAR(model.TransitionCount(from, to, now_ms), expected, 1e-5 * (1 + expected))
              << from << " -> " << to;
        }
      }
      for (UserId user = 0; user < kUsers; ++user) {
        const std::span<const ItemId> last = model.LastItems(user);
        EXPECT_EQ(std::vector<ItemId>(last.begin(), last.end()), oracle.last.at(user));
        const std::vector<float> scores = ScoreAll(model, user, kItems);
        for (ItemId item = 0; item < kItems; ++item) {
          if (scores[item] == kUnscored) continue;
          EXPECT_NEAR(scores[item], oracle.Score(user, item), 1e-5) << user << " " << item;
        }
      }
    }
  }
}

TEST(TransitionsModelTest, OldTransitionsMatterLessUnderHalfLife) {
  TransitionsModel decayed(1, kHourS, kOlder, /*backoff=*/0);
  TransitionsModel all_time(1, 0, kOlder, /*backoff=*/0);
  for (TransitionsModel* model : {&decayed, &all_time}) {
    // Long ago, 1 -> 2 three times; lately, 1 -> 3 twice.
    for (UserId u = 0; u < 3; ++u) {
      model->Learn(MakeEvent(kEpochMs, u, 1));
      model->Learn(MakeEvent(kEpochMs + kMinuteMs, u, 2));
    }
    for (UserId u = 3; u < 5; ++u) {
      model->Learn(MakeEvent(kEpochMs + kDayMs, u, 1));
      model->Learn(MakeEvent(kEpochMs + kDayMs + kMinuteMs, u, 3));
    }
    model->Observe(MakeEvent(kEpochMs + kDayMs + kHourMs, 9, 1));
  }
  const std::vector<float> fresh = ScoreAll(decayed, 9, 4);
  const std::vector<float> counts = ScoreAll(all_time, 9, 4);
  EXPECT_GT(fresh[3], fresh[2]);
  EXPECT_LT(counts[3], counts[2]);
  EXPECT_FLOAT_EQ(counts[2], 0.6f);
}

// A large list is scored by walking the last items' successor maps, a short one (or one that
// repeats an item) by looking each item up: the same floats either way.
TEST(TransitionsModelTest, ScoresAreTheSameWhetherItemsAreLookedUpOrTheMapsWalked) {
  constexpr uint32_t kManyItems = 2000;
  TransitionsModel model(3, 3 * kHourS, kOlder, kBackoff);
  Random random(12);
  int64_t time_ms = kEpochMs;
  for (int e = 0; e < 20000; ++e) {
    time_ms += static_cast<int64_t>(random.Uniform(10)) * kMinuteMs;
    const ItemId item = random.Uniform(3) == 0 ? random.Uniform(kManyItems) : random.Uniform(40);
    model.Learn(MakeEvent(time_ms, random.Uniform(kUsers), item));
  }
  std::vector<ItemId> twice;
  for (ItemId item = 0; item < kManyItems + 5; ++item) twice.push_back(item);  // 5 unknown
  twice.insert(twice.end(), twice.begin(), twice.end());
  std::vector<float> repeated(twice.size());
  for (UserId user = 0; user < kUsers + 1; ++user) {  // the last user is unknown
    const std::vector<float> walked = ScoreAll(model, user, kManyItems + 5);
    model.Score(user, twice, repeated.data());
    for (ItemId item = 0; item < kManyItems + 5; ++item) {
      float alone = 0;
      model.Score(user, std::span<const ItemId>(&item, 1), &alone);
      ASSERT_EQ(walked[item], alone) << "user " << user << " item " << item;
      ASSERT_EQ(repeated[item], alone) << "user " << user << " item " << item;
      ASSERT_EQ(repeated[kManyItems + 5 + item], alone) << "user " << user << " item " << item;
    }
  }
}

TEST(TransitionsModelTest, CandidatesAreTheSuccessorsBestFirst) {
  TransitionsModel model(2, 0, kOlder, /*backoff=*/0);
  int64_t time_ms = kEpochMs;
  // From 5: 6 twice, 7 once; from 4: 8 once.
  const std::pair<UserId, ItemId> stream[] = {{0, 5}, {0, 6}, {1, 5}, {1, 6},
                                              {2, 5}, {2, 7}, {3, 4}, {3, 8}};
  for (const auto& [user, item] : stream) model.Learn(MakeEvent(time_ms += kMinuteMs, user, item));
  model.Observe(MakeEvent(time_ms, 9, 4));
  model.Observe(MakeEvent(time_ms, 9, 5));
  std::vector<ItemId> candidates;
  model.Candidates(9, 10, &candidates);
  // 6: 2/3; 8: 1/2 (one step back); 7: 1/3.
  EXPECT_EQ(candidates, (std::vector<ItemId>{6, 8, 7}));
  candidates.clear();
  model.Candidates(9, 1, &candidates);
  EXPECT_EQ(candidates, (std::vector<ItemId>{6}));
  candidates.clear();
  model.Candidates(100, 10, &candidates);
  EXPECT_TRUE(candidates.empty());
}

TEST(TransitionsModelTest, SaveLoadRoundTripScoresIdenticallyAndContinuesIdentically) {
  const std::vector<Event> events = RandomStream(3, 2000);
  const size_t half = events.size() / 2;
  TransitionsModel model(3, kHourS, kOlder, kBackoff);
  for (size_t k = 0; k < half; ++k) model.Learn(events[k]);
  const std::string saved = SaveBytes(model);
  TransitionsModel loaded(3, kHourS, kOlder, kBackoff);
  BinaryReader reader(saved);
  ASSERT_TRUE(loaded.Load(&reader).ok());
  EXPECT_EQ(SaveBytes(loaded), saved);
  for (UserId user = 0; user < kUsers; ++user) {
    EXPECT_EQ(ScoreAll(loaded, user, kItems), ScoreAll(model, user, kItems));
  }
  for (size_t k = half; k < events.size(); ++k) {
    model.Learn(events[k]);
    loaded.Learn(events[k]);
  }
  EXPECT_EQ(SaveBytes(loaded), SaveBytes(model));
}

TEST(TransitionsModelTest, LoadRejectsForeignTruncatedAndMismatchedState) {
  TransitionsModel model(2, kHourS, kOlder, kBackoff);
  for (const Event& e : RandomStream(5, 300)) model.Learn(e);
  const std::string saved = SaveBytes(model);
  for (const size_t cut : {size_t{0}, size_t{7}, saved.size() / 2, saved.size() - 1}) {
    TransitionsModel target(2, kHourS, kOlder, kBackoff);
    BinaryReader reader(std::string_view(saved).substr(0, cut));
    EXPECT_EQ(target.Load(&reader).code(), StatusCode::kCorruption) << cut;
  }
  TransitionsModel other_window(3, kHourS, kOlder, kBackoff);
  BinaryReader reader(saved);
  EXPECT_EQ(other_window.Load(&reader).code(), StatusCode::kFailedPrecondition);
  TransitionsModel other_half_life(2, 2 * kHourS, kOlder, kBackoff);
  BinaryReader reader2(saved);
  EXPECT_EQ(other_half_life.Load(&reader2).code(), StatusCode::kFailedPrecondition);
  BinaryWriter foreign;
  foreign.Put<uint32_t>(0x6c706f70);
  foreign.Put<uint32_t>(1);
  const std::string foreign_bytes = foreign.Release();
  BinaryReader reader3(foreign_bytes);
  EXPECT_EQ(other_window.Load(&reader3).code(), StatusCode::kCorruption);
}

TEST(TransitionsModelTest, ForgottenUserScoresAsANewOneAndKeepsTheCounts) {
  TransitionsModel model(2, 0, kOlder, kBackoff);
  const std::vector<Event> events = RandomStream(9, 500);
  for (const Event& e : events) model.Learn(e);
  const int64_t now_ms = events.back().time_ms;
  const UserId user = events.back().user;
  const double count = model.OutCount(events.back().item, now_ms);
  model.ForgetUser(user);
  model.ForgetUser(kUsers + 50);  // never seen: nothing to do
  EXPECT_EQ(ScoreAll(model, user, kItems), ScoreAll(model, kUsers + 60, kItems));
  EXPECT_TRUE(model.LastItems(user).empty());
  EXPECT_EQ(model.OutCount(events.back().item, now_ms), count);
  // The next event of the id starts a path without a transition into it.
  const double before = model.OutCount(events.back().item, now_ms);
  model.Learn(MakeEvent(now_ms + kMinuteMs, user, (events.back().item + 1) % kItems));
  EXPECT_EQ(model.OutCount(events.back().item, now_ms + kMinuteMs), before);
}

TEST(TransitionsModelTest, ThirtyDaysWithOneHourHalfLifeStayFinite) {
  TransitionsModel model(1, kHourS, kOlder, kBackoff);
  for (int64_t hour = 0; hour < 30 * 24; ++hour) {
    model.Learn(MakeEvent(kEpochMs + hour * kHourMs, 0, static_cast<ItemId>(hour % 3)));
  }
  const int64_t now_ms = kEpochMs + (30 * 24 - 1) * kHourMs;
  // 1 -> 2 every third hour, the newest at the last hour: 1 + 1/8 + 1/64 + ...
  EXPECT_NEAR(model.TransitionCount(1, 2, now_ms), 1.0 / (1 - 1.0 / 8), 1e-6);
  for (const float score : ScoreAll(model, 0, 3)) EXPECT_TRUE(std::isfinite(score));
}

TEST(TransitionsModelTest, ReadsOptions) {
  Options options;
  ASSERT_TRUE(options.SetAssignment("transitions.window=4").ok());
  ASSERT_TRUE(options.SetAssignment("t_fast.half_life=15m").ok());
  const TransitionsModel plain(OptionView(&options, "transitions", "transitions"), Context{});
  const TransitionsModel fast(OptionView(&options, "t_fast", "transitions"), Context{});
  EXPECT_EQ(plain.window(), 4u);
  EXPECT_EQ(plain.decay().half_life_s(), 0);
  EXPECT_EQ(fast.decay().half_life_s(), 15 * 60);
}

}  // namespace
}  // namespace liverec
