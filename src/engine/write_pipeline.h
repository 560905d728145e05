// WritePipeline: the engine's write side, from a caller's batch to entries ready to learn.
//
//   Submit (any thread)  --pending-->  log thread  --apply queue-->  NextBatch / FinishBatch
//     encode, wait for durable          append, group commit,         (the engine's apply
//     or learned                        fsync, mark durable           thread)
//
// Submit enqueues a write of log entries on a bounded queue (queue_capacity entries between
// Submit and FinishBatch) and blocks until the write is durable (in the log under the sync
// policy) or learned (FinishBatch covered all of it), as the caller asked. The log thread takes
// every write that queued while it synced, appends them as one batch and syncs once (group
// commit); a failed append or sync fails those writes and every later one (the log is unusable
// and the engine refuses writes from then on, said once on stderr). The writer cuts the log back
// to its last commit point on failure, so a write that failed is absent after a restart (or its
// error says which sequence numbers may reappear). The apply thread takes durable entries in log
// order, at most apply_batch at a time, splitting a large write across batches.
//
// Thread safety: Submit, stats and Stop may be called from any thread; NextBatch and FinishBatch
// from one thread (the apply thread). One mutex guards the queues and every write's flags.
#ifndef LIVEREC_ENGINE_WRITE_PIPELINE_H_
#define LIVEREC_ENGINE_WRITE_PIPELINE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "engine/log_entry.h"
#include "liverec/engine.h"
#include "liverec/status.h"
#include "store/log_writer.h"

namespace liverec {

struct WritePipelineOptions {
  LogSyncPolicy sync = LogSyncPolicy::kAlways;  // log.sync
  int64_t sync_interval_ms = 1;                 // log.sync_interval, for kInterval
  size_t queue_capacity = 0;                    // engine.queue_capacity (entries)
  size_t apply_batch = 0;                       // engine.apply_batch (entries per NextBatch)
};

// A run of durable entries in log order, as the apply thread takes it.
class ApplyBatch {
 public:
  size_t size() const { return items_.size(); }
  // The sequence number and the entry of the i-th entry of the batch.
  uint64_t seq(size_t i) const;
  const LogEntry& entry(size_t i) const;
  // Entries submitted and not yet learned when the batch was taken (this batch included).
  size_t backlog() const { return backlog_; }

 private:
  friend class WritePipeline;
  struct Write;
  struct Item {
    Write* write;
    size_t index;
  };
  std::vector<Item> items_;
  std::vector<std::shared_ptr<Write>> holding_;  // keeps the batch's writes alive
  size_t backlog_ = 0;
};

class WritePipeline {
 public:
  // Takes the open log writer (recovery has read the log through it) and starts the log thread.
  WritePipeline(const WritePipelineOptions& options, std::unique_ptr<LogWriter> writer);
  // Stops (if Stop was not called) and closes the log.
  ~WritePipeline();

  // Logs `entries` and waits per `wait`. On OK *last_seq is the sequence number of the last
  // entry and, when not null, *duplicates the entries the apply thread found to be repeated
  // event ids (known only with kLearned). ResourceExhausted when the queue has no room for the
  // batch (nothing enqueued), Unavailable after Stop, the log's error once it failed.
  Status Submit(std::vector<LogEntry> entries, IngestWait wait, uint64_t* last_seq,
                size_t* duplicates) LIVEREC_EXCLUDES(mu_);

  // Blocks until durable entries wait, and replaces *batch with up to apply_batch of them;
  // false (and an empty batch) once Stop drained the log thread and nothing more will come.
  bool NextBatch(ApplyBatch* batch) LIVEREC_EXCLUDES(mu_);
  // Marks the batch learned; duplicates[i] counts the i-th entry as a repeated event id. Wakes
  // the writers waiting for it.
  void FinishBatch(const ApplyBatch& batch, std::span<const size_t> duplicates)
      LIVEREC_EXCLUDES(mu_);

  // Runs `task` on the log thread between two group commits (no append in flight) and returns
  // its status; Unavailable after Stop. Appends wait meanwhile. For the rare operations on the
  // writer itself, such as closing the current segment before a rewrite of the closed ones.
  Status RunOnLogThread(std::function<Status(LogWriter&)> task) LIVEREC_EXCLUDES(mu_);

  // Refuses new writes; the log thread appends and syncs what is pending, then ends. NextBatch
  // hands out what remains and then returns false. Idempotent.
  void Stop() LIVEREC_EXCLUDES(mu_);
  // Waits for the log thread (after Stop) and closes the log; errors go to stderr.
  void Close();

  // Entries submitted and not yet learned; room left for more; the last durable sequence
  // number (the log's end once recovery is done).
  size_t in_flight() const LIVEREC_EXCLUDES(mu_);
  size_t QueueRoom() const LIVEREC_EXCLUDES(mu_);
  uint64_t last_durable_seq() const LIVEREC_EXCLUDES(mu_);
  // OK until the log failed; then its error (every later Submit returns it).
  Status health() const LIVEREC_EXCLUDES(mu_);
  size_t queue_capacity() const { return options_.queue_capacity; }

 private:
  using Write = ApplyBatch::Write;

  void LogLoop() LIVEREC_EXCLUDES(mu_);
  // Fails every write in `writes` and everything pending: the log is unusable.
  void FailWrites(std::vector<std::shared_ptr<Write>>* writes, const Status& status)
      LIVEREC_EXCLUDES(mu_);

  const WritePipelineOptions options_;
  // The log thread's; the constructor and Close (after the thread ended) use it too.
  std::unique_ptr<LogWriter> writer_;

  mutable Mutex mu_;
  std::condition_variable log_cv_;
  std::condition_variable apply_cv_;
  std::condition_variable done_cv_;
  // Waiting for the log thread.
  std::deque<std::shared_ptr<Write>> pending_ LIVEREC_GUARDED_BY(mu_);
  // Durable, waiting to be learned.
  std::deque<std::shared_ptr<Write>> apply_queue_ LIVEREC_GUARDED_BY(mu_);
  size_t in_flight_ LIVEREC_GUARDED_BY(mu_) = 0;  // entries enqueued and not yet learned
  bool stopping_ LIVEREC_GUARDED_BY(mu_) = false;
  bool log_done_ LIVEREC_GUARDED_BY(mu_) = false;
  Status log_error_ LIVEREC_GUARDED_BY(mu_);
  uint64_t last_durable_seq_ LIVEREC_GUARDED_BY(mu_) = 0;
  // RunOnLogThread's task, its result and whether it ran; one at a time (log_task_mu_).
  std::function<Status(LogWriter&)> log_task_ LIVEREC_GUARDED_BY(mu_);
  Status log_task_status_ LIVEREC_GUARDED_BY(mu_);
  bool log_task_done_ LIVEREC_GUARDED_BY(mu_) = false;
  Mutex log_task_mu_;
  std::thread log_thread_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_WRITE_PIPELINE_H_
