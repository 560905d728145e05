#include "liverec/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "engine/engine_testing.h"
#include "event/event_record.h"
#include "store/log_reader.h"
#include "store/snapshot.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

using testing::EngineOptions;
using testing::GroupStream;
using testing::Record;

class EngineTest : public testing::TempDirTest {
 protected:
  std::unique_ptr<Engine> OpenEngine(std::initializer_list<std::string_view> sets = {},
                                     RecoveryInfo* info = nullptr,
                                     const std::string& init_snapshot = "") {
    StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Open(EngineOptions(root_, sets), Context{}, init_snapshot, info);
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    return engine.ok() ? std::move(engine).value() : nullptr;
  }

  static void Ingest(Engine* engine, std::vector<EventRecord> records,
                     IngestWait wait = IngestWait::kLearned) {
    IngestResult result;
    const size_t n = records.size();
    Status status = engine->Ingest(std::move(records), wait, &result);
    ASSERT_TRUE(status.ok()) << status.message();
    ASSERT_EQ(result.accepted, n);
  }

  // Writers ingest while a reader recommends; the live state then equals a replay of the log.
  void ExpectConcurrentIngestAndReadsAgreeWithTheLog(std::initializer_list<std::string_view> sets);

  std::string LogDir() const { return root_ + "/log"; }
  std::string SnapshotDir() const { return root_ + "/snapshots"; }
};

std::vector<std::string> Items(const Recommendations& recs) {
  std::vector<std::string> out;
  for (const ScoredItem& s : recs.items) out.push_back(s.item);
  return out;
}

TEST_F(EngineTest, AnEventLearnedIsVisibleInTheNextRecommendation) {
  auto engine = OpenEngine();
  // Others view a then b; the new user's first event is a: item_knn must now offer b.
  std::vector<EventRecord> history;
  for (int u = 0; u < 5; ++u) {
    history.push_back(Record("o" + std::to_string(u), "a", 1000 + u * 10));
    history.push_back(Record("o" + std::to_string(u), "b", 1001 + u * 10));
  }
  history.push_back(Record("o9", "c", 2000));
  Ingest(engine.get(), history);
  RecommendRequest request;
  request.user = "new";
  request.model = "item_knn";
  StatusOr<Recommendations> before = engine->Recommend(request);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->fallback);
  EXPECT_EQ(before->model, "popularity");

  Ingest(engine.get(), {Record("new", "a", 3000)});
  StatusOr<Recommendations> after = engine->Recommend(request);
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_FALSE(after->fallback);
  EXPECT_EQ(after->model, "item_knn");
  ASSERT_FALSE(after->items.empty());
  EXPECT_EQ(after->items[0].item, "b");
  EXPECT_EQ(after->model_version, 13u);  // 11 events, the first answer's decision, 1 event
  // exclude_seen: a is not offered back.
  for (const ScoredItem& s : after->items) EXPECT_NE(s.item, "a");
  request.explain = true;
  StatusOr<Recommendations> explained = engine->Recommend(request);
  ASSERT_TRUE(explained.ok());
  EXPECT_EQ(explained->items[0].because, std::vector<std::string>{"a"});
}

TEST_F(EngineTest, InvalidRecordsAreRejectedByFieldAndTheRestAccepted) {
  auto engine = OpenEngine({"engine.unknown_event_types=reject"});
  std::vector<EventRecord> records = {Record("u", "a", 1000), Record("", "a", 1000),
                                      Record("u", "b", -5), Record("u", "c", 1000, "", "clik")};
  records.push_back(Record("u", std::string(kMaxEventRecordStringBytes + 1, 'x'), 1000));
  IngestResult result;
  ASSERT_TRUE(engine->Ingest(records, IngestWait::kLearned, &result).ok());
  EXPECT_EQ(result.accepted, 1u);
  ASSERT_EQ(result.rejected.size(), 4u);
  EXPECT_EQ(result.rejected[0].index, 1u);
  EXPECT_EQ(result.rejected[0].field, "user");
  EXPECT_EQ(result.rejected[1].field, "timestamp");
  EXPECT_EQ(result.rejected[2].field, "type");
  EXPECT_NE(result.rejected[2].reason.find("clik"), std::string::npos);
  EXPECT_EQ(result.rejected[3].index, 4u);
  EXPECT_EQ(result.rejected[3].field, "item");
  EXPECT_EQ(engine->Stats().events_applied, 1u);
}

