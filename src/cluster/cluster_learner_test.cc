// Nodes of a cluster on a real redis-server and nats-server (127.0.0.1), driven step by step
// from the test's thread: under continuous appends, with one node killed and one paused past
// its leases, every appended event is learned exactly once, and each partition's copy equals
// the one-process simulation (model/partitioned.h) fed the same rounds, bit for bit.
#include "cluster/cluster_learner.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cluster/event_batch.h"
#include "common/random.h"
#include "connect/engine_process_testing.h"
#include "model/model_testing.h"
#include "model/partitioned.h"

namespace liverec::cluster {
namespace {

using connect::Connector;
using connect::ConnectorOptions;
using connect::testing::EngineProcess;
using liverec::testing::ModelMaker;
using std::chrono::milliseconds;

constexpr uint32_t kPartitions = 6;
constexpr uint32_t kUsers = 60;
constexpr uint32_t kItems = 80;

uint32_t PartitionOf(UserId user) { return user % kPartitions; }

// Batch b of a stream where users prefer items near their own id; every event's time is unique,
// so an event is known by it.
std::vector<Event> Batch(uint64_t b, size_t n) {
  Random random(1000 + b);
  std::vector<Event> events;
  for (size_t i = 0; i < n; ++i) {
    const auto user = static_cast<UserId>(random.Uniform(kUsers));
    const auto item = static_cast<ItemId>((user + random.Uniform(10)) % kItems);
    events.push_back(liverec::testing::MakeEvent(
        liverec::testing::kEpochMs + static_cast<int64_t>(b * n + i) * 100, user, item));
  }
  return events;
}

TEST(EventBatchTest, RoundTripsAndNamesWhatIsWrong) {
  const std::vector<Event> events = Batch(3, 5);
  const std::string bytes = EncodeEventBatch(events);
  std::vector<Event> decoded;
  ASSERT_TRUE(DecodeEventBatch(bytes, &decoded).ok());
  ASSERT_EQ(decoded.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(decoded[i].time_ms, events[i].time_ms);
    EXPECT_EQ(decoded[i].user, events[i].user);
    EXPECT_EQ(decoded[i].item, events[i].item);
  }
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<Event> out;
    EXPECT_EQ(DecodeEventBatch(bytes.substr(0, n), &out).code(), StatusCode::kCorruption) << n;
    EXPECT_TRUE(out.empty());
  }
  std::vector<Event> bad = events;
  bad[2].item = kInvalidId;
  EXPECT_NE(DecodeEventBatch(EncodeEventBatch(bad), &decoded)
                .message()
                .find("event 2: an invalid item id"),
            std::string::npos);
  bad = events;
  bad[1].value = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(DecodeEventBatch(EncodeEventBatch(bad), &decoded)
                .message()
                .find("event 1: value is not a finite number"),
            std::string::npos);
  EXPECT_EQ(DecodeEventBatch(bytes + "x", &decoded).code(), StatusCode::kCorruption);
}

struct ModelCase {
  std::string name;
  std::string type;
  std::map<std::string, std::string> settings;
};

void PrintTo(const ModelCase& model, std::ostream* out) { *out << model.name; }

class ClusterLearnerTest
    : public ::testing::TestWithParam<std::tuple<EngineProcess::Kind, ModelCase>> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<EngineProcess>(std::get<0>(GetParam()));
    ASSERT_TRUE(engine_->ready()) << engine_->output();
    const ModelCase& model = std::get<1>(GetParam());
    maker_ = std::make_unique<ModelMaker>(model.type, model.settings);
  }

  // With `ownership_thread` false the node's Ticks run in its Steps: a node not stepped is
  // paused whole, as SIGSTOP pauses a process.
  std::unique_ptr<ClusterLearner> Node(const std::string& name,
                                       milliseconds lease_ttl = milliseconds(2000),
                                       bool ownership_thread = true, uint64_t snapshot_rounds = 0) {
    ClusterLearnerOptions options{.node = name,
                                  .partitions = kPartitions,
                                  .round = milliseconds(40),
                                  .round_events = 50,
                                  .lease_ttl = lease_ttl,
                                  .tick = milliseconds(100),
                                  .ownership_thread = ownership_thread,
                                  .snapshot_rounds = snapshot_rounds};
    auto node = ClusterLearner::Open(engine_->url(), ConnectorOptions{}, options,
                                     [this] { return maker_->Make(); });
    EXPECT_TRUE(node.ok()) << node.status().ToString();
    return node.ok() ? std::move(node).value() : nullptr;
  }

  // Appends batch b through `node`, split by partition, and remembers each event.
  void Append(ClusterLearner* node, uint64_t b) {
    std::vector<std::vector<Event>> parts(kPartitions);
    for (const Event& e : Batch(b, 12)) parts[PartitionOf(e.user)].push_back(e);
    for (uint32_t p = 0; p < kPartitions; ++p) {
      if (parts[p].empty()) continue;
      const std::string batch_id = "test/" + std::to_string(b) + "/" + std::to_string(p);
      ASSERT_TRUE(node->Append(p, parts[p], batch_id).ok());
      // A client's retry of the same batch appends nothing more.
      ASSERT_TRUE(node->Append(p, parts[p], batch_id).ok());
      for (const Event& e : parts[p]) appended_[p].push_back(e.time_ms);
    }
  }

  // A step the engine did not answer in time (a loaded machine) is retried by the next, as a
  // node's loop does; any other error fails the test.
  static void StepAll(const std::vector<ClusterLearner*>& nodes) {
    for (ClusterLearner* node : nodes) {
      const Status status = node->Step(milliseconds(2));
      if (status.code() == StatusCode::kUnavailable) continue;
      ASSERT_TRUE(status.ok()) << node->node() << ": " << status.ToString();
    }
  }

  // Steps `nodes` until `done` holds, for at most 60 s; false if it never did.
  template <typename Done>
  static bool StepUntil(const std::vector<ClusterLearner*>& nodes, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      StepAll(nodes);
      if (::testing::Test::HasFatalFailure()) return false;
    }
    return done();
  }

  // Every partition owned by one of `nodes`, and every appended event in a round that ended on
  // all of them.
  bool Settled(const std::vector<ClusterLearner*>& nodes) {
    auto connector = Connector::Open(engine_->url(), ConnectorOptions{});
    if (!connector.ok()) return false;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      int owners = 0;
      for (ClusterLearner* node : nodes) owners += node->copy(p) != nullptr ? 1 : 0;
      StatusOr<connect::Position> last = (*connector)->Last(EventsStream(p));
      if (owners != 1 || !last.ok()) return false;
      for (ClusterLearner* node : nodes) {
        if (node->ended(p).events_upto != *last || node->round() != nodes[0]->round()) {
          return false;
        }
      }
    }
    return true;
  }

  // The simulation of the rounds the cluster recorded: each round's events of every
  // partition, then the round's end. Checks that each appended event is in one round.
  std::unique_ptr<PartitionedModel> Simulate() {
    auto connector = Connector::Open(engine_->url(), ConnectorOptions{});
    EXPECT_TRUE(connector.ok());
    StatusOr<std::unique_ptr<PartitionedModel>> sim =
        PartitionedModel::Create(maker_->Make(), kPartitions, 0, PartitionOf);
    EXPECT_TRUE(sim.ok()) << sim.status().ToString();
    RoundReader rounds(connector->get(), kPartitions);
    std::vector<connect::Position> upto(kPartitions, 0);
    std::map<uint32_t, std::vector<int64_t>> learned;
    std::vector<RoundRecord> round;
    for (;;) {
      StatusOr<bool> got = rounds.Next(milliseconds(0), &round);
      EXPECT_TRUE(got.ok()) << got.status().ToString();
      if (!got.ok() || !*got) break;
      for (uint32_t p = 0; p < kPartitions; ++p) {
        std::vector<connect::Record> records;
        EXPECT_TRUE(
            (*connector)->Read(EventsStream(p), upto[p], 100000, milliseconds(0), &records).ok());
        for (const connect::Record& record : records) {
          if (record.position > round[p].events_upto) break;
          std::vector<Event> events;
          EXPECT_TRUE(DecodeEventBatch(record.payload, &events).ok());
          for (const Event& e : events) {
            (*sim)->Learn(e);
            learned[p].push_back(e.time_ms);
          }
        }
        upto[p] = round[p].events_upto;
      }
      (*sim)->EndRound();
    }
    // Per-event accounting: the rounds hold every appended event once, in append order.
    for (uint32_t p = 0; p < kPartitions; ++p) {
      EXPECT_EQ(learned[p], appended_[p]) << "partition " << p;
    }
    return std::move(sim).value();
  }

  void ExpectCopiesEqualTheSimulation(const std::vector<ClusterLearner*>& nodes) {
    std::unique_ptr<PartitionedModel> sim = Simulate();
    for (uint32_t p = 0; p < kPartitions; ++p) {
      for (ClusterLearner* node : nodes) {
        if (const Model* copy = node->copy(p); copy != nullptr) {
          // Compared as bytes, and not printed: a model's state is long.
          EXPECT_TRUE(liverec::testing::SaveBytes(*copy) ==
                      liverec::testing::SaveBytes(sim->copy(p)))
              << "partition " << p << " on " << node->node();
        }
      }
    }
  }

  std::unique_ptr<EngineProcess> engine_;
  std::unique_ptr<ModelMaker> maker_;
  std::map<uint32_t, std::vector<int64_t>> appended_;
};

