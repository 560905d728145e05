// ClusterIngest on a real redis-server and nats-server (127.0.0.1): two nodes ingest named
// events; the event streams hold each accepted event once, in its user's partition, with ids
// both nodes agree on, and a learner node learns every one of them.
#include "cluster/ingest.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cluster/cluster_learner.h"
#include "cluster/event_batch.h"
#include "cluster/round_log.h"
#include "connect/engine_process_testing.h"
#include "model/model_testing.h"
#include "model/partitioned.h"

namespace liverec::cluster {
namespace {

using connect::Connector;
using connect::ConnectorOptions;
using connect::Position;
using connect::testing::EngineProcess;
using std::chrono::milliseconds;

constexpr uint32_t kPartitions = 4;
constexpr int64_t kNowMs = 1'700'000'000'000;

StatusOr<float> Weight(std::string_view type) {
  if (type.empty() || type == "view") return 1.0f;
  if (type == "skip") return -1.0f;
  return InvalidArgument("unknown event type '" + std::string(type) + "'");
}

EventRecord Record(std::string user, std::string item, std::string type, int64_t time_ms) {
  EventRecord record;
  record.user = std::move(user);
  record.item = std::move(item);
  record.type = std::move(type);
  record.time_ms = time_ms;
  return record;
}

ValidEventRecord Valid(EventRecord record) {
  FieldError error;
  std::optional<ValidEventRecord> valid = ValidEventRecord::Make(std::move(record), &error);
  LIVEREC_CHECK(valid.has_value());
  return *std::move(valid);
}

// n events of users "u<...>" on items "i<...>", from `first` on; every event's time is unique.
std::vector<ValidEventRecord> Records(int first, int n) {
  std::vector<ValidEventRecord> records;
  for (int i = first; i < first + n; ++i) {
    records.push_back(Valid(Record("u" + std::to_string(i % 13), "i" + std::to_string((i * 7) % 11),
                                   i % 5 == 0 ? "skip" : "view", kNowMs + i)));
  }
  return records;
}

// An event read back, by names.
struct Named {
  std::string user;
  std::string item;
  int64_t time_ms;
  float weight;
  auto operator<=>(const Named&) const = default;
};

class ClusterIngestTest : public ::testing::TestWithParam<EngineProcess::Kind> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<EngineProcess>(GetParam());
    ASSERT_TRUE(engine_->ready()) << engine_->output();
    auto connector = Connector::Open(engine_->url(), ConnectorOptions{});
    ASSERT_TRUE(connector.ok()) << connector.status().ToString();
    reader_ = std::move(connector).value();
  }

  std::unique_ptr<ClusterIngest> Node(const std::string& name,
                                      ConnectorOptions engine = ConnectorOptions{}) {
    auto node = ClusterIngest::Open(engine_->url(), engine,
                                    ClusterIngestOptions{.node = name,
                                                         .partitions = kPartitions,
                                                         .weight = Weight,
                                                         .now_ms = [] { return kNowMs; }});
    EXPECT_TRUE(node.ok()) << node.status().ToString();
    return node.ok() ? std::move(node).value() : nullptr;
  }

  // Every event of partition p's stream, by names (read through an id map of the test's own),
  // with the number of records they came in.
  std::vector<Named> ReadBack(uint32_t p, size_t* record_count = nullptr) {
    std::vector<connect::Record> records;
    EXPECT_TRUE(reader_->Read(EventsStream(p), 0, 100000, milliseconds(0), &records).ok());
    SharedIds users(reader_.get(), std::string(kUserIdsStream), "test");
    SharedIds items(reader_.get(), std::string(kItemIdsStream), "test");
    EXPECT_TRUE(users.CatchUp(milliseconds(0)).ok());
    EXPECT_TRUE(items.CatchUp(milliseconds(0)).ok());
    std::vector<Named> named;
    for (const connect::Record& record : records) {
      std::vector<Event> events;
      EXPECT_TRUE(DecodeEventBatch(record.payload, &events).ok());
      for (const Event& e : events) {
        named.push_back(Named{users.Name(e.user), items.Name(e.item), e.time_ms, e.weight});
      }
    }
    if (record_count != nullptr) *record_count = records.size();
    return named;
  }

  std::unique_ptr<EngineProcess> engine_;
  std::unique_ptr<Connector> reader_;
};