TEST_F(EngineTest, ABatchLargerThanTheQueueIsRefusedWhole) {
  auto engine = OpenEngine({"engine.queue_capacity=5"});
  IngestResult result;
  Status status = engine->Ingest(GroupStream(6, 1), IngestWait::kDurable, &result);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(engine->Stats().events_applied, 0u);
  Ingest(engine.get(), GroupStream(5, 1));
}

TEST_F(EngineTest, DuplicateIdsAreAcceptedAndLearnedOnce) {
  auto engine = OpenEngine();
  Ingest(engine.get(), {Record("u", "a", 1000, "id-1")});
  IngestResult result;
  ASSERT_TRUE(engine
                  ->Ingest({Record("u", "a", 1000, "id-1"), Record("u", "b", 1001, "id-2")},
                           IngestWait::kLearned, &result)
                  .ok());
  EXPECT_EQ(result.accepted, 2u);
  EXPECT_EQ(result.duplicates, 1u);
  const EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.events_applied, 2u);
  EXPECT_EQ(stats.events_duplicate, 1u);
}

TEST_F(EngineTest, RestartRecoversTheSameStateFromSnapshotAndFromTheLogAlone) {
  std::string fingerprint;
  {
    auto engine = OpenEngine({"snapshot.interval_events=300"});
    const std::vector<EventRecord> stream = GroupStream(1000, 3);
    for (size_t i = 0; i < stream.size(); i += 100) {
      Ingest(engine.get(), std::vector<EventRecord>(stream.begin() + i, stream.begin() + i + 100));
    }
    fingerprint = engine->StateFingerprint();
    EXPECT_EQ(engine->Stats().last_applied_seq, 1000u);
  }  // shutdown snapshot
  {
    RecoveryInfo info;
    auto engine = OpenEngine({}, &info);
    EXPECT_EQ(info.snapshot_seq, 1000u);
    EXPECT_EQ(info.replayed_records, 0u);
    EXPECT_EQ(engine->StateFingerprint(), fingerprint);
  }
  std::filesystem::remove_all(SnapshotDir());
  {
    RecoveryInfo info;
    auto engine = OpenEngine({}, &info);
    EXPECT_EQ(info.snapshot_seq, 0u);
    EXPECT_EQ(info.replayed_records, 1000u);
    EXPECT_EQ(engine->StateFingerprint(), fingerprint);
  }
}

// Idle items (and users) forgotten all along the stream, their ids reused: a restart from a
// snapshot taken midway plus the log after it, and from the log alone, forgets the same ids at
// the same records and ends in the same state.
TEST_F(EngineTest, RestartAfterIdleItemsWereForgottenRecoversTheSameState) {
  const auto forgetting = {std::string_view("engine.item_idle_ttl=60s"),
                           std::string_view("engine.user_idle_ttl=20s")};
  std::string fingerprint;
  uint64_t items_forgotten = 0;
  {
    auto engine = OpenEngine(forgetting);
    const std::vector<EventRecord> stream = GroupStream(1000, 3);
    for (size_t i = 0; i < stream.size(); i += 100) {
      Ingest(engine.get(), std::vector<EventRecord>(stream.begin() + i, stream.begin() + i + 100));
      if (i == 400) {
        ASSERT_TRUE(engine->TakeSnapshot().ok());
      }
    }
    fingerprint = engine->StateFingerprint();
    items_forgotten = engine->Stats().items_forgotten;
    EXPECT_GT(items_forgotten, 10u);
  }
  // Only the midway snapshot: the newest goes.
  std::vector<std::filesystem::path> snapshots;
  for (const auto& entry : std::filesystem::directory_iterator(SnapshotDir())) {
    snapshots.push_back(entry.path());
  }
  std::sort(snapshots.begin(), snapshots.end());
  ASSERT_GE(snapshots.size(), 2u);
  std::filesystem::remove(snapshots.back());
  {
    RecoveryInfo info;
    auto engine = OpenEngine(forgetting, &info);
    EXPECT_EQ(info.snapshot_seq, 500u);
    EXPECT_EQ(info.replayed_records, 500u);
    EXPECT_EQ(engine->StateFingerprint(), fingerprint);
    EXPECT_EQ(engine->Stats().items_forgotten, items_forgotten);
  }
  std::filesystem::remove_all(SnapshotDir());
  {
    RecoveryInfo info;
    auto engine = OpenEngine(forgetting, &info);
    EXPECT_EQ(info.replayed_records, 1000u);
    EXPECT_EQ(engine->StateFingerprint(), fingerprint);
  }
}

