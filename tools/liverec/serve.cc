// liverec serve: the HTTP server with online learning (the main job).
// liverec train: batch pretraining into a snapshot that `serve --init-snapshot` starts from.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "commands.h"
#include "common/allocator.h"
#include "common/log.h"
#include "engine/engine_state.h"
#include "engine/snapshots.h"
#include "eval/replay.h"
#include "event/readers.h"
#include "liverec/engine.h"
#include "model/registry.h"
#include "serve/auth.h"
#include "serve/http_server.h"
#include "store/snapshot.h"
#include "train/batch_trainer.h"

namespace liverec::tools {
namespace {

struct ServeFlags {
  std::string host;
  int port = -1;
  std::string data_dir;
  std::string init_snapshot;
  OptionFlags options;
};

Status RunServe(const ServeFlags& flags) {
  std::vector<std::pair<std::string, std::string>> set;
  if (!flags.host.empty()) set.emplace_back("serve.host", flags.host);
  if (flags.port >= 0) set.emplace_back("serve.port", std::to_string(flags.port));
  if (!flags.data_dir.empty()) set.emplace_back("serve.data_dir", flags.data_dir);
  LIVEREC_ASSIGN_OR_RETURN(Options options, flags.options.Load(set));
  LogFormat log_format = LogFormat::kText;
  // The table admits only text and json, so this cannot fail.
  ParseLogFormat(options.GetString("", "log", "format"), &log_format);
  SetLogFormat(log_format);
  // Before recovery, which may take minutes: a refusal should come at once.
  LIVEREC_RETURN_IF_ERROR(CheckProtectedMode(options));

  // SIGTERM and SIGINT are taken by one thread (sigwait) instead of an async handler, so
  // shutdown runs as ordinary code: stop HTTP, drain the queue, snapshot; SIGHUP reads the key
  // file and the TLS certificate again. Blocked here, before any thread starts, so that every
  // thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Also before any thread: arenas are handed out as threads first allocate.
  AllocatorSettings allocator;
  allocator.arenas = static_cast<int>(options.GetInt("", "serve", "malloc_arenas"));
  ConfigureAllocator(allocator);

  RecoveryInfo info;
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                           Engine::Open(options, Context{}, flags.init_snapshot, &info));
  for (const std::string& skipped : info.skipped_snapshots) {
    Log(LogLevel::kWarning, "skipped corrupt snapshot", {{"file", skipped}});
  }
  if (info.dropped_tail_bytes > 0) {
    Log(LogLevel::kWarning,
        "the log ended in a damaged record (a write torn by a crash): its bytes are cut and the "
        "records from first_lost_seq on are lost (with log.sync=always none of them was "
        "acknowledged)",
        {{"dropped_tail_bytes", info.dropped_tail_bytes},
         {"first_lost_seq", info.dropped_tail_first_seq}});
  }
  Log(LogLevel::kInfo, "recovered",
      {{"seconds", info.seconds},
       {"snapshot_seq", info.snapshot_seq},
       {"replayed_records", info.replayed_records},
       {"dropped_tail_bytes", info.dropped_tail_bytes}});

  HttpServer server(engine.get(), options);
  LIVEREC_ASSIGN_OR_RETURN(int port, server.Bind());
  const std::string scheme = options.GetString("", "serve", "tls_cert").empty() ? "http" : "https";
  const std::string host = options.GetString("", "serve", "host");
  // On stdout for scripts and tests that wait for the port; on stderr for the log.
  std::printf("liverec: listening on %s://%s:%d\n", scheme.c_str(), host.c_str(), port);
  std::fflush(stdout);
  Log(LogLevel::kInfo, "listening", {{"scheme", scheme}, {"host", host}, {"port", port}});

