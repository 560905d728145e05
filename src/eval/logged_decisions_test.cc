#include "eval/logged_decisions.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine_testing.h"
#include "liverec/engine.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

class LoggedDecisionsTest : public testing::TempDirTest {
 protected:
  Options EngineOptions() const {
    return testing::EngineOptions(
        root_, {"engine.models=popularity,item_knn", "engine.default_model=item_knn",
                "feedback.join_window=1min"});
  }
  ManualClock clock_{1'700'000'000'000};
};

// A real engine serves explored lists and takes clicks; read back from its data directory,
// every decision comes with its items, probabilities and clicks, and the target's list is the
// one the engine would have served greedily at that point.
TEST_F(LoggedDecisionsTest, ReadsEachDecisionWithItsClicksAndTheTargetsList) {
  std::vector<std::vector<std::string>> shown, greedy;
  std::vector<std::vector<double>> probabilities;
  std::vector<int> clicked_position;
  {
    Context context;
    context.clock = &clock_;
    std::unique_ptr<Engine> engine = Engine::Open(EngineOptions(), context, "", nullptr).value();
    IngestResult result;
    ASSERT_TRUE(engine
                    ->Ingest(testing::GroupStream(400, 1, clock_.NowMs() - 1'000'000),
                             IngestWait::kLearned, &result)
                    .ok());
    for (int u = 0; u < 20; ++u) {
      RecommendRequest request;
      request.user = "u" + std::to_string(u);
      request.k = 4;
      request.model = "item_knn";
      // The greedy list is a decision of its own (on-policy: the target's list is its own).
      StatusOr<Recommendations> best = engine->Recommend(request);
      ASSERT_TRUE(best.ok());
      request.explore = "epsilon:0.5";
      StatusOr<Recommendations> recs = engine->Recommend(request);
      ASSERT_TRUE(recs.ok());
      for (const Recommendations* list : {&*best, &*recs}) {
        shown.emplace_back();
        greedy.emplace_back();
        probabilities.emplace_back();
        for (const ScoredItem& item : list->items) {
          shown.back().push_back(item.item);
          probabilities.back().push_back(item.probability);
        }
        for (const ScoredItem& item : best->items) greedy.back().push_back(item.item);
      }
      // Every third user clicks the second item of the explored list.
      clicked_position.push_back(-1);
      clicked_position.push_back(u % 3 == 0 ? 1 : -1);
      if (u % 3 == 0) {
        EventRecord click = testing::Record(request.user, recs->items[1].item, clock_.NowMs());
        click.recommendation_id = recs->recommendation_id;
        ASSERT_TRUE(engine->Ingest({click}, IngestWait::kLearned, &result).ok());
      }
    }
  }
  StatusOr<LoggedDecisions> logged =
      ReadLoggedDecisions(root_, EngineOptions(), Context{}, "item_knn", 3);
  ASSERT_TRUE(logged.ok()) << logged.status().message();
  ASSERT_EQ(logged->lists.size(), 40u);
  EXPECT_EQ(logged->first_seq, 1u);
  EXPECT_EQ(logged->clicks, 7u);
  for (size_t i = 0; i < logged->lists.size(); ++i) {
    const LoggedList& list = logged->lists[i];
    ASSERT_EQ(list.shown.size(), 3u);
    ASSERT_EQ(list.target.size(), 3u);
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(list.probability[j], probabilities[i][j]);
      EXPECT_EQ(list.clicked[j], clicked_position[i] == static_cast<int>(j) ? 1 : 0) << i;
      // Ids are shared by shown and target lists: equal ids, equal items.
      for (size_t l = 0; l < 3; ++l) {
        EXPECT_EQ(list.shown[j] == list.target[l], shown[i][j] == greedy[i][l]) << i;
      }
    }
  }
  EXPECT_EQ(ReadLoggedDecisions(root_, EngineOptions(), Context{}, "mf", 3).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace liverec
