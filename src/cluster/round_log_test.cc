// The round log on each engine (a real redis-server and nats-server on 127.0.0.1): rounds are
// handed out whole and in order, a new owner fences out the former one, a retried publish is
// appended once, a delta larger than a record travels in parts (and a retried publish of
// parts that lost an answer appends each once), a reader continues from its snapshot, and bad
// records are named.
#include "cluster/round_log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "connect/engine_process_testing.h"

namespace liverec::cluster {
namespace {

using connect::Connector;
using connect::ConnectorOptions;
using connect::Lease;
using connect::testing::EngineProcess;
using std::chrono::milliseconds;

RoundRecord SomeRound() {
  return RoundRecord{.kind = RoundRecord::kRound,
                     .round = 7,
                     .events_upto = 1234,
                     .token = 3,
                     .node = "node-a",
                     .delta = std::string("d\0e\r\nlta", 8)};
}

TEST(RoundRecordTest, RoundTripsBothKinds) {
  const RoundRecord round = SomeRound();
  RoundRecord decoded;
  ASSERT_TRUE(DecodeRoundRecord(EncodeRoundRecord(round), &decoded).ok());
  EXPECT_EQ(decoded.kind, RoundRecord::kRound);
  EXPECT_EQ(decoded.round, 7u);
  EXPECT_EQ(decoded.events_upto, 1234u);
  EXPECT_EQ(decoded.token, 3u);
  EXPECT_EQ(decoded.node, "node-a");
  EXPECT_EQ(decoded.delta, round.delta);

  RoundRecord takeover{.kind = RoundRecord::kTakeover,
                       .round = 2,
                       .events_upto = 9,
                       .token = 4,
                       .node = "b",
                       .delta = {}};
  ASSERT_TRUE(DecodeRoundRecord(EncodeRoundRecord(takeover), &decoded).ok());
  EXPECT_EQ(decoded.kind, RoundRecord::kTakeover);
  EXPECT_EQ(decoded.round, 2u);
  EXPECT_EQ(decoded.node, "b");
  EXPECT_TRUE(decoded.delta.empty());
}

TEST(RoundRecordTest, SaysWhatIsWrongWithBadBytes) {
  const std::string good = EncodeRoundRecord(SomeRound());
  RoundRecord out = SomeRound();
  // Every truncation is refused, and names a field.
  for (size_t n = 0; n < good.size(); ++n) {
    Status status = DecodeRoundRecord(good.substr(0, n), &out);
    ASSERT_EQ(status.code(), StatusCode::kCorruption) << n;
    EXPECT_NE(status.message().find("round record"), std::string::npos) << status.ToString();
  }
  EXPECT_EQ(out.round, 7u);  // left alone
  Status trailing = DecodeRoundRecord(good + "x", &out);
  EXPECT_EQ(trailing.code(), StatusCode::kCorruption);
  EXPECT_NE(trailing.message().find("1 bytes after its end"), std::string::npos);

  std::string bad_format = good;
  bad_format[0] = 9;
  EXPECT_NE(DecodeRoundRecord(bad_format, &out).message().find("format 9, expected 1"),
            std::string::npos);
  std::string bad_kind = good;
  bad_kind[1] = 5;
  EXPECT_NE(DecodeRoundRecord(bad_kind, &out).message().find("kind 5"), std::string::npos);
  RoundRecord bad_node = SomeRound();
  bad_node.node = "a b";
  Status node = DecodeRoundRecord(EncodeRoundRecord(bad_node), &out);
  EXPECT_EQ(node.code(), StatusCode::kCorruption);
  EXPECT_NE(node.message().find("round record node"), std::string::npos) << node.ToString();
}

TEST(RoundRecordTest, APartOpensItsRoundAndATakeoverAfterItGoesBackToTheRoundBefore) {
  const RoundRecord last = SomeRound();  // round 7 of node-a, token 3, up to 1234
  RoundRecord part = last;
  part.kind = RoundRecord::kPart;
  part.round = 8;
  part.delta = "piece";
  RoundRecord decoded;
  ASSERT_TRUE(DecodeRoundRecord(EncodeRoundRecord(part), &decoded).ok());
  EXPECT_EQ(decoded.kind, RoundRecord::kPart);
  EXPECT_EQ(decoded.delta, "piece");
  EXPECT_TRUE(CheckRoundSequence(last, part).ok());
  EXPECT_TRUE(CheckRoundSequence(part, part).ok());  // a second part
  RoundRecord round = part;
  round.kind = RoundRecord::kRound;
  round.events_upto = 1300;
  EXPECT_TRUE(CheckRoundSequence(part, round).ok());

  RoundRecord late_start = part;
  late_start.events_upto = 1250;  // a part carries where its round starts
  EXPECT_NE(CheckRoundSequence(last, late_start).message().find("starts at 1250, not at 1234"),
            std::string::npos);
  RoundRecord next_round = round;
  next_round.round = 9;
  EXPECT_NE(CheckRoundSequence(part, next_round).message().find("round 9 after round 7"),
            std::string::npos);
  RoundRecord stranger = part;
  stranger.node = "node-b";
  stranger.token = 4;
  EXPECT_NE(CheckRoundSequence(part, stranger).message().find("without a takeover"),
            std::string::npos);

  // A takeover after parts repeats the round before them: round 8 was not published.
  RoundRecord takeover{.kind = RoundRecord::kTakeover,
                       .round = 7,
                       .events_upto = 1234,
                       .token = 4,
                       .node = "node-b",
                       .delta = {}};
  EXPECT_TRUE(CheckRoundSequence(part, takeover).ok());
  takeover.round = 8;
  EXPECT_EQ(CheckRoundSequence(part, takeover).code(), StatusCode::kCorruption);

  part.round = 0;
  EXPECT_NE(DecodeRoundRecord(EncodeRoundRecord(part), &decoded).message().find("round 0"),
            std::string::npos);
}

TEST(RoundRecordTest, ASequenceHasOneWriterBetweenTakeovers) {
  RoundRecord last = SomeRound();  // round 7 of node-a, token 3, up to 1234
  RoundRecord next = last;
  next.round = 8;
  next.events_upto = 1300;
  EXPECT_TRUE(CheckRoundSequence(last, next).ok());
  next.events_upto = 1234;  // a round without events
  EXPECT_TRUE(CheckRoundSequence(last, next).ok());

  RoundRecord skip = next;
  skip.round = 9;
  EXPECT_NE(CheckRoundSequence(last, skip).message().find("round 9 after round 7"),
            std::string::npos);
  RoundRecord back = next;
  back.events_upto = 1000;
  EXPECT_EQ(CheckRoundSequence(last, back).code(), StatusCode::kCorruption);
  RoundRecord stranger = next;
  stranger.node = "node-b";
  stranger.token = 4;
  EXPECT_NE(CheckRoundSequence(last, stranger).message().find("without a takeover"),
            std::string::npos);

  RoundRecord takeover{.kind = RoundRecord::kTakeover,
                       .round = 7,
                       .events_upto = 1234,
                       .token = 4,
                       .node = "b",
                       .delta = {}};
  EXPECT_TRUE(CheckRoundSequence(last, takeover).ok());
  stranger.round = 8;
  EXPECT_TRUE(CheckRoundSequence(takeover, RoundRecord{.kind = RoundRecord::kRound,
                                                       .round = 8,
                                                       .events_upto = 1234,
                                                       .token = 4,
                                                       .node = "b",
                                                       .delta = {}})
                  .ok());
  takeover.round = 6;
  EXPECT_EQ(CheckRoundSequence(last, takeover).code(), StatusCode::kCorruption);
  RoundRecord old_token = next;
  old_token.token = 2;
  EXPECT_EQ(CheckRoundSequence(last, old_token).code(), StatusCode::kCorruption);
}

class RoundLogTest : public ::testing::TestWithParam<EngineProcess::Kind> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<EngineProcess>(GetParam());
    ASSERT_TRUE(engine_->ready()) << engine_->output();
    connector_ = Open();
  }

