// Engine: wiring and threads. One screen says what runs where:
//
//   Ingest (any thread)  -->  WritePipeline (write_pipeline.h)  -->  apply thread (here)
//     records to entries      bounded queue, log thread: append,     test (LiveEvaluator), then
//     (validated at the       group commit, fsync, mark durable      learn (EngineState::Apply)
//     edge, event_record.h)                                          under the write lock
//
//   Recommend / Similar / GetUser (any thread): Recommender (recommender.h) under the read lock,
//     each answer logged as a decision (engine_serving.cc)
//   snapshot thread: every snapshot.interval_events, TakeSnapshot (snapshots.h)
//   deletion thread: a user's deletion, one at a time (engine_deletions.cc): erase, replay
//     without the user, hand the state to the apply thread; holds snapshot_mu_ meanwhile
//   Open: Recover (recovery.h) before any thread starts; Stop: drain, snapshot, close the log
//
// Locks. The state has a reader-writer lock (state_mu_): only the apply thread mutates the
// state, always under the write lock, so readers under the read lock see it between whole
// runs of learning; the apply thread itself reads without the lock (nobody else writes).
// Snapshots are serialized under the read lock and written to disk outside of it; while one
// serializes, learning pauses on learn_gate_ (not on state_mu_), so serving goes on. A model
// that learns in the background (seq) gets only cheap bookkeeping under the write lock and
// steps on a thread of its own, which synchronizes with readers inside the model; the apply
// thread waits for its backlog outside the lock. The pipeline has its own mutex; sched_mu_
// guards the snapshot thread's hand-off.
#include "liverec/engine.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <optional>
#include <thread>

#include "common/log.h"
#include "common/random.h"
#include "engine/engine_impl.h"
#include "model/capabilities.h"
#include "store/log_writer.h"

namespace liverec {
namespace {

// Test-then-train evaluation is skipped for a batch taken while more than this many batches
// of entries were waiting.
constexpr size_t kEvaluateMaxBacklogBatches = 2;

// Entries learned under one hold of the state's write lock: what a reader waits for at most
// (about 2 ms with the default ensemble). Long enough for the models' threads to pay off.
constexpr size_t kMaxLockedRun = 128;

// Background learning (seq's steps) that may wait per model when the apply thread takes its
// next run: bounds how far the parameters lag the histories (about 11 ms of seq steps) and
// makes a flood wait on the background thread outside the state's lock, not under it.
// Recovery learns inline.
constexpr size_t kMaxLearningBacklog = 8;

// The longest the apply thread waits for queued readers before it learns again.
constexpr std::chrono::microseconds kReaderTurnMax{2000};

// Background work (learning, snapshots) runs at a lower CPU priority than serving: under a
// flood of events its threads would otherwise take most of the cores from the readers. Threads
// started from the calling thread (the models' learners) inherit the priority. Best effort.
void LowerThreadPriority() {
  constexpr int kBackgroundNice = 5;
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kBackgroundNice);
}

}  // namespace

