#include "eval/loo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "eval/report.h"
#include "model/capabilities.h"
#include "model/registry.h"

namespace liverec {
namespace {

constexpr int64_t kSecondMs = 1000;

Event At(int64_t time_ms, UserId user, ItemId item) {
  Event e;
  e.time_ms = time_ms;
  e.user = user;
  e.item = item;
  return e;
}

// Scores every user's items from one fixed table; records what it was fed.
class TableModel final : public Model, public HistoryObserver {
 public:
  explicit TableModel(std::vector<float> scores) : scores_(std::move(scores)) {}

  std::string_view type() const override { return "table"; }
  void Learn(const Event& event) override { learned_.push_back(event); }
  void Observe(const Event& event) override { observed_.push_back(event); }
  void Score(UserId, std::span<const ItemId> items, float* out) const override {
    for (size_t i = 0; i < items.size(); ++i) out[i] = scores_[items[i]];
  }
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override { return std::make_unique<TableModel>(*this); }
  void Save(BinaryWriter*) const override {}
  Status Load(BinaryReader*) override { return Internal("a table model does not load"); }
  size_t MemoryBytes() const override { return 0; }

  const std::vector<Event>& learned() const { return learned_; }
  const std::vector<Event>& observed() const { return observed_; }

 private:
  std::vector<float> scores_;
  std::vector<Event> learned_;
  std::vector<Event> observed_;
};

// Scores item (last item of the user) + 1 at 1 and everything else at 0, the last item being
// whatever Learn or Observe saw last: a stand-in for a history-reading model.
class NextItemModel final : public Model, public HistoryObserver {
 public:
  std::string_view type() const override { return "next_item"; }
  void Learn(const Event& event) override {
    ++num_learned_;
    Observe(event);
  }
  void Observe(const Event& event) override {
    if (event.user >= last_.size()) last_.resize(size_t{event.user} + 1, kInvalidId);
    last_[event.user] = event.item;
  }
  void Score(UserId user, std::span<const ItemId> items, float* out) const override {
    const ItemId last = user < last_.size() ? last_[user] : kInvalidId;
    for (size_t i = 0; i < items.size(); ++i) {
      out[i] = last != kInvalidId && items[i] == last + 1 ? 1.0f : 0.0f;
    }
  }
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override { return std::make_unique<NextItemModel>(*this); }
  void Save(BinaryWriter*) const override {}
  Status Load(BinaryReader*) override { return Internal("a next-item model does not load"); }
  size_t MemoryBytes() const override { return 0; }

  uint64_t num_learned() const { return num_learned_; }

 private:
  std::vector<ItemId> last_;
  uint64_t num_learned_ = 0;
};

// An iterative model whose quality after epoch e is planted: the first good_users[e - 1] users
// get their own held-out items (`targets`) scored 2, everyone else gets them scored 0, and every
// other item scores 1. The epoch is read from the number of events learned.
class PlantedEpochModel final : public Model {
 public:
  PlantedEpochModel(size_t train_size, std::vector<uint32_t> good_users,
                    std::vector<std::vector<ItemId>> targets)
      : train_size_(train_size), good_users_(std::move(good_users)), targets_(std::move(targets)) {}

  std::string_view type() const override { return "planted"; }
  void Learn(const Event&) override { ++learned_; }
  void Score(UserId user, std::span<const ItemId> items, float* out) const override {
    const size_t epoch = learned_ / train_size_;
    const bool good = epoch >= 1 && user < good_users_[epoch - 1];
    for (size_t i = 0; i < items.size(); ++i) {
      bool target = false;
      for (ItemId t : targets_[user]) target = target || t == items[i];
      out[i] = target ? (good ? 2.0f : 0.0f) : 1.0f;
    }
  }
  bool iterative() const override { return true; }
  std::unique_ptr<Model> Clone() const override {
    return std::make_unique<PlantedEpochModel>(*this);
  }
  void Save(BinaryWriter*) const override {}
  Status Load(BinaryReader*) override { return Internal("a planted model does not load"); }
  size_t MemoryBytes() const override { return 0; }

  uint64_t learned() const { return learned_; }

