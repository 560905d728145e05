// Erasures: a user's deletion (DELETE /v1/users/{id}) and privacy.retention. Data first, then
// influence.
//
// DeleteUser, on an HTTP worker: the registry entry ("pending"), then a kDeleteUser record,
// waited for until applied; at it the apply thread forgets the user (serving stops using them).
//
// The deletion thread, one job at a time (RunErasure):
//   1. The writer starts a new segment; the closed ones are read for the first record to erase;
//      a replay base must exist (the newest snapshot before it, and the log after that).
//   2. Every record to erase is replaced in place by kErased (same sequence numbers), and the
//      snapshots from the first one on are deleted: "data_erased".
//   3. The log is replayed from the base into a fresh state (the deleted snapshots written again
//      as it passes them), caught up with the live state, serialized, and a kUnlearned record
//      logged; at it the apply thread loads that state and learns the records it missed.
//   4. A snapshot of the swapped state: "complete".
//
// Why a replay and not a subtraction: learning is deterministic given the log, so the state
// replayed from the erased log is the state of an engine that never saw the records, bit for
// bit, for every model alike; a count model's subtraction would agree only up to floating-point
// rounding. The snapshot lock is held from step 1 to 4, so no snapshot of a state that still
// carries the erased records' influence is written meanwhile. A restart during a job starts it
// again (each step can be repeated); recovery replays the erased log, and writes again the
// rollback targets step 2 deleted (the erasure's marker file tells it to).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>

#include "common/log.h"
#include "common/strings.h"
#include "engine/engine_impl.h"
#include "store/log_reader.h"
#include "store/log_rewrite.h"
#include "store/posix_file.h"

