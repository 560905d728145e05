// Partition snapshots: the codec, and the stream on a real redis-server and nats-server
// (127.0.0.1): the last complete snapshot is read back whole, older ones are trimmed, and a
// snapshot whose writer stopped part way is passed over.
#include "cluster/snapshot_log.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "connect/engine_process_testing.h"

namespace liverec::cluster {
namespace {

using connect::Connector;
using connect::ConnectorOptions;
using connect::testing::EngineProcess;
using std::chrono::milliseconds;

constexpr uint32_t kPartitions = 3;

PartitionSnapshot Snapshot(uint32_t partition, uint64_t round, size_t model_bytes) {
  PartitionSnapshot snapshot;
  snapshot.partition = partition;
  snapshot.round = round;
  snapshot.events_upto = {round * 10, round * 10 + 1, round * 10 + 2};
  snapshot.reader = "reader of round " + std::to_string(round);
  for (size_t i = 0; i < model_bytes; ++i) {
    snapshot.model.push_back(static_cast<char>((i * 31 + round) % 251));
  }
  return snapshot;
}

void ExpectSame(const PartitionSnapshot& got, const PartitionSnapshot& want) {
  EXPECT_EQ(got.partition, want.partition);
  EXPECT_EQ(got.round, want.round);
  EXPECT_EQ(got.events_upto, want.events_upto);
  EXPECT_EQ(got.reader, want.reader);
  EXPECT_TRUE(got.model == want.model) << got.model.size() << " against " << want.model.size();
}

TEST(SnapshotCodecTest, PiecesJoinIntoTheSnapshotAndBrokenBytesAreRefused) {
  const PartitionSnapshot snapshot = Snapshot(1, 4, 1000);
  const std::vector<std::string> records = EncodeSnapshotRecords(snapshot, 200);
  ASSERT_GT(records.size(), 5u);
  std::string body;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_LE(records[i].size(), 200u);
    SnapshotPiece piece;
    ASSERT_TRUE(DecodeSnapshotPiece(records[i], &piece).ok());
    EXPECT_EQ(piece.partition, 1u);
    EXPECT_EQ(piece.round, 4u);
    EXPECT_EQ(piece.index, i);
    EXPECT_EQ(piece.count, records.size());
    body += piece.bytes;
    // A record cut anywhere in its header is refused.
    for (size_t n = 0; n < 33; ++n) {
      EXPECT_EQ(DecodeSnapshotPiece(records[i].substr(0, n), &piece).code(),
                StatusCode::kCorruption)
          << n;
    }
  }
  PartitionSnapshot decoded;
  decoded.partition = 1;
  ASSERT_TRUE(DecodeSnapshotBody(body, &decoded).ok());
  ExpectSame(decoded, snapshot);
  for (size_t n = 0; n < body.size(); n += 7) {
    EXPECT_EQ(DecodeSnapshotBody(body.substr(0, n), &decoded).code(), StatusCode::kCorruption) << n;
  }
  EXPECT_EQ(DecodeSnapshotBody(body + "x", &decoded).code(), StatusCode::kCorruption);
  // One record when it fits.
  EXPECT_EQ(EncodeSnapshotRecords(snapshot, 1 << 20).size(), 1u);
  // Snapshots are of rounds that ended: round 0 is refused in a piece and in a body.
  const std::string zero = EncodeSnapshotRecords(Snapshot(1, 0, 10), 1 << 20)[0];
  SnapshotPiece piece;
  EXPECT_EQ(DecodeSnapshotPiece(zero, &piece).code(), StatusCode::kCorruption);
  constexpr size_t kHeaderBytes = 1 + 4 + 8 + 4 + 4 + 8 + 4;  // the record's, before its piece
  EXPECT_EQ(DecodeSnapshotBody(zero.substr(kHeaderBytes), &decoded).code(),
            StatusCode::kCorruption);
}

class SnapshotLogTest : public ::testing::TestWithParam<EngineProcess::Kind> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<EngineProcess>(GetParam());
    ASSERT_TRUE(engine_->ready()) << engine_->output();
    ConnectorOptions options;
    options.max_record_bytes = 300;  // so that a snapshot travels in pieces
    auto connector = Connector::Open(engine_->url(), options);
    ASSERT_TRUE(connector.ok()) << connector.status().ToString();
    connector_ = std::move(connector).value();
  }

  size_t RecordCount(uint32_t p) {
    std::vector<connect::Record> records;
    EXPECT_TRUE(connector_->Read(SnapshotsStream(p), 0, 100000, milliseconds(0), &records).ok());
    return records.size();
  }

  std::unique_ptr<EngineProcess> engine_;
  std::unique_ptr<Connector> connector_;
};

TEST_P(SnapshotLogTest, TheLastCompleteSnapshotIsReadAndOlderOnesAreTrimmed) {
  StatusOr<std::optional<PartitionSnapshot>> none =
      ReadLastSnapshot(connector_.get(), 2, kPartitions);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  const PartitionSnapshot second = Snapshot(2, 2, 2000);
  const PartitionSnapshot fourth = Snapshot(2, 4, 2500);
  ASSERT_TRUE(WriteSnapshot(connector_.get(), second).ok());
  const size_t second_records = RecordCount(2);
  EXPECT_GT(second_records, 5u);
  ASSERT_TRUE(WriteSnapshot(connector_.get(), fourth).ok());
  // A repeat of the same round (another node's, or a retry) appends nothing.
  ASSERT_TRUE(WriteSnapshot(connector_.get(), fourth).ok());
  const size_t fourth_records = EncodeSnapshotRecords(fourth, 300).size();
  EXPECT_EQ(RecordCount(2), fourth_records);  // the second round's pieces are gone
  // A writer that stopped after the first pieces of round 6.
  const std::vector<std::string> sixth = EncodeSnapshotRecords(Snapshot(2, 6, 2000), 300);
  std::vector<connect::Position> positions;
  ASSERT_TRUE(connector_
                  ->Append(SnapshotsStream(2), "",
                           std::vector<std::string>(sixth.begin(), sixth.begin() + 2), &positions)
                  .ok());
  StatusOr<std::optional<PartitionSnapshot>> last =
      ReadLastSnapshot(connector_.get(), 2, kPartitions);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  ASSERT_TRUE(last->has_value());
  ExpectSame(**last, fourth);
  // Another partition's stream knows nothing of it.
  StatusOr<std::optional<PartitionSnapshot>> other =
      ReadLastSnapshot(connector_.get(), 1, kPartitions);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
  // A cluster of another size cannot use it.
  EXPECT_EQ(ReadLastSnapshot(connector_.get(), 2, kPartitions + 1).status().code(),
            StatusCode::kCorruption);
}

TEST_P(SnapshotLogTest, ARecordThatBreaksTheFormatIsNamed) {
  std::vector<connect::Position> positions;
  ASSERT_TRUE(
      connector_
          ->Append(SnapshotsStream(0), "", std::vector<std::string>{"not a snapshot"}, &positions)
          .ok());
  const Status status = ReadLastSnapshot(connector_.get(), 0, kPartitions).status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("snapshots.0 record"), std::string::npos) << status.message();
}

INSTANTIATE_TEST_SUITE_P(Engines, SnapshotLogTest,
                         ::testing::Values(EngineProcess::kRedis, EngineProcess::kNats),
                         [](const auto& param_info) {
                           return param_info.param == EngineProcess::kRedis ? "Redis" : "Nats";
                         });

}  // namespace
}  // namespace liverec::cluster