  std::unique_ptr<Connector> Open(const ConnectorOptions& options = {}) {
    auto connector = Connector::Open(engine_->url(), options);
    EXPECT_TRUE(connector.ok()) << connector.status().ToString();
    return connector.ok() ? std::move(connector).value() : nullptr;
  }

  // Takes partition p's lease for `node` and its round log.
  PartitionWriter Take(Connector* connector, uint32_t p, const std::string& node,
                       milliseconds ttl = milliseconds(60000)) {
    StatusOr<Lease> lease = connector->Acquire("partition." + std::to_string(p), node, ttl);
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    StatusOr<PartitionWriter> writer = PartitionWriter::TakeOver(connector, p, node, *lease);
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    return std::move(writer).value();
  }

  // Calls Next until it hands out a round (the round's records were appended before).
  std::vector<RoundRecord> NextRound(RoundReader* reader) {
    std::vector<RoundRecord> round;
    StatusOr<bool> got = reader->Next(milliseconds(2000), &round);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got.ok() && *got);
    return round;
  }

  std::unique_ptr<EngineProcess> engine_;
  std::unique_ptr<Connector> connector_;
};

TEST_P(RoundLogTest, RoundsAreHandedOutWholeAndInPartitionOrder) {
  ASSERT_NE(connector_, nullptr);
  auto reader_connector = Open();
  RoundReader reader(reader_connector.get(), 2);
  PartitionWriter w0 = Take(connector_.get(), 0, "node-a");
  PartitionWriter w1 = Take(connector_.get(), 1, "node-b");
  EXPECT_EQ(w0.last().round, 0u);
  EXPECT_EQ(w0.last().events_upto, 0u);

  std::vector<RoundRecord> round;
  ASSERT_TRUE(w0.Publish(10, "p0-r1").ok());
  // Partition 1 has not ended round 1: nothing yet.
  StatusOr<bool> got = reader.Next(milliseconds(0), &round);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(*got);
  ASSERT_TRUE(w0.Publish(20, "p0-r2").ok());  // round 2 of partition 0 waits for its round 1
  ASSERT_TRUE(w1.Publish(15, "p1-r1").ok());

  round = NextRound(&reader);
  ASSERT_EQ(round.size(), 2u);
  EXPECT_EQ(round[0].delta, "p0-r1");
  EXPECT_EQ(round[0].events_upto, 10u);
  EXPECT_EQ(round[1].delta, "p1-r1");
  EXPECT_EQ(round[1].node, "node-b");
  EXPECT_EQ(reader.next_round(), 2u);
  got = reader.Next(milliseconds(0), &round);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);

  // A blocked reader wakes when the last partition ends the round from another thread.
  std::thread late([&] { EXPECT_TRUE(w1.Publish(15, "").ok()); });
  std::vector<RoundRecord> round2;
  StatusOr<bool> woke = reader.Next(milliseconds(5000), &round2);
  late.join();
  ASSERT_TRUE(woke.ok()) << woke.status().ToString();
  if (!*woke) round2 = NextRound(&reader);  // the append landed after the read began
  ASSERT_EQ(round2.size(), 2u);
  EXPECT_EQ(round2[0].round, 2u);
  EXPECT_EQ(round2[0].delta, "p0-r2");
  EXPECT_EQ(round2[1].events_upto, 15u);  // a round without events
  EXPECT_EQ(reader.ended(1).round, 2u);
}

