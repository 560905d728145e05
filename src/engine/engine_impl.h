// Engine::Impl: the engine's members and threads, shared by engine.cc (wiring: open, the write
// path, the apply and snapshot threads, stop) and engine_serving.cc (the read side: recommend
// and its decisions, users, experiments, stats). Private to src/engine/.
#ifndef LIVEREC_ENGINE_ENGINE_IMPL_H_
#define LIVEREC_ENGINE_ENGINE_IMPL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/rw_lock.h"
#include "engine/deletions.h"
#include "engine/engine_state.h"
#include "engine/live_evaluator.h"
#include "engine/log_entry.h"
#include "engine/pseudonyms.h"
#include "engine/recommender.h"
#include "engine/recovery.h"
#include "engine/snapshots.h"
#include "engine/write_pipeline.h"
#include "liverec/engine.h"

namespace liverec {

class Engine::Impl {
 public:
  Impl(const Options& options, const Context& context) : options_(options), context_(context) {}
  ~Impl() { Stop(); }

  Status Open(const std::string& init_snapshot, RecoveryInfo* info);
  void Stop() LIVEREC_EXCLUDES(sched_mu_);

  Status Ingest(std::vector<ValidEventRecord> records, IngestWait wait, IngestResult* result);
  // Logs one non-event entry (metadata, deletion, rollback) and waits until it is applied.
  Status SubmitOne(LogEntry entry);
  StatusOr<Recommendations> Recommend(const RecommendRequest& request) const
      LIVEREC_EXCLUDES(state_mu_);
  StatusOr<ExperimentReport> PutExperiment(const ExperimentSpec& spec)
      LIVEREC_EXCLUDES(experiments_mu_, state_mu_);
  StatusOr<ExperimentReport> GetExperiment(const std::string& name) const
      LIVEREC_EXCLUDES(state_mu_);
  std::vector<ExperimentReport> ListExperiments() const LIVEREC_EXCLUDES(state_mu_) {
    ReadLock lock(&state_mu_);
    return state_->feedback().experiments().Reports();
  }
  StatusOr<ExperimentReport> StopExperiment(const std::string& name)
      LIVEREC_EXCLUDES(experiments_mu_, state_mu_);
  StatusOr<std::vector<ScoredItem>> Similar(const std::string& item, size_t k) const
      LIVEREC_EXCLUDES(state_mu_) {
    ReadLock lock(&state_mu_);
    return recommender_->Similar(item, k);
  }
  StatusOr<UserInfo> GetUser(const std::string& user, size_t max_recent) const
      LIVEREC_EXCLUDES(state_mu_);
  StatusOr<ItemInfo> GetItem(const std::string& item) const LIVEREC_EXCLUDES(state_mu_) {
    ReadLock lock(&state_mu_);
    return recommender_->GetItem(item);
  }
  const Pseudonyms& pseudonyms() const { return pseudonyms_; }
  Status DeleteItem(const std::string& item) LIVEREC_EXCLUDES(state_mu_);
  Status ReloadStorageKeys();
  EngineStats Stats() const LIVEREC_EXCLUDES(state_mu_);
  StatusOr<SnapshotEntry> TakeSnapshot() LIVEREC_EXCLUDES(snapshot_mu_, learn_gate_, state_mu_);
  // Users' deletions (engine_deletions.cc).
  StatusOr<DeletionInfo> DeleteUser(const std::string& user)
      LIVEREC_EXCLUDES(deletions_mu_, state_mu_);
  StatusOr<DeletionInfo> GetDeletion(const std::string& deletion, int64_t wait_ms) const
      LIVEREC_EXCLUDES(deletions_mu_);
  StatusOr<std::vector<SnapshotEntry>> ListSnapshots() const { return ListSnapshotEntries(dir_); }
  Status Rollback(uint64_t seq) LIVEREC_EXCLUDES(snapshot_mu_, learn_gate_, state_mu_);
  std::string Fingerprint() const LIVEREC_EXCLUDES(state_mu_);
  void CountRejected(size_t n) { events_rejected_ += n; }
  size_t QueueRoom() const { return pipeline_->QueueRoom(); }
  size_t QueueCapacity() const { return pipeline_->queue_capacity(); }
  Status WriteHealth() const { return pipeline_->health(); }
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Engine::PauseLearningForTesting: LearnRun waits on learn_gate_ while it is held.
  void PauseLearning() LIVEREC_ACQUIRE(learn_gate_) { learn_gate_.lock(); }
  void ResumeLearning() LIVEREC_RELEASE(learn_gate_) { learn_gate_.unlock(); }

