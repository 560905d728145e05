// The engine's threads and their hand-offs:
//
//   Ingest (any thread)  --pending_-->  log thread  --apply_queue_-->  apply thread
//     validate, encode                  append, group commit,          evaluate (test), then
//     wait for durable/learned          fsync, mark durable            learn under the write lock
//
// One mutex (mu_) guards both queues and every Write's flags; done_cv_ wakes waiters. The state
// has its own reader-writer lock (state_mu_): only the apply thread mutates the state, always
// under the write lock, so readers under the read lock see it between whole batches; the apply
// thread itself reads without the lock (nobody else writes). Snapshots are serialized under the
// read lock and written to disk outside of it by the caller's thread (the snapshot thread for
// periodic ones); while one serializes, learning pauses on learn_gate_ (not on state_mu_), so
// serving goes on. A model that learns in the background (seq) gets only cheap bookkeeping
// under the write lock and steps on a thread of its own, which synchronizes with readers inside
// the model; the apply thread waits for its backlog outside the lock.
#include "liverec/engine.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/check.h"
#include "common/random.h"
#include "common/rw_lock.h"
#include "engine/engine_state.h"
#include "engine/log_entry.h"
#include "eval/metrics.h"
#include "event/item_metadata.h"
#include "kernels/kernels.h"
#include "model/capabilities.h"
#include "model/features.h"
#include "rank/rerank.h"
#include "rank/similarity.h"
#include "store/log_reader.h"
#include "store/log_writer.h"
#include "store/snapshot.h"

namespace liverec {
namespace {

constexpr const char* kLogDir = "log";
constexpr const char* kSnapshotDir = "snapshots";
// Replayed events per round of parallel model learning: large enough that starting the
// threads is noise, small enough to stay in cache-friendly memory.
constexpr uint64_t kReplayLearnChunk = 16384;
// Explanations name at most this many of the user's recent items per recommended item.
constexpr size_t kMaxBecause = 3;
// Explanations look at this many of the user's most recent distinct items.
constexpr size_t kExplainRecent = 20;
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

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One Ingest call (or metadata change) travelling through the pipeline.
struct Write {
  std::vector<LogEntry> entries;
  std::vector<std::string> payloads;  // encoded entries
  IngestWait wait = IngestWait::kDurable;
  uint64_t first_seq = 0;
  // Guarded by Impl::mu_.
  bool durable = false;
  size_t applied = 0;  // entries learned so far
  size_t duplicates = 0;
  Status status;
};

struct ModelCounters {
  uint64_t evaluated = 0;
  double hits = 0;
  double ndcg = 0;
};

}  // namespace

class Engine::Impl {
 public:
  Impl(const Options& options, const Context& context) : options_(options), context_(context) {}
  ~Impl() { Stop(); }

  Status Open(const std::string& init_snapshot, RecoveryInfo* info);
  void Stop();

  Status Ingest(std::vector<EventRecord> records, IngestWait wait, IngestResult* result);
  Status Submit(std::vector<LogEntry> entries, IngestWait wait, uint64_t* last_seq,
                size_t* duplicates);
  // Logs one non-event entry (metadata, deletion, rollback) and waits until it is applied.
  Status SubmitOne(LogEntry entry);
  StatusOr<Recommendations> Recommend(const RecommendRequest& request) const;
  StatusOr<std::vector<ScoredItem>> Similar(const std::string& item, size_t k) const;
  StatusOr<UserInfo> GetUser(const std::string& user, size_t max_recent) const;
  Status DeleteItem(const std::string& item);
  EngineStats Stats() const;
  StatusOr<SnapshotEntry> TakeSnapshot();
  StatusOr<std::vector<SnapshotEntry>> ListSnapshots() const;
  Status Rollback(uint64_t seq);
  std::string Fingerprint() const;
  void CountRejected(size_t n) {
    std::lock_guard lock(mu_);
    events_rejected_ += n;
  }
  size_t QueueRoom() const {
    std::lock_guard lock(mu_);
    return in_flight_ >= queue_capacity_ ? 0 : queue_capacity_ - in_flight_;
  }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

 private:
  // Applies one logged entry to state_ (recovery and the apply thread).
  Status ApplyEntry(uint64_t seq, const LogEntry& entry);
  void LogLoop();
  void ApplyLoop();
  void SnapshotLoop();
  void Evaluate(const EventRecord& record);
  // Before learning takes the state's write lock: lets the readers waiting for it in first.
  void YieldToReaders() const;
  // Fails every write in `writes` and everything after it: the log is unusable.
  void FailWrites(std::vector<std::shared_ptr<Write>>* writes, const Status& status);
  std::string LogDir() const { return data_dir_ + "/" + kLogDir; }
  std::string SnapshotDir() const { return data_dir_ + "/" + kSnapshotDir; }
  std::string NewRecommendationId() const;
  // Fills `scored`'s because (the user's recent items most similar to it, by item_knn) and
  // features (its metadata features that fm weighs highest for the user). Under the read lock.
  void Explain(UserId user, ItemId item, ScoredItem* scored) const;
  // The similarity rank.similarity names, over the live state, for re-ranking; an error when
  // its model is not live. Under the read lock; the callable is valid as long as it is held.
  StatusOr<ItemSimilarity> RerankSimilarity() const;

  const Options options_;
  const Context context_;
  std::string data_dir_;
  LogSyncPolicy sync_policy_ = LogSyncPolicy::kAlways;
  int64_t sync_interval_ms_ = 0;
  size_t queue_capacity_ = 0;
  size_t apply_batch_ = 0;
  uint64_t snapshot_interval_ = 0;
  size_t snapshot_keep_ = 0;
  size_t max_k_ = 0;
  uint32_t metrics_k_ = 0;
  double sample_rate_ = 0;
  std::string default_model_;
  std::string fallback_model_;
  size_t num_candidates_ = 0;  // rank.candidates
  RerankOptions rerank_;       // rank.diversity (as lambda), rank.pool, rank.category_cap
  std::string rerank_similarity_;
  EventTypePolicy event_types_;
  uint64_t id_nonce_ = 0;

  std::unique_ptr<LogWriter> writer_;  // the log thread's (Open's before it starts)
  std::unique_ptr<EngineState> state_;
  mutable RwLock state_mu_;