TEST_P(ClusterLearnerTest, OneNodeLearnsAsTheSimulation) {
  std::unique_ptr<ClusterLearner> a = Node("node-a");
  ASSERT_NE(a, nullptr);
  std::vector<ClusterLearner*> nodes{a.get()};
  ASSERT_TRUE(StepUntil(nodes, [&] { return a->owned().size() == kPartitions; }));
  for (uint64_t b = 0; b < 20; ++b) {
    Append(a.get(), b);
    StepAll(nodes);
  }
  ASSERT_TRUE(StepUntil(nodes, [&] {
    a->EndRoundNow();
    return Settled(nodes);
  }));
  EXPECT_EQ(a->stats().events_learned, 20u * 12u);
  EXPECT_EQ(a->stats().events_replayed, 0u);
  EXPECT_GT(a->stats().rounds_ended, 1u);
  ExpectCopiesEqualTheSimulation(nodes);
}

TEST_P(ClusterLearnerTest, ATakeoverStartsFromThePartitionsLastSnapshot) {
  std::unique_ptr<ClusterLearner> a = Node("node-a", milliseconds(2000), true, 2);
  ASSERT_NE(a, nullptr);
  std::vector<ClusterLearner*> only_a{a.get()};
  ASSERT_TRUE(StepUntil(only_a, [&] { return a->owned().size() == kPartitions; }));
  uint64_t batch = 0;
  for (; batch < 20; ++batch) {
    Append(a.get(), batch);
    StepAll(only_a);
    a->EndRoundNow();  // many rounds, so that several snapshots are written
  }
  ASSERT_TRUE(StepUntil(only_a, [&] {
    a->EndRoundNow();
    return Settled(only_a);
  }));
  EXPECT_GT(a->stats().snapshots_written, kPartitions);
  EXPECT_EQ(a->stats().snapshot_failures, 0u);
  const uint64_t learned = a->stats().events_learned;
  ASSERT_TRUE(a->Leave().ok());
  a.reset();

  // node-b takes every partition over from its last snapshot: it replays only the rounds after.
  std::unique_ptr<ClusterLearner> b = Node("node-b", milliseconds(2000), true, 2);
  ASSERT_NE(b, nullptr);
  std::vector<ClusterLearner*> only_b{b.get()};
  ASSERT_TRUE(StepUntil(only_b, [&] { return b->owned().size() == kPartitions; }));
  EXPECT_EQ(b->stats().snapshots_loaded, kPartitions);
  EXPECT_EQ(b->stats().snapshot_failures, 0u);
  EXPECT_LT(b->stats().events_replayed, learned / 2);
  for (; batch < 30; ++batch) {
    Append(b.get(), batch);
    StepAll(only_b);
  }
  ASSERT_TRUE(StepUntil(only_b, [&] {
    b->EndRoundNow();
    return Settled(only_b);
  }));
  ExpectCopiesEqualTheSimulation(only_b);
}

