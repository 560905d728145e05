// Crash recovery end to end: a real `liverec serve` process under continuous ingest is killed
// with SIGKILL; afterwards every acknowledged event is in the log exactly once, and the state
// recovered from snapshot + log is bit-identical to a fresh replay of the whole log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli_testing.h"
#include "engine/log_entry.h"
#include "liverec/engine.h"
#include "store/log_reader.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

constexpr int kClients = 2;
constexpr int kBatch = 50;
// Kill once this many events were acknowledged; several periodic snapshots happen before.
constexpr size_t kKillAfter = 6000;
const std::vector<std::string> kServerSets = {"snapshot.interval_events=1500", "mf.dim=16",
                                              "log.sync=always"};

using testing::ServerProcess;
using testing::SetFlags;

Options EngineOptionsFor(const std::string& data_dir) {
  Options options;
  EXPECT_TRUE(options.Set("serve.data_dir", data_dir).ok());
  for (const std::string& set : kServerSets) EXPECT_TRUE(options.SetAssignment(set).ok());
  return options;
}

// Counts the event ids in the log of `data_dir`.
std::map<std::string, int> LoggedIds(const std::string& data_dir) {
  std::map<std::string, int> ids;
  StatusOr<std::unique_ptr<LogReader>> reader = LogReader::Open(data_dir + "/log", 1);
  EXPECT_TRUE(reader.ok());
  LogRecord record;
  LogEntry entry;
  while (true) {
    StatusOr<bool> more = (*reader)->Next(&record);
    EXPECT_TRUE(more.ok()) << more.status().message();
    if (!more.ok() || !*more) break;
    EXPECT_TRUE(DecodeLogEntry(record.payload, &entry).ok());
    if (entry.kind == LogEntryKind::kEvent) ++ids[entry.event.id];
  }
  return ids;
}

class CrashTest : public testing::TempDirTest {};

TEST_F(CrashTest, AcknowledgedEventsSurviveSigkillAndRecoveryIsBitIdenticalToReplay) {
  const std::string data_dir = root_ + "/data";
  ServerProcess server(data_dir, SetFlags(kServerSets));
  ASSERT_GT(server.port(), 0);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> acknowledged;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_tcp_nodelay(true);
      for (int b = 0;; ++b) {
        nlohmann::json batch = nlohmann::json::array();
        std::vector<std::string> ids;
        for (int e = 0; e < kBatch; ++e) {
          const int n = b * kBatch + e;
          ids.push_back("c" + std::to_string(c) + "-" + std::to_string(n));
          batch.push_back({{"user", "u" + std::to_string((n * 7 + c) % 300)},
                           {"item", "i" + std::to_string((n * 13 + c * 5) % 500)},
                           {"timestamp", 1'700'000'000'000 + n},
                           {"id", ids.back()}});
        }
        httplib::Result res = client.Post("/v1/events", batch.dump(), "application/json");
        if (!res) return;  // the server is gone
        if (res->status != 200) continue;
        std::lock_guard lock(mu);
        acknowledged.insert(acknowledged.end(), ids.begin(), ids.end());
        cv.notify_all();
      }
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return acknowledged.size() >= kKillAfter; });
  }
  // And a periodic snapshot is on disk, so that recovery starts from one (acknowledgement only
  // waits for durability: on a busy machine learning, and with it the snapshots, may lag).
  // The clients go on posting meanwhile.
  {
    httplib::Client stats("127.0.0.1", server.port());
    stats.set_tcp_nodelay(true);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (true) {
      httplib::Result res = stats.Get("/v1/stats");
      ASSERT_TRUE(res && res->status == 200);
      if (nlohmann::json::parse(res->body).value("snapshot_seq", uint64_t{0}) > 0) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no periodic snapshot in 60 s";
    }
  }
  server.Kill();
  for (std::thread& t : clients) t.join();
  ASSERT_TRUE(server.killed());

  // Recovery: the newest snapshot and the log after it.
  RecoveryInfo info;
  std::string recovered;
  {
    StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Open(EngineOptionsFor(data_dir), Context{}, "", &info);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    EXPECT_GT(info.snapshot_seq, 0u) << "no periodic snapshot before the kill";
    recovered = (*engine)->StateFingerprint();
    const std::map<std::string, int> logged = LoggedIds(data_dir);
    for (const std::string& id : acknowledged) {
      auto it = logged.find(id);
      ASSERT_TRUE(it != logged.end()) << "acknowledged event " << id << " lost";
      EXPECT_EQ(it->second, 1) << id;
    }
    EXPECT_EQ((*engine)->Stats().events_applied, logged.size());
    EXPECT_GE(logged.size(), acknowledged.size());
    (*engine).reset();  // no shutdown snapshot may differ from what we compare: it is closed
  }

  // A fresh replay of the same log, without any snapshot.
  const std::string replay_dir = root_ + "/replay";
  std::filesystem::create_directories(replay_dir);
  std::filesystem::copy(data_dir + "/log", replay_dir + "/log");
  StatusOr<std::unique_ptr<Engine>> fresh =
      Engine::Open(EngineOptionsFor(replay_dir), Context{}, "", nullptr);
  ASSERT_TRUE(fresh.ok()) << fresh.status().message();
  EXPECT_TRUE((*fresh)->StateFingerprint() == recovered)
      << "recovered state differs from a fresh replay of the log";
  std::printf(
      "acknowledged %zu events; recovered from snapshot at seq %llu + %llu records in "
      "%.3f s\n",
      acknowledged.size(), static_cast<unsigned long long>(info.snapshot_seq),
      static_cast<unsigned long long>(info.replayed_records), info.seconds);
}

