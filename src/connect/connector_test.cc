// The Connector's contract, checked the same way on each engine: a real redis-server and a real
// nats-server started by the test on 127.0.0.1.
#include "connect/connector.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "connect/engine_process_testing.h"

namespace liverec::connect {
namespace {

using std::chrono::milliseconds;
using testing::EngineProcess;
using Strings = std::vector<std::string>;

std::vector<std::string> Payloads(const std::string& tag, int n) {
  std::vector<std::string> payloads;
  for (int i = 0; i < n; ++i) payloads.push_back(tag + "-" + std::to_string(i));
  // Bytes a text protocol could trip on: NUL, CR LF, a space.
  payloads.push_back(std::string("nul\0crlf\r\n end", 15));
  return payloads;
}

class ConnectorTest : public ::testing::TestWithParam<EngineProcess::Kind> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<EngineProcess>(GetParam());
    ASSERT_TRUE(engine_->ready()) << engine_->output();
    connector_ = OpenOrDie();
  }

  std::unique_ptr<Connector> OpenOrDie() {
    auto connector = Connector::Open(engine_->url(), ConnectorOptions{});
    EXPECT_TRUE(connector.ok()) << connector.status().ToString();
    return connector.ok() ? std::move(connector).value() : nullptr;
  }

  std::vector<Record> ReadAll(Connector& connector, const std::string& stream, Position after = 0) {
    std::vector<Record> records;
    EXPECT_TRUE(connector.Read(stream, after, 1000, milliseconds(0), &records).ok());
    return records;
  }

  std::unique_ptr<EngineProcess> engine_;
  std::unique_ptr<Connector> connector_;
};

TEST_P(ConnectorTest, ReadsWhatWasAppendedInOrderFromAnyPosition) {
  ASSERT_NE(connector_, nullptr);
  const std::vector<std::string> first = Payloads("a", 5);
  const std::vector<std::string> second = Payloads("b", 3);
  std::vector<Position> p1, p2;
  ASSERT_TRUE(connector_->Append("events.0", "", first, &p1).ok());
  ASSERT_TRUE(connector_->Append("events.0", "", second, &p2).ok());
  // Another stream in between does not show up in this one.
  std::vector<Position> other;
  ASSERT_TRUE(connector_->Append("events.1", "", Payloads("c", 2), &other).ok());
  ASSERT_EQ(p1.size(), first.size());
  ASSERT_EQ(p2.size(), second.size());
  std::vector<Position> all = p1;
  all.insert(all.end(), p2.begin(), p2.end());
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1], all[i]);
  EXPECT_GT(all.front(), 0u);

  const std::vector<Record> records = ReadAll(*connector_, "events.0");
  ASSERT_EQ(records.size(), all.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].position, all[i]);
    EXPECT_EQ(records[i].payload, i < first.size() ? first[i] : second[i - first.size()]);
  }
  // From the middle, and at most `max`.
  const std::vector<Record> tail = ReadAll(*connector_, "events.0", all[3]);
  ASSERT_EQ(tail.size(), all.size() - 4);
  EXPECT_EQ(tail.front().position, all[4]);
  std::vector<Record> two;
  ASSERT_TRUE(connector_->Read("events.0", all[3], 2, milliseconds(0), &two).ok());
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].position, all[5]);

  auto last = connector_->Last("events.0");
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, all.back());
  auto none = connector_->Last("never-written");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, 0u);
  EXPECT_TRUE(ReadAll(*connector_, "never-written").empty());
  EXPECT_TRUE(ReadAll(*connector_, "events.0", all.back()).empty());
}

TEST_P(ConnectorTest, ABlockedReadReturnsWhatAnotherNodeAppends) {
  ASSERT_NE(connector_, nullptr);
  std::vector<Position> positions;
  ASSERT_TRUE(connector_->Append("events.0", "", Payloads("x", 1), &positions).ok());
  std::unique_ptr<Connector> reader = OpenOrDie();
  ASSERT_NE(reader, nullptr);
  std::vector<Record> records;
  Status read_status;
  // The reader waits after the last record; whether it starts waiting before or after the
  // append below, it must return the new record well before its 20-second wait ends.
  std::thread thread([&] {
    read_status = reader->Read("events.0", positions.back(), 10, milliseconds(20000), &records);
  });
  std::vector<Position> appended;
  ASSERT_TRUE(connector_->Append("events.0", "", Strings{"late"}, &appended).ok());
  thread.join();
  ASSERT_TRUE(read_status.ok()) << read_status.ToString();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].payload, "late");
  EXPECT_EQ(records[0].position, appended[0]);
}