TEST_P(RoundLogTest, ANewOwnerFencesOutAPausedOneAndContinuesItsRounds) {
  ASSERT_NE(connector_, nullptr);
  auto b_connector = Open();
  const milliseconds short_ttl(300);
  PartitionWriter a = Take(connector_.get(), 0, "node-a", short_ttl);
  ASSERT_TRUE(a.Publish(5, "a1").ok());
  // node-a is paused (SIGSTOP): it stops renewing and its lease expires. Waiting it out is the
  // behaviour under test.
  std::this_thread::sleep_for(short_ttl);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  StatusOr<Lease> lease = b_connector->Acquire("partition.0", "node-b", milliseconds(60000));
  while (!lease.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    lease = b_connector->Acquire("partition.0", "node-b", milliseconds(60000));
  }
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  StatusOr<PartitionWriter> b = PartitionWriter::TakeOver(b_connector.get(), 0, "node-b", *lease);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  // node-b continues after node-a's last published round.
  EXPECT_EQ(b->last().round, 1u);
  EXPECT_EQ(b->last().events_upto, 5u);

  // node-a wakes and tries to end its round 2: fenced, nothing appended.
  Status stale = a.Publish(9, "a2");
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.ToString();
  ASSERT_TRUE(b->Publish(8, "b2").ok());
  // A writer with an older token cannot take the log back.
  Lease old = *lease;
  old.token = 0;
  EXPECT_EQ(PartitionWriter::TakeOver(connector_.get(), 0, "node-a", old).status().code(),
            StatusCode::kFailedPrecondition);

  RoundReader reader(connector_.get(), 1);
  std::vector<RoundRecord> r1 = NextRound(&reader);
  std::vector<RoundRecord> r2 = NextRound(&reader);
  ASSERT_EQ(r1.size(), 1u);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r1[0].delta, "a1");
  EXPECT_EQ(r2[0].delta, "b2");
  EXPECT_EQ(r2[0].node, "node-b");
  EXPECT_EQ(r2[0].events_upto, 8u);
}