namespace liverec {
namespace {

// The replay catches up with the live state until at most this many records are left for the
// apply thread to learn under the write lock at the swap.
constexpr uint64_t kSwapGap = 256;

bool NamesUser(const LogEntry& entry, const std::string& key) {
  switch (entry.kind) {
    case LogEntryKind::kEvent:
      return entry.event.user == key;
    case LogEntryKind::kPutUser:
    case LogEntryKind::kDeleteUser:
      return entry.key == key;
    case LogEntryKind::kDecision:
      return entry.decision.user == key;
    default:
      return false;
  }
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string NewDeletionId() {
  std::random_device device;
  uint8_t bytes[8];
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(device());
  return ToHex(bytes, sizeof(bytes));
}

}  // namespace

Status Engine::Impl::OpenDeletions() {
  LIVEREC_ASSIGN_OR_RETURN(DeletionRegistry registry,
                           DeletionRegistry::Open(dir_.root + "/deletions"));
  MutexLock lock(&deletions_mu_);
  deletions_ = std::move(registry);
  for (const DeletionRecord& record : deletions_.Unfinished()) {
    deletion_jobs_.push_back(record.info.deletion);
  }
  return Status::Ok();
}

bool Engine::Impl::stopping() const {
  MutexLock lock(&sched_mu_);
  return stopping_;
}

Status Engine::Impl::UpdateDeletion(const DeletionRecord& record) {
  MutexLock lock(&deletions_mu_);
  Status status = deletions_.Put(record);
  deletions_cv_.notify_all();
  return status;
}

StatusOr<DeletionInfo> Engine::Impl::DeleteUser(const std::string& user) {
  if (user.empty()) return InvalidArgument("user: expected a non-empty id");
  if (user.size() > kMaxEventRecordStringBytes) {
    return InvalidArgument("user: longer than " + std::to_string(kMaxEventRecordStringBytes) +
                           " bytes");
  }
  DeletionRecord record;
  record.info.deletion = NewDeletionId();
  record.info.user = user;
  record.info.state = "pending";
  record.info.requested_unix_ms = context_.clock->NowMs();
  record.user_key = pseudonyms_.Of(user);
  LIVEREC_RETURN_IF_ERROR(UpdateDeletion(record));
  LogEntry entry;
  entry.kind = LogEntryKind::kDeleteUser;
  entry.key = record.user_key;
  entry.deletion = record.info.deletion;
  std::vector<LogEntry> entries;
  entries.push_back(std::move(entry));
  uint64_t seq = 0;
  if (Status status = pipeline_->Submit(std::move(entries), IngestWait::kLearned, &seq, nullptr);
      !status.ok()) {
    // Kept as failed: the next start retries it (the job erases whatever the log holds).
    record.info.state = "failed";
    record.info.error = status.message();
    (void)UpdateDeletion(record);  // the log's error is the one to answer
    return status;
  }
  record.deletion_seq = seq;
  LIVEREC_RETURN_IF_ERROR(UpdateDeletion(record));
  MutexLock lock(&deletions_mu_);
  deletion_jobs_.push_back(record.info.deletion);
  deletions_cv_.notify_all();
  return record.info;
}

StatusOr<DeletionInfo> Engine::Impl::GetDeletion(const std::string& deletion,
                                                 int64_t wait_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  MutexLock lock(&deletions_mu_);
  while (true) {
    const DeletionRecord* record = deletions_.Find(deletion);
    if (record == nullptr) return NotFound("no deletion '" + deletion + "'");
    const std::string& state = record->info.state;
    if (wait_ms <= 0 || state == "complete" || state == "failed") return record->info;
    if (!lock.WaitUntil(&deletions_cv_, deadline)) {
      return deletions_.Find(deletion)->info;
    }
  }
}

void Engine::Impl::DeletionLoop() {
  while (true) {
    DeletionRecord record;
    bool have_job = false;
    {
      MutexLock lock(&deletions_mu_);
      // With privacy.retention the thread also looks at the stream's clock once a second.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (deletion_jobs_.empty() && !stopping()) {
        if (retention_ms_ <= 0) {
          lock.Wait(&deletions_cv_);
        } else if (!lock.WaitUntil(&deletions_cv_, deadline)) {
          break;
        }
      }
      if (stopping()) return;
      if (!deletion_jobs_.empty()) {
        record = *deletions_.Find(deletion_jobs_.front());
        deletion_jobs_.pop_front();
        have_job = true;
      }
    }
    if (!have_job) {
      RetainIfDue();
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    Status status = RunDeletion(record);
    if (stopping()) return;  // an interrupted job starts again at the next start
    if (!status.ok()) {
      Log(LogLevel::kError, "deletion failed (retried at the next start): " + status.message(),
          {{"deletion", record.info.deletion}});
      MutexLock lock(&deletions_mu_);
      DeletionRecord failed = *deletions_.Find(record.info.deletion);
      failed.info.state = "failed";
      failed.info.error = status.message();
      (void)deletions_.Put(failed);  // said on stderr above
      deletions_cv_.notify_all();
      continue;
    }
    Log(LogLevel::kInfo, "deletion complete",
        {{"deletion", record.info.deletion}, {"seconds", SecondsSince(start)}});
  }
}

void Engine::Impl::RetainIfDue() {
  if (retention_ms_ <= 0) return;
  int64_t clock_ms = 0;
  {
    ReadLock lock(&state_mu_);
    clock_ms = state_->clock_ms();
  }
  const int64_t cutoff_ms = clock_ms - retention_ms_;
  if (cutoff_ms < retention_cutoff_ms_.load() + std::max<int64_t>(retention_ms_ / 10, 1)) return;
  const auto start = std::chrono::steady_clock::now();
  Status status = RunRetention(cutoff_ms);
  if (stopping()) return;
  if (!status.ok()) {
    Log(LogLevel::kError, "privacy.retention failed (tried again later): " + status.message());
    return;
  }
  retention_cutoff_ms_ = cutoff_ms;
  Log(LogLevel::kInfo, "privacy.retention applied",
      {{"cutoff_ms", cutoff_ms}, {"seconds", SecondsSince(start)}});
}

Status Engine::Impl::RunDeletion(DeletionRecord record) {
  if (record.user_key.empty()) {
    // Resumed after a restart: the user is named by the deletion's own log record, unless the
    // records were erased already (then first_seq is known and nothing is left to erase).
    LIVEREC_ASSIGN_OR_RETURN(record.user_key, FindDeletedUser(record));
    if (record.user_key.empty() && record.first_seq == 0) {
      return FailedPrecondition(
          "the deletion's record is not in the log (the server stopped before it was "
          "written): delete the user again");
    }
  }
  Erasure erasure;
  erasure.id = record.info.deletion;
  erasure.erases = [key = record.user_key](const LogEntry& entry) {
    return !key.empty() && NamesUser(entry, key);
  };
  erasure.first_seq = record.first_seq;
  erasure.replay_at_least_to = record.deletion_seq;
  erasure.located = [&](uint64_t first_seq) {
    record.first_seq = first_seq;
    return UpdateDeletion(record);
  };
  erasure.data_erased = [&] {
    record.info.state = "data_erased";
    record.info.data_erased_ms = context_.clock->NowMs() - record.info.requested_unix_ms;
    return UpdateDeletion(record);
  };
  LIVEREC_RETURN_IF_ERROR(RunErasure(erasure));
  record.info.state = "complete";
  record.info.complete_ms = context_.clock->NowMs() - record.info.requested_unix_ms;
  record.info.error.clear();
  return UpdateDeletion(record);
}

StatusOr<std::string> Engine::Impl::FindDeletedUser(const DeletionRecord& record) const {
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader,
                           LogReader::Open(dir_.log(), record.deletion_seq, dir_.keys()));
  LogRecord log_record;
  LogEntry entry;
  while (true) {
    LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&log_record));
    if (!more) return std::string();
    if (log_record.payload.empty() ||
        log_record.payload[0] != static_cast<char>(LogEntryKind::kDeleteUser)) {
      if (record.deletion_seq != 0) return std::string();  // erased in place
      continue;
    }
    LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(log_record.payload, &entry));
    if (entry.deletion == record.info.deletion) return entry.key;
    if (record.deletion_seq != 0) return std::string();
  }
}

