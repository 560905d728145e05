#include "train/ranker.h"

#include <gtest/gtest.h>

#include <map>

namespace liverec {
namespace {

// A test double with fixed scores per item (the oracle is the score table itself).
class FixedScores final : public Model {
 public:
  explicit FixedScores(std::vector<float> scores) : scores_(std::move(scores)) {}
  std::string_view type() const override { return "fixed"; }
  void Learn(const Event&) override {}
  void Score(UserId, std::span<const ItemId> items, float* out) const override {
    for (size_t i = 0; i < items.size(); ++i) out[i] = scores_[items[i]];
  }
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override { return std::make_unique<FixedScores>(*this); }
  void Save(BinaryWriter*) const override {}
  Status Load(BinaryReader*) override { return Status::Ok(); }
  size_t MemoryBytes() const override { return 0; }

 private:
  std::vector<float> scores_;
};

TEST(EventRankerTest, RankCountsStrictlyHigherCandidates) {
  FixedScores model({0.1f, 0.9f, 0.5f, 0.7f, 0.3f});
  CandidateSet candidates;
  for (ItemId i = 0; i < 5; ++i) candidates.Observe(i, 0);
  UserHistory history;
  EventRanker ranker(/*k=*/2, /*exclude_seen=*/true, 1);
  std::vector<ItemId> top;
  EXPECT_EQ(ranker.Rank(model, 0, 2, false, candidates, history, &top).rank, 3u);
  EXPECT_EQ(top, (std::vector<ItemId>{1, 3}));
  EXPECT_EQ(ranker.Rank(model, 0, 1, false, candidates, history, nullptr).rank, 1u);
  EXPECT_EQ(ranker.Rank(model, 0, 0, false, candidates, history, nullptr).rank, 5u);
}

TEST(EventRankerTest, SeenItemsAreExcludedAndRepeatsNotRanked) {
  FixedScores model({0.1f, 0.9f, 0.5f, 0.7f, 0.3f});
  CandidateSet candidates;
  for (ItemId i = 0; i < 5; ++i) candidates.Observe(i, 0);
  UserHistory history;
  history.Add(0, 1, false);  // the user had the best item already
  history.Add(0, 3, false);
  EventRanker ranker(2, true, 1);
  std::vector<ItemId> top;
  EXPECT_EQ(ranker.Rank(model, 0, 2, false, candidates, history, &top).rank, 1u);
  EXPECT_EQ(top, (std::vector<ItemId>{2, 4}));
  EXPECT_TRUE(ranker.Rank(model, 0, 3, true, candidates, history, nullptr).repeat);
  EXPECT_EQ(ranker.Rank(model, 0, 3, true, candidates, history, nullptr).rank, 0u);
  // Another user is not affected by this user's history.
  EXPECT_EQ(ranker.Rank(model, 1, 2, false, candidates, history, nullptr).rank, 3u);
  // Without exclusion the seen items compete.
  EventRanker keep(2, false, 1);
  EXPECT_EQ(keep.Rank(model, 0, 2, false, candidates, history, nullptr).rank, 3u);
}

TEST(EventRankerTest, ItemOutsideTheCandidatesIsAMiss) {
  FixedScores model({0.1f, 0.9f, 0.5f});
  CandidateSet candidates;
  candidates.Observe(0, 0);
  candidates.Observe(1, 0);
  UserHistory history;
  EventRanker ranker(10, true, 1);
  EXPECT_EQ(ranker.Rank(model, 0, 2, false, candidates, history, nullptr).rank, 0u);
}

TEST(EventRankerTest, TiesGetAUniformShareOfRanks) {
  // Five items, all tied: the rank must be uniform on 1..5.
  FixedScores model(std::vector<float>(5, kUnscored));
  CandidateSet candidates;
  for (ItemId i = 0; i < 5; ++i) candidates.Observe(i, 0);
  UserHistory history;
  EventRanker ranker(10, true, 99);
  std::map<uint64_t, int> counts;
  constexpr int kTrials = 50000;
  for (int t = 0; t < kTrials; ++t) {
    ++counts[ranker.Rank(model, 0, 3, false, candidates, history, nullptr).rank];
  }
  ASSERT_EQ(counts.size(), 5u);
  for (auto [rank, count] : counts) {
    EXPECT_GE(rank, 1u);
    EXPECT_LE(rank, 5u);
    EXPECT_NEAR(count, kTrials / 5, kTrials / 50) << rank;
  }
}

TEST(EventRankerTest, ScoredCandidatesLeaveOutExcludedAndUnscoredItems) {
  // Items 0-5; the user consumed item 1; item 5 is unknown to the model, item 3 scores NaN.
  FixedScores model({0.0f, 0.9f, 0.5f, NAN, 0.7f, kUnscored});
  CandidateSet candidates;
  for (ItemId i : {5u, 4u, 3u, 2u, 1u, 0u}) candidates.Observe(i, 0);
  UserHistory history;
  history.Add(0, 1, false);
  EventRanker ranker(2, true, 1);
  std::vector<ItemId> top;
  ranker.Rank(model, 0, 4, false, candidates, history, &top);
  std::vector<ScoredCandidate> scored;
  ranker.ScoredCandidates(&scored);
  EXPECT_EQ(scored, (std::vector<ScoredCandidate>{{4, 0.7f}, {2, 0.5f}, {0, 0.0f}}));
}

TEST(EventRankerTest, RankInListIsThePlaceShown) {
  const std::vector<ItemId> list = {7, 3, 9};
  EXPECT_EQ(RankInList(5, 9, list, 3), 3u);    // listed: its place, whatever the model said
  EXPECT_EQ(RankInList(1, 4, list, 3), 4u);    // dropped from the list: past it
  EXPECT_EQ(RankInList(40, 4, list, 3), 40u);  // far down anyway
  EXPECT_EQ(RankInList(0, 4, list, 3), 0u);    // not a candidate: still a miss
  EXPECT_EQ(RankInList(2, 4, list, 10), 11u);  // a short list (category cap) misses it too
}

TEST(UserHistoryTest, CountsEventsAndKeepsDistinctItems) {
  UserHistory h;
  h.Add(3, 7, false);
  h.Add(3, 7, true);
  h.Add(3, 8, false);
  EXPECT_EQ(h.NumEvents(3), 3u);
  EXPECT_EQ(h.Items(3).size(), 2u);
  EXPECT_TRUE(h.Contains(3, 8));
  EXPECT_FALSE(h.Contains(3, 9));
  EXPECT_EQ(h.NumEvents(100), 0u);
  EXPECT_TRUE(h.Items(100).empty());
}

}  // namespace
}  // namespace liverec
