// What the NATS connector does on JetStream itself: the stream and buckets it makes and
// insists on, the Nats-Msg-Id de-duplication it relies on, the record it keeps at a trim,
// its read consumers, leases judged on the server's clock, and a restart of nats-server under
// a live connector.
#include "connect/nats_connector.h"

#include <gtest/gtest.h>
#include <nats/nats.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "connect/engine_process_testing.h"

namespace liverec::connect {
namespace {

using std::chrono::milliseconds;
using testing::EngineProcess;

constexpr int64_t kNanosPerMilli = 1'000'000;

// A plain libnats connection with a JetStream context, to look at (and set up) what the
// connector finds in JetStream.
class NatsClient {
 public:
  explicit NatsClient(const std::string& url) {
    if (natsConnection_ConnectTo(&nc_, url.c_str()) == NATS_OK) {
      natsConnection_JetStream(&js_, nc_, nullptr);
    }
  }
  ~NatsClient() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;

  jsCtx* js() { return js_; }

  // The stream's configuration and state as "storage=file duplicates_ms=120000 subjects=a.s.>
  // consumers=0", or the libnats error.
  std::string StreamSummary(const std::string& stream) {
    jsStreamInfo* info = nullptr;
    const natsStatus s = js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, nullptr);
    if (s != NATS_OK) return natsStatus_GetText(s);
    std::string summary =
        std::string("storage=") + (info->Config->Storage == js_FileStorage ? "file" : "memory") +
        " duplicates_ms=" + std::to_string(info->Config->Duplicates / kNanosPerMilli) +
        " subjects=";
    for (int i = 0; i < info->Config->SubjectsLen; ++i) {
      summary += (i > 0 ? "," : "") + std::string(info->Config->Subjects[i]);
    }
    summary += " consumers=" + std::to_string(info->State.Consumers);
    jsStreamInfo_Destroy(info);
    return summary;
  }

  int64_t Consumers(const std::string& stream) {
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return -1;
    const int64_t consumers = info->State.Consumers;
    jsStreamInfo_Destroy(info);
    return consumers;
  }

  // The header `key` of the message at `sequence` of `stream` ("(none)" if absent).
  std::string Header(const std::string& stream, uint64_t sequence, const char* key) {
    natsMsg* msg = nullptr;
    if (js_GetMsg(&msg, js_, stream.c_str(), sequence, nullptr, nullptr) != NATS_OK) {
      return "(no message)";
    }
    const char* value = nullptr;
    std::string text = natsMsgHeader_Get(msg, key, &value) == NATS_OK ? value : "(none)";
    natsMsg_Destroy(msg);
    return text;
  }

  // The value of `key` in the key-value `bucket` ("(none)" if absent).
  std::string KvValue(const std::string& bucket, const std::string& key) {
    kvStore* kv = nullptr;
    if (js_KeyValue(&kv, js_, bucket.c_str()) != NATS_OK) return "(no bucket)";
    kvEntry* entry = nullptr;
    std::string text = "(none)";
    if (kvStore_Get(&entry, kv, key.c_str()) == NATS_OK) text = kvEntry_ValueString(entry);
    kvEntry_Destroy(entry);
    kvStore_Destroy(kv);
    return text;
  }

  // Sets the largest message `stream` takes; the libnats status.
  natsStatus SetMaxMsgSize(const std::string& stream, int32_t bytes) {
    jsStreamInfo* info = nullptr;
    natsStatus s = js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, nullptr);
    if (s != NATS_OK) return s;
    info->Config->MaxMsgSize = bytes;
    jsStreamInfo* updated = nullptr;
    s = js_UpdateStream(&updated, js_, info->Config, nullptr, nullptr);
    jsStreamInfo_Destroy(updated);
    jsStreamInfo_Destroy(info);
    return s;
  }