// Issue 14, case 6: a disk that fills up in the middle of a batch. The batch that got a 5xx is
// entirely absent from the log (the writer cut its partial records back), every acknowledged
// event is there once, the server says so on stderr, /readyz turns 503 and /metrics shows the
// log as not writable.
TEST_F(CrashTest, AWriteThatFailedOnAFullDiskIsAbsentAndTheServerSaysItCannotWrite) {
  const std::string data_dir = root_ + "/data";
  const std::string stderr_path = root_ + "/stderr.txt";
  // Room for a few dozen batches in the log's first segment; no snapshot to write meanwhile.
  constexpr rlim_t kDiskBytes = 256 * 1024;
  ServerProcess server(data_dir,
                       SetFlags({"snapshot.interval_events=0", "mf.dim=16", "log.sync=always"}),
                       kDiskBytes, stderr_path);
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  client.set_tcp_nodelay(true);
  std::vector<std::string> acknowledged;
  std::vector<std::string> failed;
  nlohmann::json failure;
  // Bounded: the limit is reached after about 100 batches.
  constexpr int kMaxBatches = 10000;
  for (int b = 0; b < kMaxBatches && failed.empty(); ++b) {
    nlohmann::json batch = nlohmann::json::array();
    std::vector<std::string> ids;
    for (int e = 0; e < kBatch; ++e) {
      const int n = b * kBatch + e;
      ids.push_back("e" + std::to_string(n));
      batch.push_back({{"user", "u" + std::to_string(n % 300)},
                       {"item", "i" + std::to_string((n * 13) % 500)},
                       {"timestamp", 1'700'000'000'000 + n},
                       {"id", ids.back()}});
    }
    httplib::Result res = client.Post("/v1/events", batch.dump(), "application/json");
    ASSERT_TRUE(res);
    if (res->status == 200) {
      acknowledged.insert(acknowledged.end(), ids.begin(), ids.end());
    } else {
      ASSERT_EQ(res->status, 500) << res->body;
      failure = nlohmann::json::parse(res->body);
      failed = ids;
    }
  }
  ASSERT_FALSE(failed.empty()) << "the disk never filled";
  ASSERT_FALSE(acknowledged.empty());
  const std::string message = failure["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("cut back"), std::string::npos) << message;
  // Later writes are refused with the same error; reads go on.
  httplib::Result again =
      client.Post("/v1/events", R"([{"user":"u","item":"i"}])", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 500);
  httplib::Result ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503) << ready->body;
  EXPECT_NE(ready->body.find("cannot write"), std::string::npos) << ready->body;
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("liverec_log_writable 0"), std::string::npos);
  EXPECT_EQ(client.Get("/v1/stats")->status, 200);
  server.Kill();
  ASSERT_TRUE(server.killed());
  std::stringstream err;
  err << std::ifstream(stderr_path).rdbuf();
  EXPECT_NE(err.str().find("the event log failed"), std::string::npos) << err.str();

  const std::map<std::string, int> logged = LoggedIds(data_dir);
  for (const std::string& id : acknowledged) {
    auto it = logged.find(id);
    ASSERT_TRUE(it != logged.end()) << "acknowledged event " << id << " lost";
    EXPECT_EQ(it->second, 1) << id;
  }
  for (const std::string& id : failed) {
    EXPECT_EQ(logged.count(id), 0u) << "event " << id << " of the failed batch came back";
  }
  EXPECT_EQ(logged.size(), acknowledged.size());
  // And a restart (without the limit) recovers exactly the acknowledged events.
  StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Open(EngineOptionsFor(data_dir), Context{}, "", nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EXPECT_EQ((*engine)->Stats().events_applied, acknowledged.size());
  EXPECT_EQ((*engine)->Stats().events_accepted, acknowledged.size());
}

}  // namespace
}  // namespace liverec
