#include "engine/engine_state.h"

#include <gtest/gtest.h>

#include "engine/engine_testing.h"

namespace liverec {
namespace {

using testing::GroupStream;
using testing::Record;

std::unique_ptr<EngineState> NewState(std::initializer_list<std::string_view> sets = {}) {
  Options options = testing::EngineOptions("unused", sets);
  StatusOr<std::unique_ptr<EngineState>> state = EngineState::Create(options, Context{});
  EXPECT_TRUE(state.ok()) << state.status().message();
  return std::move(state).value();
}

LogEntry EventEntry(EventRecord record) {
  LogEntry e;
  e.kind = LogEntryKind::kEvent;
  e.event = std::move(record);
  return e;
}

std::string SaveBytes(const EngineState& state) {
  std::vector<SnapshotSection> sections;
  state.Save(&sections);
  std::string out;
  for (const SnapshotSection& s : sections) out += s.name + ":" + s.payload + "|";
  return out;
}

Snapshot AsSnapshot(const EngineState& state) {
  Snapshot snapshot;
  snapshot.last_applied_seq = state.last_applied_seq();
  state.Save(&snapshot.sections);
  return snapshot;
}

TEST(EngineStateTest, ApplyingTheSameEntriesGivesTheSameBytes) {
  auto a = NewState();
  auto b = NewState();
  uint64_t seq = 0;
  for (const EventRecord& r : GroupStream(500, 1)) {
    ++seq;
    a->Apply(seq, EventEntry(r));
    b->Apply(seq, EventEntry(r));
  }
  EXPECT_EQ(SaveBytes(*a), SaveBytes(*b));
  EXPECT_EQ(a->events_applied(), 500u);
  EXPECT_EQ(a->last_applied_seq(), 500u);
}

TEST(EngineStateTest, SnapshotThenTheRestEqualsAnUninterruptedRun) {
  const std::vector<EventRecord> stream = GroupStream(600, 2);
  auto whole = NewState();
  auto first = NewState();
  for (size_t i = 0; i < stream.size(); ++i) {
    whole->Apply(i + 1, EventEntry(stream[i]));
    if (i < 250) first->Apply(i + 1, EventEntry(stream[i]));
  }
  auto resumed = NewState();
  std::vector<std::string> fresh;
  ASSERT_TRUE(resumed->Load(AsSnapshot(*first), &fresh).ok());
  EXPECT_TRUE(fresh.empty());
  EXPECT_EQ(SaveBytes(*resumed), SaveBytes(*first));
  for (size_t i = 250; i < stream.size(); ++i) resumed->Apply(i + 1, EventEntry(stream[i]));
  EXPECT_EQ(SaveBytes(*resumed), SaveBytes(*whole));
}

TEST(EngineStateTest, DeferredLearningGivesTheSameBytesAsLearningEachEvent) {
  const std::vector<EventRecord> stream = GroupStream(900, 3);
  auto direct = NewState();
  auto deferred = NewState();
  deferred->SetDeferredLearning(true);
  uint64_t seq = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    // Metadata between events: it flushes the learning owed so far.
    if (i % 200 == 100) {
      LogEntry put;
      put.kind = LogEntryKind::kPutItem;
      put.key = stream[i].item;
      put.item.categories = {"c"};
      ++seq;
      direct->Apply(seq, put);
      deferred->Apply(seq, put);
    }
    ++seq;
    direct->Apply(seq, EventEntry(stream[i]));
    deferred->Apply(seq, EventEntry(stream[i]));
    if (i % 128 == 127) deferred->FlushLearning();
  }
  deferred->SetDeferredLearning(false);
  EXPECT_EQ(SaveBytes(*deferred), SaveBytes(*direct));
}

TEST(EngineStateTest, RepeatedIdsAreAppliedOnce) {
  auto state = NewState();
  state->Apply(1, EventEntry(Record("u", "a", 1000, "same")));
  state->Apply(2, EventEntry(Record("u", "b", 2000, "same")));
  state->Apply(3, EventEntry(Record("u", "c", 3000, "")));
  state->Apply(4, EventEntry(Record("u", "c", 4000, "")));  // no id: never a duplicate
  EXPECT_EQ(state->events_applied(), 3u);
  EXPECT_EQ(state->events_duplicate(), 1u);
  EXPECT_EQ(state->items().Find("b"), kInvalidId);
}

TEST(EngineStateTest, TheDedupWindowForgetsTheOldestIds) {
  auto state = NewState({"engine.dedup_ids=2"});
  state->Apply(1, EventEntry(Record("u", "a", 1, "x")));
  state->Apply(2, EventEntry(Record("u", "a", 2, "y")));
  state->Apply(3, EventEntry(Record("u", "a", 3, "z")));  // x leaves the window
  state->Apply(4, EventEntry(Record("u", "a", 4, "x")));
  state->Apply(5, EventEntry(Record("u", "a", 5, "z")));
  EXPECT_EQ(state->events_applied(), 4u);
  EXPECT_EQ(state->events_duplicate(), 1u);
}

TEST(EngineStateTest, MetadataDeletionAndCategoriesAreApplied) {
  auto state = NewState();
  LogEntry put;
  put.kind = LogEntryKind::kPutItem;
  put.key = "a";
  put.item.categories = {"sport", "news"};
  state->Apply(1, put);
  put.key = "b";
  put.item.categories = {"news"};
  put.item.available = false;
  state->Apply(2, put);
  LogEntry del;
  del.kind = LogEntryKind::kDeleteItem;
  del.key = "a";
  state->Apply(3, EventEntry(Record("u", "c", 10)));
  const ItemId a = state->items().Find("a");
  const ItemId b = state->items().Find("b");
  const ItemId c = state->items().Find("c");
  const uint32_t sport = state->FindCategory("sport");
  ASSERT_NE(sport, kInvalidId);
  EXPECT_TRUE(state->InCategory(a, sport));
  EXPECT_FALSE(state->InCategory(b, sport));
  EXPECT_TRUE(state->Recommendable(a));
  EXPECT_FALSE(state->Recommendable(b));
  EXPECT_TRUE(state->Recommendable(c));
  state->Apply(4, del);
  EXPECT_FALSE(state->Recommendable(a));
  // And all of it survives a snapshot.
  auto loaded = NewState();
  ASSERT_TRUE(loaded->Load(AsSnapshot(*state), nullptr).ok());
  EXPECT_EQ(SaveBytes(*loaded), SaveBytes(*state));
  EXPECT_FALSE(loaded->Recommendable(a));
  EXPECT_TRUE(loaded->InCategory(a, loaded->FindCategory("sport")));
}

TEST(EngineStateTest, NegativeFeedbackIsNotCountedByPopularity) {
  auto state = NewState();
  state->Apply(1, EventEntry(Record("u1", "a", 1000, "", "view")));
  state->Apply(2, EventEntry(Record("u2", "b", 2000, "", "skip")));
  state->Apply(3, EventEntry(Record("u3", "b", 3000, "", "dislike")));
  const Model& popularity = *state->FindModel("popularity").model;
  const ItemId items[] = {state->items().Find("a"), state->items().Find("b")};
  float scores[2];
  popularity.Score(kInvalidId, items, scores);
  EXPECT_GT(scores[0], scores[1]);
}

TEST(EngineStateTest, AModelMissingFromTheSnapshotStartsFresh) {
  auto small = NewState({"engine.models=popularity,item_knn"});
  small->Apply(1, EventEntry(Record("u", "a", 1)));
  auto big = NewState({"engine.models=popularity,item_knn,mf"});
  std::vector<std::string> fresh;
  ASSERT_TRUE(big->Load(AsSnapshot(*small), &fresh).ok());
  EXPECT_EQ(fresh, std::vector<std::string>{"mf"});
  auto other = NewState({"engine.models=popularity:mf"});
  Status status = other->Load(AsSnapshot(*small), nullptr);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("configured as mf"), std::string::npos) << status.message();
}

TEST(EngineStateTest, UnknownModelTypeAndBadEventTypesAreRejected) {
  Options options = testing::EngineOptions("unused", {"engine.models=popularity,nope"});
  EXPECT_FALSE(EngineState::Create(options, Context{}).ok());
  Options types = testing::EngineOptions("unused", {"engine.event_types=view:x"});
  StatusOr<std::unique_ptr<EngineState>> state = EngineState::Create(types, Context{});
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.status().message().find("view:x"), std::string::npos);
}

}  // namespace
}  // namespace liverec
