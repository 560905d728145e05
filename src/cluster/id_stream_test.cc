// SharedIds on each engine, a real redis-server and a real nats-server started by the test on
// 127.0.0.1: nodes are SharedIds objects with a Connector each, and agree when their maps are
// equal (same name for every id, ids dense) after both caught up.
#include "cluster/id_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <latch>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"
#include "common/serialize.h"
#include "connect/engine_process_testing.h"

namespace liverec::cluster {
namespace {

using connect::Connector;
using connect::ConnectorOptions;
using connect::Position;
using connect::Record;
using connect::testing::EngineProcess;
using std::chrono::milliseconds;
using Strings = std::vector<std::string>;
using Ids = std::vector<uint32_t>;

constexpr char kStream[] = "ids.users";

// "<prefix><begin>" .. "<prefix><end - 1>".
Strings Names(const std::string& prefix, int begin, int end) {
  Strings names;
  for (int i = begin; i < end; ++i) names.push_back(prefix + std::to_string(i));
  return names;
}

// Both maps give every id the same name, and every name its id.
void ExpectSameMaps(const SharedIds& a, const SharedIds& b) {
  ASSERT_EQ(a.size(), b.size());
  for (uint32_t id = 0; id < a.size(); ++id) {
    ASSERT_EQ(a.Name(id), b.Name(id)) << "id " << id;
    ASSERT_EQ(a.Find(a.Name(id)), std::optional<uint32_t>(id)) << a.Name(id);
    ASSERT_EQ(b.Find(a.Name(id)), std::optional<uint32_t>(id)) << a.Name(id);
  }
}

// A record's bytes written field by field, to break them.
std::string RawRecord(uint8_t format, uint32_t count, const std::vector<uint32_t>& lengths,
                      const std::string& bytes) {
  BinaryWriter out;
  out.Put<uint8_t>(format);
  out.Put<uint32_t>(count);
  size_t used = 0;
  for (const uint32_t length : lengths) {
    out.Put<uint32_t>(length);
    out.PutBytes(bytes.data() + used, std::min<size_t>(length, bytes.size() - used));
    used += std::min<size_t>(length, bytes.size() - used);
  }
  return out.Release();
}

class SharedIdsTest : public ::testing::TestWithParam<EngineProcess::Kind> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<EngineProcess>(GetParam());
    ASSERT_TRUE(engine_->ready()) << engine_->output();
    connector_a_ = OpenOrDie();
    connector_b_ = OpenOrDie();
    ASSERT_NE(connector_a_, nullptr);
    ASSERT_NE(connector_b_, nullptr);
  }

  std::unique_ptr<Connector> OpenOrDie() {
    auto connector = Connector::Open(engine_->url(), ConnectorOptions{});
    EXPECT_TRUE(connector.ok()) << connector.status().ToString();
    return connector.ok() ? std::move(connector).value() : nullptr;
  }

  // Every record of the id stream, decoded, one name list per record.
  std::vector<Strings> StreamRecords() {
    std::vector<Record> records;
    Position after = 0;
    for (;;) {
      const size_t before = records.size();
      EXPECT_TRUE(connector_a_->Read(kStream, after, 1000, milliseconds(0), &records).ok());
      if (records.size() == before) break;
      after = records.back().position;
    }
    std::vector<Strings> decoded;
    for (const Record& record : records) {
      Strings names;
      const Status status = DecodeIdRecord(record.payload, &names);
      EXPECT_TRUE(status.ok()) << status.ToString();
      decoded.push_back(names);
    }
    return decoded;
  }

  std::unique_ptr<EngineProcess> engine_;
  std::unique_ptr<Connector> connector_a_;
  std::unique_ptr<Connector> connector_b_;
};