  std::atomic<bool> signaled{false};
  std::thread waiter([&] {
    int sig = SIGHUP;
    while (sig == SIGHUP) {
      sigwait(&signals, &sig);
      if (sig != SIGHUP) break;
      const Status reloaded = server.Reload();
      if (reloaded.ok()) {
        Log(LogLevel::kInfo, "SIGHUP: keys and certificates reloaded");
      } else {
        Log(LogLevel::kError, "SIGHUP: " + reloaded.message());
      }
      // The storage keys: new records and snapshots sealed with the new one.
      if (const Status keys = engine->ReloadStorageKeys(); keys.ok()) {
        Log(LogLevel::kInfo, "SIGHUP: storage keys reloaded");
      } else {
        Log(LogLevel::kError, "SIGHUP: " + keys.message());
      }
    }
    signaled = true;
    server.Stop();
  });
  server.Run();
  if (!signaled.load()) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  Log(LogLevel::kInfo, "draining and writing a snapshot");
  engine.reset();
  Log(LogLevel::kInfo, "stopped");
  return Status::Ok();
}

struct TrainFlags {
  DataFlags data;
  std::string out;
  OptionFlags options;
};

Status RunTrain(const TrainFlags& flags) {
  LIVEREC_ASSIGN_OR_RETURN(Options options, flags.options.Load({}));
  LIVEREC_ASSIGN_OR_RETURN(ReadOptions read_options, flags.data.ToReadOptions());
  ReadStats stats;
  LIVEREC_ASSIGN_OR_RETURN(Dataset dataset, ReadDataset(flags.data.path, read_options, &stats));
  const Context context;
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<EngineState> state,
                           EngineState::Create(options, context));
  // One pass in time order builds the id maps and histories and is the exact batch fit of
  // every count model; iterative models are refit below by the batch trainer.
  LogEntry entry;
  entry.kind = LogEntryKind::kEvent;
  for (size_t i = 0; i < dataset.events.size(); ++i) {
    const Event& e = dataset.events[i];
    EventRecord& r = entry.event;
    r.user = dataset.users.Key(e.user);
    r.item = dataset.items.Key(e.item);
    r.type = dataset.event_types.size() > e.type ? dataset.event_types.Key(e.type) : "";
    r.value = e.value;
    r.time_ms = e.time_ms;
    state->Apply(i + 1, entry);
    dataset.events[i].weight = state->Resolve(r).weight;
  }
  // The state numbered users and items in order of first appearance, as the sorted data set
  // did: the batch trainer's dense ids mean the same keys.
  for (ItemId item = 0; item < dataset.num_items(); ++item) {
    if (state->items().Key(item) != dataset.items.Key(item)) {
      return Internal("train: item ids of the engine and the data set disagree");
    }
  }
  const BatchTrainOptions train_options = BatchTrainOptions::FromOptions(options, context.seed);
  const Validator validator = MakeRecallValidator(
      10, true, 0, static_cast<uint32_t>(options.GetInt("", "train", "validation_events")),
      context.seed);
  for (const ModelSlot& slot : state->models()) {
    if (!slot.model->iterative()) continue;
    LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                             CreateModel(OptionView(&options, slot.name, slot.type), context));
    BatchTrainResult result = TrainBatch(model.get(), dataset.events, train_options, validator);
    std::fprintf(stderr, "liverec: %s trained for %d epochs in %.1f s\n", slot.name.c_str(),
                 result.epochs, result.seconds);
    state->ReplaceModel(slot.name, std::move(model));
  }
  state->set_last_applied_seq(0);
  // Sealed under storage.key_file when it is set, as the server that starts from it seals.
  LIVEREC_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keys, LoadStorageKeys(options));
  LIVEREC_ASSIGN_OR_RETURN(
      std::unique_ptr<SnapshotWriter> writer,
      SnapshotWriter::Create(flags.out, 0, context.clock->NowMs(), keys.get()));
  LIVEREC_RETURN_IF_ERROR(state->Save(writer.get()));
  LIVEREC_RETURN_IF_ERROR(writer->Commit());
  std::printf("wrote %s/%s: %zu events, %zu users, %zu items\n", flags.out.c_str(),
              SnapshotFileName(0).c_str(), dataset.events.size(), dataset.num_users(),
              dataset.num_items());
  return Status::Ok();
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve recommendations over HTTP and learn online from every event");
  cmd->add_option("--host", flags->host, "Address to listen on (serve.host, default 127.0.0.1)");
  cmd->add_option("--port", flags->port, "TCP port, 0 = any free one (serve.port, default 8080)");
  cmd->add_option("--data-dir", flags->data_dir,
                  "Event log and snapshots (serve.data_dir, default ./liverec-data)");
  cmd->add_option("--init-snapshot", flags->init_snapshot,
                  "Start an empty data directory from this snapshot (file or directory) "
                  "written by `liverec train`");
  flags->options.AddTo(cmd);
  cmd->callback([flags] {
    Status status = RunServe(*flags);
    if (!status.ok()) std::exit(ReportError(status));
  });
}

void AddTrainCommand(CLI::App& app) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Fit the models in batch on a data set and write a snapshot for serve");
  cmd->add_option("--data", flags->data.path, "Data set: a file or folder")->required();
  flags->data.AddTo(cmd);
  cmd->add_option("--out", flags->out, "Directory to write the snapshot into")->required();
  flags->options.AddTo(cmd);
  cmd->callback([flags] {
    Status status = RunTrain(*flags);
    if (!status.ok()) std::exit(ReportError(status));
  });
}

}  // namespace liverec::tools