TEST_P(RoundLogTest, ARetriedPublishIsAppendedOnce) {
  ASSERT_NE(connector_, nullptr);
  PartitionWriter writer = Take(connector_.get(), 3, "node-a");
  // `retry` is the writer as it was before an append whose answer was lost.
  PartitionWriter retry = writer;
  ASSERT_TRUE(writer.Publish(4, "once").ok());
  ASSERT_TRUE(retry.Publish(4, "once").ok());
  EXPECT_EQ(retry.last_position(), writer.last_position());
  EXPECT_EQ(retry.last().round, 1u);
  // Another record than the one appended is not a retry.
  PartitionWriter other = Take(connector_.get(), 4, "node-a");
  PartitionWriter other_retry = other;
  ASSERT_TRUE(other.Publish(4, "one").ok());
  EXPECT_EQ(other_retry.Publish(4, "two").code(), StatusCode::kFailedPrecondition);

  std::vector<connect::Record> records;
  ASSERT_TRUE(connector_->Read(DeltasStream(3), 0, 100, milliseconds(0), &records).ok());
  EXPECT_EQ(records.size(), 2u);  // the takeover and one round
}

// Random bytes: pieces of a delta that are all alike would hide a piece put in the wrong place.
std::string RandomBytes(size_t size, uint32_t seed) {
  std::string bytes(size, '\0');
  for (char& byte : bytes) {
    seed = seed * 1664525u + 1013904223u;
    byte = static_cast<char>(seed >> 24);
  }
  return bytes;
}

ConnectorOptions SmallRecords() {
  ConnectorOptions options;
  options.max_record_bytes = 1000;
  return options;
}

