// UserForgetting across every model type: a forgotten user scores as one never seen; a model
// without it (popularity) holds nothing per user.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/model_testing.h"
#include "model/registry.h"

namespace liverec {
namespace {

constexpr uint32_t kUsers = 30;
constexpr uint32_t kItems = 40;
constexpr UserId kForgotten = 3;
constexpr UserId kNeverSeen = 1000;

// Users in two groups, each consuming its own half of the items, one event a minute.
std::vector<Event> GroupEvents() {
  std::vector<Event> events;
  for (uint32_t round = 0; round < 12; ++round) {
    for (UserId u = 0; u < kUsers; ++u) {
      const ItemId item = (u % 2) * (kItems / 2) + (u * 7 + round * 3) % (kItems / 2);
      events.push_back(testing::MakeEvent(
          testing::kEpochMs + static_cast<int64_t>(events.size()) * testing::kMinuteMs, u, item));
    }
  }
  return events;
}

class ForgetUserTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Model> Make() {
    for (const char* set :
         {"mf.dim=8", "fm.dim=8", "fm.hash_bits=10", "seq.dim=8", "seq.max_len=6", "seq.blocks=1",
          "seq.negatives=8", "seq.stride=2", "seq.train_positions=6", "ensemble.judge_rate=1"}) {
      EXPECT_TRUE(options_.SetAssignment(set).ok()) << set;
    }
    StatusOr<std::unique_ptr<Model>> model =
        CreateModel(OptionView(&options_, GetParam(), GetParam()), Context{});
    EXPECT_TRUE(model.ok()) << model.status().message();
    return std::move(model).value();
  }
  Options options_;
};

TEST_P(ForgetUserTest, AForgottenUserScoresAsOneNeverSeenAndOthersKeepTheirs) {
  std::unique_ptr<Model> model = Make();
  for (const Event& event : GroupEvents()) model->Learn(event);
  const std::vector<float> remembered = testing::ScoreAll(*model, kForgotten, kItems);
  const std::vector<float> other = testing::ScoreAll(*model, kForgotten + 1, kItems);
  const std::vector<float> stranger = testing::ScoreAll(*model, kNeverSeen, kItems);
  if (GetParam() != "popularity") {
    EXPECT_NE(remembered, stranger);  // it had something to forget
  }

  const ModelCapabilities capabilities = DiscoverCapabilities(*model);
  EXPECT_EQ(capabilities.forgetting == nullptr, GetParam() == "popularity");
  if (capabilities.forgetting != nullptr) {
    capabilities.forgetting->ForgetUser(kForgotten);
    capabilities.forgetting->ForgetUser(kNeverSeen + 5);  // never seen: nothing to do
  }
  EXPECT_EQ(testing::ScoreAll(*model, kForgotten, kItems), stranger);
  EXPECT_EQ(testing::ScoreAll(*model, kForgotten + 1, kItems), other);
  std::vector<ItemId> forgotten_candidates, stranger_candidates;
  if (capabilities.candidates != nullptr) {
    capabilities.candidates->Candidates(kForgotten, 10, &forgotten_candidates);
    capabilities.candidates->Candidates(kNeverSeen, 10, &stranger_candidates);
  }
  EXPECT_EQ(forgotten_candidates, stranger_candidates);

  // The id learns again from its next event, and the state still round-trips.
  model->Learn(testing::MakeEvent(testing::kEpochMs + testing::kDayMs, kForgotten, 1));
  const std::string saved = testing::SaveBytes(*model);
  std::unique_ptr<Model> loaded = Make();
  BinaryReader reader(saved);
  ASSERT_TRUE(loaded->Load(&reader).ok());
  EXPECT_EQ(testing::SaveBytes(*loaded), saved);
}

INSTANTIATE_TEST_SUITE_P(EveryModel, ForgetUserTest,
                         ::testing::Values("popularity", "item_knn", "transitions", "mf", "fm",
                                           "seq", "ensemble"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

}  // namespace
}  // namespace liverec