  mutable std::mutex mu_;
  std::condition_variable log_cv_;
  std::condition_variable apply_cv_;
  std::condition_variable done_cv_;
  std::condition_variable snapshot_cv_;
  std::deque<std::shared_ptr<Write>> pending_;      // waiting for the log thread
  std::deque<std::shared_ptr<Write>> apply_queue_;  // durable, waiting to be learned
  size_t in_flight_ = 0;                            // entries enqueued and not yet learned
  bool stopping_ = false;
  bool log_done_ = false;
  bool snapshot_requested_ = false;
  Status log_error_;
  uint64_t last_durable_seq_ = 0;
  uint64_t events_accepted_ = 0;
  uint64_t events_rejected_ = 0;

  std::mutex snapshot_mu_;  // one snapshot at a time
  // Held by the apply thread around each write-locked run of learning and by a snapshot while
  // it serializes the state (seconds on a large one), so that the apply thread waits here
  // rather than queue on state_mu_: state_mu_ prefers writers, and a writer queued behind the
  // snapshot's read lock would hold back every recommendation until the snapshot is done.
  std::mutex learn_gate_;
  std::atomic<uint64_t> snapshot_seq_{0};
  std::atomic<uint64_t> applied_since_snapshot_{0};

  mutable std::mutex stats_mu_;
  std::vector<ModelCounters> counters_;  // parallel to state_->models()
  mutable std::atomic<uint64_t> recommendation_counter_{0};

  std::atomic<bool> ready_{false};
  std::thread log_thread_;
  std::thread apply_thread_;
  std::thread snapshot_thread_;
  // The apply thread's evaluation scratch.
  std::unique_ptr<EventRanker> ranker_;
  Random sample_rng_{0};
};

Status Engine::Impl::Open(const std::string& init_snapshot, RecoveryInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  data_dir_ = options_.GetString("", "serve", "data_dir");
  const std::string sync = options_.GetString("", "log", "sync");
  sync_policy_ = sync == "always"     ? LogSyncPolicy::kAlways
                 : sync == "interval" ? LogSyncPolicy::kInterval
                                      : LogSyncPolicy::kNever;
  sync_interval_ms_ = std::max<int64_t>(
      1, static_cast<int64_t>(options_.GetDurationSeconds("", "log", "sync_interval") * 1000));
  queue_capacity_ = static_cast<size_t>(options_.GetInt("", "engine", "queue_capacity"));
  apply_batch_ = static_cast<size_t>(options_.GetInt("", "engine", "apply_batch"));
  snapshot_interval_ = static_cast<uint64_t>(options_.GetInt("", "snapshot", "interval_events"));
  snapshot_keep_ = static_cast<size_t>(options_.GetInt("", "snapshot", "keep"));
  max_k_ = static_cast<size_t>(options_.GetInt("", "serve", "max_k"));
  metrics_k_ = static_cast<uint32_t>(options_.GetInt("", "metrics", "k"));
  sample_rate_ = options_.GetFloat("", "metrics", "sample_rate");
  default_model_ = options_.GetString("", "engine", "default_model");
  fallback_model_ = options_.GetString("", "engine", "fallback_model");
  num_candidates_ = static_cast<size_t>(options_.GetInt("", "rank", "candidates"));
  rerank_.lambda = 1 - options_.GetFloat("", "rank", "diversity");
  rerank_.pool = static_cast<size_t>(options_.GetInt("", "rank", "pool"));
  rerank_.category_cap = static_cast<uint32_t>(options_.GetInt("", "rank", "category_cap"));
  rerank_similarity_ = options_.GetString("", "rank", "similarity");
  LIVEREC_ASSIGN_OR_RETURN(
      event_types_,
      EventTypePolicy::Parse(options_.GetString("", "engine", "event_types"),
                             options_.GetString("", "engine", "unknown_event_types") == "reject"));
  LIVEREC_ASSIGN_OR_RETURN(state_, EngineState::Create(options_, context_));
  for (const std::string& name : {default_model_, fallback_model_}) {
    if (!state_->FindModel(name)) {
      return InvalidArgument("engine: model '" + name +
                             "' is neither in engine.models nor a member of an ensemble there");
    }
  }
  if (rerank_.lambda < 1) LIVEREC_RETURN_IF_ERROR(RerankSimilarity().status());
  counters_.resize(state_->models().size());
  ranker_ = std::make_unique<EventRanker>(metrics_k_, /*exclude_seen=*/true,
                                          DeriveSeed(context_.seed, 1));
  sample_rng_ = Random(DeriveSeed(context_.seed, 2));
  id_nonce_ = SplitMix64(static_cast<uint64_t>(context_.clock->NowMs()) ^ context_.seed);

  std::error_code ec;
  std::filesystem::create_directories(data_dir_, ec);
  if (ec) return IOError("cannot create data directory " + data_dir_ + ": " + ec.message());

  // The writer first: it takes the directory's lock and cuts a torn tail.
  LogWriterOptions log_options;
  log_options.segment_size_bytes =
      static_cast<uint64_t>(options_.GetInt("", "log", "segment_size"));
  log_options.sync =
      sync_policy_ == LogSyncPolicy::kAlways ? LogSyncPolicy::kAlways : LogSyncPolicy::kNever;
  LIVEREC_ASSIGN_OR_RETURN(writer_, LogWriter::Open(LogDir(), log_options));
  info->dropped_tail_bytes = writer_->dropped_tail_bytes();

  const auto snapshot_start = std::chrono::steady_clock::now();
  StatusOr<Snapshot> snapshot = ReadNewestValidSnapshot(SnapshotDir(), &info->skipped_snapshots);
  if (snapshot.ok()) {
    LIVEREC_RETURN_IF_ERROR(state_->Load(*snapshot, nullptr));
    info->snapshot_seq = snapshot->last_applied_seq;
    snapshot_seq_ = snapshot->last_applied_seq;
  } else if (snapshot.status().code() != StatusCode::kNotFound) {
    return snapshot.status();
  } else if (!init_snapshot.empty()) {
    if (writer_->last_appended_seq() != 0) {
      return FailedPrecondition("--init-snapshot: " + data_dir_ +
                                " already holds a log; start from it, or use an empty directory");
    }
    StatusOr<Snapshot> init = std::filesystem::is_directory(init_snapshot)
                                  ? ReadNewestValidSnapshot(init_snapshot, nullptr)
                                  : ReadSnapshot(init_snapshot);
    if (!init.ok()) return init.status().WithPrefix("--init-snapshot " + init_snapshot);
    LIVEREC_RETURN_IF_ERROR(state_->Load(*init, nullptr).WithPrefix("--init-snapshot"));
    state_->set_last_applied_seq(0);
    std::vector<SnapshotSection> sections;
    state_->Save(&sections);
    LIVEREC_RETURN_IF_ERROR(WriteSnapshot(SnapshotDir(), 0, context_.clock->NowMs(), sections));
  }

  const auto replay_start = std::chrono::steady_clock::now();
  info->snapshot_seconds = std::chrono::duration<double>(replay_start - snapshot_start).count();
  const uint64_t from = state_->last_applied_seq() + 1;
  if (writer_->last_appended_seq() + 1 < from) {
    return Corruption("the log ends at record " + std::to_string(writer_->last_appended_seq()) +
                      " but the snapshot covers up to " +
                      std::to_string(state_->last_applied_seq()) +
                      ": acknowledged records were lost (log.sync=never and a machine crash?)");
  }
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, LogReader::Open(LogDir(), from));
  LogRecord record;
  LogEntry entry;
  bool first = true;
  // Models learn the replayed events in parallel with each other, a chunk at a time.
  state_->SetDeferredLearning(true);
  while (true) {
    LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more) break;
    if (first && record.seq != from) {
      return Corruption("the log's first record after the snapshot is " +
                        std::to_string(record.seq) + ", expected " + std::to_string(from));
    }
    first = false;
    LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(record.payload, &entry)
                                .WithPrefix("log record " + std::to_string(record.seq)));
    LIVEREC_RETURN_IF_ERROR(ApplyEntry(record.seq, entry));
    if (++info->replayed_records % kReplayLearnChunk == 0) state_->FlushLearning();
  }
  state_->SetDeferredLearning(false);
  last_durable_seq_ = writer_->last_appended_seq();
  applied_since_snapshot_ = info->replayed_records;
  const auto end = std::chrono::steady_clock::now();
  info->replay_seconds = std::chrono::duration<double>(end - replay_start).count();
  info->seconds = std::chrono::duration<double>(end - start).count();

  log_thread_ = std::thread([this] { LogLoop(); });
  apply_thread_ = std::thread([this] { ApplyLoop(); });
  snapshot_thread_ = std::thread([this] { SnapshotLoop(); });
  ready_.store(true, std::memory_order_release);
  return Status::Ok();
}