TEST_F(EngineTest, ACorruptNewestSnapshotFallsBackToAnOlderOneAndTheLog) {
  std::string fingerprint;
  {
    auto engine = OpenEngine();
    Ingest(engine.get(), GroupStream(200, 4));
    ASSERT_TRUE(engine->TakeSnapshot().ok());
    Ingest(engine.get(), GroupStream(200, 5));
    fingerprint = engine->StateFingerprint();
  }
  StatusOr<std::vector<SnapshotInfo>> snapshots = ListSnapshots(SnapshotDir());
  ASSERT_TRUE(snapshots.ok());
  ASSERT_EQ(snapshots->size(), 2u);
  std::string bytes = testing::ReadFile(snapshots->front().path);
  bytes[bytes.size() / 2] ^= 0x40;
  testing::WriteFile(snapshots->front().path, bytes);
  RecoveryInfo info;
  auto engine = OpenEngine({}, &info);
  EXPECT_EQ(info.snapshot_seq, 200u);
  EXPECT_EQ(info.replayed_records, 200u);
  EXPECT_EQ(info.skipped_snapshots.size(), 1u);
  EXPECT_EQ(engine->StateFingerprint(), fingerprint);
}

// Issue 14, case 8: when the only snapshot that could start recovery is corrupt and the log
// before it was pruned, the error names that snapshot, not just the sequence numbers.
TEST_F(EngineTest, ACorruptSnapshotWithAPrunedLogIsNamedInTheError) {
  {
    // Small segments, so that the snapshot prunes the log before it.
    auto engine =
        OpenEngine({"log.segment_size=4096", "snapshot.interval_events=0", "log.retain=snapshots"});
    Ingest(engine.get(), GroupStream(300, 4));
    ASSERT_TRUE(engine->TakeSnapshot().ok());
  }
  StatusOr<std::vector<SnapshotInfo>> snapshots = ListSnapshots(SnapshotDir());
  ASSERT_TRUE(snapshots.ok());
  ASSERT_EQ(snapshots->size(), 1u);
  std::string bytes = testing::ReadFile(snapshots->front().path);
  bytes[bytes.size() / 2] ^= 0x40;
  testing::WriteFile(snapshots->front().path, bytes);
  StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Open(EngineOptions(root_, {"log.segment_size=4096"}), Context{}, "", nullptr);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption);
  EXPECT_NE(engine.status().message().find(snapshots->front().path), std::string::npos)
      << engine.status().message();
}

