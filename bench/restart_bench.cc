// liverec-restart-bench: restart time after a crash with a long event log.
//
// A child process ingests --events synthetic events through the engine (periodic snapshots
// every snapshot.interval_events, as a server would take them) and then exits without any
// shutdown work, as a crash would leave it. The parent times Engine::Open on the same
// directory: load the newest snapshot, replay the log after it, ready to serve.
//
//   liverec-restart-bench --events 10000000 [--dir DIR [--reopen]] [--set key=value ...]
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "event/event_record.h"
#include "liverec/engine.h"

namespace {

using liverec::EventRecord;

// Users and items drawn with a skew toward low ids (popular items), deterministic.
void MakeBatch(uint64_t first, size_t n, uint64_t num_users, uint64_t num_items,
               std::vector<EventRecord>* out) {
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t e = first + i;
    uint64_t x = e * 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 32;
    const uint64_t item = (x % num_items) * ((x >> 40) % num_items) / num_items;
    EventRecord& r = (*out)[i];
    r.user = "u" + std::to_string((x >> 20) % num_users);
    r.item = "i" + std::to_string(item);
    r.time_ms = 1'700'000'000'000 + static_cast<int64_t>(e) * 10;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Restart time of the engine after a crash with a long log"};
  uint64_t events = 10'000'000;
  uint64_t num_users = 100'000;
  uint64_t num_items = 100'000;
  std::string dir;
  std::vector<std::string> sets;
  app.add_option("--events", events);
  app.add_option("--users", num_users);
  app.add_option("--items", num_items);
  app.add_option("--dir", dir, "Data directory (default: a new temporary one, removed after)");
  app.add_option("--set", sets, "Engine option key=value");
  bool reopen = false;
  app.add_flag("--reopen", reopen,
               "Skip the ingest and time the recovery of --dir as an earlier run left it");
  CLI11_PARSE(app, argc, argv);
  const bool temporary = dir.empty();
  if (temporary) {
    dir = (std::filesystem::temp_directory_path() / ("liverec-restart-" + std::to_string(getpid())))
              .string();
  }
  liverec::Options options;
  auto set = [&](const std::string& assignment) {
    liverec::Status s = options.SetAssignment(assignment);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      std::exit(2);
    }
  };
  set("serve.data_dir=" + dir);
  set("log.sync=never");  // the setup's speed; the restart reads the same bytes either way
  for (const std::string& s : sets) set(s);

  const auto ingest_start = std::chrono::steady_clock::now();
  const pid_t child = reopen ? 0 : fork();
  if (reopen) {
    if (temporary) {
      std::fprintf(stderr, "--reopen needs --dir\n");
      return 2;
    }
  } else if (child == 0) {
    auto engine = liverec::Engine::Open(options, liverec::Context{}, "", nullptr);
    if (!engine.ok()) {
      std::fprintf(stderr, "open: %s\n", engine.status().message().c_str());
      _exit(1);
    }
    constexpr size_t kBatch = 10'000;
    std::vector<EventRecord> batch;
    for (uint64_t first = 0; first < events; first += kBatch) {
      MakeBatch(first, std::min<uint64_t>(kBatch, events - first), num_users, num_items, &batch);
      liverec::IngestResult result;
      // Every tenth batch waits for learning, which keeps at most ten batches queued (below
      // engine.queue_capacity) while the log and the apply thread work in parallel.
      const bool wait = first + kBatch >= events || (first / kBatch) % 10 == 9;
      liverec::Status s = (*engine)->Ingest(
          batch, wait ? liverec::IngestWait::kLearned : liverec::IngestWait::kDurable, &result);
      if (!s.ok()) {
        std::fprintf(stderr, "ingest: %s\n", s.message().c_str());
        _exit(1);
      }
    }
    _exit(0);  // a crash: no drain, no shutdown snapshot
  }
  int status = 0;
  if (!reopen) waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  const double ingest_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - ingest_start).count();

  liverec::RecoveryInfo info;
  const auto start = std::chrono::steady_clock::now();
  auto engine = liverec::Engine::Open(options, liverec::Context{}, "", &info);
  const double open_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!engine.ok()) {
    std::fprintf(stderr, "recover: %s\n", engine.status().message().c_str());
    return 1;
  }
  const liverec::EngineStats stats = (*engine)->Stats();
  std::printf(
      "restart events=%llu ingest_s=%.1f ingest_events_per_s=%.0f restart_s=%.2f "
      "(snapshot %.2f, replay %.2f) snapshot_seq=%llu replayed=%llu applied=%llu\n",
      static_cast<unsigned long long>(events), ingest_s, static_cast<double>(events) / ingest_s,
      open_s, info.snapshot_seconds, info.replay_seconds,
      static_cast<unsigned long long>(info.snapshot_seq),
      static_cast<unsigned long long>(info.replayed_records),
      static_cast<unsigned long long>(stats.events_applied));
  const bool complete = stats.events_applied == events;
  // A kept directory stays as the crash left it (no shutdown snapshot), so --reopen can time
  // the same recovery again.
  if (!temporary) {
    std::fflush(stdout);
    std::_Exit(complete ? 0 : 1);
  }
  engine->reset();
  std::filesystem::remove_all(dir);
  return complete ? 0 : 1;
}