TEST_P(ConnectorTest, ABatchIdIsAppendedOnce) {
  ASSERT_NE(connector_, nullptr);
  const std::vector<std::string> payloads = Payloads("batch", 4);
  std::vector<Position> first, again;
  ASSERT_TRUE(connector_->Append("events.0", "node-a/17", payloads, &first).ok());
  ASSERT_TRUE(connector_->Append("events.0", "node-a/17", payloads, &again).ok());
  EXPECT_EQ(first, again);
  EXPECT_EQ(ReadAll(*connector_, "events.0").size(), payloads.size());
  // Another id is another batch.
  std::vector<Position> other;
  ASSERT_TRUE(connector_->Append("events.0", "node-a/18", payloads, &other).ok());
  EXPECT_GT(other.front(), first.back());
  EXPECT_EQ(ReadAll(*connector_, "events.0").size(), 2 * payloads.size());
}

TEST_P(ConnectorTest, AConditionalAppendFencesOutAStaleWriter) {
  ASSERT_NE(connector_, nullptr);
  std::unique_ptr<Connector> stale = OpenOrDie();
  ASSERT_NE(stale, nullptr);
  std::vector<Position> taken;
  // The new owner writes first, expecting an empty stream ...
  ASSERT_TRUE(connector_->AppendIfLast("deltas.3", 0, Strings{"owner b"}, &taken).ok());
  // ... so the former owner, who also believed it empty, is refused and appends nothing.
  std::vector<Position> refused;
  const Status status = stale->AppendIfLast("deltas.3", 0, Strings{"stale a"}, &refused);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
  // The owner goes on from its own last position; several records at once.
  std::vector<Position> more;
  ASSERT_TRUE(connector_->AppendIfLast("deltas.3", taken.back(), Payloads("round", 3), &more).ok());
  EXPECT_EQ(stale->AppendIfLast("deltas.3", taken.back(), Strings{"x"}, &refused).code(),
            StatusCode::kFailedPrecondition);
  const std::vector<Record> records = ReadAll(*connector_, "deltas.3");
  ASSERT_EQ(records.size(), 1 + more.size());
  EXPECT_EQ(records[0].payload, "owner b");
  EXPECT_EQ(records.back().position, more.back());
}

TEST_P(ConnectorTest, TrimDropsOnlyWhatEveryConsumerCommitted) {
  ASSERT_NE(connector_, nullptr);
  std::vector<Position> positions;
  ASSERT_TRUE(connector_->Append("events.2", "", Payloads("t", 9), &positions).ok());
  auto nothing = connector_->Trim("events.2");
  ASSERT_TRUE(nothing.ok()) << nothing.status().ToString();
  EXPECT_EQ(*nothing, 0u);
  EXPECT_EQ(ReadAll(*connector_, "events.2").size(), positions.size());

  ASSERT_TRUE(connector_->Commit("events.2", "node-a", positions[6]).ok());
  ASSERT_TRUE(connector_->Commit("events.2", "node-b", positions[2]).ok());
  // A commit never moves back.
  ASSERT_TRUE(connector_->Commit("events.2", "node-a", positions[1]).ok());
  auto a = connector_->Committed("events.2", "node-a");
  auto b = connector_->Committed("events.2", "node-b");
  auto c = connector_->Committed("events.2", "node-c");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, positions[6]);
  EXPECT_EQ(*b, positions[2]);
  EXPECT_EQ(*c, 0u);

  auto trimmed = connector_->Trim("events.2");
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  EXPECT_EQ(*trimmed, positions[2]);
  std::vector<Record> left = ReadAll(*connector_, "events.2");
  ASSERT_EQ(left.size(), positions.size() - 3);
  EXPECT_EQ(left.front().position, positions[3]);

  ASSERT_TRUE(connector_->Commit("events.2", "node-b", positions.back()).ok());
  trimmed = connector_->Trim("events.2");
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*trimmed, positions[6]);
  left = ReadAll(*connector_, "events.2");
  ASSERT_EQ(left.size(), positions.size() - 7);
  // Appends go on after the trim, past every earlier position.
  std::vector<Position> later;
  ASSERT_TRUE(connector_->Append("events.2", "", Strings{"after"}, &later).ok());
  EXPECT_GT(later[0], positions.back());
}

