// The read side alone: a Recommender over an EngineState fed by Apply, with no engine, threads
// or log around it.
#include "engine/recommender.h"

#include <gtest/gtest.h>

#include <set>

#include "engine/engine_testing.h"

namespace liverec {
namespace {

using testing::GroupStream;
using testing::Record;

std::unique_ptr<EngineState> StateOf(const Options& options, std::vector<EventRecord> events) {
  StatusOr<std::unique_ptr<EngineState>> state = EngineState::Create(options, Context{});
  EXPECT_TRUE(state.ok()) << state.status().message();
  uint64_t seq = 0;
  for (EventRecord& record : events) {
    LogEntry entry;
    entry.kind = LogEntryKind::kEvent;
    entry.event = std::move(record);
    (*state)->Apply(++seq, entry);
  }
  return std::move(state).value();
}

RecommendRequest For(std::string user, size_t k, std::string model = "") {
  RecommendRequest request;
  request.user = std::move(user);
  request.k = k;
  request.model = std::move(model);
  return request;
}

std::set<std::string> ItemsOf(const Recommendations& recs) {
  std::set<std::string> out;
  for (const ScoredItem& s : recs.items) out.insert(s.item);
  return out;
}

TEST(RecommenderTest, RanksAUsersOwnGroupFirstAndLeavesOutWhatTheUserConsumed) {
  const Options options = testing::EngineOptions("unused");
  // About ten events per user: most of the own group's twenty items are still to recommend.
  auto state = StateOf(options, GroupStream(400, 7));
  const Recommender recommender(RecommenderOptions::FromOptions(options, 1), *state);
  ASSERT_TRUE(recommender.Validate().ok());
  // u0 is in group 0, which consumes items i0..i19.
  for (const char* model : {"item_knn", "popularity", "mf", ""}) {
    SCOPED_TRACE(model);
    StatusOr<Recommendations> recs = recommender.Recommend(For("u0", 5, model));
    ASSERT_TRUE(recs.ok()) << recs.status().message();
    EXPECT_FALSE(recs->fallback);
    ASSERT_FALSE(recs->items.empty());
    const UserId u0 = state->users().Find("u0");
    for (const ScoredItem& s : recs->items) {
      const ItemId item = state->items().Find(s.item);
      EXPECT_FALSE(state->history().Contains(u0, item)) << s.item << " was consumed";
    }
    if (std::string(model) == "item_knn") {
      for (const ScoredItem& s : recs->items) {
        if (s.backfill) continue;
        EXPECT_LT(std::stoi(s.item.substr(1)), 20) << s.item << " is the other group's";
      }
    }
  }
}

TEST(RecommenderTest, AnUnknownUserGetsTheFallbackAndAUserWithoutNeighboursAFullList) {
  const Options options = testing::EngineOptions("unused");
  auto state = StateOf(options, GroupStream(2000, 3));
  const Recommender recommender(RecommenderOptions::FromOptions(options, 1), *state);
  StatusOr<Recommendations> recs = recommender.Recommend(For("stranger", 7));
  ASSERT_TRUE(recs.ok());
  EXPECT_TRUE(recs->fallback);
  EXPECT_EQ(recs->model, "popularity");
  EXPECT_EQ(recs->items.size(), 7u);

  // A user with one event on an item nobody else has: item_knn has no neighbours to propose,
  // and the list is still full, without the item the user consumed.
  std::vector<EventRecord> events = GroupStream(2000, 3);
  events.push_back(Record("loner", "rare", events.back().time_ms + 1000));
  auto with_loner = StateOf(options, events);
  const Recommender r2(RecommenderOptions::FromOptions(options, 1), *with_loner);
  StatusOr<Recommendations> filled = r2.Recommend(For("loner", 4, "item_knn"));
  ASSERT_TRUE(filled.ok());
  ASSERT_EQ(filled->items.size(), 4u);
  EXPECT_EQ(ItemsOf(*filled).count("rare"), 0u);
}

TEST(RecommenderTest, ErrorsNameWhatIsWrong) {
  const Options options = testing::EngineOptions("unused");
  auto state = StateOf(options, GroupStream(500, 1));
  const Recommender recommender(RecommenderOptions::FromOptions(options, 1), *state);
  EXPECT_EQ(recommender.Recommend(For("u0", 0)).status().code(), StatusCode::kInvalidArgument);
  StatusOr<Recommendations> unknown = recommender.Recommend(For("u0", 3, "nope"));
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("nope"), std::string::npos);
  EXPECT_EQ(recommender.Similar("no-such-item", 3).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(recommender.GetUser("no-such-user", 3).status().code(), StatusCode::kNotFound);

  const Options bad = testing::EngineOptions("unused", {"engine.default_model=nope"});
  auto bad_state = StateOf(bad, {});
  const Recommender misconfigured(RecommenderOptions::FromOptions(bad, 1), *bad_state);
  EXPECT_EQ(misconfigured.Validate().code(), StatusCode::kInvalidArgument);
}

TEST(RecommenderTest, SimilarItemsAndUserLookupsReadTheState) {
  const Options options = testing::EngineOptions("unused");
  auto state = StateOf(options, GroupStream(3000, 11));
  const Recommender recommender(RecommenderOptions::FromOptions(options, 1), *state);
  StatusOr<std::vector<ScoredItem>> similar = recommender.Similar("i3", 5);
  ASSERT_TRUE(similar.ok()) << similar.status().message();
  ASSERT_EQ(similar->size(), 5u);
  for (const ScoredItem& s : *similar) {
    EXPECT_LT(std::stoi(s.item.substr(1)), 20) << s.item << " is the other group's";
    EXPECT_NE(s.item, "i3");
  }
  StatusOr<UserInfo> user = recommender.GetUser("u1", 3);
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->recent.size(), 3u);
  EXPECT_GT(user->num_events, 3u);
  EXPECT_GE(user->recent[0].second, user->recent[1].second);  // newest first
}

TEST(RecommenderTest, ExplanationsNameRecentItemsAndEnsembleTermsThatSumToTheScore) {
  const Options options = testing::EngineOptions("unused");
  auto state = StateOf(options, GroupStream(400, 5));
  const Recommender recommender(RecommenderOptions::FromOptions(options, 1), *state);
  RecommendRequest request = For("u2", 5);
  request.explain = true;
  StatusOr<Recommendations> recs = recommender.Recommend(request);
  ASSERT_TRUE(recs.ok());
  EXPECT_EQ(recs->model, "ensemble");
  ASSERT_FALSE(recs->items.empty());
  for (const ScoredItem& s : recs->items) {
    if (s.backfill) continue;
    EXPECT_FALSE(s.because.empty()) << s.item;
    float sum = 0;
    for (const auto& [name, term] : s.models) sum += term;
    EXPECT_NEAR(sum, s.score, 1e-4f) << s.item;
  }
}

TEST(RecommenderTest, RecommendationIdsAreUniquePerCall) {
  const Options options = testing::EngineOptions("unused");
  auto state = StateOf(options, GroupStream(200, 1));
  const Recommender recommender(RecommenderOptions::FromOptions(options, 42), *state);
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(recommender.Recommend(For("u0", 2))->recommendation_id);
  EXPECT_EQ(ids.size(), 100u);
}

}  // namespace
}  // namespace liverec