TEST_P(RoundLogTest, ADeltaLargerThanARecordIsPublishedInParts) {
  auto small = Open(SmallRecords());
  ASSERT_NE(small, nullptr);
  PartitionWriter writer = Take(small.get(), 0, "node-a");
  EXPECT_EQ(writer.piece_bytes(), 1000u - 38u);  // the fields and "node-a" take 38 bytes
  const std::string large = RandomBytes(2500, 1);
  ASSERT_TRUE(writer.Publish(10, large).ok());
  ASSERT_TRUE(writer.Publish(20, "small").ok());
  const std::string exact = RandomBytes(2 * writer.piece_bytes(), 2);
  ASSERT_TRUE(writer.Publish(30, exact).ok());
  EXPECT_EQ(writer.last().round, 3u);

  std::vector<connect::Record> records;
  ASSERT_TRUE(connector_->Read(DeltasStream(0), 0, 100, milliseconds(0), &records).ok());
  // The takeover, round 1 in two parts and its round record, round 2, round 3 in one part and
  // its round record.
  ASSERT_EQ(records.size(), 1u + 3u + 1u + 2u);
  for (const connect::Record& record : records) EXPECT_LE(record.payload.size(), 1000u);

  RoundReader reader(connector_.get(), 1);  // a reader with the engine's own record size
  std::vector<RoundRecord> round = NextRound(&reader);
  ASSERT_EQ(round.size(), 1u);
  EXPECT_EQ(round[0].round, 1u);
  EXPECT_EQ(round[0].events_upto, 10u);
  EXPECT_TRUE(round[0].delta == large);
  round = NextRound(&reader);
  EXPECT_EQ(round[0].delta, "small");
  round = NextRound(&reader);
  EXPECT_EQ(round[0].events_upto, 30u);
  EXPECT_TRUE(round[0].delta == exact);
}

TEST_P(RoundLogTest, PartsOfAnUnpublishedRoundAreDroppedByTheNextOwner) {
  auto small = Open(SmallRecords());
  ASSERT_NE(small, nullptr);
  PartitionWriter former = Take(small.get(), 0, "node-a");
  ASSERT_TRUE(former.Publish(10, "r1").ok());
  // The former owner appends the first part of round 2 and dies before the rest.
  const RoundRecord part{.kind = RoundRecord::kPart,
                         .round = 2,
                         .events_upto = 10,
                         .token = former.last().token,
                         .node = "node-a",
                         .delta = RandomBytes(900, 3)};
  std::vector<connect::Position> positions;
  const std::string payload = EncodeRoundRecord(part);
  ASSERT_TRUE(connector_
                  ->AppendIfLast(DeltasStream(0), former.last_position(), std::span(&payload, 1),
                                 &positions)
                  .ok());

  // Its lease goes (released here rather than waited out); the next owner continues after
  // round 1.
  StatusOr<Lease> held = connector_->Acquire("partition.0", "node-a", milliseconds(60000));
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_TRUE(connector_->Release(*held).ok());
  StatusOr<Lease> lease = connector_->Acquire("partition.0", "node-b", milliseconds(60000));
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  StatusOr<PartitionWriter> next = PartitionWriter::TakeOver(small.get(), 0, "node-b", *lease);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->last().round, 1u);
  EXPECT_EQ(next->last().events_upto, 10u);
  const std::string delta = RandomBytes(1500, 4);
  ASSERT_TRUE(next->Publish(25, delta).ok());

  RoundReader reader(connector_.get(), 1);
  EXPECT_EQ(NextRound(&reader)[0].delta, "r1");
  std::vector<RoundRecord> round = NextRound(&reader);
  EXPECT_EQ(round[0].node, "node-b");
  EXPECT_EQ(round[0].events_upto, 25u);
  EXPECT_TRUE(round[0].delta == delta);  // node-a's piece is not in it
}

// A connector that loses the answer of chosen appends after the engine took them, as a
// timeout after the append landed does.
class AnswerLosingConnector : public Connector {
 public:
  explicit AnswerLosingConnector(Connector* engine) : engine_(engine) {}
  std::string_view engine() const override { return engine_->engine(); }
  size_t max_record_bytes() const override { return engine_->max_record_bytes(); }
  // The appends (counted from 1, every kind) whose answer is lost.
  std::vector<int> lose;