TEST_P(ClusterIngestTest, EventsGoToTheirUsersPartitionsWithIdsEveryNodeAgreesOn) {
  std::unique_ptr<ClusterIngest> a = Node("node-a");
  std::unique_ptr<ClusterIngest> b = Node("node-b");
  ASSERT_TRUE(a && b);
  std::vector<ValidEventRecord> batch_a = Records(0, 40);
  std::vector<ValidEventRecord> batch_b = Records(40, 40);
  // A record of a type the policy refuses, and one without a time.
  {
    batch_a.insert(batch_a.begin() + 3, Valid(Record("u1", "i1", "bogus", 0)));
    batch_b.push_back(Valid(Record("u2", "i2", "", 0)));
  }
  // Both nodes at once: their new names race in the id streams.
  ClusterIngest::Receipt receipt_a;
  ClusterIngest::Receipt receipt_b;
  Status status_a;
  Status status_b;
  std::thread other([&] { status_b = b->Ingest(batch_b, &receipt_b); });
  status_a = a->Ingest(batch_a, &receipt_a);
  other.join();
  ASSERT_TRUE(status_a.ok()) << status_a.ToString();
  ASSERT_TRUE(status_b.ok()) << status_b.ToString();
  EXPECT_EQ(receipt_a.accepted, 40u);
  ASSERT_EQ(receipt_a.rejected.size(), 1u);
  EXPECT_EQ(receipt_a.rejected[0].first, 3u);
  EXPECT_NE(receipt_a.rejected[0].second.find("unknown event type 'bogus'"), std::string::npos);
  EXPECT_EQ(receipt_b.accepted, 41u);
  EXPECT_TRUE(receipt_b.rejected.empty());

  // What each partition should hold: the accepted events of its users, each node's in its
  // batch's order.
  std::map<uint32_t, std::vector<Named>> expected_a;
  std::map<uint32_t, std::vector<Named>> expected_b;
  for (auto [batch, expected] :
       {std::tuple(&batch_a, &expected_a), std::tuple(&batch_b, &expected_b)}) {
    for (const ValidEventRecord& record : *batch) {
      if (record->type == "bogus") continue;
      (*expected)[UserPartition(record->user, kPartitions)].push_back(
          Named{record->user, record->item, record->time_ms != 0 ? record->time_ms : kNowMs,
                *Weight(record->type)});
    }
  }
  size_t total = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    const std::vector<Named> got = ReadBack(p);
    total += got.size();
    // Each node's events appear in its order; the two groups in either order.
    std::vector<Named> a_then_b = expected_a[p];
    a_then_b.insert(a_then_b.end(), expected_b[p].begin(), expected_b[p].end());
    std::vector<Named> b_then_a = expected_b[p];
    b_then_a.insert(b_then_a.end(), expected_a[p].begin(), expected_a[p].end());
    EXPECT_TRUE(got == a_then_b || got == b_then_a) << "partition " << p;
  }
  EXPECT_EQ(total, 81u);
  // The receipts name the partitions appended to, with positions the streams hold.
  for (const auto* receipt : {&receipt_a, &receipt_b}) {
    EXPECT_FALSE(receipt->positions.empty());
    for (const auto& [p, position] : receipt->positions) {
      StatusOr<Position> last = reader_->Last(EventsStream(p));
      ASSERT_TRUE(last.ok());
      EXPECT_GE(*last, position);
      EXPECT_GT(position, 0u);
    }
  }
  // Both nodes give a name the same id.
  for (const char* user : {"u0", "u1", "u2", "u12"}) {
    EXPECT_EQ(a->users().Find(user).has_value(), true) << user;
    if (b->users().Find(user).has_value()) {
      EXPECT_EQ(a->users().Find(user), b->users().Find(user));
    }
  }
}