void Engine::Impl::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  log_cv_.notify_all();
  apply_cv_.notify_all();
  snapshot_cv_.notify_all();
  // The log thread drains pending_ first, then the apply thread drains what it handed over.
  if (log_thread_.joinable()) log_thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  if (ready_.load() && applied_since_snapshot_.load() > 0) {
    StatusOr<SnapshotEntry> snapshot = TakeSnapshot();
    if (!snapshot.ok()) {
      std::fprintf(stderr, "liverec: shutdown snapshot failed: %s\n",
                   snapshot.status().message().c_str());
    }
  }
  if (writer_ != nullptr) {
    Status status = writer_->Close();
    if (!status.ok())
      std::fprintf(stderr, "liverec: closing the log: %s\n", status.message().c_str());
  }
  ready_.store(false);
}

Status Engine::Impl::ApplyEntry(uint64_t seq, const LogEntry& entry) {
  if (entry.kind != LogEntryKind::kRollback) {
    state_->Apply(seq, entry);
    return Status::Ok();
  }
  const std::string path = SnapshotDir() + "/" + SnapshotFileName(entry.rollback_seq);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  if (!snapshot.ok()) {
    return snapshot.status().WithPrefix("rollback at record " + std::to_string(seq));
  }
  LIVEREC_RETURN_IF_ERROR(state_->Load(*snapshot, nullptr));
  state_->set_last_applied_seq(seq);
  return Status::Ok();
}

Status Engine::Impl::Ingest(std::vector<EventRecord> records, IngestWait wait,
                            IngestResult* result) {
  result->rejected.clear();
  std::vector<LogEntry> entries;
  entries.reserve(records.size());
  const int64_t now_ms = context_.clock->NowMs();
  for (size_t i = 0; i < records.size(); ++i) {
    EventRecord& record = records[i];
    auto reject = [&](std::string field, std::string reason) {
      result->rejected.push_back(IngestError{i, std::move(field), std::move(reason)});
    };
    if (record.user.empty()) {
      reject("user", "expected a non-empty string");
      continue;
    }
    if (record.item.empty()) {
      reject("item", "expected a non-empty string");
      continue;
    }
    if (record.time_ms < 0) {
      reject("timestamp", "expected Unix milliseconds >= 0");
      continue;
    }
    if (record.time_ms == 0) record.time_ms = now_ms;
    if (StatusOr<float> weight = event_types_.Weight(record.type); !weight.ok()) {
      reject("type", weight.status().message());
      continue;
    }
    if (Status status = ValidateEventRecord(record); !status.ok()) {
      const std::string& message = status.message();
      const size_t colon = message.find(':');
      reject(colon == std::string::npos ? "" : message.substr(0, colon),
             colon == std::string::npos ? message : message.substr(colon + 2));
      continue;
    }
    LogEntry& entry = entries.emplace_back();
    entry.kind = LogEntryKind::kEvent;
    entry.event = std::move(record);
  }
  {
    std::lock_guard lock(mu_);
    events_rejected_ += result->rejected.size();
  }
  result->accepted = 0;
  result->duplicates = 0;
  result->last_seq = 0;
  if (entries.empty()) return Status::Ok();
  const size_t n = entries.size();
  LIVEREC_RETURN_IF_ERROR(Submit(std::move(entries), wait, &result->last_seq, &result->duplicates));
  result->accepted = n;
  std::lock_guard lock(mu_);
  events_accepted_ += n;
  return Status::Ok();
}

Status Engine::Impl::Submit(std::vector<LogEntry> entries, IngestWait wait, uint64_t* last_seq,
                            size_t* duplicates) {
  auto write = std::make_shared<Write>();
  write->wait = wait;
  write->payloads.resize(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) EncodeLogEntry(entries[i], &write->payloads[i]);
  write->entries = std::move(entries);
  const size_t n = write->entries.size();
  std::unique_lock lock(mu_);
  if (stopping_) return Unavailable("the engine is shutting down");
  if (!log_error_.ok()) return log_error_;
  if (in_flight_ + n > queue_capacity_) {
    return ResourceExhausted("ingest queue full: " + std::to_string(in_flight_) + " of " +
                             std::to_string(queue_capacity_) + " events waiting, batch of " +
                             std::to_string(n));
  }
  in_flight_ += n;
  pending_.push_back(write);
  log_cv_.notify_one();
  done_cv_.wait(lock, [&] {
    return !write->status.ok() ||
           (wait == IngestWait::kDurable ? write->durable : write->applied == n);
  });
  if (!write->status.ok()) return write->status;
  *last_seq = write->first_seq + n - 1;
  if (duplicates != nullptr) *duplicates = write->duplicates;
  return Status::Ok();
}