 private:
  void ApplyLoop() LIVEREC_EXCLUDES(learn_gate_, state_mu_, sched_mu_);
  // Applies batch[learned, end) under the write lock, as one deferred batch of learning;
  // duplicates[i] counts entry i as a repeated event id. Takes learn_gate_, then state_mu_.
  void LearnRun(const ApplyBatch& batch, size_t end, size_t* learned,
                std::vector<size_t>* duplicates) LIVEREC_EXCLUDES(learn_gate_, state_mu_);
  void SnapshotLoop() LIVEREC_EXCLUDES(sched_mu_, snapshot_mu_, learn_gate_, state_mu_);
  // TakeSnapshot's body, for a caller that holds snapshot_mu_.
  StatusOr<SnapshotEntry> TakeSnapshotLocked() LIVEREC_REQUIRES(snapshot_mu_)
      LIVEREC_EXCLUDES(learn_gate_, state_mu_);

  // Deletions (engine_deletions.cc). The deletion thread runs one job at a time: erase the
  // user's records (log, snapshots), replay the models without the user, and hand the replayed
  // state to the apply thread, which swaps it in at the deletion's kUnlearned record.
  Status OpenDeletions() LIVEREC_EXCLUDES(deletions_mu_);
  void DeletionLoop() LIVEREC_EXCLUDES(deletions_mu_, sched_mu_);
  // Records to erase from the log, and the models to replay without them: a user's deletion,
  // or events past privacy.retention.
  struct Erasure {
    std::string id;  // the kUnlearned record's: a deletion's id, or "retention"
    std::function<bool(const LogEntry&)> erases;
    uint64_t first_seq = 0;           // the first record erased; 0: look for it
    uint64_t replay_at_least_to = 0;  // a record the replayed state must have passed
    bool skip_if_none = false;        // nothing to erase: no replay either
    std::function<Status(uint64_t first_seq)> located;  // before any record is erased
    std::function<Status()> data_erased;
  };
  Status RunErasure(const Erasure& erasure) LIVEREC_EXCLUDES(snapshot_mu_);
  Status RunDeletion(DeletionRecord record) LIVEREC_EXCLUDES(deletions_mu_, snapshot_mu_);
  // The user a deletion resumed after a restart deletes, from its kDeleteUser record; "" when
  // that record was erased already (or never written).
  StatusOr<std::string> FindDeletedUser(const DeletionRecord& record) const;
  // Runs RunRetention when the cut-off (stream clock - privacy.retention) moved by a tenth of
  // the retention since the last run.
  void RetainIfDue() LIVEREC_EXCLUDES(snapshot_mu_, state_mu_);
  // Erases the events and decisions older than `cutoff_ms` (stream time).
  Status RunRetention(int64_t cutoff_ms) LIVEREC_EXCLUDES(snapshot_mu_);
  // Records a deletion's progress (file and memory) and wakes its waiters.
  Status UpdateDeletion(const DeletionRecord& record) LIVEREC_EXCLUDES(deletions_mu_);
  // The apply thread's part: at kUnlearned record `seq`, loads the replayed state and learns
  // the log records it has not seen, up to seq. Requires the state's write lock.
  Status SwapInUnlearned(uint64_t seq, const LogEntry& entry) LIVEREC_EXCLUDES(swap_mu_);
  bool stopping() const LIVEREC_EXCLUDES(sched_mu_);
  // Logs a served list as a decision, without waiting for the disk; counts it dropped when the
  // queue is full (serving never waits for the feedback loop).
  void RecordDecision(const std::string& user, const Recommendations& served,
                      uint32_t latency_us) const;
  // Logs a request that failed for the experiment arm serving its user, as a decision without
  // a list (the error-rate guardrail's outcome).
  void RecordFailure(const std::string& user, const std::string& experiment, const std::string& arm,
                     const Status& status, uint32_t latency_us) const;
  // Submits a decision entry without waiting for the disk, or counts it dropped.
  void SubmitDecision(LogEntry entry) const;
  // Before learning takes the state's write lock: lets the readers waiting for it in first.
  void YieldToReaders() const LIVEREC_EXCLUDES(state_mu_);

