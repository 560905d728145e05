#include "model/ensemble/ensemble.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/random.h"
#include "liverec/options.h"
#include "model/item_knn/item_knn.h"
#include "model/model_testing.h"
#include "model/popularity/popularity.h"
#include "model/registry.h"

namespace liverec {
namespace {

using testing::AllItems;
using testing::kEpochMs;
using testing::kHourS;
using testing::kSecondMs;
using testing::MakeEvent;
using testing::SaveBytes;
using testing::ScoreAll;

// A member with a fixed opinion: item i scores scores[i] for every user (kUnscored beyond the
// table); learns nothing. The oracle for the fusion math.
class TableModel final : public Model {
 public:
  explicit TableModel(std::vector<float> scores) : scores_(std::move(scores)) {}
  std::string_view type() const override { return "table"; }
  void Learn(const Event& event) override {}
  void Score(UserId user, std::span<const ItemId> items, float* out) const override {
    for (size_t k = 0; k < items.size(); ++k) {
      out[k] = items[k] < scores_.size() ? scores_[items[k]] : kUnscored;
    }
  }
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override { return std::make_unique<TableModel>(*this); }
  void Save(BinaryWriter* out) const override { out->PutVector(scores_); }
  Status Load(BinaryReader* in) override { return in->GetVector(&scores_); }
  size_t MemoryBytes() const override { return scores_.capacity() * sizeof(float); }

 private:
  std::vector<float> scores_;
};

// A member that knows one planted rule: user u's k-th event (k from 0) is on item
// (7 u + k + offset) % num_items, which scores 1; every other item scores 0.
class PlantedModel final : public Model {
 public:
  PlantedModel(ItemId offset, size_t num_items) : offset_(offset), num_items_(num_items) {}
  std::string_view type() const override { return "planted"; }
  void Learn(const Event& event) override {
    if (event.user >= events_.size()) events_.resize(event.user + 1, 0);
    ++events_[event.user];
  }
  void Score(UserId user, std::span<const ItemId> items, float* out) const override {
    const ItemId next = Next(user, user < events_.size() ? events_[user] : 0, offset_, num_items_);
    for (size_t k = 0; k < items.size(); ++k) out[k] = items[k] == next ? 1.0f : 0.0f;
  }
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override { return std::make_unique<PlantedModel>(*this); }
  void Save(BinaryWriter* out) const override { out->PutVector(events_); }
  Status Load(BinaryReader* in) override { return in->GetVector(&events_); }
  size_t MemoryBytes() const override { return events_.capacity() * sizeof(uint32_t); }

  static ItemId Next(UserId user, uint32_t k, ItemId offset, size_t num_items) {
    return static_cast<ItemId>((7 * user + k + offset) % num_items);
  }

