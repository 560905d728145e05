// The candidate stage of inner-product models: retrieval from an index (rank.retrieval) gives the
// recommender the same lists as the full scan, follows learning and restarts, and HNSW keeps its
// recall against the exact index.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "common/random.h"
#include "engine/engine_state.h"
#include "engine/engine_testing.h"
#include "engine/recommender.h"
#include "kernels/kernels.h"
#include "retrieval/hnsw_index.h"

namespace liverec {
namespace {

using testing::EngineOptions;
using testing::Record;

constexpr size_t kNumUsers = 300;
constexpr size_t kNumItems = 3000;
constexpr size_t kNumEvents = 30'000;
constexpr size_t kNumCategories = 7;
constexpr size_t kK = 10;

// A catalogue size at which rank.retrieval=auto builds its graph early in LearnedState.
constexpr size_t kSmallHnswMinItems = 1000;

// Options of an engine serving mf alone, with `retrieval` as its candidate stage (and
// rank.hnsw_min_items = `hnsw_min_items` when not 0).
Options MfOptions(const std::string& retrieval, size_t hnsw_min_items = 0) {
  Options options = EngineOptions(
      "", {"engine.models=mf", "engine.default_model=mf", "engine.fallback_model=mf", "mf.dim=16",
           "mf.negatives=4", "rank.candidates=50", "rank.retrieval=" + retrieval});
  if (hnsw_min_items > 0) {
    EXPECT_TRUE(options.Set("rank.hnsw_min_items", std::to_string(hnsw_min_items)).ok());
  }
  return options;
}

// A state that learned a stream over kNumItems items with skewed popularity: every item has a
// category, every 13th is unavailable.
std::unique_ptr<EngineState> LearnedState(const Options& options) {
  StatusOr<std::unique_ptr<EngineState>> state = EngineState::Create(options, {});
  EXPECT_TRUE(state.ok()) << state.status().ToString();
  uint64_t seq = 0;
  Random rng(11);
  for (size_t i = 0; i < kNumItems; ++i) {
    LogEntry put;
    put.kind = LogEntryKind::kPutItem;
    put.key = "i" + std::to_string(i);
    put.item.categories = {"c" + std::to_string(i % kNumCategories)};
    put.item.available = i % 13 != 0;
    (*state)->Apply(++seq, put);
  }
  for (size_t e = 0; e < kNumEvents; ++e) {
    LogEntry entry;
    const uint32_t user = rng.Uniform(kNumUsers);
    // Half the events on the first tenth of the catalogue: popular items, many exclusions.
    const uint32_t item =
        rng.Uniform(2) == 0 ? rng.Uniform(kNumItems / 10) : rng.Uniform(kNumItems);
    entry.event = Record("u" + std::to_string(user), "i" + std::to_string(item),
                         static_cast<int64_t>(e), "e" + std::to_string(e));
    (*state)->Apply(++seq, entry);
  }
  return std::move(state).value();
}

std::unique_ptr<EngineState> LearnedState(const std::string& retrieval, size_t hnsw_min_items = 0) {
  return LearnedState(MfOptions(retrieval, hnsw_min_items));
}

// The full scan the recommender answered with before retrieval: every admissible item scored,
// best first, ties by lower id, unscored items dropped.
std::vector<std::string> FullScan(const EngineState& state, const RecommendRequest& request) {
  const ServingModel model = state.FindModel("mf");
  const UserId user = state.users().Find(request.user);
  const uint32_t category =
      request.categories.empty() ? kInvalidId : state.FindCategory(request.categories[0]);
  std::vector<uint8_t> consumed(state.items().size(), 0);
  if (request.exclude_seen && user != kInvalidId) {
    for (ItemId item : state.history().Items(user)) consumed[item] = 1;
  }
  std::vector<ItemId> items;
  for (ItemId item = 0; item < state.items().size(); ++item) {
    if (consumed[item] != 0) continue;
    if (!state.Recommendable(item)) continue;
    if (category != kInvalidId && !state.InCategory(item, category)) continue;
    items.push_back(item);
  }
  std::vector<float> scores(items.size());
  model.model->Score(user, items, scores.data());
  std::vector<uint32_t> top(std::min(request.k, items.size()));
  top.resize(TopK(scores.data(), scores.size(), top.size(), top.data()));
  std::vector<std::string> out;
  for (uint32_t pos : top) {
    if (scores[pos] == kUnscored) break;
    out.push_back(state.items().Key(items[pos]));
  }
  return out;
}

RecommenderOptions ServingOptions() {
  return RecommenderOptions::FromOptions(MfOptions("exact"), /*id_nonce=*/1);
}

// Every request of the users over `categories` and both exclude_seen settings: the items
// listed by `recommender` and by the full scan. Returns the number of lists compared.
size_t CompareWithTheFullScan(const EngineState& state, const Recommender& recommender,
                              const std::vector<std::string>& categories) {
  size_t compared = 0;
  for (size_t u = 0; u < kNumUsers; ++u) {
    for (const std::string& category : categories) {
      for (const bool exclude_seen : {true, false}) {
        RecommendRequest request;
        request.user = "u" + std::to_string(u);
        request.k = kK;
        if (!category.empty()) request.categories = {category};
        request.exclude_seen = exclude_seen;
        StatusOr<Recommendations> got = recommender.Recommend(request);
        EXPECT_TRUE(got.ok()) << got.status().ToString();
        if (!got.ok()) return compared;
        std::vector<std::string> items;
        for (const ScoredItem& scored : got->items) items.push_back(scored.item);
        EXPECT_EQ(items, FullScan(state, request)) << request.user << " " << category;
        ++compared;
      }
    }
  }
  return compared;
}

TEST(CandidateStageTest, MfThroughTheExactIndexListsWhatTheFullScanLists) {
  const std::unique_ptr<EngineState> state = LearnedState("exact");
  ASSERT_NE(state->retrieval().Find(state->FindModel("mf").model), nullptr);
  const Recommender recommender(ServingOptions(), *state);
  EXPECT_EQ(CompareWithTheFullScan(*state, recommender, {"", "c3"}), 4 * kNumUsers);
}

// The default, on a catalogue below rank.hnsw_min_items: an index without a graph, so every
// list is the scan's (the replay figures of a small catalogue stay what they were).
TEST(CandidateStageTest, TheDefaultRetrievalListsWhatTheFullScanListsOnSmallCatalogues) {
  EXPECT_EQ(RetrievalSettings::FromOptions(EngineOptions("", {})).kind, RetrievalKind::kAuto);
  const std::unique_ptr<EngineState> state = LearnedState("auto");
  const auto* index =
      dynamic_cast<const HnswIndex*>(state->retrieval().Find(state->FindModel("mf").model));
  ASSERT_NE(index, nullptr);
  EXPECT_FALSE(index->graph_built());
  const Recommender recommender(ServingOptions(), *state);
  EXPECT_EQ(CompareWithTheFullScan(*state, recommender, {"", "c3"}), 4 * kNumUsers);
}

// Above rank.hnsw_min_items a filter that admits a seventh of the catalogue (a category) is
// answered by the exact scan of the admitted items: the scan's lists again.
TEST(CandidateStageTest, AnHnswIndexFallsBackToTheExactScanUnderASelectiveFilter) {
  const std::unique_ptr<EngineState> state = LearnedState("auto", kSmallHnswMinItems);
  const auto* index =
      dynamic_cast<const HnswIndex*>(state->retrieval().Find(state->FindModel("mf").model));
  ASSERT_NE(index, nullptr);
  EXPECT_TRUE(index->graph_built());
  const Recommender recommender(ServingOptions(), *state);
  EXPECT_EQ(CompareWithTheFullScan(*state, recommender, {"c3", "c5"}), 4 * kNumUsers);
}

// With rank.retrieval=auto, the default ensemble's mf member gets no index (the ensemble never
// searches one); a live mf instance does.
TEST(CandidateStageTest, AutoIndexesAnEnsembleMemberExactlyUntilItOutgrowsTheBound) {
  StatusOr<std::unique_ptr<EngineState>> ensemble = EngineState::Create(EngineOptions("", {}), {});
  ASSERT_TRUE(ensemble.ok()) << ensemble.status().ToString();
  const ServingModel member = (*ensemble)->FindModel("mf");
  ASSERT_TRUE(member);
  EXPECT_NE((*ensemble)->retrieval().Find(member.model), nullptr);
  StatusOr<std::unique_ptr<EngineState>> mf = EngineState::Create(MfOptions("auto"), {});
  ASSERT_TRUE(mf.ok());
  EXPECT_NE((*mf)->retrieval().Find((*mf)->FindModel("mf").model), nullptr);
  // Past rank.hnsw_min_items a member's index is dropped (the member is scanned when named);
  // a live instance's turns into a graph.
  Options small = EngineOptions("", {"ensemble.members=popularity,mf", "mf.dim=16"});
  ASSERT_TRUE(small.Set("rank.hnsw_min_items", std::to_string(kSmallHnswMinItems)).ok());
  const std::unique_ptr<EngineState> grown = LearnedState(small);
  EXPECT_EQ(grown->retrieval().Find(grown->FindModel("mf").model), nullptr);
  const std::unique_ptr<EngineState> live = LearnedState("auto", kSmallHnswMinItems);
  EXPECT_NE(live->retrieval().Find(live->FindModel("mf").model), nullptr);
}

// A request naming an ensemble's mf member is answered from the member's exact index (auto):
// the full scan's lists.
TEST(CandidateStageTest, ANamedEnsembleMemberIsServedFromItsIndex) {
  const Options options = EngineOptions(
      "", {"engine.models=ensemble", "ensemble.members=popularity,mf", "engine.default_model=mf",
           "engine.fallback_model=mf", "mf.dim=16", "mf.negatives=4", "rank.candidates=50"});
  const std::unique_ptr<EngineState> state = LearnedState(options);
  ASSERT_NE(state->retrieval().Find(state->FindModel("mf").model), nullptr);
  const Recommender recommender(RecommenderOptions::FromOptions(options, 1), *state);
  EXPECT_EQ(CompareWithTheFullScan(*state, recommender, {"", "c3"}), kNumUsers * 4);
}

TEST(CandidateStageTest, TheIndexFollowsLearningAndRestart) {
  const std::unique_ptr<EngineState> state = LearnedState("exact");
  std::vector<SnapshotSection> sections;
  state->Save(&sections);
  StatusOr<std::unique_ptr<EngineState>> loaded = EngineState::Create(MfOptions("exact"), {});
  ASSERT_TRUE(loaded.ok());
  Snapshot snapshot;
  snapshot.sections = sections;
  ASSERT_TRUE((*loaded)->Load(snapshot, nullptr).ok());
  // Deferred learning: the index catches up at the flush.
  (*loaded)->SetDeferredLearning(true);
  uint64_t seq = (*loaded)->last_applied_seq();
  for (size_t e = 0; e < 500; ++e) {
    LogEntry entry;
    entry.event = Record("u" + std::to_string(e % 7), "i" + std::to_string(e % 40),
                         static_cast<int64_t>(kNumEvents + e), "late" + std::to_string(e));
    (*loaded)->Apply(++seq, entry);
  }
  (*loaded)->SetDeferredLearning(false);
  const Recommender recommender(ServingOptions(), **loaded);
  for (size_t u = 0; u < 20; ++u) {
    RecommendRequest request;
    request.user = "u" + std::to_string(u);
    StatusOr<Recommendations> got = recommender.Recommend(request);
    ASSERT_TRUE(got.ok());
    std::vector<std::string> items;
    for (const ScoredItem& scored : got->items) items.push_back(scored.item);
    EXPECT_EQ(items, FullScan(**loaded, request)) << request.user;
  }
}

// The graph over a learned state (as a restart builds it) is the recall the option promises;
// the graph maintained through learning from an empty model is reported beside it.
TEST(CandidateStageTest, HnswRecallAtTenAgainstTheExactIndexIsHigh) {
  const std::unique_ptr<EngineState> exact = LearnedState("exact");
  const std::unique_ptr<EngineState> online = LearnedState("hnsw");
  std::vector<SnapshotSection> sections;
  exact->Save(&sections);
  Snapshot snapshot;
  snapshot.sections = sections;
  StatusOr<std::unique_ptr<EngineState>> built = EngineState::Create(MfOptions("hnsw"), {});
  ASSERT_TRUE(built.ok());
  ASSERT_TRUE((*built)->Load(snapshot, nullptr).ok());
  auto recall_at_k = [&](const EngineState& hnsw) {
    const Model* exact_mf = exact->FindModel("mf").model;
    const Model* hnsw_mf = hnsw.FindModel("mf").model;
    size_t found = 0;
    size_t wanted = 0;
    std::vector<ItemId> want;
    std::vector<ItemId> got;
    std::vector<ItemId> common;
    for (UserId user = 0; user < exact->users().size(); ++user) {
      EXPECT_TRUE(exact->retrieval().Retrieve(exact_mf, user, kK, {}, &want));
      EXPECT_TRUE(hnsw.retrieval().Retrieve(hnsw_mf, user, kK, {}, &got));
      common.clear();
      std::set_intersection(want.begin(), want.end(), got.begin(), got.end(),
                            std::back_inserter(common));
      found += common.size();
      wanted += want.size();
    }
    return static_cast<double>(found) / static_cast<double>(wanted);
  };
  const double built_recall = recall_at_k(**built);
  const double online_recall = recall_at_k(*online);
  std::printf(
      "hnsw recall@10 against exact over %zu users: %.4f built over the state, %.4f "
      "maintained while learning\n",
      exact->users().size(), built_recall, online_recall);
  EXPECT_GE(built_recall, 0.95);
}

}  // namespace
}  // namespace liverec