  const Options options_;
  const Context context_;
  DataDir dir_;
  size_t apply_batch_ = 0;  // engine.apply_batch
  uint64_t snapshot_interval_ = 0;
  size_t snapshot_keep_ = 0;
  bool log_retain_all_ = true;  // log.retain == all
  int64_t retention_ms_ = 0;    // privacy.retention; 0: off
  // The last retention run's cut-off: written by the deletion thread, read by Stats.
  std::atomic<int64_t> retention_cutoff_ms_{0};
  int64_t max_future_ms_ = 0;  // engine.max_future
  bool clamp_future_ = false;  // engine.future_events == clamp

  // Mutated by the apply thread only, under WriteLock on state_mu_; read by other threads under
  // ReadLock, and by the apply thread without a lock (nobody else writes). Not
  // LIVEREC_PT_GUARDED_BY(state_mu_): the analysis cannot tell the apply thread's unlocked reads
  // apart, nor Open's (before any thread starts) nor Ingest's of the immutable event types.
  std::unique_ptr<EngineState> state_;
  mutable RwLock state_mu_;
  std::unique_ptr<Recommender> recommender_;  // reads state_ under state_mu_
  Pseudonyms pseudonyms_;                     // privacy.pseudonymize: user ids at the edge
  bool record_decisions_ = false;             // feedback.record_decisions
  mutable std::atomic<uint64_t> decisions_dropped_{0};
  // Serializes experiment changes, so that each is checked against the state the one before
  // it left (a check and its log record are one step).
  Mutex experiments_mu_;
  std::unique_ptr<LiveEvaluator> evaluator_;  // the apply thread's
  std::unique_ptr<WritePipeline> pipeline_;

  Mutex snapshot_mu_;  // one snapshot at a time
  // Held by the apply thread around each write-locked run of learning and by a snapshot while
  // it serializes the state (seconds on a large one), so that the apply thread waits here
  // rather than queue on state_mu_: state_mu_ prefers writers, and a writer queued behind the
  // snapshot's read lock would hold back every recommendation until the snapshot is done.
  // Lock order: snapshot_mu_, then learn_gate_, then state_mu_.
  Mutex learn_gate_;
  std::atomic<uint64_t> snapshot_seq_{0};
  std::atomic<uint64_t> applied_since_snapshot_{0};

  mutable Mutex sched_mu_;
  std::condition_variable snapshot_cv_;
  bool stopping_ LIVEREC_GUARDED_BY(sched_mu_) = false;
  bool snapshot_requested_ LIVEREC_GUARDED_BY(sched_mu_) = false;

  // Deletions: the registry (a file of the data directory), the queue of jobs for the deletion
  // thread, and the replayed state waiting for the apply thread.
  mutable Mutex deletions_mu_;
  mutable std::condition_variable deletions_cv_;  // a deletion changed, or a job queued
  DeletionRegistry deletions_ LIVEREC_GUARDED_BY(deletions_mu_);
  std::deque<std::string> deletion_jobs_ LIVEREC_GUARDED_BY(deletions_mu_);
  struct UnlearnedState {
    std::string deletion;
    Snapshot snapshot;  // the replayed state, serialized
  };
  Mutex swap_mu_;
  std::optional<UnlearnedState> swap_ LIVEREC_GUARDED_BY(swap_mu_);
  std::thread deletion_thread_;

  std::atomic<uint64_t> events_accepted_{0};
  std::atomic<uint64_t> events_rejected_{0};
  std::atomic<bool> ready_{false};
  std::thread apply_thread_;
  std::thread snapshot_thread_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_ENGINE_IMPL_H_