  // Publishes `payload` to `subject` with the header Nats-Msg-Id `msg_id`; the sequence or 0.
  uint64_t PublishWithId(const std::string& subject, const std::string& payload,
                         const std::string& msg_id) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id.c_str();
    jsPubAck* ack = nullptr;
    if (js_Publish(&ack, js_, subject.c_str(), payload.data(), static_cast<int>(payload.size()),
                   &po, nullptr) != NATS_OK) {
      return 0;
    }
    const uint64_t sequence = ack->Sequence;
    jsPubAck_Destroy(ack);
    return sequence;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

class NatsConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine_.ready()) << engine_.output();
    connector_ = Open(ConnectorOptions{});
    ASSERT_NE(connector_, nullptr);
  }

  std::unique_ptr<Connector> Open(const ConnectorOptions& options) {
    auto connector = OpenNatsConnector("127.0.0.1", engine_.port(), options);
    EXPECT_TRUE(connector.ok()) << connector.status().ToString();
    return connector.ok() ? std::move(connector).value() : nullptr;
  }

  std::vector<Record> ReadAll(Connector& connector, const std::string& stream, Position after = 0) {
    std::vector<Record> records;
    const Status status = connector.Read(stream, after, 1000, milliseconds(0), &records);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return records;
  }

  EngineProcess engine_{EngineProcess::kNats};
  std::unique_ptr<Connector> connector_;
};

TEST_F(NatsConnectorTest, MakesAFileStreamWithTheDedupWindowAndFileBuckets) {
  NatsClient client(engine_.url());
  EXPECT_EQ(client.StreamSummary("liverec"),
            "storage=file duplicates_ms=120000 subjects=liverec.s.> consumers=0");
  EXPECT_EQ(client.StreamSummary("KV_liverec-checkpoints").substr(0, 13), "storage=file ");
  EXPECT_EQ(client.StreamSummary("KV_liverec-leases").substr(0, 13), "storage=file ");

  // Another window for the same stream, and a prefix with a dot.
  ConnectorOptions options;
  options.dedup_window = milliseconds(30000);
  ASSERT_NE(Open(options), nullptr);
  EXPECT_EQ(client.StreamSummary("liverec"),
            "storage=file duplicates_ms=30000 subjects=liverec.s.> consumers=0");
  options.prefix = "cluster.b";
  ASSERT_NE(Open(options), nullptr);
  EXPECT_EQ(client.StreamSummary("cluster_b"),
            "storage=file duplicates_ms=30000 subjects=cluster.b.s.> consumers=0");
}

TEST_F(NatsConnectorTest, RequireDurableRefusesAStreamInMemory) {
  NatsClient client(engine_.url());
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {"memonly.s.>"};
  cfg.Name = "memonly";
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_MemoryStorage;
  ASSERT_EQ(js_AddStream(nullptr, client.js(), &cfg, nullptr, nullptr), NATS_OK);

  ConnectorOptions options;
  options.prefix = "memonly";
  auto refused = OpenNatsConnector("127.0.0.1", engine_.port(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("memory"), std::string::npos)
      << refused.status().message();
  options.require_durable = false;
  EXPECT_NE(Open(options), nullptr);
}

TEST_F(NatsConnectorTest, ABatchIdTravelsAsNatsMsgIdScopedToItsStream) {
  NatsClient client(engine_.url());
  const std::vector<std::string> payloads = {"a", "b", "c"};
  std::vector<Position> first, again, other;
  ASSERT_TRUE(connector_->Append("events.0", "node-a/17", payloads, &first).ok());
  EXPECT_EQ(client.Header("liverec", first[1], "Nats-Msg-Id"), "events.0:node-a/17#1");
  ASSERT_TRUE(connector_->Append("events.0", "node-a/17", payloads, &again).ok());
  EXPECT_EQ(again, first);
  // All liverec streams share one JetStream de-duplication map: the same batch id on another
  // stream is another batch.
  ASSERT_TRUE(connector_->Append("events.1", "node-a/17", payloads, &other).ok());
  EXPECT_GT(other.front(), first.back());
  EXPECT_EQ(ReadAll(*connector_, "events.1").size(), payloads.size());
  // Without a batch id there is no header.
  std::vector<Position> plain;
  ASSERT_TRUE(connector_->Append("events.0", "", payloads, &plain).ok());
  EXPECT_EQ(client.Header("liverec", plain[0], "Nats-Msg-Id"), "(none)");
}

TEST_F(NatsConnectorTest, ARepeatCompletesABatchThatWasCutShort) {
  NatsClient client(engine_.url());
  // A node appended the first two records of batch "b-1" and died before the rest.
  const uint64_t s0 = client.PublishWithId("liverec.s.events.0", "p0", "events.0:b-1#0");
  const uint64_t s1 = client.PublishWithId("liverec.s.events.0", "p1", "events.0:b-1#1");
  ASSERT_GT(s0, 0u);
  ASSERT_GT(s1, s0);
  std::vector<Position> positions;
  ASSERT_TRUE(
      connector_
          ->Append("events.0", "b-1", std::vector<std::string>{"p0", "p1", "p2", "p3"}, &positions)
          .ok());
  ASSERT_EQ(positions.size(), 4u);
  EXPECT_EQ(positions[0], s0);
  EXPECT_EQ(positions[1], s1);
  EXPECT_GT(positions[2], s1);
  const std::vector<Record> records = ReadAll(*connector_, "events.0");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3].payload, "p3");
}