 private:
  size_t train_size_;
  std::vector<uint32_t> good_users_;
  std::vector<std::vector<ItemId>> targets_;
  uint64_t learned_ = 0;
};

// Scores equal to the item id: higher ids rank first.
std::vector<float> IdScores(size_t num_items) {
  std::vector<float> scores(num_items);
  for (size_t i = 0; i < num_items; ++i) scores[i] = static_cast<float>(i);
  return scores;
}

TEST(LooSplitTest, HoldsOutEachUsersLastTwoEventsInStreamOrder) {
  Dataset data;
  // The file lists u0's events out of time order, and its last two share a timestamp: the
  // stable sort keeps "y" before "z", so "y" validates and "z" tests.
  data.Add("u0", "z", 5 * kSecondMs);
  data.Add("u1", "a", 1 * kSecondMs);
  data.Add("u0", "x", 2 * kSecondMs);
  data.Add("u1", "b", 3 * kSecondMs);
  data.Add("u0", "w", 1 * kSecondMs);
  data.Add("u1", "c", 4 * kSecondMs);
  data.Add("u1", "d", 6 * kSecondMs);
  data.Add("u0", "y", 5 * kSecondMs);
  data.SortByTime();

  const LooSplit split = SplitLeaveLastOut(data.events, data.num_items());
  auto item = [&](std::string_view key) { return data.items.Find(key); };
  const UserId u0 = data.users.Find("u0");
  const UserId u1 = data.users.Find("u1");
  ASSERT_EQ(split.users.size(), 2u);
  EXPECT_EQ(split.short_users, 0u);
  // In stream order of the validation events: u1's "c" (4 s) before u0's "z" (5 s).
  EXPECT_EQ(split.users[0].user, u1);
  EXPECT_EQ(split.users[0].validation.item, item("c"));
  EXPECT_EQ(split.users[0].test.item, item("d"));
  EXPECT_EQ(split.users[1].user, u0);
  EXPECT_EQ(split.users[1].validation.item, item("z"));
  EXPECT_EQ(split.users[1].test.item, item("y"));

  std::vector<ItemId> train_items;
  for (const Event& e : split.train) train_items.push_back(e.item);
  EXPECT_EQ(train_items, (std::vector<ItemId>{item("a"), item("w"), item("x"), item("b")}));
  const std::span<const ItemId> u0_items = split.TrainItems(u0);
  EXPECT_EQ(std::vector<ItemId>(u0_items.begin(), u0_items.end()),
            (std::vector<ItemId>{item("w"), item("x")}));
  const std::span<const ItemId> u1_items = split.TrainItems(u1);
  EXPECT_EQ(std::vector<ItemId>(u1_items.begin(), u1_items.end()),
            (std::vector<ItemId>{item("a"), item("b")}));
  EXPECT_TRUE(split.TrainItems(7).empty());
}

TEST(LooSplitTest, UsersWithFewerThanThreeEventsOnlyTrain) {
  const std::vector<Event> events = {At(1, 0, 0), At(2, 1, 1), At(3, 1, 2),
                                     At(4, 2, 0), At(5, 2, 1), At(6, 2, 2)};
  const LooSplit split = SplitLeaveLastOut(events, 3);
  EXPECT_EQ(split.short_users, 2u);
  ASSERT_EQ(split.users.size(), 1u);
  EXPECT_EQ(split.users[0].user, 2u);
  ASSERT_EQ(split.train.size(), 4u);
  EXPECT_EQ(split.TrainItems(0).size(), 1u);
  EXPECT_EQ(split.TrainItems(1).size(), 2u);
  EXPECT_EQ(split.TrainItems(2).size(), 1u);
}

TEST(FullRankerTest, OnlyStrictlyHigherScoresOutrankTheTarget) {
  // Nine items above the target (score 3) and five tied with it: rank 10, a hit at k = 10.
  std::vector<float> scores(20, 1.0f);
  for (ItemId i = 0; i < 9; ++i) scores[i] = 5.0f;
  for (ItemId i = 9; i < 14; ++i) scores[i] = 3.0f;
  TableModel model(scores);
  FullRanker ranker(scores.size(), 10);
  EXPECT_EQ(ranker.Rank(model, 0, 11, {}, nullptr), 10u);
  // One more above: rank 11, a miss.
  scores[14] = 4.0f;
  TableModel more(scores);
  EXPECT_EQ(ranker.Rank(more, 0, 11, {}, nullptr), 11u);
}

TEST(FullRankerTest, SeenItemsAreRemovedButTheTargetStays) {
  TableModel model(IdScores(12));
  FullRanker ranker(12, 3);
  std::vector<ItemId> top_k;
  EXPECT_EQ(ranker.Rank(model, 0, 3, {}, &top_k), 9u);  // ids 4..11 above
  EXPECT_EQ(top_k, (std::vector<ItemId>{11, 10, 9}));
  // Removing 5, 7, 11 and 0 leaves 4, 6, 8, 9, 10 above 3; listing the target changes nothing.
  const std::vector<ItemId> seen = {5, 7, 11, 3, 0};
  EXPECT_EQ(ranker.Rank(model, 0, 3, seen, &top_k), 6u);
  EXPECT_EQ(top_k, (std::vector<ItemId>{10, 9, 8}));
}

TEST(FullRankerTest, TopKHoldsOnlyCandidates) {
  TableModel model(IdScores(4));
  FullRanker ranker(4, 10);
  std::vector<ItemId> top_k;
  const std::vector<ItemId> seen = {3, 1};
  EXPECT_EQ(ranker.Rank(model, 0, 0, seen, &top_k), 2u);
  EXPECT_EQ(top_k, (std::vector<ItemId>{2, 0}));
}

TEST(FullRankerTest, AnUnscoredOrNanTargetIsAMiss) {
  FullRanker ranker(5, 10);
  // Every item unscored: a tie-won hit would be free; the rule makes it a miss.
  TableModel unscored(std::vector<float>(5, kUnscored));
  EXPECT_EQ(ranker.Rank(unscored, 0, 2, {}, nullptr), 0u);
  TableModel nan({1.0f, std::numeric_limits<float>::quiet_NaN(), 0.5f, 0.2f, 0.1f});
  EXPECT_EQ(ranker.Rank(nan, 0, 1, {}, nullptr), 0u);
  EXPECT_EQ(ranker.Rank(nan, 0, 3, {}, nullptr), 3u);  // a NaN elsewhere is never above
}

// The hand-computed scenario: popularity (all-time counts) at k = 2 on a stream whose training
// counts are A 6, B 3, C 3, D 2, E 1 (F occurs only in a held-out event).
//   user  training  validation  test  candidates (counts)      rank        HR  NDCG
//   u0    A B       C           D     D 2, E 1, F -            1           1   1
//   u1    A         D           C     B 3, C 3, E 1, F -       1 (B ties)  1   1
//   u2    A C       B           E     D 2, E 1, F -            2           1   1/log2(3)
//   u3    A B       C           F     D 2, E 1, F unscored     miss        0   0
//   u4    A         C           E     B 3, D 2, E 1, F -       3           0   0
// u5 (A B), u6 (C D), u7 (C D) and u8 (E) have fewer than 3 events: training only.
// Were held-out events learned, C would count 6 and u1 and u4 would rank otherwise; were
// training items not removed, u0's D would rank 4th.
Dataset HandStream() {
  const std::vector<std::pair<std::string, std::vector<std::string>>> users = {
      {"u0", {"A", "B", "C", "D"}}, {"u1", {"A", "D", "C"}}, {"u2", {"A", "C", "B", "E"}},
      {"u3", {"A", "B", "C", "F"}}, {"u4", {"A", "C", "E"}}, {"u5", {"A", "B"}},
      {"u6", {"C", "D"}},           {"u7", {"C", "D"}},      {"u8", {"E"}}};
  Dataset data;
  // Round r holds every user's r-th event, one second apart.
  for (int64_t round = 0; round < 4; ++round) {
    for (const auto& [user, items] : users) {
      if (static_cast<size_t>(round) < items.size()) {
        data.Add(user, items[static_cast<size_t>(round)], round * kSecondMs);
      }
    }
  }
  data.SortByTime();
  return data;
}

constexpr double kHandHr = 3.0 / 5;
constexpr double kHandMrr = (1 + 1 + 0.5 + 0 + 1.0 / 3) / 5;
double HandNdcg() { return (1 + 1 + 1 / std::log2(3.0)) / 5; }

TEST(LooTest, PopularityMatchesTheHandComputedScores) {
  const Dataset data = HandStream();
  const LooSplit split = SplitLeaveLastOut(data.events, data.num_items());
  EXPECT_EQ(split.short_users, 4u);
  ASSERT_EQ(split.users.size(), 5u);
  Options options;
  Context context;
  auto model = CreateModel(OptionView(&options, "popularity", "popularity"), context);
  ASSERT_TRUE(model.ok());
  LooOptions o;
  o.k = 2;
  LooFit fit = FitLeaveLastOut(std::move(model).value(), split, o);
  EXPECT_EQ(fit.epochs, 0);
  const LooScores scores = ScoreLeaveLastOut(fit.model.get(), split, o);
  EXPECT_EQ(scores.metrics.events, 5u);
  EXPECT_DOUBLE_EQ(scores.metrics.recall, kHandHr);
  EXPECT_DOUBLE_EQ(scores.metrics.ndcg, HandNdcg());
  EXPECT_DOUBLE_EQ(scores.metrics.mrr, kHandMrr);
  EXPECT_EQ(scores.repeats_skipped, 0u);
  // Top-2 lists: u0 {D, E}, u1 {B, C}, u2 {D, E}, u3 {D, E}, u4 {B, D}: 4 of 6 items.
  EXPECT_DOUBLE_EQ(scores.coverage, 4.0 / 6);
}

TEST(LooTest, ReplayRunsTheLooProtocolByName) {
  StatusOr<Protocol> protocol = ParseProtocol("loo");
  ASSERT_TRUE(protocol.ok());
  EXPECT_EQ(*protocol, Protocol::kLoo);
  EXPECT_EQ(ProtocolName(Protocol::kLoo), "loo");

  ReplayOptions o;
  o.models = {{"pop", "popularity"}, {"knn", "item_knn"}};
  o.protocols = {Protocol::kLoo};
  o.k = 2;
  o.context.num_threads = 2;
  StatusOr<ReplayReport> report = RunReplay(HandStream(), o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->results.size(), 2u);
  const RunResult& pop = report->results[0];
  EXPECT_EQ(pop.model, "pop");
  EXPECT_EQ(pop.protocol, Protocol::kLoo);
  EXPECT_EQ(pop.metrics.events, 5u);
  EXPECT_DOUBLE_EQ(pop.metrics.recall, kHandHr);
  EXPECT_DOUBLE_EQ(pop.metrics.ndcg, HandNdcg());
  EXPECT_EQ(report->results[1].model, "knn");
  EXPECT_EQ(report->results[1].metrics.events, 5u);
  EXPECT_TRUE(pop.validation_curve.empty());  // a count model has no epochs

  // An iterative model reports the validation HR after each epoch of its early stopping, in
  // the report's JSON too; the epochs kept are the best of them.
  o.models = {{"mf", "mf"}};
  ASSERT_TRUE(o.options.Set("mf.dim", "4").ok());
  ASSERT_TRUE(o.options.Set("train.max_epochs", "4").ok());
  StatusOr<ReplayReport> mf = RunReplay(HandStream(), o);
  ASSERT_TRUE(mf.ok()) << mf.status().ToString();
  const RunResult& fit = mf->results.at(0);
  ASSERT_FALSE(fit.validation_curve.empty());
  EXPECT_LE(fit.validation_curve.size(), 4u);
  ASSERT_GE(fit.batch_epochs, 1);
  const auto best = std::max_element(fit.validation_curve.begin(), fit.validation_curve.end());
  EXPECT_EQ(fit.batch_epochs, best - fit.validation_curve.begin() + 1);
  EXPECT_NE(ReportJson(*mf).find("\"validation_curve\""), std::string::npos);
}

TEST(LooTest, HeldOutEventsAreObservedNotLearnedAndValidationComesFirst) {
  // Each user: training item 10 + 2u, validation 2u, test 2u + 1. A next-item model hits the
  // test item at k = 1 only if it observed the validation item before ranking.
  std::vector<Event> events;
  constexpr UserId kUsers = 4;
  for (UserId u = 0; u < kUsers; ++u) events.push_back(At(1, u, 10 + 2 * u));
  for (UserId u = 0; u < kUsers; ++u) events.push_back(At(2, u, 2 * u));
  for (UserId u = 0; u < kUsers; ++u) events.push_back(At(3, u, 2 * u + 1));
  const LooSplit split = SplitLeaveLastOut(events, 20);
  LooOptions o;
  o.k = 1;
  auto next = std::make_unique<NextItemModel>();
  const NextItemModel* next_ptr = next.get();
  LooFit fit = FitLeaveLastOut(std::move(next), split, o);
  EXPECT_EQ(next_ptr->num_learned(), kUsers);  // training events only
  // Before the validation events are observed, it predicts the training item's successor.
  EXPECT_DOUBLE_EQ(LooValidationHitRate(*fit.model, split, o), 0.0);
  const LooScores scores = ScoreLeaveLastOut(fit.model.get(), split, o);
  EXPECT_EQ(scores.metrics.events, kUsers);
  EXPECT_DOUBLE_EQ(scores.metrics.recall, 1.0);

  // The same through a recording model: exactly the validation events are observed.
  auto table = std::make_unique<TableModel>(IdScores(20));
  const TableModel* table_ptr = table.get();
  LooFit table_fit = FitLeaveLastOut(std::move(table), split, o);
  ScoreLeaveLastOut(table_fit.model.get(), split, o);
  ASSERT_EQ(table_ptr->learned().size(), kUsers);
  ASSERT_EQ(table_ptr->observed().size(), kUsers);
  for (UserId u = 0; u < kUsers; ++u) {
    EXPECT_EQ(table_ptr->learned()[u].item, 10 + 2 * u);
    EXPECT_EQ(table_ptr->observed()[u].item, 2 * u);
  }
}

TEST(LooTest, IterativeFitKeepsTheBestEpochsModel) {
  constexpr UserId kUsers = 4;
  constexpr size_t kItems = 20;
  std::vector<Event> events;
  std::vector<std::vector<ItemId>> targets;
  for (UserId u = 0; u < kUsers; ++u) events.push_back(At(1, u, 10 + u));
  for (UserId u = 0; u < kUsers; ++u) events.push_back(At(2, u, 2 * u));
  for (UserId u = 0; u < kUsers; ++u) {
    events.push_back(At(3, u, 2 * u + 1));
    targets.push_back({2 * u, 2 * u + 1});
  }
  const LooSplit split = SplitLeaveLastOut(events, kItems);
  // Validation HR by epoch: 0.25, 0.75, 0.5, 0.5, 1.0. With patience 2 the search stops after
  // epoch 4 and keeps epoch 2, whose test HR is 0.75 (the last epoch run would give 0.5).
  LooOptions o;
  o.train.max_epochs = 5;
  o.train.patience = 2;
  auto model = std::make_unique<PlantedEpochModel>(split.train.size(),
                                                   std::vector<uint32_t>{1, 3, 2, 2, 4}, targets);
  LooFit fit = FitLeaveLastOut(std::move(model), split, o);
  EXPECT_EQ(fit.epochs, 2);
  EXPECT_EQ(fit.validation_curve, (std::vector<double>{0.25, 0.75, 0.5, 0.5}));
  // A copy taken after epoch 2, though the search ran 4.
  EXPECT_EQ(static_cast<const PlantedEpochModel&>(*fit.model).learned(), 2 * split.train.size());
  const LooScores scores = ScoreLeaveLastOut(fit.model.get(), split, o);
  EXPECT_DOUBLE_EQ(scores.metrics.recall, 0.75);

  // A fixed epoch count skips the search.
  o.train.fixed_epochs = 3;
  LooFit fixed =
      FitLeaveLastOut(std::make_unique<PlantedEpochModel>(
                          split.train.size(), std::vector<uint32_t>{1, 3, 2, 2, 4}, targets),
                      split, o);
  EXPECT_EQ(fixed.epochs, 3);
  EXPECT_TRUE(fixed.validation_curve.empty());
  EXPECT_DOUBLE_EQ(ScoreLeaveLastOut(fixed.model.get(), split, o).metrics.recall, 0.5);
}

TEST(LooTest, RepeatedTargetsAreSkippedWhenExcludingSeenItems) {
  // u0 tests on its training item 0; u1 on a fresh item.
  const std::vector<Event> events = {At(1, 0, 0), At(1, 1, 1), At(2, 0, 2),
                                     At(2, 1, 3), At(3, 0, 0), At(3, 1, 4)};
  const LooSplit split = SplitLeaveLastOut(events, 5);
  LooOptions o;
  TableModel model(IdScores(5));
  LooScores scores = ScoreLeaveLastOut(&model, split, o);
  EXPECT_EQ(scores.repeats_skipped, 1u);
  EXPECT_EQ(scores.metrics.events, 1u);
  EXPECT_DOUBLE_EQ(scores.metrics.mrr, 1.0);  // u1: 4 is the best id left

  // Without exclusion nothing is skipped or removed: u0's item 0 ranks last of 5.
  o.exclude_seen = false;
  scores = ScoreLeaveLastOut(&model, split, o);
  EXPECT_EQ(scores.repeats_skipped, 0u);
  EXPECT_EQ(scores.metrics.events, 2u);
  EXPECT_DOUBLE_EQ(scores.metrics.mrr, (1.0 / 5 + 1.0) / 2);
}

}  // namespace
}  // namespace liverec