TEST_P(ClusterLearnerTest, ThreeNodesLearnEveryEventOnceThroughAKillAndAPause) {
  std::unique_ptr<ClusterLearner> a = Node("node-a");
  // node-b is paused below by not stepping it, so its leases must lapse meanwhile.
  std::unique_ptr<ClusterLearner> b = Node("node-b", milliseconds(2000), false);
  std::unique_ptr<ClusterLearner> c = Node("node-c");
  ASSERT_TRUE(a && b && c);
  std::vector<ClusterLearner*> all{a.get(), b.get(), c.get()};
  // Three members: every partition owned, each node two.
  ASSERT_TRUE(StepUntil(all, [&] {
    return a->owned().size() == 2 && b->owned().size() == 2 && c->owned().size() == 2;
  }));

  uint64_t batch = 0;
  for (; batch < 30; ++batch) {
    Append(all[batch % 3], batch);
    StepAll(all);
  }
  // node-c is killed (SIGKILL): it stops without a word. Appends go on through the others;
  // rounds wait for c's partitions until its leases expire and a and b take them over.
  const uint64_t takeovers_before = a->stats().takeovers + b->stats().takeovers;
  c.reset();
  std::vector<ClusterLearner*> ab{a.get(), b.get()};
  for (; batch < 60; ++batch) {
    Append(ab[batch % 2], batch);
    StepAll(ab);
  }
  ASSERT_TRUE(StepUntil(ab, [&] { return a->owned().size() + b->owned().size() == kPartitions; }));
  // c's two partitions moved to a and b (and perhaps more, as the two rebalanced).
  EXPECT_GE(a->stats().takeovers + b->stats().takeovers - takeovers_before, 2u);
  EXPECT_GT(a->stats().events_replayed + b->stats().events_replayed, 0u);

  // node-b is paused (SIGSTOP) mid-round: it has learned events it has not published.
  for (; batch < 70; ++batch) {
    Append(a.get(), batch);
    StepAll(ab);
  }
  std::vector<ClusterLearner*> only_a{a.get()};
  for (; batch < 90; ++batch) {
    Append(a.get(), batch);
    StepAll(only_a);
  }
  ASSERT_TRUE(StepUntil(only_a, [&] { return a->owned().size() == kPartitions; }));
  // node-b wakes: its leases are gone and its stale rounds fenced out; it joins again and takes
  // its share back, rebuilt from the round log.
  const uint64_t b_lost = b->stats().partitions_lost;
  for (; batch < 110; ++batch) {
    Append(ab[batch % 2], batch);
    StepAll(ab);
  }
  ASSERT_TRUE(StepUntil(ab, [&] {
    a->EndRoundNow();
    b->EndRoundNow();
    return a->owned().size() == kPartitions / 2 && b->owned().size() == kPartitions / 2 &&
           Settled(ab);
  }));
  EXPECT_GT(b->stats().partitions_lost, b_lost);
  ExpectCopiesEqualTheSimulation(ab);
}