 private:
  Status Answer(Status status) {
    ++appends_;
    if (!status.ok() || std::find(lose.begin(), lose.end(), appends_) == lose.end()) {
      return status;
    }
    return Unavailable("the answer was lost");
  }
  Status DoAppend(std::string_view stream, std::string_view batch_id,
                  std::span<const std::string> payloads,
                  std::vector<connect::Position>* positions) override {
    return Answer(engine_->Append(stream, batch_id, payloads, positions));
  }
  Status DoAppendIfLast(std::string_view stream, connect::Position expected_last,
                        std::span<const std::string> payloads,
                        std::vector<connect::Position>* positions) override {
    return Answer(engine_->AppendIfLast(stream, expected_last, payloads, positions));
  }
  Status DoRead(std::string_view stream, connect::Position after, size_t max, milliseconds wait,
                std::vector<connect::Record>* out) override {
    return engine_->Read(stream, after, max, wait, out);
  }
  StatusOr<connect::Position> DoLast(std::string_view stream) override {
    return engine_->Last(stream);
  }
  Status DoCommit(std::string_view stream, std::string_view consumer,
                  connect::Position upto) override {
    return engine_->Commit(stream, consumer, upto);
  }
  StatusOr<connect::Position> DoCommitted(std::string_view stream,
                                          std::string_view consumer) override {
    return engine_->Committed(stream, consumer);
  }
  StatusOr<connect::Position> DoTrim(std::string_view stream) override {
    return engine_->Trim(stream);
  }
  StatusOr<Lease> DoAcquire(std::string_view name, std::string_view holder,
                            milliseconds ttl) override {
    return engine_->Acquire(name, holder, ttl);
  }
  Status DoRenew(const Lease& lease, milliseconds ttl) override {
    return engine_->Renew(lease, ttl);
  }
  Status DoRelease(const Lease& lease) override { return engine_->Release(lease); }

  Connector* engine_;
  int appends_ = 0;
};

TEST_P(RoundLogTest, ARetriedPublishInPartsAppendsEachPartOnce) {
  auto small = Open(SmallRecords());
  ASSERT_NE(small, nullptr);
  AnswerLosingConnector losing(small.get());
  PartitionWriter writer = Take(&losing, 0, "node-a");  // append 1: the takeover
  const std::string delta = RandomBytes(3000, 5);       // appends 2 to 5: three parts, a round
  losing.lose = {3, 5};                                 // the second part's answer, the round's
  Status status = writer.Publish(10, delta);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(writer.Publish(11, delta).code(), StatusCode::kInvalidArgument);  // other contents
  status = writer.Publish(10, delta);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);  // the round record's answer was lost
  status = writer.Publish(10, delta);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(writer.last().round, 1u);

  std::vector<connect::Record> records;
  ASSERT_TRUE(connector_->Read(DeltasStream(0), 0, 100, milliseconds(0), &records).ok());
  EXPECT_EQ(records.size(), 1u + 4u);
  RoundReader reader(connector_.get(), 1);
  EXPECT_TRUE(NextRound(&reader)[0].delta == delta);
}

