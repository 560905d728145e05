// ItemForgetting across every model type: a forgotten item leaves every list that named it, its
// own state goes back to a new item's, and its id, reused, learns as a brand-new item.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/fm/fm.h"
#include "model/mf/mf.h"
#include "model/model_testing.h"
#include "model/registry.h"
#include "model/seq/seq.h"

namespace liverec {
namespace {

constexpr uint32_t kUsers = 30;
constexpr uint32_t kItems = 40;
constexpr ItemId kForgotten = 5;  // consumed by the users of group 0 (items 0..19)
constexpr UserId kNeverSeen = 1000;
constexpr ItemId kNeverLearned = 1000;

// Users in two groups, each consuming its own half of the items, one event a minute; with
// `with_forgotten` false, kForgotten is left out.
std::vector<Event> GroupEvents(bool with_forgotten = true) {
  std::vector<Event> events;
  int64_t time_ms = testing::kEpochMs;
  for (uint32_t round = 0; round < 12; ++round) {
    for (UserId u = 0; u < kUsers; ++u) {
      const ItemId item = (u % 2) * (kItems / 2) + (u * 7 + round * 3) % (kItems / 2);
      time_ms += testing::kMinuteMs;
      if (item == kForgotten && !with_forgotten) continue;
      events.push_back(testing::MakeEvent(time_ms, u, item));
    }
  }
  return events;
}

// After GroupEvents: the id comes back as a new item, consumed by users old and new, between
// events on items the model knows.
std::vector<Event> ReuseEvents() {
  std::vector<Event> events;
  int64_t time_ms = testing::kEpochMs + testing::kDayMs;
  for (const UserId u : {UserId{0}, UserId{3}, UserId{2}, UserId{31}, UserId{0}, UserId{32}}) {
    time_ms += testing::kMinuteMs;
    events.push_back(testing::MakeEvent(time_ms, u, u % 2 == 0 ? 8 : 21));
    time_ms += testing::kMinuteMs;
    events.push_back(testing::MakeEvent(time_ms, u, kForgotten));
  }
  return events;
}

std::unique_ptr<Model> Make(const std::string& type, std::initializer_list<const char*> sets) {
  Options options;
  for (const char* set :
       {"mf.dim=8", "fm.dim=8", "fm.hash_bits=10", "seq.dim=8", "seq.max_len=6", "seq.blocks=1",
        "seq.negatives=8", "seq.stride=2", "seq.train_positions=6", "ensemble.judge_rate=1"}) {
    EXPECT_TRUE(options.SetAssignment(set).ok()) << set;
  }
  for (const char* set : sets) EXPECT_TRUE(options.SetAssignment(set).ok()) << set;
  StatusOr<std::unique_ptr<Model>> model = CreateModel(OptionView(&options, type, type), Context{});
  EXPECT_TRUE(model.ok()) << model.status().message();
  return std::move(model).value();
}

bool Names(const std::vector<ItemId>& items, ItemId item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

class ForgetItemTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ForgetItemTest, AForgottenItemLeavesEveryListAndTheStateStillRoundTrips) {
  std::unique_ptr<Model> model = Make(GetParam(), {});
  for (const Event& event : GroupEvents()) model->Learn(event);
  const ModelCapabilities capabilities = DiscoverCapabilities(*model);
  ASSERT_NE(capabilities.item_forgetting, nullptr);
  const std::vector<float> before = testing::ScoreAll(*model, 0, kItems);

  const std::string unchanged = testing::SaveBytes(*model);
  capabilities.item_forgetting->ForgetItem(kNeverLearned);  // never learned: nothing to do
  EXPECT_EQ(testing::SaveBytes(*model), unchanged);
  capabilities.item_forgetting->ForgetItem(kForgotten);
  capabilities.item_forgetting->ForgetItem(kForgotten);  // a repeat changes nothing more