TEST_P(ClusterLearnerTest, ALeavingNodeHandsItsPartitionsOverAtOnce) {
  // Leases of two minutes (ticks every 100 ms): a handover that waited for them to expire would
  // not end in the 60 s StepUntil allows.
  std::unique_ptr<ClusterLearner> a = Node("node-a", milliseconds(120000));
  std::unique_ptr<ClusterLearner> b = Node("node-b", milliseconds(120000));
  ASSERT_TRUE(a && b);
  std::vector<ClusterLearner*> ab{a.get(), b.get()};
  ASSERT_TRUE(StepUntil(ab, [&] {
    return a->owned().size() == kPartitions / 2 && b->owned().size() == kPartitions / 2;
  }));
  for (uint64_t batch = 0; batch < 20; ++batch) {
    Append(ab[batch % 2], batch);
    StepAll(ab);
  }
  // b leaves with a round open: it publishes it, so a learns none of it again.
  ASSERT_TRUE(b->Leave().ok());
  std::vector<ClusterLearner*> only_a{a.get()};
  ASSERT_TRUE(StepUntil(only_a, [&] {
    a->EndRoundNow();
    return a->owned().size() == kPartitions && Settled(only_a);
  }));
  ExpectCopiesEqualTheSimulation(only_a);
}

const ModelCase kModels[] = {
    {"mf", "mf", {{"dim", "8"}, {"negatives", "2"}}},
    {"fm", "fm", {{"dim", "8"}, {"hash_bits", "10"}}},
    {"ensemble", "ensemble", {{"ensemble.members", "popularity,item_knn,mf"}, {"mf.dim", "8"}}},
};

INSTANTIATE_TEST_SUITE_P(Engines, ClusterLearnerTest,
                         ::testing::Combine(::testing::Values(EngineProcess::kRedis,
                                                              EngineProcess::kNats),
                                            ::testing::ValuesIn(kModels)),
                         [](const auto& param_info) {
                           return std::string(std::get<0>(param_info.param) == EngineProcess::kRedis
                                                  ? "Redis"
                                                  : "Nats") +
                                  "_" + std::get<1>(param_info.param).name;
                         });

}  // namespace
}  // namespace liverec::cluster