TEST_P(ConnectorTest, ALeaseHasOneHolderAndItsTokenRisesWithEachNewHolder) {
  ASSERT_NE(connector_, nullptr);
  const milliseconds ttl(60000);
  auto a = connector_->Acquire("partition.5", "node-a", ttl);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->holder, "node-a");
  EXPECT_EQ(a->name, "partition.5");

  auto b = connector_->Acquire("partition.5", "node-b", ttl);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(b.status().message().find("node-a"), std::string::npos) << b.status().message();

  // The holder acquiring again renews and keeps its token.
  auto again = connector_->Acquire("partition.5", "node-a", ttl);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->token, a->token);
  ASSERT_TRUE(connector_->Renew(*a, ttl).ok());

  // Another lease is independent.
  auto other = connector_->Acquire("partition.6", "node-b", ttl);
  ASSERT_TRUE(other.ok()) << other.status().ToString();

  ASSERT_TRUE(connector_->Release(*a).ok());
  b = connector_->Acquire("partition.5", "node-b", ttl);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_GT(b->token, a->token);
  // The former holder is fenced: it can neither renew nor release the new holder's lease.
  EXPECT_EQ(connector_->Renew(*a, ttl).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(connector_->Release(*a).ok());
  auto c = connector_->Acquire("partition.5", "node-c", ttl);
  EXPECT_EQ(c.status().code(), StatusCode::kAlreadyExists);
}

TEST_P(ConnectorTest, AnExpiredLeaseGoesToTheNextHolderAndFencesTheFormer) {
  ASSERT_NE(connector_, nullptr);
  const milliseconds short_ttl(300);
  auto a = connector_->Acquire("partition.1", "node-a", short_ttl);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  // Waiting out the lease is the behaviour under test: node-a stops renewing (a SIGSTOP).
  std::this_thread::sleep_for(short_ttl);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  StatusOr<Lease> b = connector_->Acquire("partition.1", "node-b", milliseconds(60000));
  while (!b.ok() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(b.status().code(), StatusCode::kAlreadyExists) << b.status().ToString();
    std::this_thread::sleep_for(milliseconds(20));
    b = connector_->Acquire("partition.1", "node-b", milliseconds(60000));
  }
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_GT(b->token, a->token);
  // node-a wakes: its renewal is refused.
  EXPECT_EQ(connector_->Renew(*a, short_ttl).code(), StatusCode::kFailedPrecondition);
}

TEST_P(ConnectorTest, AcknowledgedAppendsSurviveTheEngineBeingKilled) {
  ASSERT_NE(connector_, nullptr);
  std::vector<Position> positions;
  const std::vector<std::string> payloads = Payloads("durable", 50);
  ASSERT_TRUE(connector_->Append("events.4", "batch-1", payloads, &positions).ok());
  ASSERT_TRUE(connector_->Commit("events.4", "node-a", positions[10]).ok());
  auto lease = connector_->Acquire("partition.4", "node-a", milliseconds(60000));
  ASSERT_TRUE(lease.ok());
  connector_.reset();
  engine_->Kill();
  engine_->Start();
  ASSERT_TRUE(engine_->ready()) << engine_->output();
  connector_ = OpenOrDie();
  ASSERT_NE(connector_, nullptr);
  const std::vector<Record> records = ReadAll(*connector_, "events.4");
  ASSERT_EQ(records.size(), payloads.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].payload, payloads[i]);
    EXPECT_EQ(records[i].position, positions[i]);
  }
  auto committed = connector_->Committed("events.4", "node-a");
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(*committed, positions[10]);
  // The batch id is remembered across the restart too.
  std::vector<Position> again;
  ASSERT_TRUE(connector_->Append("events.4", "batch-1", payloads, &again).ok());
  EXPECT_EQ(again, positions);
  EXPECT_EQ(connector_->Acquire("partition.4", "node-b", milliseconds(60000)).status().code(),
            StatusCode::kAlreadyExists);
}