Status Engine::Impl::RunRetention(int64_t cutoff_ms) {
  Erasure erasure;
  erasure.id = "retention";
  erasure.erases = [cutoff_ms](const LogEntry& entry) {
    return (entry.kind == LogEntryKind::kEvent && entry.event.time_ms < cutoff_ms) ||
           (entry.kind == LogEntryKind::kDecision && entry.decision.time_ms < cutoff_ms);
  };
  erasure.skip_if_none = true;
  erasure.located = [](uint64_t) { return Status::Ok(); };
  erasure.data_erased = [] { return Status::Ok(); };
  return RunErasure(erasure);
}

Status Engine::Impl::RunErasure(const Erasure& erasure) {
  MutexLock snapshot_lock(&snapshot_mu_);
  const auto erases = [&erasure](std::string_view payload) {
    LogEntry entry;
    return DecodeLogEntry(payload, &entry).ok() && erasure.erases(entry);
  };
  uint64_t first_seq = erasure.first_seq;

  // 1. Where the records are. Every record so far goes into closed segments, which the writer no
  // longer touches.
  uint64_t end_seq = 0;  // the first record of the writer's new segment
  LIVEREC_RETURN_IF_ERROR(pipeline_->RunOnLogThread([&end_seq](LogWriter& writer) {
    LIVEREC_ASSIGN_OR_RETURN(end_seq, writer.StartNewSegment());
    return Status::Ok();
  }));
  if (first_seq == 0) {
    LIVEREC_RETURN_IF_ERROR(
        RewriteLogRecords(dir_.log(), end_seq, dir_.keys(),
                          [&](uint64_t seq, std::string_view payload, std::string*) {
                            if (first_seq == 0 && erases(payload)) {
                              first_seq = seq;
                            }
                            return false;
                          })
            .status());
    if (first_seq == 0 && erasure.skip_if_none) return Status::Ok();
    if (first_seq == 0) first_seq = end_seq;  // no record: no snapshot holds one
  }
  // The replay's base: the newest snapshot before the first erased record (or none), and the
  // log from just after it.
  LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> snapshots,
                           liverec::ListSnapshots(dir_.snapshots()));
  std::vector<SnapshotInfo> holding;  // from the user's first record on
  std::optional<uint64_t> base;
  for (const SnapshotInfo& info : snapshots) {
    if (info.last_applied_seq >= first_seq) {
      holding.push_back(info);
    } else if (!base) {
      base = info.last_applied_seq;
    }
  }
  LIVEREC_ASSIGN_OR_RETURN(std::vector<LogSegmentFile> segments, ListLogSegments(dir_.log()));
  const uint64_t replay_from = base.value_or(0) + 1;
  if (!segments.empty() && segments.front().first_seq > replay_from) {
    return FailedPrecondition(
        "the log before record " + std::to_string(segments.front().first_seq) +
        " was pruned (log.retain=snapshots), and no snapshot before record " +
        std::to_string(first_seq) +
        " (the first to erase) is left to replay from: the models cannot be rebuilt without it");
  }
  LIVEREC_RETURN_IF_ERROR(erasure.located(first_seq));  // before the records go

  // 2. Data.
  LIVEREC_ASSIGN_OR_RETURN(
      LogRewriteStats erased,
      RewriteLogRecords(dir_.log(), end_seq, dir_.keys(),
                        [&](uint64_t, std::string_view payload, std::string* replacement) {
                          if (!erases(payload)) return false;
                          replacement->clear();
                          LogEntry entry;
                          entry.kind = LogEntryKind::kErased;
                          EncodeLogEntry(entry, replacement);
                          return true;
                        }));
  // Until the replay wrote them again, a restart must write the deleted snapshots that rollback
  // records return to (recovery.h).
  if (!holding.empty()) {
    LIVEREC_RETURN_IF_ERROR(ReplaceFileDurably(dir_.erasure_marker(), erasure.id, 0600));
  }
  for (const SnapshotInfo& info : holding) {
    LIVEREC_RETURN_IF_ERROR(DeleteSnapshotFile(dir_, info.last_applied_seq));
  }
  LIVEREC_RETURN_IF_ERROR(erasure.data_erased());
  Log(LogLevel::kInfo, "erasure: records erased",
      {{"id", erasure.id},
       {"records", erased.records_replaced},
       {"segments", erased.segments_rewritten},
       {"snapshots", static_cast<uint64_t>(holding.size())}});

  // 3. Influence: the models replayed without the user.
  const auto replay_start = std::chrono::steady_clock::now();
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<EngineState> fresh,
                           EngineState::Create(options_, context_));
  if (base) {
    LIVEREC_ASSIGN_OR_RETURN(Snapshot snapshot,
                             ReadSnapshot(dir_.snapshot_file(*base), dir_.keys().get()));
    LIVEREC_RETURN_IF_ERROR(fresh->Load(snapshot, nullptr));
  }
  std::set<uint64_t> rewrite;  // deleted snapshots, written again from the replay
  for (const SnapshotInfo& info : holding) rewrite.insert(info.last_applied_seq);
  uint64_t replayed = 0;
  const auto replay_to = [&](uint64_t to) -> Status {
    LIVEREC_ASSIGN_OR_RETURN(
        std::unique_ptr<LogReader> reader,
        LogReader::Open(dir_.log(), fresh->last_applied_seq() + 1, dir_.keys()));
    LogRecord log_record;
    LogEntry entry;
    fresh->SetDeferredLearning(true);
    while (fresh->last_applied_seq() < to) {
      if (stopping()) return Unavailable("the engine is shutting down");
      LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&log_record));
      const uint64_t want = fresh->last_applied_seq() + 1;
      if (!more || log_record.seq != want) {
        return Corruption("deletion replay: expected log record " + std::to_string(want) +
                          (more ? ", found " + std::to_string(log_record.seq) : ", at the end"));
      }
      LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(log_record.payload, &entry)
                                  .WithPrefix("log record " + std::to_string(log_record.seq)));
      LIVEREC_RETURN_IF_ERROR(ApplyLogEntry(dir_, log_record.seq, entry, fresh.get()));
      if (++replayed % kReplayLearnChunk == 0) fresh->FlushLearning();
      if (rewrite.contains(log_record.seq)) {
        LIVEREC_RETURN_IF_ERROR(WriteReplayedSnapshot(dir_, context_.clock->NowMs(), fresh.get()));
      }
    }
    fresh->SetDeferredLearning(false);
    return Status::Ok();
  };
  const auto live_seq = [this] {
    ReadLock lock(&state_mu_);
    return state_->last_applied_seq();
  };
  for (uint64_t target = live_seq(); fresh->last_applied_seq() + kSwapGap < target ||
                                     fresh->last_applied_seq() < erasure.replay_at_least_to;
       target = live_seq()) {
    LIVEREC_RETURN_IF_ERROR(replay_to(target));
  }
  {
    UnlearnedState swap;
    swap.deletion = erasure.id;
    swap.snapshot.last_applied_seq = fresh->last_applied_seq();
    fresh->Save(&swap.snapshot.sections);
    fresh.reset();
    MutexLock lock(&swap_mu_);
    swap_ = std::move(swap);
  }
  const double replay_seconds = SecondsSince(replay_start);
  LogEntry unlearned;
  unlearned.kind = LogEntryKind::kUnlearned;
  unlearned.deletion = erasure.id;
  LIVEREC_RETURN_IF_ERROR(SubmitOne(std::move(unlearned)));
  {
    MutexLock lock(&swap_mu_);
    if (swap_) {
      swap_.reset();
      return Internal("the apply thread did not swap the replayed state in");
    }
  }

  const double swap_seconds = SecondsSince(replay_start) - replay_seconds;
  // 4. The swapped state as the newest snapshot; every deleted snapshot is written again.
  LIVEREC_RETURN_IF_ERROR(TakeSnapshotLocked().status());
  std::error_code ignored;  // a marker left behind costs the next recovery one read of the log
  std::filesystem::remove(dir_.erasure_marker(), ignored);
  Log(LogLevel::kInfo, "erasure: models replayed without the records",
      {{"id", erasure.id},
       {"from_snapshot", base.value_or(0)},
       {"records", replayed},
       {"replay_seconds", replay_seconds},
       {"swap_seconds", swap_seconds}});
  return Status::Ok();
}