  const std::vector<float> after = testing::ScoreAll(*model, 0, kItems);
  EXPECT_NE(after[kForgotten], before[kForgotten]);
  for (UserId u = 0; u < kUsers; ++u) {
    if (capabilities.candidates != nullptr) {
      std::vector<ItemId> candidates;
      capabilities.candidates->Candidates(u, kItems, &candidates);
      EXPECT_FALSE(Names(candidates, kForgotten)) << "user " << u;
    }
  }
  if (capabilities.nearest_items != nullptr) {
    for (ItemId item = 0; item < kItems; ++item) {
      std::vector<std::pair<ItemId, float>> similar;
      capabilities.nearest_items->Similar(item, kItems, &similar);
      for (const auto& [other, similarity] : similar) EXPECT_NE(other, kForgotten) << item;
    }
  }
  // Count models and seq leave items they never learned unscored: so too the forgotten one.
  if (GetParam() != "mf" && GetParam() != "fm" && GetParam() != "ensemble") {
    for (UserId u = 0; u < kUsers; ++u) {
      EXPECT_EQ(testing::ScoreAll(*model, u, kItems)[kForgotten], kUnscored) << "user " << u;
    }
  }

  std::unique_ptr<Model> loaded = Make(GetParam(), {});
  std::string saved = testing::SaveBytes(*model);
  BinaryReader reader(saved);
  ASSERT_TRUE(loaded->Load(&reader).ok());
  EXPECT_EQ(testing::SaveBytes(*loaded), saved);