Status Engine::Impl::SubmitOne(LogEntry entry) {
  std::vector<LogEntry> entries;
  entries.push_back(std::move(entry));
  uint64_t last_seq = 0;
  return Submit(std::move(entries), IngestWait::kLearned, &last_seq, nullptr);
}

void Engine::Impl::FailWrites(std::vector<std::shared_ptr<Write>>* writes, const Status& status) {
  std::lock_guard lock(mu_);
  log_error_ = status;
  for (auto& write : *writes) {
    write->status = status;
    in_flight_ -= write->entries.size();
  }
  for (auto& write : pending_) {
    write->status = status;
    in_flight_ -= write->entries.size();
  }
  pending_.clear();
  writes->clear();
  done_cv_.notify_all();
}

void Engine::Impl::LogLoop() {
  std::vector<std::shared_ptr<Write>> unsynced;  // appended, waiting for the interval's fsync
  int64_t sync_deadline_ms = 0;
  std::vector<std::string_view> views;
  while (true) {
    std::vector<std::shared_ptr<Write>> batch;
    {
      std::unique_lock lock(mu_);
      auto has_work = [&] { return !pending_.empty() || stopping_; };
      if (unsynced.empty()) {
        log_cv_.wait(lock, has_work);
      } else {
        const auto deadline =
            std::chrono::steady_clock::time_point(std::chrono::milliseconds(sync_deadline_ms));
        log_cv_.wait_until(lock, deadline, has_work);
      }
      if (stopping_ && pending_.empty() && unsynced.empty()) break;
      batch.assign(pending_.begin(), pending_.end());
      pending_.clear();
    }
    // Group commit: every write that queued up while the previous sync ran goes into one
    // append and one fsync.
    views.clear();
    for (const auto& write : batch) {
      for (const std::string& payload : write->payloads) views.push_back(payload);
    }
    if (!views.empty()) {
      uint64_t first_seq = 0;
      Status status = writer_->AppendBatch(views, &first_seq);
      if (!status.ok()) {
        batch.insert(batch.end(), unsynced.begin(), unsynced.end());
        FailWrites(&batch, status);
        unsynced.clear();
        continue;
      }
      for (const auto& write : batch) {
        write->first_seq = first_seq;
        first_seq += write->entries.size();
      }
    }
    if (sync_policy_ == LogSyncPolicy::kInterval) {
      if (unsynced.empty() && !batch.empty()) sync_deadline_ms = SteadyNowMs() + sync_interval_ms_;
      unsynced.insert(unsynced.end(), batch.begin(), batch.end());
      batch.clear();
      bool stopping = false;
      {
        std::lock_guard lock(mu_);
        stopping = stopping_;
      }
      if (unsynced.empty() || (SteadyNowMs() < sync_deadline_ms && !stopping)) continue;
      Status status = writer_->Sync();
      if (!status.ok()) {
        FailWrites(&unsynced, status);
        continue;
      }
      batch.swap(unsynced);
    } else if (sync_policy_ == LogSyncPolicy::kNever && !batch.empty()) {
      Status status = writer_->Flush();
      if (!status.ok()) {
        FailWrites(&batch, status);
        continue;
      }
    }
    if (batch.empty()) continue;
    std::lock_guard lock(mu_);
    for (auto& write : batch) {
      write->durable = true;
      apply_queue_.push_back(write);
    }
    last_durable_seq_ = writer_->last_appended_seq();
    done_cv_.notify_all();
    apply_cv_.notify_one();
  }
  std::lock_guard lock(mu_);
  log_done_ = true;
  apply_cv_.notify_one();
}