TEST_F(NatsConnectorTest, ALargeBatchIsPipelinedInOrderAndItsRepeatGivesTheSamePositions) {
  NatsClient client(engine_.url());
  std::vector<std::string> payloads;
  for (int i = 0; i < 5000; ++i) payloads.push_back("record-" + std::to_string(i));
  std::vector<Position> first;
  const Status appended = connector_->Append("events.0", "node-a/big", payloads, &first);
  ASSERT_TRUE(appended.ok()) << appended.ToString();
  ASSERT_EQ(first.size(), payloads.size());
  for (size_t i = 1; i < first.size(); ++i) ASSERT_GT(first[i], first[i - 1]) << "record " << i;
  EXPECT_EQ(client.Header("liverec", first[4321], "Nats-Msg-Id"), "events.0:node-a/big#4321");
  auto last = connector_->Last("events.0");
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, first.back());
  std::vector<Record> records;
  while (records.size() < payloads.size()) {
    const size_t before = records.size();
    const Position after = records.empty() ? 0 : records.back().position;
    ASSERT_TRUE(connector_->Read("events.0", after, 1000, milliseconds(0), &records).ok());
    ASSERT_GT(records.size(), before);
  }
  ASSERT_EQ(records.size(), payloads.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(records[i].position, first[i]) << "record " << i;
    ASSERT_EQ(records[i].payload, payloads[i]) << "record " << i;
  }
  // The repeat stores nothing: every record's acknowledgement is a duplicate's.
  std::vector<Position> again;
  const Status repeated = connector_->Append("events.0", "node-a/big", payloads, &again);
  ASSERT_TRUE(repeated.ok()) << repeated.ToString();
  EXPECT_EQ(again, first);
  last = connector_->Last("events.0");
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, first.back());
}

TEST_F(NatsConnectorTest, ARefusedRecordFailsTheAppendAndIsNamed) {
  NatsClient client(engine_.url());
  ASSERT_EQ(client.SetMaxMsgSize("liverec", 512), NATS_OK);
  std::vector<std::string> payloads(100, "small");
  payloads[37] = std::string(2000, 'x');
  std::vector<Position> positions;
  const Status status = connector_->Append("events.0", "b-7", payloads, &positions);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("record 37 of 100 of batch 'b-7'"), std::string::npos)
      << status.ToString();
  EXPECT_NE(status.message().find("JetStream error"), std::string::npos) << status.ToString();
  EXPECT_TRUE(positions.empty());
  // The connector goes on: the repeat without the large record completes the batch.
  payloads[37] = "small";
  const Status repeated = connector_->Append("events.0", "b-7", payloads, &positions);
  ASSERT_TRUE(repeated.ok()) << repeated.ToString();
  EXPECT_EQ(ReadAll(*connector_, "events.0").size(), payloads.size());
}

TEST_F(NatsConnectorTest, AnUnacknowledgedAppendTimesOutAndItsRepeatCompletesIt) {
  ConnectorOptions options;
  options.timeout = milliseconds(1000);
  std::unique_ptr<Connector> connector = Open(options);
  ASSERT_NE(connector, nullptr);
  std::vector<std::string> payloads;
  for (int i = 0; i < 10; ++i) payloads.push_back("r" + std::to_string(i));
  std::vector<Position> positions;
  ASSERT_TRUE(connector->Append("events.0", "warm-up", payloads, &positions).ok());
  // Nobody acknowledges while the server is down: libnats buffers the records meanwhile.
  engine_.Stop();
  const Status status = connector->Append("events.0", "b-9", payloads, &positions);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_NE(status.message().find("record 9 of 10 of batch 'b-9'"), std::string::npos)
      << status.ToString();
  EXPECT_TRUE(positions.empty());
  engine_.Start();
  ASSERT_TRUE(engine_.ready()) << engine_.output();
  // libnats sends what it buffered once it reconnects; the repeat stores each record once.
  const Status repeated = connector->Append("events.0", "b-9", payloads, &positions);
  ASSERT_TRUE(repeated.ok()) << repeated.ToString();
  ASSERT_EQ(positions.size(), payloads.size());
  const std::vector<Record> records = ReadAll(*connector, "events.0");
  ASSERT_EQ(records.size(), 2 * payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_EQ(records[payloads.size() + i].position, positions[i]);
    EXPECT_EQ(records[payloads.size() + i].payload, payloads[i]);
  }
}