TEST_P(SharedIdsTest, TwoNodesResolvingOverlappingNamesAgree) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  SharedIds b(connector_b_.get(), kStream, "node-b");
  Ids ids;
  ASSERT_TRUE(a.Resolve(Names("u", 0, 10), &ids).ok());
  EXPECT_EQ(ids, (Ids{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // b has read nothing: it appends u5..u9 again, and reading up to its record counts a's first.
  ASSERT_TRUE(b.Resolve(Names("u", 5, 15), &ids).ok());
  EXPECT_EQ(ids, (Ids{5, 6, 7, 8, 9, 10, 11, 12, 13, 14}));
  ASSERT_TRUE(a.Resolve(Strings{"u12", "u20", "u3"}, &ids).ok());
  EXPECT_EQ(ids, (Ids{12, 15, 3}));

  ASSERT_TRUE(a.CatchUp(milliseconds(0)).ok());
  ASSERT_TRUE(b.CatchUp(milliseconds(0)).ok());
  EXPECT_EQ(a.size(), 16u);
  ExpectSameMaps(a, b);
  EXPECT_EQ(a.position(), b.position());
  EXPECT_EQ(StreamRecords().size(), 3u);
}

TEST_P(SharedIdsTest, ConcurrentResolvesOnTwoNodesAgree) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  SharedIds b(connector_b_.get(), kStream, "node-b");
  constexpr int kThreadsPerNode = 4;
  constexpr int kRounds = 12;
  constexpr int kNamesPerRound = 10;
  const Strings pool = Names("user-", 0, 150);
  // What each thread was told: the name and its id, to check against the final maps.
  std::vector<std::vector<std::pair<std::string, uint32_t>>> told(2 * kThreadsPerNode);
  std::vector<Status> failures(2 * kThreadsPerNode);
  std::latch start(2 * kThreadsPerNode);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerNode; ++t) {
    threads.emplace_back([&, t] {
      SharedIds& node = t % 2 == 0 ? a : b;
      Random random(DeriveSeed(17, t));
      start.arrive_and_wait();
      for (int round = 0; round < kRounds; ++round) {
        Strings names;
        for (int i = 0; i < kNamesPerRound; ++i)
          names.push_back(pool[random.Uniform(static_cast<uint32_t>(pool.size()))]);
        Ids ids;
        const Status status = node.Resolve(names, &ids);
        if (!status.ok()) {
          failures[t] = status;
          return;
        }
        for (size_t i = 0; i < names.size(); ++i) told[t].emplace_back(names[i], ids[i]);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Status& status : failures) ASSERT_TRUE(status.ok()) << status.ToString();

  ASSERT_TRUE(a.CatchUp(milliseconds(0)).ok());
  ASSERT_TRUE(b.CatchUp(milliseconds(0)).ok());
  ExpectSameMaps(a, b);
  std::set<std::string> resolved;
  for (const auto& pairs : told) {
    for (const auto& [name, id] : pairs) {
      resolved.insert(name);
      ASSERT_EQ(a.Find(name), std::optional<uint32_t>(id)) << name;
    }
  }
  // Dense: exactly the names resolved, ids 0 .. n-1 (ExpectSameMaps checked each id has a name).
  EXPECT_EQ(a.size(), resolved.size());
}

TEST_P(SharedIdsTest, ConcurrentResolvesOnOneNodeAppendEachNameOnce) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  constexpr int kThreads = 6;
  const Strings names = Names("item-", 0, 40);
  std::vector<Ids> ids(kThreads);
  std::vector<Status> statuses(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread asks for the names in its own order, some of them twice.
      Strings mine = names;
      Random random(DeriveSeed(5, t));
      for (size_t i = mine.size() - 1; i > 0; --i) {
        std::swap(mine[i], mine[random.Uniform(static_cast<uint32_t>(i + 1))]);
      }
      mine.push_back(mine.front());
      start.arrive_and_wait();
      statuses[t] = a.Resolve(mine, &ids[t]);
      if (!statuses[t].ok()) return;
      for (size_t i = 0; i < mine.size(); ++i) {
        if (a.Find(mine[i]) != std::optional<uint32_t>(ids[t][i])) {
          statuses[t] = Internal("thread " + std::to_string(t) + ": " + mine[i] + " moved");
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Status& status : statuses) ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(a.size(), names.size());
  std::map<std::string, int> occurrences;
  for (const Strings& record : StreamRecords()) {
    for (const std::string& name : record) ++occurrences[name];
  }
  EXPECT_EQ(occurrences.size(), names.size());
  for (const auto& [name, count] : occurrences) EXPECT_EQ(count, 1) << name;
}

TEST_P(SharedIdsTest, ARepeatedNameInOneCallGetsOneId) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  Ids ids;
  ASSERT_TRUE(a.Resolve(Strings{"x", "y", "x", "x"}, &ids).ok());
  EXPECT_EQ(ids, (Ids{0, 1, 0, 0}));
  EXPECT_EQ(StreamRecords(), (std::vector<Strings>{Strings{"x", "y"}}));
  // Known names append nothing.
  const Position last = a.position();
  ASSERT_TRUE(a.Resolve(Strings{"y", "x", "y"}, &ids).ok());
  EXPECT_EQ(ids, (Ids{1, 0, 1}));
  auto engine_last = connector_a_->Last(kStream);
  ASSERT_TRUE(engine_last.ok());
  EXPECT_EQ(*engine_last, last);
  // No names, no ids.
  ASSERT_TRUE(a.Resolve(Strings{}, &ids).ok());
  EXPECT_TRUE(ids.empty());
  EXPECT_EQ(a.Name(1), "y");
  EXPECT_EQ(a.Find("z"), std::nullopt);
}

TEST_P(SharedIdsTest, ARestartedNodeContinuesFromItsSnapshotAndAgrees) {
  std::string snapshot;
  Position saved_position = 0;
  {
    SharedIds a(connector_a_.get(), kStream, "node-a");
    Ids ids;
    ASSERT_TRUE(a.Resolve(Names("n", 0, 10), &ids).ok());
    BinaryWriter out;
    a.Save(&out);
    snapshot = out.Release();
    saved_position = a.position();
  }
  SharedIds b(connector_b_.get(), kStream, "node-b");
  Ids ids;
  ASSERT_TRUE(b.Resolve(Names("n", 5, 20), &ids).ok());

  // node-a again, under the same name: its batch counter starts over, its nonce does not.
  SharedIds restarted(connector_a_.get(), kStream, "node-a");
  BinaryReader in(snapshot);
  ASSERT_TRUE(restarted.Load(&in).ok());
  EXPECT_EQ(in.remaining(), 0u);
  EXPECT_EQ(restarted.size(), 10u);
  EXPECT_EQ(restarted.position(), saved_position);
  EXPECT_EQ(restarted.Find("n15"), std::nullopt);
  ASSERT_TRUE(restarted.Resolve(Strings{"n18", "n30", "n2"}, &ids).ok());
  EXPECT_EQ(ids, (Ids{18, 20, 2}));
  ASSERT_TRUE(b.CatchUp(milliseconds(0)).ok());
  ASSERT_TRUE(restarted.CatchUp(milliseconds(0)).ok());
  ExpectSameMaps(restarted, b);
  EXPECT_EQ(b.size(), 21u);
}

TEST_P(SharedIdsTest, LoadRefusesBadBytesAndLeavesTheObjectAsItWas) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  Ids ids;
  ASSERT_TRUE(a.Resolve(Strings{"p", "q", "r"}, &ids).ok());
  BinaryWriter out;
  a.Save(&out);
  const std::string snapshot = out.Release();

  SharedIds fresh(connector_b_.get(), kStream, "node-b");
  for (size_t n = 0; n < snapshot.size(); ++n) {
    BinaryReader in(std::string_view(snapshot).substr(0, n));
    const Status status = fresh.Load(&in);
    ASSERT_EQ(status.code(), StatusCode::kCorruption) << n << ": " << status.ToString();
    ASSERT_EQ(fresh.size(), 0u);
    ASSERT_EQ(fresh.position(), 0u);
  }
  // A name twice.
  BinaryWriter twice;
  {
    BinaryReader in(snapshot);
    uint32_t tag = 0, version = 0;
    ASSERT_TRUE(in.Get(&tag).ok() && in.Get(&version).ok());
    twice.Put(tag);
    twice.Put(version);
    twice.PutString(kStream);
    twice.Put<uint64_t>(7);
    twice.Put<uint64_t>(2);
    twice.PutString("p");
    twice.PutString("p");
  }
  BinaryReader twice_in(twice.data());
  Status status = fresh.Load(&twice_in);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("also the name of id 0"), std::string::npos) << status.message();
  // The ids of another stream.
  SharedIds items(connector_b_.get(), "ids.items", "node-b");
  BinaryReader other_in(snapshot);
  status = items.Load(&other_in);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("ids.users"), std::string::npos) << status.message();

  BinaryReader in(snapshot);
  ASSERT_TRUE(fresh.Load(&in).ok());
  ExpectSameMaps(a, fresh);
  // Only into an object that has read nothing.
  BinaryReader again(snapshot);
  EXPECT_EQ(fresh.Load(&again).code(), StatusCode::kFailedPrecondition);
}