 private:
  ItemId offset_;
  size_t num_items_;
  std::vector<uint32_t> events_;  // per user
};

std::vector<ModelMember> TableMembers(std::vector<std::vector<float>> tables) {
  std::vector<ModelMember> members;
  for (size_t m = 0; m < tables.size(); ++m) {
    members.push_back(
        {"t" + std::to_string(m), "table", std::make_unique<TableModel>(std::move(tables[m]))});
  }
  return members;
}

// Options for ensembles built through the registry; small fm and mf tables keep tests fast.
class EnsembleOptions {
 public:
  explicit EnsembleOptions(
      std::initializer_list<std::pair<std::string, std::string>> overrides = {}) {
    Set("ensemble.segments", "");     // one set of weights unless a test asks for more
    Set("ensemble.judge_rate", "1");  // every eligible event, unless a test samples
    Set("fm.hash_bits", "12");
    Set("fm.dim", "8");
    Set("mf.dim", "8");
    for (const auto& [key, value] : overrides) Set(key, value);
  }
  void Set(const std::string& key, const std::string& value) {
    const Status status = options_.Set(key, value);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  OptionView view(const std::string& instance = "ensemble") const {
    return OptionView(&options_, instance, "ensemble");
  }
  std::unique_ptr<EnsembleModel> Create(uint64_t seed = 42) const {
    Context context;
    context.seed = seed;
    StatusOr<std::unique_ptr<EnsembleModel>> model = EnsembleModel::Create(view(), context);
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    return model.ok() ? std::move(*model) : nullptr;
  }

 private:
  Options options_;
};

// Users consume items in planted pairs (2k, then 2k + 1), pairs chosen uniformly, so every
// item is about as popular as any other: only co-occurrence predicts the second item of a pair.
std::vector<Event> PairStream(uint64_t seed, size_t num_users, size_t pairs_per_user,
                              size_t num_pairs) {
  Random random(seed);
  std::vector<Event> events;
  int64_t time_ms = kEpochMs;
  for (size_t round = 0; round < pairs_per_user; ++round) {
    for (UserId user = 0; user < num_users; ++user) {
      const ItemId first = 2 * random.Uniform(static_cast<uint32_t>(num_pairs));
      events.push_back(MakeEvent(time_ms += kSecondMs, user, first));
      events.push_back(MakeEvent(time_ms += kSecondMs, user, first + 1));
    }
  }
  return events;
}

// A stream with every kind of signal: a few hot items, pairs, and many users.
std::vector<Event> MixedStream(uint64_t seed, size_t num_events) {
  Random random(seed);
  std::vector<Event> events;
  int64_t time_ms = kEpochMs;
  for (size_t k = 0; k < num_events; ++k) {
    const UserId user = random.Uniform(40);
    const ItemId item = random.Uniform(3) == 0 ? random.Uniform(4) : random.Uniform(60);
    events.push_back(MakeEvent(time_ms += random.Uniform(60 * kSecondMs), user, item));
  }
  return events;
}

// ---------------------------------------------------------------------------------------------
// Weights

TEST(EnsembleWeightsTest, MoveTowardTheMemberThatPredictsAPlantedStream) {
  EnsembleOptions options(
      {{"ensemble.members", "popularity,item_knn"}, {"ensemble.weight_floor", "0.04"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  ASSERT_NE(ensemble, nullptr);
  EXPECT_DOUBLE_EQ(ensemble->weight(0, 0), 0.5);
  for (const Event& event : PairStream(1, 200, 6, 60)) ensemble->Learn(event);

  const std::vector<MemberInfo> members = ensemble->Members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1].name, "item_knn");
  EXPECT_EQ(members[1].type, "item_knn");
  EXPECT_GT(members[1].mean_rewards[0], 2 * members[0].mean_rewards[0]);
  EXPECT_GT(members[1].weights[0], 0.95);
  EXPECT_NEAR(members[0].weights[0] + members[1].weights[0], 1, 1e-12);
  // Every judged event is one of a known user: all but each user's first.
  EXPECT_GT(ensemble->judged_events(), 200u * 6 * 2 / 2);
}

TEST(EnsembleWeightsTest, AMemberBehindComesBackWhenTheStreamDrifts) {
  constexpr size_t kNumItems = 100;
  constexpr ItemId kOffsetA = 0;
  constexpr ItemId kOffsetB = 50;
  constexpr ItemId kIntroOffset = 25;
  constexpr double kFloor = 0.05;
  std::vector<ModelMember> members;
  members.push_back({"a", "planted", std::make_unique<PlantedModel>(kOffsetA, kNumItems)});
  members.push_back({"b", "planted", std::make_unique<PlantedModel>(kOffsetB, kNumItems)});
  EnsembleSettings settings;
  settings.learning_rate = 0.1;
  settings.weight_floor = 2 * kFloor;  // per member: phi / 2
  settings.reward_samples = 10;
  settings.judge_rate = 1;
  EnsembleModel ensemble(std::move(members), settings, 42);

  // Each user makes an introductory event (not judged: the user is new), then one that follows
  // rule A, later rule B.
  int64_t time_ms = kEpochMs;
  auto feed = [&](UserId first_user, size_t num_users, ItemId offset) {
    for (UserId user = first_user; user < first_user + num_users; ++user) {
      const ItemId intro = PlantedModel::Next(user, 0, kIntroOffset, kNumItems);
      ensemble.Learn(MakeEvent(time_ms += kSecondMs, user, intro));
      const ItemId next = PlantedModel::Next(user, 1, offset, kNumItems);
      ensemble.Learn(MakeEvent(time_ms += kSecondMs, user, next));
    }
  };
  feed(0, 1000, kOffsetA);
  // All but the first user's second event, when the ring held only that user's own item.
  EXPECT_EQ(ensemble.judged_events(), 999u);
  EXPECT_GT(ensemble.weight(0, 0), 0.95);
  EXPECT_NEAR(ensemble.weight(0, 1), kFloor, 0.01);  // held at the floor, not at exp(-hundreds)
  EXPECT_GT(ensemble.Members()[0].mean_rewards[0], 0.99);
  feed(1000, 100, kOffsetB);
  EXPECT_GT(ensemble.weight(0, 1), 0.95);
}

TEST(EnsembleWeightsTest, EachSegmentLearnsItsOwnMix) {
  // Users follow rule A for their first five events and rule B after: users with 1-4 earlier
  // items (segment 0) are judged on rule A, users with 5 or more (segment 1) on rule B.
  constexpr size_t kNumItems = 100;
  constexpr ItemId kOffsetA = 0;
  constexpr ItemId kOffsetB = 50;
  constexpr uint32_t kBound = 5;
  std::vector<ModelMember> members;
  members.push_back({"a", "planted", std::make_unique<PlantedModel>(kOffsetA, kNumItems)});
  members.push_back({"b", "planted", std::make_unique<PlantedModel>(kOffsetB, kNumItems)});
  EnsembleSettings settings;
  settings.learning_rate = 0.1;
  settings.reward_samples = 10;
  settings.segments = {kBound};
  settings.weight_floor = 0.04;
  EnsembleModel ensemble(std::move(members), settings, 42);
  ASSERT_EQ(ensemble.num_segments(), 2u);

  int64_t time_ms = kEpochMs;
  constexpr UserId kNumUsers = 300;
  for (uint32_t k = 0; k < 2 * kBound; ++k) {
    for (UserId user = 0; user < kNumUsers; ++user) {
      const ItemId offset = k < kBound ? kOffsetA : kOffsetB;
      ensemble.Learn(
          MakeEvent(time_ms += kSecondMs, user, PlantedModel::Next(user, k, offset, kNumItems)));
    }
  }
  EXPECT_GT(ensemble.weight(0, 0), 0.95);
  EXPECT_GT(ensemble.weight(1, 1), 0.95);
  EXPECT_EQ(ensemble.SegmentOf(0), 1u);          // ten items
  EXPECT_EQ(ensemble.SegmentOf(kNumUsers), 0u);  // never seen: the first segment's weights

  // Scores follow the user's segment: for a heavy user rule B's item leads.
  const ItemId next_a = PlantedModel::Next(0, 2 * kBound, kOffsetA, kNumItems);
  const ItemId next_b = PlantedModel::Next(0, 2 * kBound, kOffsetB, kNumItems);
  const std::vector<float> scores = ScoreAll(ensemble, 0, kNumItems);
  EXPECT_GT(scores[next_b], scores[next_a]);
}

TEST(EnsembleWeightsTest, JudgesOnlyPositiveEventsOfKnownUsersOnNewItems) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  ensemble->Learn(MakeEvent(kEpochMs, 0, 0));
  ensemble->Learn(MakeEvent(kEpochMs + 1, 1, 1));
  EXPECT_EQ(ensemble->judged_events(), 0u);  // first events of users 0 and 1
  ensemble->Learn(MakeEvent(kEpochMs + 2, 0, 2));
  EXPECT_EQ(ensemble->judged_events(), 1u);
  ensemble->Learn(MakeEvent(kEpochMs + 3, 0, 0));
  EXPECT_EQ(ensemble->judged_events(), 1u);  // a repeat is never ranked
  Event skip = MakeEvent(kEpochMs + 4, 1, 3);
  skip.weight = -1;
  ensemble->Learn(skip);
  EXPECT_EQ(ensemble->judged_events(), 1u);  // learned, not judged
  ensemble->Observe(MakeEvent(kEpochMs + 5, 2, 1));
  ensemble->Learn(MakeEvent(kEpochMs + 6, 2, 0));
  EXPECT_EQ(ensemble->judged_events(), 2u);  // an observed event makes the user known
}

TEST(EnsembleWeightsTest, JudgeRateJudgesThatShareOfTheEligibleEvents) {
  const std::vector<Event> events = MixedStream(13, 4000);
  EnsembleOptions every({{"ensemble.members", "popularity,item_knn"}});
  EnsembleOptions sampled(
      {{"ensemble.members", "popularity,item_knn"}, {"ensemble.judge_rate", "0.25"}});
  std::unique_ptr<EnsembleModel> all = every.Create();
  std::unique_ptr<EnsembleModel> some = sampled.Create();
  for (const Event& event : events) {
    all->Learn(event);
    some->Learn(event);
  }
  const double eligible = static_cast<double>(all->judged_events());
  ASSERT_GT(eligible, 1500);
  // Binomial(eligible, 1/4): five standard deviations are below 0.06.
  EXPECT_NEAR(static_cast<double>(some->judged_events()) / eligible, 0.25, 0.06);
  // The members learn every event either way.
  EXPECT_EQ(SaveBytes(*some->FindMember("item_knn")), SaveBytes(*all->FindMember("item_knn")));
}

TEST(EnsembleWeightsTest, StayEqualWithoutLearning) {
  EnsembleOptions options(
      {{"ensemble.members", "popularity,item_knn"}, {"ensemble.learn_weights", "false"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  for (const Event& event : PairStream(1, 50, 3, 20)) ensemble->Learn(event);
  EXPECT_EQ(ensemble->judged_events(), 0u);
  EXPECT_EQ(ensemble->weight(0, 0), 0.5);
  EXPECT_EQ(ensemble->weight(0, 1), 0.5);
}

// ---------------------------------------------------------------------------------------------
// Fusion

TEST(EnsembleFusionTest, WeightedSumsZScoresOverTheRequestsItems) {
  EnsembleSettings settings;
  settings.learn_weights = false;  // weights 1/3 each
  // Member 0: items 0..2 score 1, 2, 3 (mean 2, std sqrt(2/3)); item 3 is kUnscored and takes
  // the minimum, 1. Member 1: 0, 0, 6, 3 (mean 2.25, variance 45/4 - 2.25^2 = 6.1875).
  // Member 2 is constant and adds nothing. Item 4 is unscored by everyone.
  EnsembleModel ensemble(
      TableMembers(
          {{1, 2, 3, kUnscored, kUnscored}, {0, 0, 6, 3, kUnscored}, {7, 7, 7, 7, kUnscored}}),
      settings, 42);
  const double std0 = std::sqrt(2.0 / 3.0);
  const double std1 = std::sqrt(6.1875);
  const double w = 1.0 / 3;
  const std::vector<double> want = {
      w * (1 - 2) / std0 + w * (0 - 2.25) / std1,
      w * (2 - 2) / std0 + w * (0 - 2.25) / std1,
      w * (3 - 2) / std0 + w * (6 - 2.25) / std1,
      w * (1 - 2) / std0 + w * (3 - 2.25) / std1,
  };
  const std::vector<float> scores = ScoreAll(ensemble, 0, 5);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(scores[i], want[i], 1e-6) << "item " << i;
  EXPECT_EQ(scores[4], kUnscored);

  // The standardization is over the request's items: a request of two items is its own scale.
  const std::vector<ItemId> pair = {0, 2};
  float two[2];
  ensemble.Score(0, pair, two);
  EXPECT_NEAR(two[0], -2 * w, 1e-6);
  EXPECT_NEAR(two[1], 2 * w, 1e-6);
}

TEST(EnsembleFusionTest, RrfAddsWeightedReciprocalRanksOfEachMembersTop) {
  EnsembleSettings settings;
  settings.learn_weights = false;
  settings.fusion = EnsembleFusion::kRrf;
  settings.rrf_k = 60;
  settings.rrf_depth = 2;
  // Member 0: ranks 1, -, 2, 2 (items 2 and 3 tie at the depth cut; item 1 is below it).
  // Member 1: item 0 unscored; items 1 and 2 tie at rank 1; item 3 is below the cut.
  EnsembleModel ensemble(TableMembers({{3, 1, 2, 2, kUnscored}, {kUnscored, 5, 5, 1, kUnscored}}),
                         settings, 42);
  const std::vector<float> scores = ScoreAll(ensemble, 0, 5);
  EXPECT_FLOAT_EQ(scores[0], 0.5 / 61);
  EXPECT_FLOAT_EQ(scores[1], 0.5 / 61);
  EXPECT_FLOAT_EQ(scores[2], 0.5f / 62 + 0.5f / 61);
  EXPECT_FLOAT_EQ(scores[3], 0.5 / 62);
  EXPECT_EQ(scores[4], kUnscored);
}

TEST(EnsembleFusionTest, ContributionsSumToTheScoreWithLearnedWeights) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn,mf"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  for (const Event& event : MixedStream(5, 3000)) ensemble->Learn(event);
  ASSERT_NE(ensemble->weight(0, 0), ensemble->weight(0, 1));
  const std::vector<ItemId> items = AllItems(62);  // 60 and 61 were never learned
  std::vector<float> parts(3 * items.size());
  std::vector<float> scores(items.size());
  ensemble->ScoreWithContributions(7, items, scores.data(), parts.data());
  EXPECT_EQ(scores, ScoreAll(*ensemble, 7, items.size()));
  for (size_t i = 0; i < 60; ++i) {
    float sum = 0;
    for (size_t m = 0; m < 3; ++m) sum += parts[m * items.size() + i];
    EXPECT_EQ(scores[i], sum) << "item " << i;
  }
  EXPECT_EQ(scores[60], kUnscored);

  // The popularity term is the weighted z-score of the member's own scores.
  const std::vector<float> popularity = ScoreAll(*ensemble->FindMember("popularity"), 7, 60);
  double mean = 0;
  for (float s : popularity) mean += s / 60.0;
  double variance = 0;
  for (float s : popularity) variance += (s - mean) * (s - mean) / 60.0;
  for (size_t i = 0; i < 60; ++i) {
    EXPECT_NEAR(parts[i], ensemble->weight(0, 0) * (popularity[i] - mean) / std::sqrt(variance),
                1e-4);
  }
}

TEST(EnsembleFusionTest, ScoresConcurrentlyAsSequentially) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn,mf"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  for (const Event& event : MixedStream(6, 2000)) ensemble->Learn(event);
  std::vector<std::vector<float>> want;
  for (UserId user = 0; user < 40; ++user) want.push_back(ScoreAll(*ensemble, user, 60));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (UserId user = 0; user < 40; ++user) {
          mismatches[t] += ScoreAll(*ensemble, user, 60) != want[user];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// ---------------------------------------------------------------------------------------------
// Members, state and determinism

TEST(EnsembleModelTest, CreatesMembersWithTheirOwnOptions) {
  EnsembleOptions options(
      {{"ensemble.members", "popularity,fast:popularity,item_knn,mf"}, {"fast.half_life", "1h"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  ASSERT_NE(ensemble, nullptr);
  EXPECT_EQ(ensemble->type(), "ensemble");
  EXPECT_TRUE(ensemble->iterative());  // mf
  EXPECT_FALSE(ensemble->ordered_epochs());
  const auto* fast = dynamic_cast<const PopularityModel*>(ensemble->FindMember("fast"));
  const auto* slow = dynamic_cast<const PopularityModel*>(ensemble->FindMember("popularity"));
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(slow, nullptr);
  EXPECT_DOUBLE_EQ(fast->decay().half_life_s(), kHourS);
  EXPECT_DOUBLE_EQ(slow->decay().half_life_s(), 0);
  EXPECT_EQ(ensemble->FindMember("fm"), nullptr);
  EXPECT_EQ(ensemble->Members()[1].type, "popularity");

  EnsembleOptions counts({{"ensemble.members", "popularity,item_knn"}});
  EXPECT_FALSE(counts.Create()->iterative());
}

TEST(EnsembleModelTest, MembersCarryTheirWrittenOptionsBelowTheirInstanceOptions) {
  EnsembleOptions options(
      {{"ensemble.members",
        "popularity, pop_1h:popularity(half_life=1h), pop_1d:popularity(half_life=1d), "
        "knn:item_knn(half_life=6h, window=5)"},
       {"popularity.half_life", "15m"},
       {"pop_1d.half_life", "2d"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  ASSERT_NE(ensemble, nullptr);
  const auto half_life = [&](const char* name) {
    return dynamic_cast<const PopularityModel&>(*ensemble->FindMember(name)).decay().half_life_s();
  };
  EXPECT_DOUBLE_EQ(half_life("popularity"), kHourS / 4);  // the type's option
  EXPECT_DOUBLE_EQ(half_life("pop_1h"), kHourS);          // written beats the type's
  EXPECT_DOUBLE_EQ(half_life("pop_1d"), 48 * kHourS);     // the instance's beats written
  const auto& knn = dynamic_cast<const ItemKnnModel&>(*ensemble->FindMember("knn"));
  EXPECT_EQ(knn.window(), 5u);
  EXPECT_DOUBLE_EQ(knn.decay().half_life_s(), 6 * kHourS);

  StatusOr<std::vector<EnsembleMemberSpec>> specs =
      ParseEnsembleMembers("a:popularity(half_life=1h),b:transitions( window = 3 ,half_life=0)");
  ASSERT_TRUE(specs.ok()) << specs.status().ToString();
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[1].type, "transitions");
  EXPECT_EQ((*specs)[1].settings, (std::vector<std::pair<std::string, std::string>>{
                                      {"window", "3"}, {"half_life", "0"}}));
}

TEST(EnsembleModelTest, TheRegistryCreatesItAndRefusesBadMemberLists) {
  EnsembleOptions options;
  StatusOr<std::unique_ptr<Model>> model = CreateModel(options.view(), Context{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->type(), "ensemble");
  EXPECT_EQ(static_cast<EnsembleModel*>(model->get())->num_members(), 11u);  // the default list

  const std::map<std::string, std::string> bad = {
      {"popularity,item_nn", "did you mean 'item_knn'"},
      {"popularity,inner:ensemble", "do not nest"},
      {"mf,mf", "given twice"},
      {"a:mf,a:fm", "given twice"},
      {"", "no members"},
      {"pop-1:popularity", "NAME or NAME:TYPE"},
      {"p:popularity(half_lif=1h)", "popularity has no option 'half_lif'"},
      {"p:popularity(half_life=-1h)", "member 'p'"},
      {"p:popularity(half_life=1h", "without closing"},
      {"p:popularity(half_life)", "not field=value"},
  };
  for (const auto& [members, message] : bad) {
    EnsembleOptions with;
    with.Set("ensemble.members", members);
    StatusOr<std::unique_ptr<Model>> refused = CreateModel(with.view(), Context{});
    ASSERT_FALSE(refused.ok()) << members;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << members;
    EXPECT_NE(refused.status().message().find(message), std::string::npos)
        << refused.status().ToString();
  }
  for (const char* segments : {"5,3", "1", "101", "x", "5,,8"}) {
    EnsembleOptions with;
    with.Set("ensemble.segments", segments);
    StatusOr<std::unique_ptr<Model>> refused = CreateModel(with.view(), Context{});
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << segments;
  }
  EnsembleOptions segmented({{"ensemble.segments", " 2, 5 ,20"}});
  std::unique_ptr<EnsembleModel> three = segmented.Create();
  ASSERT_NE(three, nullptr);
  EXPECT_EQ(three->num_segments(), 4u);
}

TEST(EnsembleModelTest, SameSeedSameStreamSameState) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn,mf,fm"}});
  std::unique_ptr<EnsembleModel> a = options.Create(7);
  std::unique_ptr<EnsembleModel> b = options.Create(7);
  std::unique_ptr<EnsembleModel> other_seed = options.Create(8);
  for (const Event& event : MixedStream(9, 1500)) {
    a->Learn(event);
    b->Learn(event);
    other_seed->Learn(event);
  }
  EXPECT_EQ(SaveBytes(*a), SaveBytes(*b));
  EXPECT_EQ(ScoreAll(*a, 3, 61), ScoreAll(*b, 3, 61));
  EXPECT_NE(a->weight(0, 0), other_seed->weight(0, 0));  // the seed reaches negatives and members
}

TEST(EnsembleModelTest, LearnBatchEqualsLearnOnEachEventWhateverTheBatches) {
  // Members learn batches of 64 and more on threads of their own: the state must not depend on
  // how the stream was cut.
  EnsembleOptions options(
      {{"ensemble.members", "popularity,item_knn,mf,fm"}, {"ensemble.judge_rate", "0.5"}});
  const std::vector<Event> events = MixedStream(21, 6000);
  std::unique_ptr<EnsembleModel> one_by_one = options.Create();
  for (const Event& event : events) one_by_one->Learn(event);
  ASSERT_GT(one_by_one->judged_events(), 500u);

  std::unique_ptr<EnsembleModel> batched = options.Create();
  const std::span<const Event> stream(events);
  const size_t cuts[] = {1, 63, 64, 700, 5000};  // then the rest, 172 events
  size_t begin = 0;
  for (size_t length : cuts) {
    batched->LearnBatch(stream.subspan(begin, length));
    begin += length;
  }
  batched->LearnBatch(stream.subspan(begin));
  EXPECT_EQ(SaveBytes(*batched), SaveBytes(*one_by_one));
  EXPECT_EQ(ScoreAll(*batched, 5, 61), ScoreAll(*one_by_one, 5, 61));
}

TEST(EnsembleModelTest, SaveLoadAndCloneContinueBitIdentically) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn,mf,fm"}});
  const std::vector<Event> events = MixedStream(11, 3000);
  std::unique_ptr<EnsembleModel> uninterrupted = options.Create();
  std::unique_ptr<EnsembleModel> first_half = options.Create();
  for (const Event& event : events) uninterrupted->Learn(event);
  for (size_t k = 0; k < events.size() / 2; ++k) first_half->Learn(events[k]);
  const std::string saved = SaveBytes(*first_half);

  std::unique_ptr<EnsembleModel> loaded = options.Create();
  BinaryReader reader(saved);
  ASSERT_TRUE(loaded->Load(&reader).ok());
  EXPECT_EQ(reader.remaining(), 0u);
  EXPECT_EQ(SaveBytes(*loaded), saved);
  std::unique_ptr<Model> clone = first_half->Clone();
  EXPECT_EQ(SaveBytes(*clone), saved);

  for (size_t k = events.size() / 2; k < events.size(); ++k) {
    loaded->Learn(events[k]);
    clone->Learn(events[k]);
  }
  const std::string want = SaveBytes(*uninterrupted);
  EXPECT_EQ(SaveBytes(*loaded), want);
  EXPECT_EQ(SaveBytes(*clone), want);
  EXPECT_EQ(ScoreAll(*loaded, 5, 61), ScoreAll(*uninterrupted, 5, 61));
  EXPECT_EQ(SaveBytes(*first_half), saved);  // the clone shares nothing
  EXPECT_GT(loaded->MemoryBytes(), loaded->FindMember("mf")->MemoryBytes());
}

// Appends what a streaming BinaryWriter passes on, as a snapshot file would receive it.
class StringSink final : public ByteSink {
 public:
  void Write(std::string_view bytes) override { bytes_.append(bytes); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

TEST(EnsembleModelTest, StreamsTheSameBytesAndLoadsTheLengthPrefixedLayout) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn,mf"}});
  std::unique_ptr<EnsembleModel> source = options.Create();
  for (const Event& event : MixedStream(14, 2000)) source->Learn(event);
  const std::string saved = SaveBytes(*source);
  StringSink sink;
  {
    BinaryWriter streaming(&sink);
    source->Save(&streaming);
  }
  EXPECT_EQ(sink.bytes(), saved);

  // Version 1 wrote each member's length in front of its bytes (version 2 writes it after):
  // rebuilt from the members' own bytes, it loads into the same state.
  std::vector<std::string> members;
  for (const char* name : {"popularity", "item_knn", "mf"}) {
    members.push_back(SaveBytes(*source->FindMember(name)));
  }
  size_t members_bytes = 0;
  for (const std::string& member : members) members_bytes += member.size() + sizeof(uint64_t);
  ASSERT_LT(members_bytes, saved.size());
  BinaryWriter v1;
  v1.PutBytes(saved.data(), 4);  // the tag
  v1.Put<uint32_t>(1);
  v1.PutBytes(saved.data() + 8, saved.size() - members_bytes - 8);
  for (const std::string& member : members) v1.PutString(member);
  std::unique_ptr<EnsembleModel> loaded = options.Create();
  BinaryReader reader(v1.data());
  ASSERT_TRUE(loaded->Load(&reader).ok());
  EXPECT_EQ(reader.remaining(), 0u);
  EXPECT_EQ(SaveBytes(*loaded), saved);
}

TEST(EnsembleModelTest, LoadIsAllOrNothing) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn"}});
  std::unique_ptr<EnsembleModel> source = options.Create();
  for (const Event& event : MixedStream(12, 300)) source->Learn(event);
  const std::string saved = SaveBytes(*source);

  std::unique_ptr<EnsembleModel> target = options.Create();
  for (const Event& event : MixedStream(13, 100)) target->Learn(event);
  const std::string before = SaveBytes(*target);
  for (size_t length = 0; length < saved.size(); ++length) {
    BinaryReader reader(std::string_view(saved).substr(0, length));
    ASSERT_EQ(target->Load(&reader).code(), StatusCode::kCorruption) << "length " << length;
  }
  EXPECT_EQ(SaveBytes(*target), before);

  // The second member's bytes are foreign: the first member, already read, must not change.
  std::string corrupt = saved;
  const size_t knn_tag = corrupt.find("iknn");
  ASSERT_NE(knn_tag, std::string::npos);
  corrupt[knn_tag] ^= 1;
  BinaryReader corrupt_reader(corrupt);
  const Status status = target->Load(&corrupt_reader);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("item_knn"), std::string::npos) << status.ToString();
  EXPECT_EQ(SaveBytes(*target), before);

  // Other members, or another ring size, are a different model.
  const std::vector<std::pair<std::string, std::string>> others = {
      {"ensemble.members", "popularity,knn:item_knn"},
      {"ensemble.members", "popularity"},
      {"ensemble.reward_pool", "99"},
      {"ensemble.reward_history", "7"},
      {"ensemble.segments", "3"}};
  for (const auto& [key, value] : others) {
    EnsembleOptions different({{"ensemble.members", "popularity,item_knn"}});
    different.Set(key, value);
    std::unique_ptr<EnsembleModel> other = different.Create();
    BinaryReader reader(saved);
    EXPECT_EQ(other->Load(&reader).code(), StatusCode::kFailedPrecondition) << key << value;
  }
}

// ---------------------------------------------------------------------------------------------
// Candidates

TEST(EnsembleCandidatesTest, UnionOfTheMembersCandidatesWithoutRepeats) {
  EnsembleOptions options({{"ensemble.members", "popularity,item_knn,mf"}});
  std::unique_ptr<EnsembleModel> ensemble = options.Create();
  for (const Event& event : MixedStream(14, 2000)) ensemble->Learn(event);

  for (const size_t n : {size_t{1}, size_t{5}, size_t{30}, size_t{1000}}) {
    std::vector<ItemId> got = {12345};  // appended after what is there
    ensemble->Candidates(3, n, &got);
    ASSERT_GE(got.size(), 2u);
    EXPECT_EQ(got[0], 12345u);
    got.erase(got.begin());
    EXPECT_LE(got.size(), n);
    EXPECT_EQ(std::set<ItemId>(got.begin(), got.end()).size(), got.size()) << "repeats";

    std::set<ItemId> union_of_members;
    for (const ModelMember& member : ensemble->members()) {
      const CandidateSource* source = member.capabilities.candidates;
      if (member.name == "mf") {
        EXPECT_EQ(source, nullptr);  // mf only reranks
        continue;
      }
      ASSERT_NE(source, nullptr) << member.name;
      std::vector<ItemId> candidates;
      source->Candidates(3, n, &candidates);
      union_of_members.insert(candidates.begin(), candidates.end());
    }
    for (ItemId item : got) EXPECT_TRUE(union_of_members.count(item)) << item;
    EXPECT_EQ(got.size(), std::min(n, union_of_members.size()));
  }
  // The heaviest member's best candidate comes first.
  const size_t heaviest = ensemble->weight(0, 0) >= ensemble->weight(0, 1) ? 0 : 1;
  std::vector<ItemId> first;
  ensemble->members()[heaviest].capabilities.candidates->Candidates(3, 1, &first);
  std::vector<ItemId> got;
  ensemble->Candidates(3, 1, &got);
  EXPECT_EQ(got, first);

  EnsembleOptions only_mf({{"ensemble.members", "mf"}});
  std::unique_ptr<EnsembleModel> reranker = only_mf.Create();
  for (const Event& event : MixedStream(14, 100)) reranker->Learn(event);
  std::vector<ItemId> none;
  reranker->Candidates(3, 10, &none);
  EXPECT_TRUE(none.empty());  // no member proposes: score everything
}

}  // namespace
}  // namespace liverec