// An erasure (a user's deletion) deletes the snapshots that hold the user and writes them again
// from its replay; if it stops in between, a rollback record may name a missing snapshot.
// Recovery, told by the erasure's marker, writes it again as its replay passes it.
TEST_F(EngineTest, RecoveryWritesAgainTheRollbackTargetsAnErasureDeleted) {
  std::string before;
  uint64_t target = 0;
  {
    auto engine = OpenEngine({"snapshot.interval_events=0"});
    Ingest(engine.get(), GroupStream(120, 5));
    StatusOr<SnapshotEntry> snapshot = engine->TakeSnapshot();
    ASSERT_TRUE(snapshot.ok());
    target = snapshot->seq;
    Ingest(engine.get(), GroupStream(80, 7));
    ASSERT_TRUE(engine->Rollback(target).ok());
    Ingest(engine.get(), GroupStream(60, 3));
    before = engine->StateFingerprint();
  }
  std::filesystem::remove_all(SnapshotDir());
  {
    // Without the marker, a missing rollback target is an error, as before.
    StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Open(EngineOptions(root_, {"snapshot.interval_events=0"}), Context{}, "", nullptr);
    ASSERT_FALSE(engine.ok());
  }
  std::filesystem::remove_all(SnapshotDir());
  testing::WriteFile(root_ + "/erasure.pending", "test");
  auto engine = OpenEngine({"snapshot.interval_events=0"});
  EXPECT_EQ(engine->StateFingerprint(), before);
  EXPECT_TRUE(std::filesystem::exists(SnapshotDir() + "/" + SnapshotFileName(target)));
}

// Key rotation without a restart: after ReloadStorageKeys (SIGHUP in `liverec serve`), new
// records and snapshots are sealed with the new key while the old ones stay readable.
TEST_F(EngineTest, StorageKeysRotateWhileRunning) {
  const std::string key_file = root_ + "/storage.key";
  const std::string old_file = root_ + "/old.key";
  const std::string a = std::string(64, 'a') + "\n";
  const std::string b = std::string(64, 'b') + "\n";
  testing::WriteFile(key_file, a);
  testing::WriteFile(old_file, a);
  const std::string set_key = "storage.key_file=" + key_file;
  const std::string set_old = "storage.old_key_files=" + old_file;
  {
    // A plain log first: sealing turned on while running starts a sealed segment.
    auto engine = OpenEngine({"snapshot.interval_events=0"});
    Ingest(engine.get(), GroupStream(40, 4));
  }
  std::string fingerprint;
  {
    auto engine = Engine::Open(EngineOptions(root_, {"snapshot.interval_events=0", set_key}),
                               Context{}, "", nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    Ingest(engine->get(), GroupStream(40, 5));
    testing::WriteFile(key_file, b);
    ASSERT_TRUE((*engine)->ReloadStorageKeys().ok());
    Ingest(engine->get(), GroupStream(40, 6));
    ASSERT_TRUE((*engine)->TakeSnapshot().ok());
    Ingest(engine->get(), GroupStream(10, 7));  // in the log after the snapshot, under b
    fingerprint = (*engine)->StateFingerprint();
    testing::WriteFile(key_file, "");  // turning sealing off is refused, the keys stay
    EXPECT_FALSE((*engine)->ReloadStorageKeys().ok());
    testing::WriteFile(key_file, b);
  }
  // The newest snapshot and the records after it are b's: a alone cannot open them.
  testing::WriteFile(key_file, a);
  StatusOr<std::unique_ptr<Engine>> refused = Engine::Open(
      EngineOptions(root_, {"snapshot.interval_events=0", set_key}), Context{}, "", nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no key for key id"), std::string::npos)
      << refused.status().message();
  // b with a as an old key opens everything, the same state.
  testing::WriteFile(key_file, b);
  auto engine = OpenEngine({"snapshot.interval_events=0", set_key, set_old});
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->StateFingerprint(), fingerprint);
}

TEST_F(EngineTest, ATornTailIsDroppedAndAFlippedByteInTheMiddleIsReported) {
  {
    auto engine = OpenEngine({"snapshot.interval_events=0"});
    Ingest(engine.get(), GroupStream(50, 6));
  }
  std::filesystem::remove_all(SnapshotDir());
  StatusOr<std::vector<LogSegmentFile>> segments = ListLogSegments(LogDir());
  ASSERT_TRUE(segments.ok());
  ASSERT_EQ(segments->size(), 1u);
  const std::string path = segments->front().path;
  const std::string bytes = testing::ReadFile(path);
  // Torn tail: the last record cut short.
  testing::WriteFile(path, std::string_view(bytes).substr(0, bytes.size() - 3));
  {
    RecoveryInfo info;
    auto engine = OpenEngine({"snapshot.interval_events=0"}, &info);
    EXPECT_GT(info.dropped_tail_bytes, 0u);
    EXPECT_EQ(info.dropped_tail_first_seq, 50u);  // the lost record is named
    EXPECT_EQ(info.replayed_records, 49u);
    EXPECT_EQ(engine->Stats().events_applied, 49u);
  }
  std::filesystem::remove_all(SnapshotDir());
  // A flipped byte in the middle: recovery refuses, naming the file.
  std::string damaged = testing::ReadFile(path);
  damaged[damaged.size() / 2] ^= 0x01;
  testing::WriteFile(path, damaged);
  StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Open(EngineOptions(root_), Context{}, "", nullptr);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption);
  EXPECT_NE(engine.status().message().find(path), std::string::npos) << engine.status().message();
}