TEST_P(ClusterIngestTest, AGroupLargerThanARecordIsCutIntoRecords) {
  ConnectorOptions small;
  small.max_record_bytes = kEventBatchHeaderBytes + 3 * kEventBatchEventBytes;
  std::unique_ptr<ClusterIngest> a = Node("node-a", small);
  ASSERT_NE(a, nullptr);
  std::vector<ValidEventRecord> records;
  for (int i = 0; i < 10; ++i) {
    records.push_back(Valid(Record("solo", "i" + std::to_string(i), "", kNowMs + i)));
  }
  ClusterIngest::Receipt receipt;
  ASSERT_TRUE(a->Ingest(records, &receipt).ok());
  EXPECT_EQ(receipt.accepted, 10u);
  const uint32_t p = UserPartition("solo", kPartitions);
  size_t record_count = 0;
  const std::vector<Named> got = ReadBack(p, &record_count);
  EXPECT_EQ(record_count, 4u);  // 3 + 3 + 3 + 1
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[i].item, "i" + std::to_string(i));
    EXPECT_EQ(got[i].time_ms, kNowMs + i);
  }
  ASSERT_EQ(receipt.positions.size(), 1u);
  EXPECT_EQ(receipt.positions[0].first, p);
  EXPECT_EQ(receipt.positions[0].second, *reader_->Last(EventsStream(p)));
}

TEST_P(ClusterIngestTest, OneNodeIngestsFromSeveralThreadsAtOnce) {
  std::unique_ptr<ClusterIngest> a = Node("node-a");
  ASSERT_NE(a, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 30;
  std::vector<Status> statuses(kThreads);
  std::vector<size_t> accepted(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ClusterIngest::Receipt receipt;
      statuses[t] = a->Ingest(Records(t * kPerThread, kPerThread), &receipt);
      accepted[t] = receipt.accepted;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(statuses[t].ok()) << statuses[t].ToString();
    EXPECT_EQ(accepted[t], size_t{kPerThread});
  }
  // Every event once, in its user's partition (event times are unique).
  std::map<int64_t, int> seen;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    for (const Named& event : ReadBack(p)) {
      EXPECT_EQ(UserPartition(event.user, kPartitions), p) << event.user;
      ++seen[event.time_ms];
    }
  }
  ASSERT_EQ(seen.size(), size_t{kThreads * kPerThread});
  for (const auto& [time_ms, count] : seen) EXPECT_EQ(count, 1) << time_ms;
}

TEST_P(ClusterIngestTest, ALearnerLearnsEveryIngestedEvent) {
  std::unique_ptr<ClusterIngest> a = Node("node-a");
  std::unique_ptr<ClusterIngest> b = Node("node-b");
  ASSERT_TRUE(a && b);
  const liverec::testing::ModelMaker maker("popularity", {});
  auto learner = ClusterLearner::Open(engine_->url(), ConnectorOptions{},
                                      ClusterLearnerOptions{.node = "node-l",
                                                            .partitions = kPartitions,
                                                            .round = milliseconds(20),
                                                            .round_events = 0,
                                                            .lease_ttl = milliseconds(2000),
                                                            .tick = milliseconds(100),
                                                            .ownership_thread = true},
                                      [&] { return maker.Make(); });
  ASSERT_TRUE(learner.ok()) << learner.status().ToString();
  size_t accepted = 0;
  std::vector<std::pair<uint32_t, Position>> positions;
  for (int batch = 0; batch < 6; ++batch) {
    ClusterIngest::Receipt receipt;
    ASSERT_TRUE((batch % 2 == 0 ? a : b)->Ingest(Records(batch * 25, 25), &receipt).ok());
    accepted += receipt.accepted;
    positions.insert(positions.end(), receipt.positions.begin(), receipt.positions.end());
  }
  // Learned once a round that ended here (handed out by the node's round reader) covers each
  // acknowledged position.
  const auto covered = [&] {
    for (const auto& [p, position] : positions) {
      if ((*learner)->ended(p).events_upto < position) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!covered() && std::chrono::steady_clock::now() < deadline) {
    const Status status = (*learner)->Step(milliseconds(5));
    ASSERT_TRUE(status.ok() || status.code() == StatusCode::kUnavailable) << status.ToString();
  }
  ASSERT_TRUE(covered());
  EXPECT_EQ(accepted, 150u);
  EXPECT_EQ((*learner)->stats().events_learned, accepted);
  EXPECT_EQ((*learner)->owned().size(), kPartitions);
}

INSTANTIATE_TEST_SUITE_P(Engines, ClusterIngestTest,
                         ::testing::Values(EngineProcess::kRedis, EngineProcess::kNats),
                         [](const auto& param_info) {
                           return param_info.param == EngineProcess::kRedis ? "Redis" : "Nats";
                         });

}  // namespace
}  // namespace liverec::cluster
