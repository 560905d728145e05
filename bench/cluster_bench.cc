// liverec-cluster-bench: how fast a cluster of nodes learns, against its node count. Nodes are
// ClusterLearners (src/cluster/) in this one process, a thread each, on a stream engine that
// bench/cluster_learning.sh starts.
//
//   liverec-cluster-bench --url redis://127.0.0.1:6379 --nodes 2 [--model fm] [--events 200000]
//                         [--partitions 16] [--round-events 5000] [--rounds 3]
//                         [--snapshot-rounds R] [--takeover]
//
// Each run starts `nodes` nodes on fresh stream names, waits until they share the partitions
// (⌊P/N⌋ or ⌈P/N⌉ each), appends `events` events (users prefer items near their own id) to their
// partitions' streams in batches of 1,000, and times from the first append until every node has
// ended the round holding the last event. One line per run and a median line: events learned
// per second by the cluster, the rounds ended, the seconds the appends took. With
// --snapshot-rounds the nodes write partition snapshots every R rounds. With --takeover, the
// nodes then leave and a new node takes every partition over: the line also gives the seconds
// from its start until it owns them all, the events it replayed and the snapshots it loaded.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_learner.h"
#include "cluster/event_batch.h"
#include "cluster/round_log.h"
#include "common/random.h"
#include "liverec/options.h"
#include "model/registry.h"

namespace {

using liverec::Event;
using liverec::cluster::ClusterLearner;
using liverec::cluster::ClusterLearnerOptions;
using liverec::connect::Connector;
using liverec::connect::ConnectorOptions;
using liverec::connect::Position;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct RunResult {
  double events_per_second = 0;
  uint64_t rounds = 0;
  double append_seconds = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"liverec-cluster-bench: a cluster's learning against its node count"};
  std::string url;
  std::string model_type = "fm";
  uint32_t nodes_count = 1;
  uint32_t partitions = 16;
  size_t events_count = 200000;
  size_t round_events = 5000;
  int runs = 3;
  uint64_t snapshot_rounds = 0;
  bool takeover = false;
  app.add_option("--url", url, "redis://HOST:PORT or nats://HOST:PORT")->required();
  app.add_option("--nodes", nodes_count, "nodes, a thread each");
  app.add_option("--model", model_type, "mf, fm or ensemble (popularity, item_knn, mf, fm)");
  app.add_option("--events", events_count, "events to learn");
  app.add_option("--partitions", partitions, "cluster.partitions");
  app.add_option("--round-events", round_events, "a round's events per partition at most");
  app.add_option("--rounds", runs, "runs");
  app.add_option("--snapshot-rounds", snapshot_rounds, "a partition snapshot every R rounds");
  app.add_flag("--takeover", takeover, "then time a new node's takeover of every partition");
  CLI11_PARSE(app, argc, argv);