Status Engine::Impl::Open(const std::string& init_snapshot, RecoveryInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  dir_.root = options_.GetString("", "serve", "data_dir");
  const std::string sync = options_.GetString("", "log", "sync");
  WritePipelineOptions pipeline_options;
  pipeline_options.sync = sync == "always"     ? LogSyncPolicy::kAlways
                          : sync == "interval" ? LogSyncPolicy::kInterval
                                               : LogSyncPolicy::kNever;
  pipeline_options.sync_interval_ms = std::max<int64_t>(
      1, static_cast<int64_t>(options_.GetDurationSeconds("", "log", "sync_interval") * 1000));
  pipeline_options.queue_capacity =
      static_cast<size_t>(options_.GetInt("", "engine", "queue_capacity"));
  apply_batch_ = static_cast<size_t>(options_.GetInt("", "engine", "apply_batch"));
  pipeline_options.apply_batch = apply_batch_;
  snapshot_interval_ = static_cast<uint64_t>(options_.GetInt("", "snapshot", "interval_events"));
  snapshot_keep_ = static_cast<size_t>(options_.GetInt("", "snapshot", "keep"));
  log_retain_all_ = options_.GetString("", "log", "retain") == "all";
  retention_ms_ =
      static_cast<int64_t>(options_.GetDurationSeconds("", "privacy", "retention") * 1000);
  max_future_ms_ =
      static_cast<int64_t>(options_.GetDurationSeconds("", "engine", "max_future") * 1000);
  clamp_future_ = options_.GetString("", "engine", "future_events") == "clamp";
  LIVEREC_ASSIGN_OR_RETURN(state_, EngineState::Create(options_, context_));
  const uint64_t id_nonce =
      SplitMix64(static_cast<uint64_t>(context_.clock->NowMs()) ^ context_.seed);
  recommender_ =
      std::make_unique<Recommender>(RecommenderOptions::FromOptions(options_, id_nonce), *state_);
  LIVEREC_RETURN_IF_ERROR(recommender_->Validate());
  record_decisions_ = options_.GetBool("", "feedback", "record_decisions");
  evaluator_ = std::make_unique<LiveEvaluator>(
      static_cast<uint32_t>(options_.GetInt("", "metrics", "k")),
      options_.GetFloat("", "metrics", "sample_rate"), state_->models().size(), context_.seed);

  std::error_code ec;
  std::filesystem::create_directories(dir_.root, ec);
  if (ec) return IOError("cannot create data directory " + dir_.root + ": " + ec.message());
  LIVEREC_ASSIGN_OR_RETURN(pseudonyms_, Pseudonyms::Open(options_, dir_.root));
  // A new key takes over at SIGHUP (ReloadStorageKeys) or at the next start.
  LIVEREC_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keys, LoadStorageKeys(options_));
  dir_.key_source->set(keys);

  // The writer first: it takes the directory's lock and cuts a torn tail.
  LogWriterOptions log_options;
  log_options.segment_size_bytes =
      static_cast<uint64_t>(options_.GetInt("", "log", "segment_size"));
  // The pipeline syncs by interval itself; the writer syncs per append only for kAlways.
  log_options.sync = pipeline_options.sync == LogSyncPolicy::kAlways ? LogSyncPolicy::kAlways
                                                                     : LogSyncPolicy::kNever;
  log_options.keys = keys;
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogWriter> writer,
                           LogWriter::Open(dir_.log(), log_options));
  info->dropped_tail_bytes = writer->dropped_tail_bytes();
  if (info->dropped_tail_bytes > 0) info->dropped_tail_first_seq = writer->last_appended_seq() + 1;
  LIVEREC_RETURN_IF_ERROR(Recover(dir_, init_snapshot, writer->last_appended_seq(),
                                  context_.clock->NowMs(), state_.get(), info));
  snapshot_seq_ = info->snapshot_seq;
  applied_since_snapshot_ = info->replayed_records;
  // Every acknowledged event is in the log, so the recovered state has seen each one, learned
  // or skipped as a duplicate: the count carries over a restart without a file of its own.
  events_accepted_ = state_->events_applied() + state_->events_duplicate();
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  LIVEREC_RETURN_IF_ERROR(OpenDeletions());

  pipeline_ = std::make_unique<WritePipeline>(pipeline_options, std::move(writer));
  apply_thread_ = std::thread([this] { ApplyLoop(); });
  snapshot_thread_ = std::thread([this] { SnapshotLoop(); });
  deletion_thread_ = std::thread([this] { DeletionLoop(); });
  ready_.store(true, std::memory_order_release);
  return Status::Ok();
}