TEST_F(EngineTest, DeletedAndUnavailableItemsAndCategoriesFilterRecommendations) {
  auto engine = OpenEngine();
  Ingest(engine.get(),
         {Record("x", "a", 1), Record("y", "a", 2), Record("x", "b", 3), Record("y", "c", 4)});
  ItemMetadata sport;
  sport.categories = {"sport"};
  ASSERT_TRUE(engine->PutItem("c", sport).ok());
  RecommendRequest request;
  request.user = "nobody";
  request.k = 10;
  StatusOr<Recommendations> all = engine->Recommend(request);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Items(*all), (std::vector<std::string>{"a", "b", "c"}));
  request.categories = {"sport"};
  EXPECT_EQ(Items(*engine->Recommend(request)), std::vector<std::string>{"c"});
  request.categories.clear();
  ASSERT_TRUE(engine->DeleteItem("a").ok());
  EXPECT_EQ(Items(*engine->Recommend(request)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(engine->DeleteItem("zzz").code(), StatusCode::kNotFound);
  request.model = "nope";
  EXPECT_EQ(engine->Recommend(request).status().code(), StatusCode::kNotFound);
  request.model = "";
  request.k = 0;
  EXPECT_EQ(engine->Recommend(request).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, FmRecommendsANewItemWithMetadataToUsersOfItsCategory) {
  const std::initializer_list<std::string_view> sets = {
      "engine.models=popularity,fm", "engine.default_model=fm", "fm.hash_bits=12", "fm.dim=8",
      "snapshot.interval_events=0",
      // The fingerprint below is read while the recommendations' decisions could still be on
      // their way to the log; this test is about the models, not the feedback loop.
      "feedback.record_decisions=false"};
  auto engine = OpenEngine(sets);
  // Two tastes: u* users consume space items, v* users garden items, 8 of the 10 each.
  auto put = [&](const std::string& item, const std::string& category) {
    ItemMetadata meta;
    meta.categories = {category};
    meta.text = category + " story";
    ASSERT_TRUE(engine->PutItem(item, meta).ok());
  };
  for (int i = 0; i < 10; ++i) {
    put("space" + std::to_string(i), "space");
    put("garden" + std::to_string(i), "garden");
  }
  std::vector<EventRecord> events;
  int64_t t = 1'700'000'000'000;
  for (int pass = 0; pass < 3; ++pass) {
    for (int u = 0; u < 10; ++u) {
      for (int i = 0; i < 8; ++i) {
        const int item = (u + i) % 10;
        events.push_back(Record("u" + std::to_string(u), "space" + std::to_string(item), t++));
        events.push_back(Record("v" + std::to_string(u), "garden" + std::to_string(item), t++));
      }
    }
  }
  Ingest(engine.get(), events);
  // New items, never clicked: only their metadata speaks for them.
  put("space-new", "space");
  put("garden-new", "garden");

  RecommendRequest request;
  request.user = "u0";
  request.model = "fm";
  request.k = 3;
  StatusOr<Recommendations> recs = engine->Recommend(request);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  EXPECT_FALSE(recs->fallback);
  const std::vector<std::string> items = Items(*recs);
  EXPECT_NE(std::find(items.begin(), items.end(), "space-new"), items.end())
      << "top 3 of u0 (space): " << ::testing::PrintToString(items);
  // Explained: the new item is there for its category, as fm weighs it for this user.
  request.explain = true;
  recs = engine->Recommend(request);
  ASSERT_TRUE(recs.ok());
  for (const ScoredItem& s : recs->items) {
    if (s.item != "space-new") continue;
    ASSERT_FALSE(s.features.empty());
    EXPECT_EQ(s.features[0], "category:space");
  }
  request.explain = false;
  request.user = "v0";
  const std::vector<std::string> garden = Items(*engine->Recommend(request));
  EXPECT_NE(std::find(garden.begin(), garden.end(), "garden-new"), garden.end())
      << "top 3 of v0 (garden): " << ::testing::PrintToString(garden);

  // The item features are derived state: a restart from the log alone gives the same list.
  const std::string fingerprint = engine->StateFingerprint();
  engine.reset();
  engine = OpenEngine(sets);
  EXPECT_EQ(engine->StateFingerprint(), fingerprint);
  EXPECT_EQ(Items(*engine->Recommend(request)), garden);
}

TEST_F(EngineTest, TheEnsembleServesExplainsByMemberAndReRanksByCategory) {
  // The default: one ensemble (popularity, item_knn, mf, fm). Three categories of four items;
  // users consume within one category, so item_knn's neighbours of a sport item are sport items.
  auto engine = OpenEngine({"snapshot.interval_events=0"});
  const std::vector<std::string> categories = {"sport", "music", "film"};
  for (const std::string& category : categories) {
    for (int i = 0; i < 4; ++i) {
      ItemMetadata meta;
      meta.categories = {category};
      ASSERT_TRUE(engine->PutItem(category + std::to_string(i), meta).ok());
    }
  }
  std::vector<EventRecord> events;
  int64_t t = 1'700'000'000'000;
  for (int u = 0; u < 30; ++u) {
    const std::string& category = categories[static_cast<size_t>(u) % 3];
    for (int i = 0; i < 3; ++i) {
      const int item = (u / 3 + i) % 4;
      events.push_back(Record("u" + std::to_string(u), category + std::to_string(item), t++));
    }
  }
  Ingest(engine.get(), events);

  RecommendRequest request;
  request.user = "u0";  // sport0, sport1, sport2
  request.k = 6;
  request.explain = true;
  StatusOr<Recommendations> recs = engine->Recommend(request);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  EXPECT_EQ(recs->model, "ensemble");
  ASSERT_EQ(recs->items.size(), 6u);
  const std::string best = recs->items[0].item;
  // Every listed item says how much each member added, largest first, and the terms add up
  // to its score.
  for (const ScoredItem& item : recs->items) {
    ASSERT_EQ(item.models.size(), 11u) << item.item;
    float sum = 0;
    for (size_t m = 0; m < item.models.size(); ++m) {
      sum += item.models[m].second;
      if (m > 0) {
        EXPECT_GE(item.models[m - 1].second, item.models[m].second);
      }
    }
    EXPECT_NEAR(sum, item.score, 1e-4f * std::max(1.0f, std::abs(item.score))) << item.item;
  }
  std::set<std::string> members;
  for (const auto& [name, term] : recs->items[0].models) members.insert(name);
  EXPECT_EQ(members, (std::set<std::string>{"popularity", "pop_15m", "pop_1h", "pop_1d", "item_knn",
                                            "transitions", "trans_15m", "trans_1h", "trans_1d",
                                            "mf", "fm"}));

  // A member serves by its name: item_knn offers the one sport item u0 has not seen, for the
  // sport items u0 saw (named as the reason).
  request.model = "item_knn";
  recs = engine->Recommend(request);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  EXPECT_EQ(recs->model, "item_knn");
  EXPECT_EQ(recs->items[0].item, "sport3") << ::testing::PrintToString(Items(*recs));
  EXPECT_FALSE(recs->items[0].because.empty());
  EXPECT_TRUE(recs->items[0].models.empty());
  request.model.clear();

  // At most one item per category: three items, one of each.
  auto category_of = [](const std::string& item) { return item.substr(0, item.size() - 1); };
  request.category_cap = 1;
  recs = engine->Recommend(request);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  std::multiset<std::string> seen;
  for (const ScoredItem& item : recs->items) seen.insert(category_of(item.item));
  EXPECT_EQ(seen, (std::multiset<std::string>{"sport", "music", "film"}))
      << ::testing::PrintToString(Items(*recs));
  EXPECT_EQ(recs->items[0].item, best);
  // Full diversity over categories: after the best item, one of each other category before
  // any second item of a category already listed.
  request.category_cap = -1;
  request.diversity = 1;
  recs = engine->Recommend(request);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  ASSERT_GE(recs->items.size(), 3u);
  EXPECT_EQ(recs->items[0].item, best);
  EXPECT_EQ(
      (std::set<std::string>{category_of(recs->items[0].item), category_of(recs->items[1].item),
                             category_of(recs->items[2].item)}),
      (std::set<std::string>{"sport", "music", "film"}))
      << ::testing::PrintToString(Items(*recs));
}

TEST_F(EngineTest, UsersKeepRecentHistoryAndMetadata) {
  auto engine = OpenEngine();
  Ingest(engine.get(), {Record("u", "a", 1000), Record("u", "b", 2000)});
  UserMetadata meta;
  meta.attributes = {{"country", "br"}};
  ASSERT_TRUE(engine->PutUser("u", meta).ok());
  StatusOr<UserInfo> info = engine->GetUser("u", 10);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_events, 2u);
  ASSERT_EQ(info->recent.size(), 2u);
  EXPECT_EQ(info->recent[0].first, "b");
  EXPECT_EQ(info->recent[0].second, 2000);
  EXPECT_EQ(info->metadata, meta);
  EXPECT_EQ(engine->GetUser("v", 10).status().code(), StatusCode::kNotFound);
}

TEST_F(EngineTest, RollbackReturnsToASnapshotAndSurvivesRestart) {
  std::string at_snapshot;
  uint64_t seq = 0;
  {
    auto engine = OpenEngine();
    Ingest(engine.get(), GroupStream(100, 7));
    StatusOr<SnapshotEntry> snapshot = engine->TakeSnapshot();
    ASSERT_TRUE(snapshot.ok());
    seq = snapshot->seq;
    at_snapshot = engine->StateFingerprint();
    Ingest(engine.get(), GroupStream(100, 8));
    EXPECT_NE(engine->StateFingerprint(), at_snapshot);
    ASSERT_TRUE(engine->Rollback(seq).ok());
    EXPECT_EQ(engine->Stats().events_applied, 100u);
    EXPECT_EQ(engine->Stats().last_applied_seq, 201u);
    EXPECT_EQ(engine->Rollback(12345).code(), StatusCode::kNotFound);
  }
  auto engine = OpenEngine();
  EXPECT_EQ(engine->Stats().events_applied, 100u);
  // Learning goes on from the rolled-back state.
  Ingest(engine.get(), {Record("u1", "i1", 1'750'000'000'000)});
  EXPECT_EQ(engine->Stats().events_applied, 101u);
}

TEST_F(EngineTest, StartsFromAnInitSnapshotAndGoesOnLearning) {
  const std::string init_dir = root_ + "/init";
  {
    StatusOr<std::unique_ptr<Engine>> trainer =
        Engine::Open(EngineOptions(init_dir), Context{}, "", nullptr);
    ASSERT_TRUE(trainer.ok());
    Ingest(trainer->get(), GroupStream(100, 9));
  }
  const std::string data = root_ + "/data";
  StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Open(EngineOptions(data), Context{}, init_dir + "/snapshots", nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EXPECT_EQ((*engine)->Stats().events_applied, 100u);
  EXPECT_EQ((*engine)->Stats().last_applied_seq, 0u);
  Ingest(engine->get(), {Record("u1", "i1", 1'750'000'000'000)});
  EXPECT_EQ((*engine)->Stats().last_applied_seq, 1u);
}

TEST_F(EngineTest, ConcurrentIngestAndReadsAgreeWithTheLog) {
  ExpectConcurrentIngestAndReadsAgreeWithTheLog({"log.sync=interval", "log.sync_interval=1ms"});
}

// seq learns in the background: its steps run on a thread of its own while the reader scores.
TEST_F(EngineTest, ConcurrentIngestAndReadsOfABackgroundLearnerAgreeWithTheLog) {
  ExpectConcurrentIngestAndReadsAgreeWithTheLog(
      {"log.sync=interval", "log.sync_interval=1ms", "engine.models=popularity,seq",
       "engine.default_model=seq", "seq.dim=8", "seq.max_len=6", "seq.blocks=1", "seq.negatives=8",
       "seq.stride=2", "seq.train_positions=6"});
}

// A user's deletion runs on its own thread (erase, replay, swap at the apply thread) while
// writers ingest and a reader reads: it completes, the user is unknown, and a restart that
// replays the erased log from the start gives the live state byte for byte.
TEST_F(EngineTest, ConcurrentDeletionWithIngestAndReadsAgreesWithTheErasedLog) {
  const std::initializer_list<std::string_view> sets = {"snapshot.interval_events=150",
                                                        "feedback.record_decisions=false"};
  auto engine = OpenEngine(sets);
  Ingest(engine.get(), GroupStream(300, 7));
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int b = 0; b < 10; ++b) {
        Ingest(engine.get(), GroupStream(40, 200 + w * 10 + b), IngestWait::kDurable);
      }
    });
  }
  std::atomic<bool> done{false};
  std::thread reader([&] {
    RecommendRequest request;
    request.user = "u2";
    while (!done.load()) {
      ASSERT_TRUE(engine->Recommend(request).ok());
      (void)engine->Stats();
    }
  });
  StatusOr<DeletionInfo> deletion = engine->DeleteUser("u1");
  ASSERT_TRUE(deletion.ok()) << deletion.status().message();
  StatusOr<DeletionInfo> done_deletion = engine->GetDeletion(deletion->deletion, 60000);
  for (std::thread& t : threads) t.join();
  done = true;
  reader.join();
  ASSERT_TRUE(done_deletion.ok());
  EXPECT_EQ(done_deletion->state, "complete") << done_deletion->error;
  // Later batches name u1 again: a user who comes back after the deletion is a new user, so
  // only what was logged before the deletion is gone.
  Ingest(engine.get(), {Record("last", "i1", 1)});
  const std::string live = engine->StateFingerprint();
  engine.reset();
  std::filesystem::remove_all(SnapshotDir());
  auto replayed = OpenEngine(sets);
  EXPECT_EQ(replayed->StateFingerprint(), live);
}