  // The id learns again as a new item, and the state still round-trips.
  for (const Event& event : ReuseEvents()) model->Learn(event);
  saved = testing::SaveBytes(*model);
  BinaryReader again(saved);
  ASSERT_TRUE(loaded->Load(&again).ok());
  EXPECT_EQ(testing::SaveBytes(*loaded), saved);
  EXPECT_NE(testing::ScoreAll(*model, 0, kItems)[kForgotten], kUnscored);
}

INSTANTIATE_TEST_SUITE_P(EveryModel, ForgetItemTest,
                         ::testing::Values("popularity", "item_knn", "transitions", "mf", "fm",
                                           "seq", "ensemble"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

// The count models hold nothing shared that the item's events moved (without decay, with
// windows that never overflow and unbounded lists): a model that learned the item, forgot it,
// then saw its id come back as a new item scores every user and item exactly as a model that
// never saw the old item and then learned the new one.
class ReusedIdTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReusedIdTest, AReusedIdScoresAsABrandNewItem) {
  const std::initializer_list<const char*> exact = {
      "popularity.half_life=0",    "item_knn.half_life=0",    "item_knn.window=64",
      "item_knn.max_neighbours=0", "transitions.half_life=0", "transitions.window=64"};
  std::unique_ptr<Model> reused = Make(GetParam(), exact);
  std::unique_ptr<Model> fresh = Make(GetParam(), exact);
  // The old item's events come last in each user's path, so that the fresh model's paths
  // without them are those the forgetting one is left with.
  std::vector<Event> old_events = GroupEvents(false);
  std::vector<Event> with_old = old_events;
  for (UserId u = 0; u < kUsers; u += 2) {
    with_old.push_back(testing::MakeEvent(with_old.back().time_ms + 1, u, kForgotten));
  }
  for (const Event& event : with_old) reused->Learn(event);
  for (const Event& event : old_events) fresh->Learn(event);
  DiscoverCapabilities(*reused).item_forgetting->ForgetItem(kForgotten);
  for (const Event& event : ReuseEvents()) {
    reused->Learn(event);
    fresh->Learn(event);
  }

  const ModelCapabilities reused_capabilities = DiscoverCapabilities(*reused);
  const ModelCapabilities fresh_capabilities = DiscoverCapabilities(*fresh);
  for (UserId u = 0; u < kUsers + 3; ++u) {
    EXPECT_EQ(testing::ScoreAll(*reused, u, kItems), testing::ScoreAll(*fresh, u, kItems))
        << "user " << u;
    std::vector<ItemId> reused_candidates;
    std::vector<ItemId> fresh_candidates;
    reused_capabilities.candidates->Candidates(u, kItems, &reused_candidates);
    fresh_capabilities.candidates->Candidates(u, kItems, &fresh_candidates);
    EXPECT_EQ(reused_candidates, fresh_candidates) << "user " << u;
  }
  EXPECT_EQ(testing::ScoreAll(*reused, kNeverSeen, kItems),
            testing::ScoreAll(*fresh, kNeverSeen, kItems));
}

INSTANTIATE_TEST_SUITE_P(CountModels, ReusedIdTest,
                         ::testing::Values("popularity", "item_knn", "transitions"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

// Embedding models: what their events taught user rows and the network stays (as a user's
// forgetting leaves item rows), so the reused id's scores differ from a fresh model's through
// the users; what is the item's own starts over. Its row, bias and optimizer state are those
// of a model that never learned it.
bool SameFloats(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(ForgetItemRowsTest, MfTheItemsRowAndBiasAreThoseOfAnItemNeverLearned) {
  for (const char* admission : {"mf.min_count=1", "mf.min_count=2"}) {
    SCOPED_TRACE(admission);
    std::unique_ptr<Model> model = Make("mf", {"mf.item_bias=true", admission});
    auto& mf = dynamic_cast<MfModel&>(*model);
    for (const Event& event : GroupEvents()) mf.Learn(event);
    std::vector<ItemId> changed;
    mf.TakeChangedItems(&changed);
    ASSERT_NE(mf.item_row(kForgotten), RowAdmission::kNoRow);
    EXPECT_NE(mf.item_bias(kForgotten), 0.0f);
    mf.ForgetItem(kForgotten);

    // A model that learned only an event on the next id, drawing no negatives, has an
    // untouched row for the id.
    std::unique_ptr<Model> other =
        Make("mf", {"mf.item_bias=true", "mf.min_count=1", "mf.negatives=0"});
    auto& untouched = dynamic_cast<MfModel&>(*other);
    untouched.Learn(testing::MakeEvent(testing::kEpochMs, 0, kForgotten + 1));
    const auto row_of = [](const MfModel& m, ItemId item) {
      const EmbeddingTable& table = m.item_factors();
      return std::span<const float>(table.row(m.item_row(item)), table.dim());
    };
    if (mf.item_rows().dense()) {
      EXPECT_TRUE(SameFloats(row_of(mf, kForgotten), row_of(untouched, kForgotten)));
      EXPECT_EQ(mf.item_bias(kForgotten), 0.0f);
    } else {
      EXPECT_EQ(mf.item_row(kForgotten), RowAdmission::kNoRow);  // freed, as by an eviction
      EXPECT_EQ(testing::ScoreAll(mf, 0, kItems)[kForgotten], kUnscored);
    }
    // Retrieval re-reads the item.
    changed.clear();
    const bool listed = mf.TakeChangedItems(&changed);
    EXPECT_TRUE(!listed || Names(changed, kForgotten));
  }
}

TEST(ForgetItemRowsTest, FmTheItemsIdRowIsThatOfAnItemNeverLearned) {
  std::unique_ptr<Model> model = Make("fm", {});
  auto& fm = dynamic_cast<FmModel&>(*model);
  for (const Event& event : GroupEvents()) fm.Learn(event);
  std::vector<FmFeature> features;
  fm.ExampleFeatures(testing::MakeEvent(testing::kEpochMs, kNeverSeen, 0), kForgotten, &features);
  const uint32_t row = features.back().row;  // without metadata the item side is its id alone
  EXPECT_NE(fm.weight(row), 0.0f);
  const size_t saved_bytes = testing::SaveBytes(fm).size();
  fm.ForgetItem(kForgotten);
  std::unique_ptr<Model> untouched = Make("fm", {});
  const auto& fresh = dynamic_cast<const FmModel&>(*untouched);
  EXPECT_EQ(fm.weight(row), 0.0f);
  EXPECT_TRUE(SameFloats(fm.factors(row), fresh.factors(row)));
  EXPECT_LT(testing::SaveBytes(fm).size(), saved_bytes);  // an untouched row is not saved
}

TEST(ForgetItemRowsTest, SeqTheItemsRowIsThatOfAnItemNeverLearnedAndItLeavesTheHistories) {
  std::unique_ptr<Model> model = Make("seq", {});
  auto& seq = dynamic_cast<SeqModel&>(*model);
  for (const Event& event : GroupEvents()) seq.Learn(event);
  seq.ForgetItem(kForgotten);
  std::unique_ptr<Model> other = Make("seq", {});
  auto& untouched = dynamic_cast<SeqModel&>(*other);
  untouched.Learn(testing::MakeEvent(testing::kEpochMs, 0, kForgotten + 1));
  const auto row_of = [](const SeqModel& m, ItemId item) {
    return std::span<const float>(m.item_embeddings().row(item), m.item_embeddings().dim());
  };
  EXPECT_TRUE(SameFloats(row_of(seq, kForgotten), row_of(untouched, kForgotten)));
  for (UserId u = 0; u < kUsers; ++u) {
    const std::span<const ItemId> history = seq.history(u);
    EXPECT_EQ(std::find(history.begin(), history.end(), kForgotten), history.end()) << u;
  }
}

}  // namespace
}  // namespace liverec