void Engine::Impl::Stop() {
  {
    MutexLock lock(&sched_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  snapshot_cv_.notify_all();
  {
    MutexLock lock(&deletions_mu_);
    deletions_cv_.notify_all();
  }
  // The log thread drains what is pending first, then the apply thread learns what it handed
  // over, and the last snapshot covers all of it. A deletion under way stops at its next step
  // and starts again at the next start.
  if (pipeline_ != nullptr) pipeline_->Stop();
  if (apply_thread_.joinable()) apply_thread_.join();
  if (deletion_thread_.joinable()) deletion_thread_.join();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  if (ready_.load() && applied_since_snapshot_.load() > 0) {
    StatusOr<SnapshotEntry> snapshot = TakeSnapshot();
    if (!snapshot.ok()) {
      Log(LogLevel::kError, "shutdown snapshot failed: " + snapshot.status().message());
    }
  }
  if (pipeline_ != nullptr) pipeline_->Close();
  ready_.store(false);
}

Status Engine::Impl::Ingest(std::vector<ValidEventRecord> records, IngestWait wait,
                            IngestResult* result) {
  result->rejected.clear();
  std::vector<LogEntry> entries;
  entries.reserve(records.size());
  const int64_t now_ms = context_.clock->NowMs();
  for (size_t i = 0; i < records.size(); ++i) {
    // The type's weight is the engine's policy, so only the engine can check it.
    if (StatusOr<float> weight = state_->event_types().Weight(records[i]->type);
        !weight.ok() && records[i]->type != kImpressionEventType) {
      result->rejected.push_back(IngestError{i, "type", weight.status().message()});
      continue;
    }
    // Stream time only moves forward (EngineState), so one event far in the future would age
    // every user and count out of the decays at once: the server's clock bounds it.
    const int64_t time_ms = records[i]->time_ms == 0 ? now_ms : records[i]->time_ms;
    const bool too_far = time_ms > now_ms + max_future_ms_;
    if (too_far && !clamp_future_) {
      result->rejected.push_back(
          IngestError{i, "timestamp",
                      std::to_string(time_ms) +
                          " ms is more than engine.max_future=" + std::to_string(max_future_ms_) +
                          " ms past the server's clock (" + std::to_string(now_ms) + ")"});
      continue;
    }
    LogEntry& entry = entries.emplace_back();
    entry.kind = LogEntryKind::kEvent;
    entry.event = std::move(records[i]).Release();
    entry.event.time_ms = too_far ? now_ms : time_ms;
    if (pseudonyms_.enabled()) entry.event.user = pseudonyms_.Of(entry.event.user);
  }
  events_rejected_ += result->rejected.size();
  result->accepted = 0;
  result->duplicates = 0;
  result->last_seq = 0;
  if (entries.empty()) return Status::Ok();
  const size_t n = entries.size();
  LIVEREC_RETURN_IF_ERROR(
      pipeline_->Submit(std::move(entries), wait, &result->last_seq, &result->duplicates));
  result->accepted = n;
  events_accepted_ += n;
  return Status::Ok();
}

Status Engine::Impl::SubmitOne(LogEntry entry) {
  std::vector<LogEntry> entries;
  entries.push_back(std::move(entry));
  uint64_t last_seq = 0;
  return pipeline_->Submit(std::move(entries), IngestWait::kLearned, &last_seq, nullptr);
}

void Engine::Impl::ApplyLoop() {
  LowerThreadPriority();
  {
    // From here on (recovery learned inline): the models' threads start from this one and
    // share its priority.
    WriteLock write_lock(&state_mu_);
    state_->SetLearnInBackground(true);
  }
  ApplyBatch batch;
  std::vector<size_t> duplicates;
  while (pipeline_->NextBatch(&batch)) {
    // Test-then-train, exactly: a sampled event is ranked on the state that learned every
    // event before it, so learning proceeds under the write lock in runs that end just before
    // each sampled event, and the ranking runs between runs without the lock (only this
    // thread writes). Ranking scans the catalogue, so it yields to learning while a backlog
    // builds up: freshness and ingest throughput come first, and the live metrics are sampled
    // from the calmer moments.
    const bool evaluate =
        evaluator_->enabled() && batch.backlog() <= kEvaluateMaxBacklogBatches * apply_batch_;
    duplicates.assign(batch.size(), 0);
    size_t learned = 0;  // batch[0, learned) are applied
    // Runs of at most kMaxLockedRun entries, so that readers wait for at most one (learning
    // in runs gives the same state however they are cut).
    auto learn_until = [&](size_t end) {
      while (learned < end)
        LearnRun(batch, std::min(end, learned + kMaxLockedRun), &learned, &duplicates);
    };
    for (size_t b = 0; b < batch.size() && evaluate; ++b) {
      const LogEntry& entry = batch.entry(b);
      if (entry.kind != LogEntryKind::kEvent || !evaluator_->Sample()) continue;
      learn_until(b);
      evaluator_->Evaluate(*state_, entry.event);
    }
    learn_until(batch.size());
    applied_since_snapshot_ += batch.size();
    pipeline_->FinishBatch(batch, duplicates);
    if (snapshot_interval_ > 0 && applied_since_snapshot_.load() >= snapshot_interval_) {
      MutexLock lock(&sched_mu_);
      snapshot_requested_ = true;
      snapshot_cv_.notify_one();
    }
  }
}

void Engine::Impl::LearnRun(const ApplyBatch& batch, size_t end, size_t* learned,
                            std::vector<size_t>* duplicates) {
  state_->WaitForLearning(kMaxLearningBacklog);
  YieldToReaders();
  MutexLock gate(&learn_gate_);
  WriteLock write_lock(&state_mu_);
  // The models learn the run as one batch (in parallel with each other, and an ensemble's
  // members with each other), flushed before the lock is released.
  state_->SetDeferredLearning(true);
  for (; *learned < end; ++*learned) {
    const size_t b = *learned;
    const uint64_t before = state_->events_duplicate();
    const LogEntry& entry = batch.entry(b);
    Status status = entry.kind == LogEntryKind::kUnlearned
                        ? SwapInUnlearned(batch.seq(b), entry)
                        : ApplyLogEntry(dir_, batch.seq(b), entry, state_.get());
    // A rollback whose snapshot vanished since Rollback checked it: the state is unchanged
    // and the entry is void (recovery reports the same and stops, for an operator to see).
    if (!status.ok()) {
      Log(LogLevel::kError, status.message());
      state_->set_last_applied_seq(batch.seq(b));
    }
    (*duplicates)[b] = state_->events_duplicate() - before;
  }
  state_->SetDeferredLearning(false);
}

void Engine::Impl::YieldToReaders() const {
  // Readers that queued while the last run held the lock go first, for at most a bounded
  // time: under a flood of events learning would otherwise take the lock back before they
  // wake (seconds of latency for recommendations), and a steady stream of readers must not
  // stop learning either.
  const auto deadline = std::chrono::steady_clock::now() + kReaderTurnMax;
  while (state_mu_.readers_waiting() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
}

void Engine::Impl::SnapshotLoop() {
  LowerThreadPriority();
  while (true) {
    {
      MutexLock lock(&sched_mu_);
      while (!snapshot_requested_ && !stopping_) lock.Wait(&snapshot_cv_);
      if (stopping_) return;
      snapshot_requested_ = false;
    }
    StatusOr<SnapshotEntry> snapshot = TakeSnapshot();
    if (!snapshot.ok()) {
      Log(LogLevel::kError, "periodic snapshot failed: " + snapshot.status().message());
    }
  }
}

StatusOr<SnapshotEntry> Engine::Impl::TakeSnapshot() {
  MutexLock snapshot_lock(&snapshot_mu_);
  return TakeSnapshotLocked();
}

StatusOr<SnapshotEntry> Engine::Impl::TakeSnapshotLocked() {
  const auto start = std::chrono::steady_clock::now();
  const int64_t now_ms = context_.clock->NowMs();
  std::unique_ptr<SnapshotWriter> writer;
  SnapshotEntry entry;
  {
    MutexLock gate(&learn_gate_);
    ReadLock lock(&state_mu_);
    LIVEREC_ASSIGN_OR_RETURN(writer,
                             BeginSnapshot(dir_, state_->last_applied_seq(), now_ms, &entry));
    // The state's bytes stream into the file while learning waits, rather than into memory
    // first: a copy of a large state (hundreds of MB) would stand beside it in RSS until written.
    if (writer != nullptr) LIVEREC_RETURN_IF_ERROR(state_->Save(writer.get()));
    // The counter restarts at the serialized state, here while learning waits: the apply thread
    // counts a batch after learning it, so what it counted until now is in the snapshot, and
    // what it counts from now on is not (reset after the gate, it would wipe the count of
    // events learned meanwhile, and a shutdown would then skip their snapshot).
    applied_since_snapshot_ = 0;
  }
  if (writer == nullptr) {
    snapshot_seq_ = entry.seq;
    return entry;
  }
  LIVEREC_ASSIGN_OR_RETURN(
      entry, FinishSnapshot(dir_, writer.get(), now_ms, snapshot_keep_, !log_retain_all_));
  // glibc keeps much of what the threads' arenas freed since (request bodies, learning's
  // scratch, replaced rows) mapped; returning it once per snapshot keeps RSS near the live heap.
  ::malloc_trim(0);
  snapshot_seq_ = entry.seq;
  Log(LogLevel::kInfo, "snapshot written",
      {{"seq", entry.seq},
       {"size_bytes", entry.size_bytes},
       {"seconds",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
  return entry;
}

Status Engine::Impl::Rollback(uint64_t seq) {
  LIVEREC_RETURN_IF_ERROR(CheckRollbackTarget(dir_, seq));
  LogEntry entry;
  entry.kind = LogEntryKind::kRollback;
  entry.rollback_seq = seq;
  LIVEREC_RETURN_IF_ERROR(SubmitOne(std::move(entry)));
  // Recovery starts from this snapshot, after the rollback record.
  return TakeSnapshot().status();
}

Status Engine::Impl::ReloadStorageKeys() {
  LIVEREC_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> loaded, LoadStorageKeys(options_));
  const std::shared_ptr<const Keyring> in_use = dir_.keys();
  if (in_use != nullptr && in_use->current() != nullptr &&
      (loaded == nullptr || loaded->current() == nullptr)) {
    return FailedPrecondition(
        "storage.key_file: the data directory is sealed; turning sealing "
        "off is refused (the keys in use stay)");
  }
  if (loaded == nullptr) return Status::Ok();
  // The keys in use stay readable: records and snapshots written under them until now.
  LIVEREC_ASSIGN_OR_RETURN(
      Keyring rotated, in_use == nullptr ? Keyring(*loaded) : Keyring::Rotated(*loaded, *in_use));
  auto keys = std::make_shared<const Keyring>(std::move(rotated));
  // Readers get every key first, then the writer seals with the new one.
  dir_.key_source->set(keys);
  return pipeline_->RunOnLogThread([&keys](LogWriter& writer) { return writer.SetKeys(keys); });
}

Status Engine::Impl::DeleteItem(const std::string& item) {
  {
    ReadLock lock(&state_mu_);
    if (state_->items().Find(item) == kInvalidId) return NotFound("item '" + item + "' is unknown");
  }
  LogEntry entry;
  entry.kind = LogEntryKind::kDeleteItem;
  entry.key = item;
  return SubmitOne(std::move(entry));
}

// --- Engine: the public face forwards to Impl. ---

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::Open(const Options& options, const Context& context,
                                               const std::string& init_snapshot,
                                               RecoveryInfo* info) {
  RecoveryInfo local;
  if (info == nullptr) info = &local;
  auto impl = std::make_unique<Impl>(options, context);
  LIVEREC_RETURN_IF_ERROR(impl->Open(init_snapshot, info));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

StatusOr<ExperimentReport> Engine::PutExperiment(const ExperimentSpec& spec) {
  return impl_->PutExperiment(spec);
}
StatusOr<ExperimentReport> Engine::GetExperiment(const std::string& name) const {
  return impl_->GetExperiment(name);
}
std::vector<ExperimentReport> Engine::ListExperiments() const { return impl_->ListExperiments(); }
StatusOr<ExperimentReport> Engine::StopExperiment(const std::string& name) {
  return impl_->StopExperiment(name);
}

Status Engine::Ingest(std::vector<ValidEventRecord> records, IngestWait wait,
                      IngestResult* result) {
  return impl_->Ingest(std::move(records), wait, result);
}

Status Engine::Ingest(std::vector<EventRecord> records, IngestWait wait, IngestResult* result) {
  std::vector<ValidEventRecord> valid;
  std::vector<size_t> index;  // valid[j] was records[index[j]]
  std::vector<IngestError> invalid;
  valid.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    FieldError error;
    if (std::optional<ValidEventRecord> record =
            ValidEventRecord::Make(std::move(records[i]), &error)) {
      valid.push_back(std::move(*record));
      index.push_back(i);
    } else {
      invalid.push_back(IngestError{i, std::move(error.field), std::move(error.reason)});
    }
  }
  CountRejected(invalid.size());
  const Status status = impl_->Ingest(std::move(valid), wait, result);
  for (IngestError& error : result->rejected) error.index = index[error.index];
  result->rejected.insert(result->rejected.end(), std::make_move_iterator(invalid.begin()),
                          std::make_move_iterator(invalid.end()));
  std::sort(result->rejected.begin(), result->rejected.end(),
            [](const IngestError& a, const IngestError& b) { return a.index < b.index; });
  return status;
}
StatusOr<Recommendations> Engine::Recommend(const RecommendRequest& request) const {
  return impl_->Recommend(request);
}
StatusOr<std::vector<ScoredItem>> Engine::Similar(const std::string& item, size_t k) const {
  return impl_->Similar(item, k);
}
Status Engine::PutItem(const std::string& item, const ItemMetadata& metadata) {
  if (item.empty()) return InvalidArgument("item: expected a non-empty id");
  LIVEREC_RETURN_IF_ERROR(ValidateItemMetadata(metadata));
  LogEntry entry;
  entry.kind = LogEntryKind::kPutItem;
  entry.key = item;
  entry.item = metadata;
  return impl_->SubmitOne(std::move(entry));
}
Status Engine::DeleteItem(const std::string& item) { return impl_->DeleteItem(item); }
Status Engine::ReloadStorageKeys() { return impl_->ReloadStorageKeys(); }
Status Engine::PutUser(const std::string& user, const UserMetadata& metadata) {
  if (user.empty()) return InvalidArgument("user: expected a non-empty id");
  LIVEREC_RETURN_IF_ERROR(ValidateUserMetadata(metadata));
  LogEntry entry;
  entry.kind = LogEntryKind::kPutUser;
  entry.key = impl_->pseudonyms().Of(user);
  entry.user = metadata;
  return impl_->SubmitOne(std::move(entry));
}
StatusOr<UserInfo> Engine::GetUser(const std::string& user, size_t max_recent) const {
  return impl_->GetUser(user, max_recent);
}
StatusOr<ItemInfo> Engine::GetItem(const std::string& item) const { return impl_->GetItem(item); }
StatusOr<DeletionInfo> Engine::DeleteUser(const std::string& user) {
  return impl_->DeleteUser(user);
}
StatusOr<DeletionInfo> Engine::GetDeletion(const std::string& deletion, int64_t wait_ms) const {
  return impl_->GetDeletion(deletion, wait_ms);
}
EngineStats Engine::Stats() const { return impl_->Stats(); }
StatusOr<SnapshotEntry> Engine::TakeSnapshot() { return impl_->TakeSnapshot(); }
StatusOr<std::vector<SnapshotEntry>> Engine::ListSnapshots() const {
  return impl_->ListSnapshots();
}
Status Engine::Rollback(uint64_t seq) { return impl_->Rollback(seq); }
void Engine::CountRejected(size_t n) { impl_->CountRejected(n); }
// The gate is held from construction to destruction, which the analysis cannot follow.
Engine::LearningPause::LearningPause(Impl* impl) LIVEREC_NO_THREAD_SAFETY_ANALYSIS : impl_(impl) {
  impl_->PauseLearning();
}
Engine::LearningPause::~LearningPause() LIVEREC_NO_THREAD_SAFETY_ANALYSIS {
  impl_->ResumeLearning();
}
std::unique_ptr<Engine::LearningPause> Engine::PauseLearningForTesting() {
  return std::unique_ptr<LearningPause>(new LearningPause(impl_.get()));
}
size_t Engine::QueueRoom() const { return impl_->QueueRoom(); }
size_t Engine::QueueCapacity() const { return impl_->QueueCapacity(); }
Status Engine::WriteHealth() const { return impl_->WriteHealth(); }
bool Engine::ready() const { return impl_->ready(); }
std::string Engine::StateFingerprint() const { return impl_->Fingerprint(); }

}  // namespace liverec