Status Engine::Impl::SwapInUnlearned(uint64_t seq, const LogEntry& entry) {
  std::optional<UnlearnedState> swap;
  {
    MutexLock lock(&swap_mu_);
    if (swap_ && swap_->deletion == entry.deletion) swap = std::move(swap_), swap_.reset();
  }
  if (!swap) {
    // No replayed state waits for it (the job stopped before it): the record changes nothing.
    state_->Apply(seq, entry);
    return Status::Ok();
  }
  // The old state's deferred learning goes with it.
  state_->FlushLearning();
  LIVEREC_RETURN_IF_ERROR(state_->Load(swap->snapshot, nullptr));
  // The records the replay did not reach, as the old state learned them.
  LIVEREC_ASSIGN_OR_RETURN(
      std::unique_ptr<LogReader> reader,
      LogReader::Open(dir_.log(), state_->last_applied_seq() + 1, dir_.keys()));
  LogRecord log_record;
  LogEntry missed;
  while (state_->last_applied_seq() + 1 < seq) {
    LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&log_record));
    if (!more || log_record.seq != state_->last_applied_seq() + 1) {
      return Corruption("deletion swap: log record " +
                        std::to_string(state_->last_applied_seq() + 1) + " not found");
    }
    LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(log_record.payload, &missed));
    LIVEREC_RETURN_IF_ERROR(ApplyLogEntry(dir_, log_record.seq, missed, state_.get()));
  }
  state_->Apply(seq, entry);
  return Status::Ok();
}

}  // namespace liverec