TEST_F(NatsConnectorTest, ThreadsAppendAtOnceThroughOneConnector) {
  constexpr int kThreads = 6;  // more than the connector keeps idle publishers for
  constexpr int kBatches = 5;
  constexpr size_t kRecords = 300;
  std::vector<std::vector<Position>> positions(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::string> payloads;
        for (size_t i = 0; i < kRecords; ++i) {
          payloads.push_back(std::to_string(t) + "/" + std::to_string(b) + "/" + std::to_string(i));
        }
        std::vector<Position> batch;
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(b);
        const Status status = connector_->Append("events.0", id, payloads, &batch);
        if (!status.ok()) {
          errors[t] = status.ToString();
          return;
        }
        if (batch.size() != kRecords) {
          errors[t] = "batch " + id + ": " + std::to_string(batch.size()) + " positions";
          return;
        }
        positions[t].insert(positions[t].end(), batch.begin(), batch.end());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::map<Position, std::string> payload_at;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(errors[t], "") << "thread " << t;
    for (size_t i = 1; i < positions[t].size(); ++i) {
      ASSERT_GT(positions[t][i], positions[t][i - 1]) << "thread " << t << " record " << i;
    }
    for (size_t i = 0; i < positions[t].size(); ++i) {
      payload_at[positions[t][i]] = std::to_string(t) + "/" + std::to_string(i / kRecords) + "/" +
                                    std::to_string(i % kRecords);
    }
  }
  ASSERT_EQ(payload_at.size(), size_t{kThreads * kBatches * kRecords});
  std::vector<Record> records;
  while (records.size() < payload_at.size()) {
    const size_t before = records.size();
    const Position after = records.empty() ? 0 : records.back().position;
    ASSERT_TRUE(connector_->Read("events.0", after, 1000, milliseconds(0), &records).ok());
    ASSERT_GT(records.size(), before);
  }
  for (const Record& record : records) {
    ASSERT_EQ(record.payload, payload_at[record.position]) << "position " << record.position;
  }
}

TEST_F(NatsConnectorTest, PositionsAreStreamSequencesSharedAcrossSubjects) {
  std::vector<Position> a1, b, a2;
  ASSERT_TRUE(connector_->Append("events.0", "", std::vector<std::string>{"x"}, &a1).ok());
  ASSERT_TRUE(connector_->Append("events.1", "", std::vector<std::string>{"y"}, &b).ok());
  ASSERT_TRUE(connector_->Append("events.0", "", std::vector<std::string>{"z"}, &a2).ok());
  EXPECT_EQ(b[0], a1[0] + 1);
  EXPECT_EQ(a2[0], b[0] + 1);
  // The gap is no record: a read after a1 finds a2 next, and the fence expects a2.
  const std::vector<Record> records = ReadAll(*connector_, "events.0", a1[0]);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].position, a2[0]);
  std::vector<Position> fenced;
  EXPECT_EQ(
      connector_->AppendIfLast("events.0", a1[0], std::vector<std::string>{"w"}, &fenced).code(),
      StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      connector_->AppendIfLast("events.0", a2[0], std::vector<std::string>{"w"}, &fenced).ok());
}