TEST_P(ConnectorTest, NamesAreCheckedBeforeTheyReachTheEngine) {
  ASSERT_NE(connector_, nullptr);
  std::vector<Position> positions;
  for (const std::string& bad :
       Strings{"", "a b", "a*", "a>", "with\nnewline", std::string(300, 'x')}) {
    const Status status = connector_->Append(bad, "", Strings{"x"}, &positions);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << "'" << bad << "'";
  }
  EXPECT_EQ(connector_->Acquire("bad name", "node-a", milliseconds(1000)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(connector_->Commit("events.0", "bad consumer", 1).code(), StatusCode::kInvalidArgument);
}

TEST_P(ConnectorTest, ARecordOfTheLargestSizeIsAppendedAndALargerOneRefused) {
  ASSERT_NE(connector_, nullptr);
  // The longest names a record travels with (on NATS they go in its headers, which count
  // against the server's max_payload together with the record).
  const std::string stream = "events." + std::string(kMaxNameBytes - 7, 'x');
  const std::string batch_id(kMaxNameBytes, 'b');
  const size_t most = connector_->max_record_bytes();
  ASSERT_GT(most, size_t{1} << 19);
  std::vector<Position> positions;
  const Strings largest = {std::string(most, 'L')};
  Status status = connector_->Append(stream, batch_id, largest, &positions);
  ASSERT_TRUE(status.ok()) << status.ToString();
  status = connector_->AppendIfLast(stream, positions.at(0), largest, &positions);
  ASSERT_TRUE(status.ok()) << status.ToString();

  const Strings larger = {"small", std::string(most + 1, 'L')};
  status = connector_->Append(stream, "", larger, &positions);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("record 1 of 2 holds " + std::to_string(most + 1)),
            std::string::npos)
      << status.ToString();
  EXPECT_EQ(connector_->AppendIfLast(stream, 0, larger, &positions).code(),
            StatusCode::kOutOfRange);
  const std::vector<Record> records = ReadAll(*connector_, stream);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].payload, largest[0]);
}

TEST_P(ConnectorTest, AnEmptyBatchAppendsNothing) {
  ASSERT_NE(connector_, nullptr);
  std::vector<Position> positions = {99};
  ASSERT_TRUE(connector_->Append("events.0", "b", Strings{}, &positions).ok());
  EXPECT_TRUE(positions.empty());
  positions = {99};
  ASSERT_TRUE(connector_->AppendIfLast("events.0", 5, Strings{}, &positions).ok());
  EXPECT_TRUE(positions.empty());
  auto last = connector_->Last("events.0");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 0u);
  // The batch id was not used up by the empty append.
  ASSERT_TRUE(connector_->Append("events.0", "b", Strings{"one"}, &positions).ok());
  EXPECT_EQ(ReadAll(*connector_, "events.0").size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Engines, ConnectorTest,
                         ::testing::Values(EngineProcess::kRedis, EngineProcess::kNats),
                         [](const auto& param_info) {
                           return param_info.param == EngineProcess::kRedis ? "Redis" : "Nats";
                         });

TEST(ConnectorOpenTest, SaysWhatIsWrongWithAURL) {
  for (const char* url :
       {"redis", "http://127.0.0.1:6379", "redis://127.0.0.1", "redis://:6379",
        "nats://127.0.0.1:0", "nats://127.0.0.1:99999", "redis://h:12x", "redis://user@h:6379"}) {
    auto connector = Connector::Open(url, ConnectorOptions{});
    ASSERT_FALSE(connector.ok()) << url;
    EXPECT_EQ(connector.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(connector.status().message().find(url), std::string::npos)
        << connector.status().message();
  }
}

TEST(ConnectorOpenTest, AnEngineThatDoesNotAnswerIsUnavailable) {
  // A port that was free a moment ago: nothing listens there.
  EngineProcess engine(EngineProcess::kRedis);
  const int port = engine.port();
  engine.Kill();
  ConnectorOptions options;
  options.timeout = milliseconds(2000);
  for (const std::string scheme : {"redis", "nats"}) {
    auto connector = Connector::Open(scheme + "://127.0.0.1:" + std::to_string(port), options);
    ASSERT_FALSE(connector.ok()) << scheme;
    EXPECT_EQ(connector.status().code(), StatusCode::kUnavailable) << connector.status().ToString();
  }
}

}  // namespace
}  // namespace liverec::connect
