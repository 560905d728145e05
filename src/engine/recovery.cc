#include "engine/recovery.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

#include "store/log_reader.h"

namespace liverec {
namespace {

double SecondsBetween(std::chrono::steady_clock::time_point a,
                      std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The snapshots that rollback records from `from` on return to and that are missing.
StatusOr<std::set<uint64_t>> MissingRollbackTargets(const DataDir& dir, uint64_t from) {
  std::set<uint64_t> missing;
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader,
                           LogReader::Open(dir.log(), from, dir.keys()));
  LogRecord record;
  LogEntry entry;
  while (true) {
    LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more) break;
    if (record.payload.empty() || record.payload[0] != static_cast<char>(LogEntryKind::kRollback)) {
      continue;
    }
    LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(record.payload, &entry)
                                .WithPrefix("log record " + std::to_string(record.seq)));
    if (!std::filesystem::exists(dir.snapshot_file(entry.rollback_seq))) {
      missing.insert(entry.rollback_seq);
    }
  }
  return missing;
}

// Writes `state` as a snapshot, its sections streamed to the file.
Status StreamSnapshot(const DataDir& dir, int64_t now_unix_ms, const EngineState& state) {
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> writer,
                           SnapshotWriter::Create(dir.snapshots(), state.last_applied_seq(),
                                                  now_unix_ms, dir.keys().get()));
  LIVEREC_RETURN_IF_ERROR(state.Save(writer.get()));
  return writer->Commit();
}

}  // namespace

Status WriteReplayedSnapshot(const DataDir& dir, int64_t now_unix_ms, EngineState* state) {
  state->SetDeferredLearning(false);
  Status status = StreamSnapshot(dir, now_unix_ms, *state);
  state->SetDeferredLearning(true);
  return status;
}

Status ApplyLogEntry(const DataDir& dir, uint64_t seq, const LogEntry& entry, EngineState* state) {
  if (entry.kind != LogEntryKind::kRollback) {
    state->Apply(seq, entry);
    return Status::Ok();
  }
  StatusOr<Snapshot> snapshot =
      ReadSnapshot(dir.snapshot_file(entry.rollback_seq), dir.keys().get());
  if (!snapshot.ok()) {
    return snapshot.status().WithPrefix("rollback at record " + std::to_string(seq));
  }
  LIVEREC_RETURN_IF_ERROR(state->Load(*snapshot, nullptr));
  state->set_last_applied_seq(seq);
  return Status::Ok();
}

Status Recover(const DataDir& dir, const std::string& init_snapshot, uint64_t log_end_seq,
               int64_t now_unix_ms, EngineState* state, RecoveryInfo* info) {
  const auto snapshot_start = std::chrono::steady_clock::now();
  StatusOr<Snapshot> snapshot =
      ReadNewestValidSnapshot(dir.snapshots(), &info->skipped_snapshots, dir.keys().get());
  if (snapshot.ok()) {
    LIVEREC_RETURN_IF_ERROR(state->Load(*snapshot, nullptr));
    info->snapshot_seq = snapshot->last_applied_seq;
  } else if (snapshot.status().code() != StatusCode::kNotFound) {
    return snapshot.status();
  } else if (!init_snapshot.empty()) {
    if (log_end_seq != 0) {
      return FailedPrecondition("--init-snapshot: " + dir.root +
                                " already holds a log; start from it, or use an empty directory");
    }
    StatusOr<Snapshot> init =
        std::filesystem::is_directory(init_snapshot)
            ? ReadNewestValidSnapshot(init_snapshot, nullptr, dir.keys().get())
            : ReadSnapshot(init_snapshot, dir.keys().get());
    if (!init.ok()) return init.status().WithPrefix("--init-snapshot " + init_snapshot);
    LIVEREC_RETURN_IF_ERROR(state->Load(*init, nullptr).WithPrefix("--init-snapshot"));
    state->set_last_applied_seq(0);
    LIVEREC_RETURN_IF_ERROR(StreamSnapshot(dir, now_unix_ms, *state));
  }

  const auto replay_start = std::chrono::steady_clock::now();
  info->snapshot_seconds = SecondsBetween(snapshot_start, replay_start);
  const uint64_t from = state->last_applied_seq() + 1;
  if (log_end_seq + 1 < from) {
    return Corruption("the log ends at record " + std::to_string(log_end_seq) +
                      " but the snapshot covers up to " +
                      std::to_string(state->last_applied_seq()) +
                      ": acknowledged records were lost (log.sync=never and a machine crash?)");
  }
  // An erasure that stopped half-way may have deleted a snapshot a later rollback record
  // returns to: the replay writes it again when it passes its sequence number.
  std::set<uint64_t> rewrite;
  if (std::filesystem::exists(dir.erasure_marker())) {
    LIVEREC_ASSIGN_OR_RETURN(rewrite, MissingRollbackTargets(dir, from));
  }
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader,
                           LogReader::Open(dir.log(), from, dir.keys()));
  LogRecord record;
  LogEntry entry;
  bool first = true;
  // Models learn the replayed events in parallel with each other, a chunk at a time.
  state->SetDeferredLearning(true);
  while (true) {
    LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more) break;
    if (first && record.seq != from) {
      std::string which = info->snapshot_seq == 0
                              ? std::string("no snapshot was loaded")
                              : "the snapshot loaded is " + dir.snapshot_file(info->snapshot_seq);
      for (const std::string& skipped : info->skipped_snapshots) {
        which += "; skipped as corrupt: " + skipped;
      }
      return Corruption("the log's first record after the snapshot is " +
                        std::to_string(record.seq) + ", expected " + std::to_string(from) + " (" +
                        which +
                        "): the log was pruned after a newer snapshot that cannot be read; "
                        "restore that snapshot from a backup");
    }
    first = false;
    LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(record.payload, &entry)
                                .WithPrefix("log record " + std::to_string(record.seq)));
    LIVEREC_RETURN_IF_ERROR(ApplyLogEntry(dir, record.seq, entry, state));
    if (++info->replayed_records % kReplayLearnChunk == 0) state->FlushLearning();
    if (rewrite.contains(record.seq)) {
      LIVEREC_RETURN_IF_ERROR(WriteReplayedSnapshot(dir, now_unix_ms, state));
    }
  }
  state->SetDeferredLearning(false);
  info->replay_seconds = SecondsBetween(replay_start, std::chrono::steady_clock::now());
  return Status::Ok();
}

}  // namespace liverec