TEST_F(NatsConnectorTest, TrimKeepsTheLastRecordSoLastAndTheFenceHold) {
  std::vector<Position> positions;
  ASSERT_TRUE(
      connector_->AppendIfLast("deltas.1", 0, std::vector<std::string>{"a", "b", "c"}, &positions)
          .ok());
  ASSERT_TRUE(connector_->Commit("deltas.1", "node-a", positions.back()).ok());
  auto trimmed = connector_->Trim("deltas.1");
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  EXPECT_EQ(*trimmed, positions.back());
  const std::vector<Record> left = ReadAll(*connector_, "deltas.1");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].position, positions.back());
  auto last = connector_->Last("deltas.1");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, positions.back());
  // A writer that believes the stream empty is still fenced; the owner goes on.
  std::vector<Position> more;
  EXPECT_EQ(connector_->AppendIfLast("deltas.1", 0, std::vector<std::string>{"x"}, &more).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      connector_->AppendIfLast("deltas.1", positions.back(), std::vector<std::string>{"d"}, &more)
          .ok());
  // The checkpoint entry is readable by an operator: `nats kv get liverec-checkpoints deltas.1`.
  NatsClient client(engine_.url());
  EXPECT_EQ(client.KvValue("liverec-checkpoints", "deltas.1"),
            "node-a " + std::to_string(positions.back()) + "\n");
}

TEST_F(NatsConnectorTest, SuccessiveReadsShareOneConsumerThatTheConnectorDeletes) {
  NatsClient client(engine_.url());
  std::vector<Position> positions;
  ASSERT_TRUE(
      connector_->Append("events.0", "", std::vector<std::string>{"a", "b", "c", "d"}, &positions)
          .ok());
  std::vector<Record> records;
  ASSERT_TRUE(connector_->Read("events.0", 0, 2, milliseconds(0), &records).ok());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(client.Consumers("liverec"), 1);
  // Going on where the last read ended uses the same consumer ...
  ASSERT_TRUE(
      connector_->Read("events.0", records.back().position, 10, milliseconds(0), &records).ok());
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3].payload, "d");
  EXPECT_EQ(client.Consumers("liverec"), 1);
  // ... a read elsewhere replaces it, and an empty read leaves it where it stands.
  std::vector<Record> again;
  ASSERT_TRUE(connector_->Read("events.0", positions[0], 10, milliseconds(0), &again).ok());
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(again[0].payload, "b");
  ASSERT_TRUE(connector_->Read("events.0", positions[3], 10, milliseconds(0), &again).ok());
  EXPECT_EQ(again.size(), 3u);
  EXPECT_EQ(client.Consumers("liverec"), 1);
  connector_.reset();
  EXPECT_EQ(client.Consumers("liverec"), 0);
}

TEST_F(NatsConnectorTest, ALapsedLeaseCannotBeRenewedButItsHolderMayTakeItAgain) {
  const milliseconds short_ttl(300);
  auto lease = connector_->Acquire("partition.2", "node-a", short_ttl);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  NatsClient client(engine_.url());
  EXPECT_EQ(client.KvValue("liverec-leases", "partition.2"),
            std::to_string(lease->token) + " 300 node-a");
  // Waiting out the lease is the behaviour under test.
  std::this_thread::sleep_for(short_ttl);
  const Status renewed = connector_->Renew(*lease, short_ttl);
  EXPECT_EQ(renewed.code(), StatusCode::kFailedPrecondition) << renewed.ToString();
  EXPECT_NE(renewed.message().find("fenced"), std::string::npos) << renewed.message();
  // Nobody took it: the same holder takes it again with the same token.
  auto again = connector_->Acquire("partition.2", "node-a", milliseconds(60000));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->token, lease->token);
  EXPECT_TRUE(connector_->Renew(*again, milliseconds(60000)).ok());
}

TEST_F(NatsConnectorTest, AConnectorOutlivesARestartOfTheServer) {
  std::vector<Position> before;
  ASSERT_TRUE(connector_->Append("events.0", "", std::vector<std::string>{"a"}, &before).ok());
  ASSERT_EQ(ReadAll(*connector_, "events.0").size(), 1u);  // caches a read consumer
  engine_.Stop();
  engine_.Start();
  ASSERT_TRUE(engine_.ready()) << engine_.output();
  // libnats reconnects on its own; the publish waits for it within the connector's timeout.
  std::vector<Position> after;
  const Status appended = connector_->Append("events.0", "", std::vector<std::string>{"b"}, &after);
  ASSERT_TRUE(appended.ok()) << appended.ToString();
  const std::vector<Record> records = ReadAll(*connector_, "events.0", before[0]);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].payload, "b");
}

}  // namespace
}  // namespace liverec::connect