TEST_P(RoundLogTest, AReaderContinuesFromItsSnapshot) {
  ASSERT_NE(connector_, nullptr);
  PartitionWriter w0 = Take(connector_.get(), 0, "node-a");
  PartitionWriter w1 = Take(connector_.get(), 1, "node-a");
  RoundReader reader(connector_.get(), 2);
  BinaryWriter before_any;
  reader.Save(&before_any);
  for (int r = 1; r <= 3; ++r) {
    ASSERT_TRUE(w0.Publish(r * 10, "p0-" + std::to_string(r)).ok());
    ASSERT_TRUE(w1.Publish(r * 20, "p1-" + std::to_string(r)).ok());
  }
  NextRound(&reader);
  BinaryWriter saved;
  reader.Save(&saved);
  // node-b takes partition 1 over between the snapshot and the restart.
  auto b_connector = Open();
  StatusOr<Lease> lease = b_connector->Acquire("partition.1", "node-b", milliseconds(60000));
  ASSERT_EQ(lease.status().code(), StatusCode::kAlreadyExists);  // node-a's lease holds
  Lease forced{.name = "partition.1", .holder = "node-b", .token = w1.last().token + 1};
  StatusOr<PartitionWriter> b1 = PartitionWriter::TakeOver(b_connector.get(), 1, "node-b", forced);
  ASSERT_TRUE(b1.ok()) << b1.status().ToString();
  EXPECT_EQ(b1->last().round, 3u);
  ASSERT_TRUE(w0.Publish(40, "p0-4").ok());
  ASSERT_TRUE(b1->Publish(80, "p1-4").ok());

  RoundReader restarted(connector_.get(), 2);
  BinaryReader in(saved.data());
  ASSERT_TRUE(restarted.Load(&in).ok());
  EXPECT_EQ(restarted.next_round(), 2u);
  for (uint64_t r = 2; r <= 4; ++r) {
    std::vector<RoundRecord> expected = NextRound(&reader);
    std::vector<RoundRecord> got = NextRound(&restarted);
    ASSERT_EQ(got.size(), 2u);
    for (size_t p = 0; p < 2; ++p) {
      EXPECT_EQ(got[p].round, r);
      EXPECT_EQ(got[p].delta, expected[p].delta);
      EXPECT_EQ(got[p].node, expected[p].node);
    }
  }
  // A reader saved before any round starts from the beginning.
  RoundReader fresh(connector_.get(), 2);
  BinaryReader in_fresh(before_any.data());
  ASSERT_TRUE(fresh.Load(&in_fresh).ok());
  EXPECT_EQ(NextRound(&fresh)[1].delta, "p1-1");
  // A snapshot of another partition count is refused.
  RoundReader three(connector_.get(), 3);
  BinaryReader in_three(saved.data());
  EXPECT_EQ(three.Load(&in_three).code(), StatusCode::kInvalidArgument);
}

TEST_P(RoundLogTest, BadRecordsAreNamedAndTheReaderStaysPut) {
  ASSERT_NE(connector_, nullptr);
  PartitionWriter w0 = Take(connector_.get(), 0, "node-a");
  ASSERT_TRUE(w0.Publish(3, "fine").ok());
  // Bytes that are no record, appended past the fence by a writer that ignores it.
  std::vector<connect::Position> positions;
  ASSERT_TRUE(
      connector_->Append(DeltasStream(0), "", std::vector<std::string>{"garbage"}, &positions)
          .ok());
  RoundReader reader(connector_.get(), 1);
  EXPECT_EQ(NextRound(&reader)[0].delta, "fine");
  std::vector<RoundRecord> round;
  StatusOr<bool> got = reader.Next(milliseconds(0), &round);
  ASSERT_EQ(got.status().code(), StatusCode::kCorruption);
  EXPECT_NE(got.status().message().find("deltas.0 record " + std::to_string(positions[0])),
            std::string::npos)
      << got.status().ToString();
  EXPECT_EQ(reader.next_round(), 2u);
  // It says so again, rather than skip the record.
  EXPECT_EQ(reader.Next(milliseconds(0), &round).status().code(), StatusCode::kCorruption);
}

TEST_P(RoundLogTest, ARoundThatSkipsOneIsRefused) {
  ASSERT_NE(connector_, nullptr);
  PartitionWriter w0 = Take(connector_.get(), 0, "node-a");
  RoundRecord skipping{.kind = RoundRecord::kRound,
                       .round = 2,
                       .events_upto = 1,
                       .token = w0.last().token,
                       .node = "node-a",
                       .delta = {}};
  const std::string payload = EncodeRoundRecord(skipping);
  std::vector<connect::Position> positions;
  ASSERT_TRUE(
      connector_
          ->AppendIfLast(DeltasStream(0), w0.last_position(), std::span(&payload, 1), &positions)
          .ok());
  RoundReader reader(connector_.get(), 1);
  std::vector<RoundRecord> round;
  Status status = reader.Next(milliseconds(0), &round).status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("round 2 after round 0"), std::string::npos) << status.ToString();
}

INSTANTIATE_TEST_SUITE_P(Engines, RoundLogTest,
                         ::testing::Values(EngineProcess::kRedis, EngineProcess::kNats),
                         [](const auto& param_info) {
                           return param_info.param == EngineProcess::kRedis ? "Redis" : "Nats";
                         });

}  // namespace
}  // namespace liverec::cluster