TEST_P(SharedIdsTest, AFreshNodeReadsTheWholeStreamAndAgrees) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  SharedIds b(connector_b_.get(), kStream, "node-b");
  Ids ids;
  ASSERT_TRUE(a.Resolve(Names("k", 0, 30), &ids).ok());
  ASSERT_TRUE(b.Resolve(Names("k", 20, 50), &ids).ok());
  ASSERT_TRUE(a.Resolve(Names("k", 45, 60), &ids).ok());

  // One fresh node only catches up ...
  std::unique_ptr<Connector> connector_c = OpenOrDie();
  ASSERT_NE(connector_c, nullptr);
  SharedIds c(connector_c.get(), kStream, "node-c");
  ASSERT_TRUE(c.CatchUp(milliseconds(0)).ok());
  ASSERT_TRUE(a.CatchUp(milliseconds(0)).ok());
  EXPECT_EQ(c.size(), 60u);
  ExpectSameMaps(a, c);

  // ... another resolves at once: it appends known names again, and they keep their ids.
  SharedIds d(connector_c.get(), kStream, "node-d");
  ASSERT_TRUE(d.Resolve(Strings{"k59", "fresh", "k0"}, &ids).ok());
  EXPECT_EQ(ids, (Ids{59, 60, 0}));
  ASSERT_TRUE(a.CatchUp(milliseconds(0)).ok());
  ASSERT_TRUE(b.CatchUp(milliseconds(0)).ok());
  ExpectSameMaps(a, d);
  ExpectSameMaps(b, d);
}