void EngineTest::ExpectConcurrentIngestAndReadsAgreeWithTheLog(
    std::initializer_list<std::string_view> sets) {
  auto engine = OpenEngine(sets);
  constexpr int kWriters = 3;
  constexpr int kBatches = 20;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int b = 0; b < kBatches; ++b) {
        Ingest(engine.get(), GroupStream(50, 100 + w * kBatches + b), IngestWait::kDurable);
      }
    });
  }
  std::atomic<bool> done{false};
  std::thread reader([&] {
    RecommendRequest request;
    request.user = "u1";
    while (!done.load()) {
      StatusOr<Recommendations> recs = engine->Recommend(request);
      ASSERT_TRUE(recs.ok());
      (void)engine->Stats();
    }
  });
  for (std::thread& t : threads) t.join();
  done = true;
  reader.join();
  const std::string live = [&] {
    // Wait for the apply thread by an ingest that waits for learning.
    Ingest(engine.get(), {Record("last", "i1", 1)});
    return engine->StateFingerprint();
  }();
  engine.reset();
  std::filesystem::remove_all(SnapshotDir());
  auto replayed = OpenEngine(sets);
  EXPECT_EQ(replayed->StateFingerprint(), live);
  EXPECT_EQ(replayed->Stats().events_applied, kWriters * kBatches * 50u + 1);
}

}  // namespace
}  // namespace liverec