void Engine::Impl::ApplyLoop() {
  LowerThreadPriority();
  {
    // From here on (recovery learned inline): the models' threads start from this one and
    // share its priority.
    std::lock_guard write_lock(state_mu_);
    state_->SetLearnInBackground(true);
  }
  struct Item {
    Write* write;
    size_t index;
  };
  std::vector<Item> batch;
  std::vector<std::shared_ptr<Write>> holding;  // keeps the batch's writes alive
  size_t backlog = 0;                           // entries waiting when the batch was taken
  while (true) {
    batch.clear();
    holding.clear();
    {
      std::unique_lock lock(mu_);
      apply_cv_.wait(lock, [&] { return !apply_queue_.empty() || log_done_; });
      if (apply_queue_.empty()) break;  // log_done_: nothing more will come
      // Take up to apply_batch_ entries, splitting a large write across batches.
      for (auto& write : apply_queue_) {
        holding.push_back(write);
        size_t taken = 0;
        for (size_t i = write->applied; i < write->entries.size() && batch.size() < apply_batch_;
             ++i, ++taken) {
          batch.push_back(Item{write.get(), i});
        }
        if (batch.size() >= apply_batch_) break;
      }
      backlog = in_flight_;
    }
    // Test-then-train, exactly: a sampled event is ranked on the state that learned every
    // event before it, so learning proceeds under the write lock in runs that end just before
    // each sampled event, and the ranking runs between runs without the lock (only this
    // thread writes). Ranking scans the catalogue, so it yields to learning while a backlog
    // builds up: freshness and ingest throughput come first, and the live metrics are sampled
    // from the calmer moments.
    const bool evaluate = sample_rate_ > 0 && backlog <= kEvaluateMaxBacklogBatches * apply_batch_;
    std::vector<size_t> duplicates(batch.size(), 0);
    size_t learned = 0;  // batch[0, learned) are applied
    // One write-locked run of learning; learn_until cuts runs short so that readers wait for
    // at most one (learning in runs gives the same state however they are cut).
    auto learn_run = [&](size_t end) {
      state_->WaitForLearning(kMaxLearningBacklog);
      YieldToReaders();
      std::lock_guard gate(learn_gate_);
      std::lock_guard write_lock(state_mu_);
      // The models learn the run as one batch (in parallel with each other, and an ensemble's
      // members with each other), flushed before the lock is released.
      state_->SetDeferredLearning(true);
      for (; learned < end; ++learned) {
        const Item& item = batch[learned];
        const uint64_t before = state_->events_duplicate();
        Status status =
            ApplyEntry(item.write->first_seq + item.index, item.write->entries[item.index]);
        // A rollback whose snapshot vanished since Rollback checked it: the state is unchanged
        // and the entry is void (recovery reports the same and stops, for an operator to see).
        if (!status.ok()) {
          std::fprintf(stderr, "liverec: %s\n", status.message().c_str());
          state_->set_last_applied_seq(item.write->first_seq + item.index);
        }
        duplicates[learned] = state_->events_duplicate() - before;
      }
      state_->SetDeferredLearning(false);
    };
    auto learn_until = [&](size_t end) {
      while (learned < end) {
        learn_run(std::min(end, learned + kMaxLockedRun));
      }
    };
    for (size_t b = 0; b < batch.size() && evaluate; ++b) {
      const LogEntry& entry = batch[b].write->entries[batch[b].index];
      if (entry.kind != LogEntryKind::kEvent || sample_rng_.UniformDouble() >= sample_rate_) {
        continue;
      }
      learn_until(b);
      Evaluate(entry.event);
    }
    learn_until(batch.size());
    applied_since_snapshot_ += batch.size();
    {
      std::lock_guard lock(mu_);
      for (size_t b = 0; b < batch.size(); ++b) {
        batch[b].write->applied += 1;
        batch[b].write->duplicates += duplicates[b];
      }
      while (!apply_queue_.empty() &&
             apply_queue_.front()->applied == apply_queue_.front()->entries.size()) {
        apply_queue_.pop_front();
      }
      in_flight_ -= batch.size();
      if (snapshot_interval_ > 0 && applied_since_snapshot_.load() >= snapshot_interval_) {
        snapshot_requested_ = true;
        snapshot_cv_.notify_one();
      }
    }
    done_cv_.notify_all();
  }
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

void Engine::Impl::Evaluate(const EventRecord& record) {
  // Ranked on the state that learned every event before it, as replay ranks it.
  state_->WaitForLearning(0);
  const Event event = state_->Resolve(record);
  if (event.weight <= 0) return;  // negative feedback is not a hit to predict
  const bool repeat = event.user != kInvalidId && event.item != kInvalidId &&
                      state_->history().Contains(event.user, event.item);
  if (repeat) return;  // a re-consumption is not a recommendation to make
  const std::vector<ModelSlot>& models = state_->models();
  std::vector<ModelCounters> delta(models.size());
  for (size_t m = 0; m < models.size(); ++m) {
    uint64_t rank = 0;  // an unknown item is a miss
    if (event.item != kInvalidId) {
      rank = ranker_
                 ->Rank(*models[m].model, event.user, event.item, false, state_->candidates(),
                        state_->history(), nullptr)
                 .rank;
    }
    delta[m].evaluated = 1;
    if (rank >= 1 && rank <= metrics_k_) delta[m].hits = 1;
    delta[m].ndcg = NdcgAt(rank, metrics_k_);
  }
  std::lock_guard lock(stats_mu_);
  for (size_t m = 0; m < models.size(); ++m) {
    counters_[m].evaluated += delta[m].evaluated;
    counters_[m].hits += delta[m].hits;
    counters_[m].ndcg += delta[m].ndcg;
  }
}

void Engine::Impl::SnapshotLoop() {
  LowerThreadPriority();
  while (true) {
    {
      std::unique_lock lock(mu_);
      snapshot_cv_.wait(lock, [&] { return snapshot_requested_ || stopping_; });
      if (stopping_) return;
      snapshot_requested_ = false;
    }
    StatusOr<SnapshotEntry> snapshot = TakeSnapshot();
    if (!snapshot.ok()) {
      std::fprintf(stderr, "liverec: periodic snapshot failed: %s\n",
                   snapshot.status().message().c_str());
    }
  }
}

StatusOr<SnapshotEntry> Engine::Impl::TakeSnapshot() {
  std::lock_guard snapshot_lock(snapshot_mu_);
  std::vector<SnapshotSection> sections;
  uint64_t seq = 0;
  {
    std::lock_guard gate(learn_gate_);
    ReadLock lock(&state_mu_);
    state_->Save(&sections);
    seq = state_->last_applied_seq();
  }
  // The counter restarts at the serialized state; what the apply thread learned meanwhile
  // still counts toward the next snapshot.
  applied_since_snapshot_ = 0;
  SnapshotEntry entry;
  entry.seq = seq;
  entry.created_unix_ms = context_.clock->NowMs();
  StatusOr<std::vector<SnapshotInfo>> existing = liverec::ListSnapshots(SnapshotDir());
  LIVEREC_RETURN_IF_ERROR(existing.status());
  if (!existing->empty() && existing->front().last_applied_seq == seq) {
    // Nothing was applied since the newest snapshot: it already is this state.
    entry.created_unix_ms = existing->front().created_unix_ms;
    entry.size_bytes = existing->front().size_bytes;
    return entry;
  }
  LIVEREC_RETURN_IF_ERROR(WriteSnapshot(SnapshotDir(), seq, entry.created_unix_ms, sections));
  snapshot_seq_ = seq;
  LIVEREC_RETURN_IF_ERROR(DeleteSnapshotsBefore(SnapshotDir(), seq, snapshot_keep_));
  LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> kept, liverec::ListSnapshots(SnapshotDir()));
  for (const SnapshotInfo& info : kept) {
    if (info.last_applied_seq == seq) entry.size_bytes = info.size_bytes;
  }
  // The log before the oldest kept snapshot is needed by no recovery or rollback.
  if (!kept.empty()) {
    LIVEREC_RETURN_IF_ERROR(DeleteSegmentsBefore(LogDir(), kept.back().last_applied_seq + 1));
  }
  return entry;
}

StatusOr<std::vector<SnapshotEntry>> Engine::Impl::ListSnapshots() const {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> infos, liverec::ListSnapshots(SnapshotDir()));
  std::vector<SnapshotEntry> out;
  for (const SnapshotInfo& info : infos) {
    out.push_back(SnapshotEntry{info.last_applied_seq, info.created_unix_ms, info.size_bytes});
  }
  return out;
}