  liverec::Options options;
  if (model_type == "ensemble") {
    if (!options.Set("ensemble.members", "popularity,item_knn,mf,fm").ok()) return 2;
  }
  auto make_model = [&] {
    liverec::Context context;
    context.seed = 7;
    auto model =
        liverec::CreateModel(liverec::OptionView(&options, model_type, model_type), context);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      std::exit(2);
    }
    return std::move(model).value();
  };

  // The events, split by partition (user % partitions) into batches of 1,000.
  constexpr uint32_t kUsers = 50000;
  constexpr uint32_t kItems = 20000;
  liverec::Random random(11);
  std::vector<std::vector<Event>> by_partition(partitions);
  for (size_t i = 0; i < events_count; ++i) {
    Event e;
    e.time_ms = 1506816000000 + static_cast<int64_t>(i) * 10;
    e.user = static_cast<uint32_t>(random.Uniform(kUsers));
    e.item = static_cast<uint32_t>((e.user + random.Uniform(50)) % kItems);
    by_partition[e.user % partitions].push_back(e);
  }

  const auto node_options = [&](std::string name) {
    return ClusterLearnerOptions{.node = std::move(name),
                                 .partitions = partitions,
                                 .round = milliseconds(1000),
                                 .round_events = round_events,
                                 .lease_ttl = milliseconds(3000),
                                 .tick = milliseconds(100),
                                 .ownership_thread = true,
                                 .snapshot_rounds = snapshot_rounds};
  };
  std::vector<RunResult> results;
  for (int run = 0; run < runs; ++run) {
    ConnectorOptions engine;
    engine.prefix = "bench" + std::to_string(Clock::now().time_since_epoch().count());
    std::vector<std::unique_ptr<ClusterLearner>> nodes;
    for (uint32_t n = 0; n < nodes_count; ++n) {
      auto node =
          ClusterLearner::Open(url, engine, node_options("node-" + std::to_string(n)), make_model);
      if (!node.ok()) {
        std::fprintf(stderr, "%s\n", node.status().ToString().c_str());
        return 1;
      }
      nodes.push_back(std::move(node).value());
    }
    // Each node's thread steps it, says how many partitions it owns, and once the events are
    // appended, when it has ended the round holding each partition's last one.
    std::vector<Position> last(partitions, 0);
    std::atomic<bool> appended{false};
    std::atomic<bool> failed{false};
    std::vector<std::atomic<uint32_t>> owned(nodes_count);
    std::vector<Clock::time_point> done_at(nodes_count);
    std::vector<uint64_t> rounds_at_start(nodes_count);
    std::vector<std::thread> threads;
    for (uint32_t n = 0; n < nodes_count; ++n) {
      threads.emplace_back([&, n] {
        ClusterLearner& node = *nodes[n];
        for (;;) {
          const liverec::Status status = node.Step(milliseconds(5));
          if (!status.ok() && status.code() != liverec::StatusCode::kUnavailable) {
            std::fprintf(stderr, "%s: %s\n", node.node().c_str(), status.ToString().c_str());
            failed = true;
            return;
          }
          owned[n] = static_cast<uint32_t>(node.owned().size());
          if (!appended.load(std::memory_order_acquire)) {
            rounds_at_start[n] = node.stats().rounds_ended;
            continue;
          }
          bool all = true;
          for (uint32_t p = 0; p < partitions && all; ++p)
            all = node.ended(p).events_upto == last[p];
          if (all || failed) break;
        }
        done_at[n] = Clock::now();
      });
    }
    // Wait for the partitions to be shared out before appending.
    const uint32_t low = partitions / nodes_count;
    for (;;) {
      uint32_t total = 0;
      bool balanced = true;
      for (uint32_t n = 0; n < nodes_count; ++n) {
        total += owned[n];
        balanced = balanced && owned[n] >= low && owned[n] <= low + 1;
      }
      if ((total == partitions && balanced) || failed) break;
      std::this_thread::sleep_for(milliseconds(10));  // polling a figure, not synchronizing
    }
    auto client = Connector::Open(url, engine);
    if (!client.ok()) return 1;
    const Clock::time_point start = Clock::now();
    for (uint32_t p = 0; p < partitions; ++p) {
      const std::vector<Event>& events = by_partition[p];
      for (size_t i = 0; i < events.size(); i += 1000) {
        const size_t n = std::min<size_t>(1000, events.size() - i);
        const std::string payload = liverec::cluster::EncodeEventBatch({events.data() + i, n});
        std::vector<Position> positions;
        const liverec::Status status = (*client)->Append(liverec::cluster::EventsStream(p), "",
                                                         std::span(&payload, 1), &positions);
        if (!status.ok()) {
          std::fprintf(stderr, "append: %s\n", status.ToString().c_str());
          return 1;
        }
        last[p] = positions[0];
      }
    }
    const double append_seconds = Seconds(Clock::now() - start);
    appended.store(true, std::memory_order_release);
    for (std::thread& thread : threads) thread.join();
    if (failed) return 1;
    Clock::time_point end = start;
    uint64_t rounds = 0;
    for (uint32_t n = 0; n < nodes_count; ++n) {
      end = std::max(end, done_at[n]);
      rounds = std::max(rounds, nodes[n]->stats().rounds_ended - rounds_at_start[n]);
    }
    RunResult result{.events_per_second = static_cast<double>(events_count) / Seconds(end - start),
                     .rounds = rounds,
                     .append_seconds = append_seconds};
    uint64_t takeovers = 0;
    uint64_t lost = 0;
    uint64_t replayed = 0;
    for (const auto& node : nodes) {
      takeovers += node->stats().takeovers;
      lost += node->stats().partitions_lost;
      replayed += node->stats().events_replayed;
    }
    std::printf(
        "%s nodes=%u model=%s events=%zu partitions=%u run=%d: %.0f events/s learned, %llu "
        "rounds, appends %.2f s; takeovers %llu, partitions lost %llu, events replayed %llu\n",
        url.substr(0, url.find(':')).c_str(), nodes_count, model_type.c_str(), events_count,
        partitions, run, result.events_per_second, static_cast<unsigned long long>(result.rounds),
        result.append_seconds, static_cast<unsigned long long>(takeovers),
        static_cast<unsigned long long>(lost), static_cast<unsigned long long>(replayed));
    results.push_back(result);
    for (auto& node : nodes) (void)node->Leave();
    if (takeover) {
      nodes.clear();
      const Clock::time_point takeover_start = Clock::now();
      auto fresh = ClusterLearner::Open(url, engine, node_options("node-new"), make_model);
      if (!fresh.ok()) return 1;
      while ((*fresh)->owned().size() < partitions) {
        const liverec::Status status = (*fresh)->Step(milliseconds(5));
        if (!status.ok() && status.code() != liverec::StatusCode::kUnavailable) {
          std::fprintf(stderr, "node-new: %s\n", status.ToString().c_str());
          return 1;
        }
      }
      std::printf(
          "takeover of %u partitions: %.2f s, events replayed %llu, snapshots loaded %llu\n",
          partitions, Seconds(Clock::now() - takeover_start),
          static_cast<unsigned long long>((*fresh)->stats().events_replayed),
          static_cast<unsigned long long>((*fresh)->stats().snapshots_loaded));
      (void)(*fresh)->Leave();
    }
  }
  std::sort(results.begin(), results.end(), [](const RunResult& a, const RunResult& b) {
    return a.events_per_second < b.events_per_second;
  });
  std::printf("median nodes=%u model=%s: %.0f events/s learned\n", nodes_count, model_type.c_str(),
              results[results.size() / 2].events_per_second);
  return 0;
}