TEST_P(SharedIdsTest, CatchUpWaitsForAnotherNodesRecord) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  std::unique_ptr<Connector> connector_reader = OpenOrDie();
  ASSERT_NE(connector_reader, nullptr);
  SharedIds reader(connector_reader.get(), kStream, "node-r");
  Status status;
  // Whether the wait starts before or after a's append, it ends well before its 20 s.
  std::thread thread([&] { status = reader.CatchUp(milliseconds(20000)); });
  Ids ids;
  ASSERT_TRUE(a.Resolve(Strings{"late"}, &ids).ok());
  thread.join();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(reader.Find("late"), std::optional<uint32_t>(0));
}

TEST_P(SharedIdsTest, ACorruptRecordIsReportedWithStreamAndPositionAndChangesNothing) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  Ids ids;
  ASSERT_TRUE(a.Resolve(Strings{"p", "q"}, &ids).ok());
  const Position before = a.position();
  // Two names announced, the second cut short.
  std::vector<Position> positions;
  ASSERT_TRUE(
      connector_b_->Append(kStream, "", Strings{RawRecord(1, 2, {1, 5}, "zab")}, &positions).ok());
  const std::string where = "stream 'ids.users' position " + std::to_string(positions[0]);

  Status status = a.CatchUp(milliseconds(0));
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
  EXPECT_NE(status.message().find(where), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("truncated"), std::string::npos) << status.message();
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a.position(), before);
  EXPECT_EQ(a.Find("z"), std::nullopt);
  // Resolve reads past it to its own record: the same error, the same map.
  status = a.Resolve(Strings{"r"}, &ids);
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
  EXPECT_NE(status.message().find(where), std::string::npos) << status.message();
  EXPECT_TRUE(ids.empty());
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a.Find("r"), std::nullopt);
  // A fresh node counts the records before it and stops there.
  SharedIds fresh(connector_b_.get(), kStream, "node-b");
  status = fresh.CatchUp(milliseconds(0));
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
  EXPECT_NE(status.message().find(where), std::string::npos) << status.message();
  EXPECT_EQ(fresh.size(), 2u);
  EXPECT_EQ(fresh.position(), before);
}