Status Engine::Impl::Rollback(uint64_t seq) {
  const std::string path = SnapshotDir() + "/" + SnapshotFileName(seq);
  if (!std::filesystem::exists(path)) {
    return NotFound("no snapshot with seq " + std::to_string(seq) +
                    " (GET /v1/admin/snapshots lists them)");
  }
  LIVEREC_RETURN_IF_ERROR(ReadSnapshot(path).status());
  LogEntry entry;
  entry.kind = LogEntryKind::kRollback;
  entry.rollback_seq = seq;
  LIVEREC_RETURN_IF_ERROR(SubmitOne(std::move(entry)));
  // Recovery starts from this snapshot, after the rollback record.
  return TakeSnapshot().status();
}

void Engine::Impl::Explain(UserId user, ItemId item, ScoredItem* scored) const {
  const std::vector<RecentEvent>* recent = user != kInvalidId ? state_->Recent(user) : nullptr;
  const ServingModel related = state_->FindModelOffering(
      [](const ModelCapabilities& c) { return c.raw_similarity != nullptr; });
  if (related && recent != nullptr) {
    const RawItemSimilarity* similarity = related.capabilities.raw_similarity;
    std::vector<std::pair<float, ItemId>> because;
    size_t looked = 0;
    for (auto it = recent->rbegin(); it != recent->rend() && looked < kExplainRecent;
         ++it, ++looked) {
      const float sim = similarity->Similarity(it->item, item);
      const bool listed = std::any_of(because.begin(), because.end(),
                                      [&](const auto& b) { return b.second == it->item; });
      if (sim > 0 && !listed) because.emplace_back(sim, it->item);
    }
    std::sort(because.begin(), because.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (size_t b = 0; b < because.size() && b < kMaxBecause; ++b) {
      scored->because.push_back(state_->items().Key(because[b].second));
    }
  }
  const ServingModel explainer = state_->FindModelOffering(
      [](const ModelCapabilities& c) { return c.feature_explainer != nullptr; });
  const ItemMetadata* meta = state_->ItemMeta(item);
  if (!explainer || meta == nullptr) return;
  std::vector<float> contributions;
  explainer.capabilities.feature_explainer->ItemFeatureContributions(user, item, &contributions);
  std::vector<std::string> names;
  AppendItemFeatureNames(meta->categories, meta->tags, TextTokens(meta->text), &names);
  if (names.size() != contributions.size()) return;  // the model reads no features
  // Highest first, whatever the sign: under sampled negatives a feature every item shares
  // (a common token) learns a negative weight, so what sets an item apart for this user is
  // the order, not the sign.
  std::vector<size_t> order(names.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return contributions[a] != contributions[b] ? contributions[a] > contributions[b] : a < b;
  });
  for (size_t j = 0; j < order.size() && j < kMaxBecause; ++j) {
    scored->features.push_back(names[order[j]]);
  }
}

std::string Engine::Impl::NewRecommendationId() const {
  const uint64_t n = recommendation_counter_.fetch_add(1, std::memory_order_relaxed);
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(SplitMix64(id_nonce_ + n)));
  return buf;
}

StatusOr<ItemSimilarity> Engine::Impl::RerankSimilarity() const {
  if (rerank_similarity_ == "category") {
    return ItemSimilarity([this](ItemId a, ItemId b) {
      return SortedJaccard(state_->ItemCategoryIds(a), state_->ItemCategoryIds(b));
    });
  }
  // embedding and knn name a model's similarity basis (SimilarityBasisName).
  const bool embedding = rerank_similarity_ == "embedding";
  const SimilarityBasis basis =
      embedding ? SimilarityBasis::kEmbedding : SimilarityBasis::kCoOccurrence;
  const ServingModel model = state_->FindModelOffering([basis](const ModelCapabilities& c) {
    return c.unit_similarity != nullptr && c.unit_similarity->similarity_basis() == basis;
  });
  if (!model) {
    return FailedPrecondition("rank.similarity=" + rerank_similarity_ + " needs a live " +
                              (embedding ? "mf" : "item_knn") +
                              " model (in engine.models or an ensemble's members)");
  }
  const UnitItemSimilarity* similarity = model.capabilities.unit_similarity;
  return ItemSimilarity(
      [similarity](ItemId a, ItemId b) { return similarity->UnitSimilarity(a, b); });
}

// Per-thread scratch of Recommend: no allocation per request once warm.
struct RecommendScratch {
  std::vector<ItemId> raw;
  std::vector<ItemId> candidates;
  std::vector<float> scores;
  std::vector<uint32_t> top;
  std::vector<ScoredCandidate> scored;
  std::vector<ScoredCandidate> reranked;
  Reranker reranker;
  std::vector<float> parts;       // an ensemble's member terms, for explanations
  std::vector<ItemId> listed;     // the model's own items, above a backfill
  std::vector<uint8_t> excluded;  // by item id: consumed, or already listed
};

// The re-ranking of one request; null members when the list is plain ranking.
struct RerankPlan {
  RerankOptions options;
  ItemSimilarity similarity;
  ItemCategories categories;
};

// Appends to *out (up to k items in all) the best items of `model` for `user` among
// `candidates`, dropping items the model cannot score; re-ranked by `rerank` when given. With
// `member_terms`, an ensemble's scoring also keeps each member's terms in scratch->parts.
void RankCandidates(const ServingModel& model, UserId user, size_t k, const RerankPlan* rerank,
                    bool member_terms, RecommendScratch* scratch,
                    std::vector<std::pair<ItemId, float>>* out) {
  if (out->size() >= k) return;
  const size_t want = k - out->size();
  scratch->scores.resize(scratch->candidates.size());
  const MemberList* composite = model.capabilities.members;
  if (member_terms && composite != nullptr) {
    scratch->parts.resize(composite->members().size() * scratch->candidates.size());
    composite->ScoreWithContributions(user, scratch->candidates, scratch->scores.data(),
                                      scratch->parts.data());
  } else {
    model.model->Score(user, scratch->candidates, scratch->scores.data());
  }
  if (rerank != nullptr) {
    scratch->scored.clear();
    for (size_t i = 0; i < scratch->candidates.size(); ++i) {
      if (scratch->scores[i] == kUnscored) continue;
      scratch->scored.push_back({scratch->candidates[i], scratch->scores[i]});
    }
    scratch->reranker.Rerank(scratch->scored, want, rerank->options, rerank->similarity,
                             rerank->categories, &scratch->reranked);
    for (const ScoredCandidate& c : scratch->reranked) out->emplace_back(c.item, c.score);
    return;
  }
  scratch->top.resize(std::min(want, scratch->candidates.size()));
  scratch->top.resize(TopK(scratch->scores.data(), scratch->scores.size(), scratch->top.size(),
                           scratch->top.data()));
  for (uint32_t pos : scratch->top) {
    if (scratch->scores[pos] == kUnscored) break;  // the model knows nothing of the rest
    out->emplace_back(scratch->candidates[pos], scratch->scores[pos]);
  }
}

