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

void ExpectSnapshotThenTheRestEqualsAnUninterruptedRun(bool forget);
void ExpectDeferredLearningGivesTheSameBytesAsLearningEachEvent(bool forget);

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

// The states of two tests below, also with idle users and items forgotten: GroupStream's 40
// users each come back about every 40 s, so a 20 s TTL forgets and recycles ids all along the
// stream; its 40 items are named about every 40 s too, and a 60 s TTL forgets some of them.
std::unique_ptr<EngineState> NewStateForgetting(bool forget) {
  return forget ? NewState({"engine.user_idle_ttl=20s", "engine.item_idle_ttl=60s"}) : NewState();
}

TEST(EngineStateTest, SnapshotThenTheRestEqualsAnUninterruptedRun) {
  for (bool forget : {false, true}) {
    SCOPED_TRACE(forget ? "forgetting idle users" : "keeping every user");
    ExpectSnapshotThenTheRestEqualsAnUninterruptedRun(forget);
  }
}

void ExpectSnapshotThenTheRestEqualsAnUninterruptedRun(bool forget) {
  const std::vector<EventRecord> stream = GroupStream(600, 2);
  auto whole = NewStateForgetting(forget);
  auto first = NewStateForgetting(forget);
  for (size_t i = 0; i < stream.size(); ++i) {
    whole->Apply(i + 1, EventEntry(stream[i]));
    if (i < 250) first->Apply(i + 1, EventEntry(stream[i]));
  }
  auto resumed = NewStateForgetting(forget);
  std::vector<std::string> fresh;
  ASSERT_TRUE(resumed->Load(AsSnapshot(*first), &fresh).ok());
  EXPECT_TRUE(fresh.empty());
  EXPECT_EQ(SaveBytes(*resumed), SaveBytes(*first));
  for (size_t i = 250; i < stream.size(); ++i) resumed->Apply(i + 1, EventEntry(stream[i]));
  EXPECT_EQ(SaveBytes(*resumed), SaveBytes(*whole));
  if (forget) {
    EXPECT_GT(whole->users_forgotten(), 50u);
    EXPECT_GT(whole->items_forgotten(), 0u);
    EXPECT_GT(resumed->items_forgotten(), first->items_forgotten());  // forgotten after the load
  }
}

TEST(EngineStateTest, DeferredLearningGivesTheSameBytesAsLearningEachEvent) {
  for (bool forget : {false, true}) {
    SCOPED_TRACE(forget ? "forgetting idle users" : "keeping every user");
    ExpectDeferredLearningGivesTheSameBytesAsLearningEachEvent(forget);
  }
}