TEST_P(SharedIdsTest, BadNamesAreRefusedNamingTheIndexBeforeAnyAppend) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  Ids ids = {7};
  Status status = a.Resolve(Strings{"ok", ""}, &ids);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("names[1]: empty"), std::string::npos) << status.message();
  EXPECT_TRUE(ids.empty());
  status = a.Resolve(Strings{"a", "b", std::string(kMaxIdNameBytes + 1, 'x')}, &ids);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("names[2]"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(std::to_string(kMaxIdNameBytes + 1)), std::string::npos)
      << status.message();
  auto last = connector_a_->Last(kStream);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 0u);
  EXPECT_EQ(a.size(), 0u);
  // The longest name is fine, and any bytes.
  ASSERT_TRUE(
      a.Resolve(Strings{std::string(kMaxIdNameBytes, 'x'), std::string("a\0b\n", 4)}, &ids).ok());
  EXPECT_EQ(ids, (Ids{0, 1}));
}

TEST_P(SharedIdsTest, ALargeBatchIsSplitIntoRecordsWithinBounds) {
  SharedIds a(connector_a_.get(), kStream, "node-a");
  SharedIds b(connector_b_.get(), kStream, "node-b");
  Strings names;
  for (int i = 0; i < 300; ++i) names.push_back(std::to_string(i) + std::string(4000, 'n'));
  Ids ids;
  ASSERT_TRUE(a.Resolve(names, &ids).ok());
  for (uint32_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], i);
  const std::vector<Strings> records = StreamRecords();
  ASSERT_GT(records.size(), 1u);
  Strings joined;
  for (const Strings& record : records) {
    EXPECT_LE(IdRecordBytes(record), kMaxIdRecordBytes);
    joined.insert(joined.end(), record.begin(), record.end());
  }
  EXPECT_EQ(joined, names);
  ASSERT_TRUE(b.CatchUp(milliseconds(0)).ok());
  ExpectSameMaps(a, b);
}

INSTANTIATE_TEST_SUITE_P(Engines, SharedIdsTest,
                         ::testing::Values(EngineProcess::kRedis, EngineProcess::kNats),
                         [](const auto& param_info) {
                           return param_info.param == EngineProcess::kRedis ? "Redis" : "Nats";
                         });

// The codec, without an engine.

TEST(IdRecordTest, RoundTripsAnyBytes) {
  const Strings names = {"a", std::string("nul\0crlf\r\n", 10), std::string(kMaxIdNameBytes, 'z'),
                         "a"};
  const std::string payload = EncodeIdRecord(names);
  EXPECT_EQ(payload.size(), IdRecordBytes(names));
  Strings decoded;
  const Status status = DecodeIdRecord(payload, &decoded);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(decoded, names);
}

TEST(IdRecordTest, EveryCutShortRecordIsCorruption) {
  const std::string payload = EncodeIdRecord(Strings{"ab", "c"});
  for (size_t n = 0; n < payload.size(); ++n) {
    Strings names = {"left over"};
    const Status status = DecodeIdRecord(payload.substr(0, n), &names);
    ASSERT_EQ(status.code(), StatusCode::kCorruption) << n;
    EXPECT_NE(status.message().find(n == 0 ? "empty" : "truncated"), std::string::npos)
        << n << ": " << status.message();
    EXPECT_TRUE(names.empty());
  }
}

TEST(IdRecordTest, SaysWhatIsWrong) {
  const struct {
    std::string payload;
    std::string message;
  } cases[] = {
      {EncodeIdRecord(Strings{"ab"}) + "x",
       "id record: 1 trailing bytes after 1 names, at offset 11"},
      {RawRecord(2, 1, {1}, "a"), "id record: unknown format 2, this build reads 1"},
      {RawRecord(1, 0, {}, ""), "id record: no names"},
      {RawRecord(1, kMaxIdRecordNames + 1, {}, ""), "more than the limit of 65536"},
      {RawRecord(1, 2, {1, 0}, "a") + "x", "id record: name 1 at offset 10 is empty"},
      {RawRecord(1, 2, {1, kMaxIdNameBytes + 1}, "a") + "x",
       "id record: name 1 at offset 10: 65537 bytes, longer than the limit of 65536"},
      {RawRecord(1, 1, {3}, "ab"), "id record: name 0 at offset 5: truncated: 3 bytes, 2 left"},
      {std::string(kMaxIdRecordBytes + 1, '\1'), "bytes, more than the limit of 524288"},
  };
  for (const auto& c : cases) {
    Strings names;
    const Status status = DecodeIdRecord(c.payload, &names);
    EXPECT_EQ(status.code(), StatusCode::kCorruption) << c.message;
    EXPECT_NE(status.message().find(c.message), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace liverec::cluster