// Sets each listed item's ScoredItem::models from the ensemble's member terms over the
// candidates it was ranked among (the terms depend on the whole list: z-scores, ranks), as
// RankCandidates kept them in scratch->parts.
void ExplainMembers(const ServingModel& model, const RecommendScratch& scratch,
                    std::span<const std::pair<ItemId, float>> listed, ScoredItem* items) {
  const std::span<const ModelMember> members = model.capabilities.members->members();
  const size_t n = scratch.candidates.size();
  for (size_t i = 0; i < listed.size(); ++i) {
    const auto it =
        std::find(scratch.candidates.begin(), scratch.candidates.end(), listed[i].first);
    if (it == scratch.candidates.end()) continue;
    const size_t pos = static_cast<size_t>(it - scratch.candidates.begin());
    auto& terms = items[i].models;
    for (size_t m = 0; m < members.size(); ++m) {
      terms.emplace_back(members[m].name, scratch.parts[m * n + pos]);
    }
    std::stable_sort(terms.begin(), terms.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
  }
}

StatusOr<Recommendations> Engine::Impl::Recommend(const RecommendRequest& request) const {
  if (request.k == 0 || request.k > max_k_) {
    return InvalidArgument("k: expected 1.." + std::to_string(max_k_) + ", got " +
                           std::to_string(request.k));
  }
  thread_local RecommendScratch scratch;
  Recommendations out;
  ReadLock lock(&state_mu_);
  const std::string& model_name = request.model.empty() ? default_model_ : request.model;
  ServingModel model = state_->FindModel(model_name);
  if (!model) {
    std::string names;
    for (const ModelSlot& s : state_->models()) names += (names.empty() ? "" : ", ") + s.name;
    return NotFound("model: no live model '" + model_name + "' (live: " + names +
                    ", and the members of an ensemble)");
  }
  const ServingModel fallback = state_->FindModel(fallback_model_);
  const UserId user = state_->users().Find(request.user);
  if (user == kInvalidId || state_->history().NumEvents(user) == 0) {
    model = fallback;
    out.fallback = true;
  }
  out.model = std::string(model.name);
  out.model_version = state_->last_applied_seq();
  out.recommendation_id = NewRecommendationId();

  RerankPlan plan{rerank_, {}, {}};
  if (request.diversity >= 0) plan.options.lambda = 1 - request.diversity;
  if (request.category_cap >= 0)
    plan.options.category_cap = static_cast<uint32_t>(request.category_cap);
  const bool rerank = plan.options.lambda < 1 || plan.options.category_cap > 0;
  if (plan.options.lambda < 1) {
    LIVEREC_ASSIGN_OR_RETURN(plan.similarity, RerankSimilarity());
  }
  if (plan.options.category_cap > 0) {
    plan.categories = [this](ItemId item) { return state_->ItemCategoryIds(item); };
  }

  uint32_t category = kInvalidId;
  if (!request.category.empty()) {
    category = state_->FindCategory(request.category);
    if (category == kInvalidId) return out;  // no item has this category
  }
  const size_t num_items = state_->items().size();
  std::vector<uint8_t>& excluded = scratch.excluded;
  if (excluded.size() < num_items) excluded.resize(num_items, 0);
  std::span<const ItemId> consumed;
  if (request.exclude_seen && user != kInvalidId) consumed = state_->history().Items(user);
  for (ItemId item : consumed) excluded[item] = 1;
  auto admit = [&](ItemId item) {
    return !excluded[item] && state_->Recommendable(item) &&
           (category == kInvalidId || state_->InCategory(item, category));
  };
  // Two-stage serving: the model proposes rank.candidates items (CandidateSource) and ranks
  // those; a model without a candidate source ranks the whole catalogue, and so does one whose
  // full list of proposals leaves fewer than k admissible (a user who consumed the top items,
  // a narrow category). A short list from a model that proposed all it had (item_knn: every
  // item that co-occurred with the user's window) stays short, for the fallback to fill.
  auto gather = [&](const ServingModel& m, size_t k) {
    scratch.raw.clear();
    if (m.capabilities.candidates != nullptr) {
      m.capabilities.candidates->Candidates(user, num_candidates_, &scratch.raw);
    }
    scratch.candidates.clear();
    for (ItemId item : scratch.raw) {
      if (admit(item)) scratch.candidates.push_back(item);
    }
    const bool exhausted = scratch.raw.size() < num_candidates_;
    if (scratch.raw.empty() || (scratch.candidates.size() < k && !exhausted)) {
      scratch.candidates.clear();
      for (ItemId item = 0; item < num_items; ++item) {
        if (admit(item)) scratch.candidates.push_back(item);
      }
    }
  };

  std::vector<std::pair<ItemId, float>> ranked;
  gather(model, request.k);
  RankCandidates(model, user, request.k, rerank ? &plan : nullptr, request.explain, &scratch,
                 &ranked);
  const size_t own = ranked.size();
  for (size_t i = 0; i < own; ++i) {
    ScoredItem& scored = out.items.emplace_back();
    scored.item = state_->items().Key(ranked[i].first);
    scored.score = ranked[i].second;
  }
  if (request.explain && model.capabilities.members != nullptr) {
    ExplainMembers(model, scratch, ranked, out.items.data());
  }
  // A short list (a user whose recent items have few neighbours) is filled up from the
  // fallback model, as a shop fills an empty shelf with best sellers. The fill continues the
  // re-ranked list: the items above it count toward the category cap and the diversity term.
  if (own < request.k && model.model != fallback.model) {
    for (const auto& [item, score] : ranked) excluded[item] = 1;
    scratch.listed.clear();
    for (const auto& [item, score] : ranked) scratch.listed.push_back(item);
    plan.options.continues = scratch.listed;
    gather(fallback, request.k - own);
    RankCandidates(fallback, user, request.k, rerank ? &plan : nullptr, false, &scratch, &ranked);
    for (size_t i = 0; i < own; ++i) excluded[ranked[i].first] = 0;
    for (size_t i = own; i < ranked.size(); ++i) {
      ScoredItem& scored = out.items.emplace_back();
      scored.item = state_->items().Key(ranked[i].first);
      scored.score = ranked[i].second;
      scored.backfill = true;
    }
  }
  for (ItemId item : consumed) excluded[item] = 0;
  if (request.explain) {
    for (size_t i = 0; i < ranked.size(); ++i) Explain(user, ranked[i].first, &out.items[i]);
  }
  return out;
}

StatusOr<std::vector<ScoredItem>> Engine::Impl::Similar(const std::string& item, size_t k) const {
  if (k == 0 || k > max_k_) {
    return InvalidArgument("k: expected 1.." + std::to_string(max_k_) + ", got " +
                           std::to_string(k));
  }
  ReadLock lock(&state_mu_);
  const ServingModel nearest = state_->FindModelOffering(
      [](const ModelCapabilities& c) { return c.nearest_items != nullptr; });
  if (!nearest) return FailedPrecondition("similar items need an item_knn model");
  const ItemId id = state_->items().Find(item);
  if (id == kInvalidId) return NotFound("item '" + item + "' is unknown");
  std::vector<std::pair<ItemId, float>> neighbours;
  // Over-fetch so that items no longer recommendable can be dropped.
  nearest.capabilities.nearest_items->Similar(id, 2 * k + 16, &neighbours);
  std::vector<ScoredItem> out;
  for (const auto& [other, sim] : neighbours) {
    if (out.size() == k) break;
    if (!state_->Recommendable(other)) continue;
    ScoredItem& scored = out.emplace_back();
    scored.item = state_->items().Key(other);
    scored.score = sim;
  }
  return out;
}

StatusOr<UserInfo> Engine::Impl::GetUser(const std::string& user, size_t max_recent) const {
  ReadLock lock(&state_mu_);
  const UserId id = state_->users().Find(user);
  if (id == kInvalidId) return NotFound("user '" + user + "' is unknown");
  UserInfo info;
  info.user = user;
  info.num_events = state_->history().NumEvents(id);
  if (const UserMetadata* meta = state_->UserMeta(id)) info.metadata = *meta;
  if (const std::vector<RecentEvent>* recent = state_->Recent(id)) {
    for (auto it = recent->rbegin(); it != recent->rend() && info.recent.size() < max_recent;
         ++it) {
      info.recent.emplace_back(state_->items().Key(it->item), it->time_ms);
    }
  }
  return info;
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

EngineStats Engine::Impl::Stats() const {
  EngineStats stats;
  {
    std::lock_guard lock(mu_);
    stats.events_accepted = events_accepted_;
    stats.events_rejected = events_rejected_;
    stats.queue_depth = in_flight_;
    stats.last_durable_seq = last_durable_seq_;
  }
  stats.queue_capacity = queue_capacity_;
  stats.snapshot_seq = snapshot_seq_.load();
  stats.metrics_k = metrics_k_;
  stats.default_model = default_model_;
  std::vector<ModelCounters> counters;
  {
    std::lock_guard lock(stats_mu_);
    counters = counters_;
  }
  ReadLock lock(&state_mu_);
  stats.events_applied = state_->events_applied();
  stats.events_duplicate = state_->events_duplicate();
  stats.num_users = state_->users().num_live();
  stats.users_forgotten = state_->users_forgotten();
  stats.num_items = state_->items().size();
  stats.last_applied_seq = state_->last_applied_seq();
  const std::vector<ModelSlot>& models = state_->models();
  for (size_t m = 0; m < models.size(); ++m) {
    ModelStats& ms = stats.models.emplace_back();
    ms.name = models[m].name;
    ms.type = models[m].type;
    ms.evaluated = counters[m].evaluated;
    if (ms.evaluated > 0) {
      ms.recall = counters[m].hits / static_cast<double>(ms.evaluated);
      ms.ndcg = counters[m].ndcg / static_cast<double>(ms.evaluated);
    }
    ms.memory_bytes = models[m].model->MemoryBytes();
    const MemberList* composite = models[m].capabilities.members;
    if (composite == nullptr) continue;
    for (const MemberInfo& info : composite->Members()) {
      ms.members.push_back(
          {std::string(info.name), std::string(info.type), info.weights, info.mean_rewards});
    }
    ms.judged = composite->judged_events();
  }
  return stats;
}

std::string Engine::Impl::Fingerprint() const {
  std::vector<SnapshotSection> sections;
  {
    ReadLock lock(&state_mu_);
    state_->Save(&sections);
  }
  std::string out;
  for (const SnapshotSection& s : sections) {
    out += s.name;
    out.push_back('\0');
    out += std::to_string(s.payload.size());
    out.push_back('\0');
    out += s.payload;
  }
  return out;
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

Status Engine::Ingest(std::vector<EventRecord> records, IngestWait wait, IngestResult* result) {
  return impl_->Ingest(std::move(records), wait, result);
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
Status Engine::PutUser(const std::string& user, const UserMetadata& metadata) {
  if (user.empty()) return InvalidArgument("user: expected a non-empty id");
  LIVEREC_RETURN_IF_ERROR(ValidateUserMetadata(metadata));
  LogEntry entry;
  entry.kind = LogEntryKind::kPutUser;
  entry.key = user;
  entry.user = metadata;
  return impl_->SubmitOne(std::move(entry));
}
StatusOr<UserInfo> Engine::GetUser(const std::string& user, size_t max_recent) const {
  return impl_->GetUser(user, max_recent);
}
EngineStats Engine::Stats() const { return impl_->Stats(); }
StatusOr<SnapshotEntry> Engine::TakeSnapshot() { return impl_->TakeSnapshot(); }
StatusOr<std::vector<SnapshotEntry>> Engine::ListSnapshots() const {
  return impl_->ListSnapshots();
}
Status Engine::Rollback(uint64_t seq) { return impl_->Rollback(seq); }
void Engine::CountRejected(size_t n) { impl_->CountRejected(n); }
size_t Engine::QueueRoom() const { return impl_->QueueRoom(); }
bool Engine::ready() const { return impl_->ready(); }
std::string Engine::StateFingerprint() const { return impl_->Fingerprint(); }

}  // namespace liverec