void ExpectDeferredLearningGivesTheSameBytesAsLearningEachEvent(bool forget) {
  const std::vector<EventRecord> stream = GroupStream(900, 3);
  auto direct = NewStateForgetting(forget);
  auto deferred = NewStateForgetting(forget);
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

TEST(EngineStateTest, IdleUsersAreForgottenAndTheirIdsGoToNewUsers) {
  auto state = NewState({"engine.user_idle_ttl=1h"});
  constexpr int64_t kT0 = 1'700'000'000'000;
  constexpr int64_t kMinute = 60'000;
  uint64_t seq = 0;
  state->Apply(++seq, EventEntry(Record("old", "a", kT0)));
  state->Apply(++seq, EventEntry(Record("old", "b", kT0 + kMinute)));
  LogEntry put;
  put.kind = LogEntryKind::kPutUser;
  put.key = "meta";
  put.user.attributes = {{"plan", "pro"}};
  state->Apply(++seq, put);
  state->Apply(++seq, EventEntry(Record("recent", "a", kT0 + 50 * kMinute)));
  const UserId old_id = state->users().Find("old");
  const UserId meta_id = state->users().Find("meta");
  ASSERT_NE(state->Recent(old_id), nullptr);
  EXPECT_EQ(state->Recent(old_id)->size(), 2u);
  EXPECT_EQ(state->users_forgotten(), 0u);

  // An hour and a bit after their last sign, "old" and "meta" go; "recent" stays.
  state->Apply(++seq, EventEntry(Record("new", "c", kT0 + 65 * kMinute)));
  EXPECT_EQ(state->users_forgotten(), 2u);
  EXPECT_EQ(state->users().Find("old"), kInvalidId);
  EXPECT_EQ(state->users().Find("meta"), kInvalidId);
  EXPECT_NE(state->users().Find("recent"), kInvalidId);
  EXPECT_EQ(state->users().num_live(), 2u);
  // "new" took the id freed last; the next new user takes the other, with nothing of its past.
  const UserId new_id = state->users().Find("new");
  EXPECT_TRUE(new_id == old_id || new_id == meta_id) << new_id;
  state->Apply(++seq, EventEntry(Record("old", "d", kT0 + 66 * kMinute)));
  const UserId returned = state->users().Find("old");
  EXPECT_TRUE(returned == old_id || returned == meta_id) << returned;
  EXPECT_NE(returned, new_id);
  EXPECT_EQ(state->users().size(), 3u);  // no id space grew
  ASSERT_NE(state->Recent(returned), nullptr);
  EXPECT_EQ(state->Recent(returned)->size(), 1u);
  EXPECT_EQ(state->UserMeta(returned), nullptr);
  EXPECT_EQ(state->history().NumEvents(returned), 1u);
  EXPECT_EQ(state->history().Items(returned).size(), 1u);
}

// Endless new users, one event each: the ids, the engine's tables and the models' memory stay
// those of the users seen within the TTL.
TEST(EngineStateTest, MemoryStaysBoundedOnEndlessNewUsers) {
  auto state = NewState({"engine.user_idle_ttl=10m"});
  constexpr int64_t kT0 = 1'700'000'000'000;
  auto model_bytes = [&] {
    size_t bytes = 0;
    for (const ModelSlot& slot : state->models()) bytes += slot.model->MemoryBytes();
    return bytes;
  };
  size_t bytes_at_half = 0;
  constexpr uint64_t kUsers = 20000;
  for (uint64_t i = 0; i < kUsers; ++i) {
    // One new user per second, on 50 items.
    state->Apply(i + 1, EventEntry(Record("user" + std::to_string(i), "i" + std::to_string(i % 50),
                                          kT0 + static_cast<int64_t>(i) * 1000)));
    if (i + 1 == kUsers / 2) bytes_at_half = model_bytes();
  }
  // 600 users within the TTL, and up to a sixteenth more before a sweep.
  EXPECT_LE(state->users().size(), 600u + 600u / 16 + 1);
  EXPECT_GE(state->users_forgotten(), kUsers - 700);
  EXPECT_EQ(state->users().num_live() + state->users_forgotten(), kUsers);
  EXPECT_LE(model_bytes(), bytes_at_half * 11 / 10) << bytes_at_half;
}

TEST(EngineStateTest, IdleItemsAreForgottenAndTheirIdsGoToNewItemsWithNothingOfTheOld) {
  auto state = NewState({"engine.item_idle_ttl=1h"});
  constexpr int64_t kT0 = 1'700'000'000'000;
  constexpr int64_t kMinute = 60'000;
  uint64_t seq = 0;
  LogEntry put;
  put.kind = LogEntryKind::kPutItem;
  put.key = "old";
  put.item.categories = {"news"};
  put.item.available = false;
  state->Apply(++seq, put);
  state->Apply(++seq, EventEntry(Record("u", "old", kT0)));
  state->Apply(++seq, EventEntry(Record("u", "a", kT0 + kMinute)));
  state->Apply(++seq, EventEntry(Record("v", "old", kT0 + 2 * kMinute)));
  state->Apply(++seq, EventEntry(Record("v", "a", kT0 + 50 * kMinute)));
  const ItemId old_id = state->items().Find("old");
  const ItemId a_id = state->items().Find("a");
  const UserId u = state->users().Find("u");
  EXPECT_FALSE(state->Recommendable(old_id));
  EXPECT_EQ(state->history().Items(u).size(), 2u);

  // An hour and a bit after its last event, "old" goes; "a" stays.
  state->Apply(++seq, EventEntry(Record("w", "a", kT0 + 65 * kMinute)));
  EXPECT_EQ(state->items_forgotten(), 1u);
  EXPECT_EQ(state->items().Find("old"), kInvalidId);
  EXPECT_EQ(state->items().Find("a"), a_id);
  EXPECT_EQ(state->items().num_live(), 1u);
  EXPECT_EQ(state->ItemMeta(old_id), nullptr);
  EXPECT_TRUE(state->ItemCategoryIds(old_id).empty());
  EXPECT_FALSE(state->Recommendable(old_id));  // a freed id is never served
  ASSERT_EQ(state->history().Items(u).size(), 1u);
  EXPECT_EQ(state->history().Items(u)[0], a_id);
  ASSERT_EQ(state->Recent(u)->size(), 1u);
  EXPECT_EQ(state->Recent(u)->front().item, a_id);
  EXPECT_EQ(state->candidates().Position(old_id), -1);

  // The next new item takes the id, as a new item: available, no metadata, no history.
  state->Apply(++seq, EventEntry(Record("x", "new", kT0 + 66 * kMinute)));
  EXPECT_EQ(state->items().Find("new"), old_id);
  EXPECT_EQ(state->items().size(), 2u);  // the id space did not grow
  EXPECT_TRUE(state->Recommendable(old_id));
  EXPECT_EQ(state->ItemMeta(old_id), nullptr);
  EXPECT_EQ(state->history().Items(u).size(), 1u);
  const ServingModel popularity = state->FindModel("popularity");
  ASSERT_TRUE(popularity);
  float score = 0;
  const ItemId reused[] = {old_id};
  popularity.model->Score(u, reused, &score);
  EXPECT_FLOAT_EQ(score, 1.0f);  // one event of "new", none of "old"
}

// Endless new items, a new one every second, each named twice by one of 50 users: the ids, the
// engine's tables and the models' memory stay those of the items seen within the TTL.
TEST(EngineStateTest, MemoryStaysBoundedOnEndlessNewItems) {
  auto state = NewState({"engine.item_idle_ttl=10m"});
  constexpr int64_t kT0 = 1'700'000'000'000;
  auto model_bytes = [&] {
    size_t bytes = 0;
    for (const ModelSlot& slot : state->models()) bytes += slot.model->MemoryBytes();
    return bytes;
  };
  size_t bytes_at_half = 0;
  constexpr uint64_t kItems = 6000;
  uint64_t seq = 0;
  for (uint64_t i = 0; i < kItems; ++i) {
    const int64_t time_ms = kT0 + static_cast<int64_t>(i) * 1000;
    const std::string item = "item" + std::to_string(i);
    state->Apply(++seq, EventEntry(Record("user" + std::to_string(i % 50), item, time_ms)));
    state->Apply(++seq, EventEntry(Record("user" + std::to_string((i * 7) % 50), item, time_ms)));
    if (i + 1 == kItems / 2) bytes_at_half = model_bytes();
  }
  // 600 items within the TTL, and up to a sixteenth more before a sweep.
  EXPECT_LE(state->items().size(), 600u + 600u / 16 + 1);
  EXPECT_GE(state->items_forgotten(), kItems - 700);
  EXPECT_EQ(state->items().num_live() + state->items_forgotten(), kItems);
  EXPECT_LE(model_bytes(), bytes_at_half * 11 / 10) << bytes_at_half;
}

// A snapshot from before items were forgotten (engine section version 2, without the items'
// last-seen times) loads with every item seen at its clock: the items go a TTL after it.
TEST(EngineStateTest, AVersion2EngineSectionLoadsWithEveryItemSeenAtTheClock) {
  auto state = NewState({"engine.item_idle_ttl=1h"});
  constexpr int64_t kT0 = 1'700'000'000'000;
  constexpr int64_t kMinute = 60'000;
  state->Apply(1, EventEntry(Record("u", "a", kT0)));
  state->Apply(2, EventEntry(Record("u", "b", kT0 + 50 * kMinute)));
  Snapshot snapshot = AsSnapshot(*state);
  // Version 2: the version field and the section without its last three fields (the items'
  // last-seen times as a u64 count and an i64 each, the next sweep, the count forgotten).
  for (SnapshotSection& section : snapshot.sections) {
    if (section.name != "engine") continue;
    const size_t items_bytes = sizeof(uint64_t) + 2 * sizeof(int64_t);
    section.payload.resize(section.payload.size() - items_bytes - 2 * sizeof(uint64_t));
    const uint32_t version = 2;
    section.payload.replace(0, sizeof(version), reinterpret_cast<const char*>(&version),
                            sizeof(version));
  }
  auto loaded = NewState({"engine.item_idle_ttl=1h"});
  ASSERT_TRUE(loaded->Load(snapshot, nullptr).ok());
  EXPECT_EQ(loaded->items().num_live(), 2u);
  // Both count as seen at the clock (kT0 + 50 min): "a" stays until an hour after that.
  loaded->Apply(3, EventEntry(Record("v", "c", kT0 + 70 * kMinute)));
  EXPECT_EQ(loaded->items_forgotten(), 0u);
  loaded->Apply(4, EventEntry(Record("v", "c", kT0 + 115 * kMinute)));
  EXPECT_EQ(loaded->items_forgotten(), 2u);
  EXPECT_EQ(loaded->items().Find("c"), loaded->items().size() - 1);
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
