#include "engine/write_pipeline.h"

#include <chrono>
#include <string_view>

#include "common/check.h"
#include "common/log.h"

namespace liverec {
namespace {

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// One Submit call travelling through the pipeline.
struct ApplyBatch::Write {
  std::vector<LogEntry> entries;
  std::vector<std::string> payloads;  // encoded entries
  IngestWait wait = IngestWait::kDurable;
  uint64_t first_seq = 0;
  // Guarded by WritePipeline::mu_. Not LIVEREC_GUARDED_BY: the analysis names a lock only
  // through the object that holds the member, and a Write does not know its pipeline.
  bool durable = false;
  size_t applied = 0;  // entries learned so far
  size_t duplicates = 0;
  Status status;
};

uint64_t ApplyBatch::seq(size_t i) const { return items_[i].write->first_seq + items_[i].index; }

const LogEntry& ApplyBatch::entry(size_t i) const {
  return items_[i].write->entries[items_[i].index];
}

WritePipeline::WritePipeline(const WritePipelineOptions& options, std::unique_ptr<LogWriter> writer)
    : options_(options), writer_(std::move(writer)) {
  LIVEREC_CHECK(writer_ != nullptr);
  last_durable_seq_ = writer_->last_appended_seq();
  log_thread_ = std::thread([this] { LogLoop(); });
}

WritePipeline::~WritePipeline() {
  Stop();
  Close();
}

Status WritePipeline::Submit(std::vector<LogEntry> entries, IngestWait wait, uint64_t* last_seq,
                             size_t* duplicates) {
  auto write = std::make_shared<Write>();
  write->wait = wait;
  write->payloads.resize(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) EncodeLogEntry(entries[i], &write->payloads[i]);
  write->entries = std::move(entries);
  const size_t n = write->entries.size();
  MutexLock lock(&mu_);
  if (stopping_) return Unavailable("the engine is shutting down");
  if (!log_error_.ok()) return log_error_;
  if (in_flight_ + n > options_.queue_capacity) {
    return ResourceExhausted("ingest queue full: " + std::to_string(in_flight_) + " of " +
                             std::to_string(options_.queue_capacity) +
                             " events waiting, batch of " + std::to_string(n));
  }
  in_flight_ += n;
  pending_.push_back(write);
  log_cv_.notify_one();
  if (wait == IngestWait::kQueued) {
    *last_seq = 0;
    return Status::Ok();
  }
  while (write->status.ok() &&
         !(wait == IngestWait::kDurable ? write->durable : write->applied == n)) {
    lock.Wait(&done_cv_);
  }
  if (!write->status.ok()) return write->status;
  *last_seq = write->first_seq + n - 1;
  if (duplicates != nullptr) *duplicates = write->duplicates;
  return Status::Ok();
}

void WritePipeline::FailWrites(std::vector<std::shared_ptr<Write>>* writes, const Status& status) {
  MutexLock lock(&mu_);
  if (log_error_.ok()) {
    // Said once, loudly: from here on every write is refused until an operator acts.
    Log(LogLevel::kError,
        "the event log failed, every write is refused from now on (free space or fix the disk, "
        "then restart): " +
            status.message());
  }
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

void WritePipeline::LogLoop() {
  std::vector<std::shared_ptr<Write>> unsynced;  // appended, waiting for the interval's fsync
  int64_t sync_deadline_ms = 0;
  std::vector<std::string_view> views;
  while (true) {
    std::vector<std::shared_ptr<Write>> batch;
    {
      MutexLock lock(&mu_);
      auto has_work = [&]() LIVEREC_REQUIRES(mu_) {
        return !pending_.empty() || stopping_ || log_task_ != nullptr;
      };
      if (unsynced.empty()) {
        while (!has_work()) lock.Wait(&log_cv_);
      } else {
        const auto deadline =
            std::chrono::steady_clock::time_point(std::chrono::milliseconds(sync_deadline_ms));
        while (!has_work()) {
          if (!lock.WaitUntil(&log_cv_, deadline)) break;  // the interval's sync is due
        }
      }
      if (log_task_ != nullptr) {
        // Between group commits: nothing is appended while the task has the writer.
        std::function<Status(LogWriter&)> task = std::move(log_task_);
        log_task_ = nullptr;
        lock.Unlock();
        Status status = task(*writer_);
        lock.Lock();
        log_task_status_ = std::move(status);
        log_task_done_ = true;
        done_cv_.notify_all();
        // A task that synced (a new segment does) made the interval's records durable.
        if (!unsynced.empty() && writer_->last_synced_seq() == writer_->last_appended_seq()) {
          for (auto& write : unsynced) {
            write->durable = true;
            apply_queue_.push_back(write);
          }
          unsynced.clear();
          last_durable_seq_ = writer_->last_appended_seq();
          apply_cv_.notify_one();
        }
        continue;
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
    if (options_.sync == LogSyncPolicy::kInterval) {
      if (unsynced.empty() && !batch.empty()) {
        sync_deadline_ms = SteadyNowMs() + options_.sync_interval_ms;
      }
      unsynced.insert(unsynced.end(), batch.begin(), batch.end());
      batch.clear();
      bool stopping = false;
      {
        MutexLock lock(&mu_);
        stopping = stopping_;
      }
      if (unsynced.empty() || (SteadyNowMs() < sync_deadline_ms && !stopping)) continue;
      Status status = writer_->Sync();
      if (!status.ok()) {
        FailWrites(&unsynced, status);
        continue;
      }
      batch.swap(unsynced);
    } else if (options_.sync == LogSyncPolicy::kNever && !batch.empty()) {
      Status status = writer_->Flush();
      if (!status.ok()) {
        FailWrites(&batch, status);
        continue;
      }
    }
    if (batch.empty()) continue;
    MutexLock lock(&mu_);
    for (auto& write : batch) {
      write->durable = true;
      apply_queue_.push_back(write);
    }
    last_durable_seq_ = writer_->last_appended_seq();
    done_cv_.notify_all();
    apply_cv_.notify_one();
  }
  MutexLock lock(&mu_);
  log_done_ = true;
  apply_cv_.notify_one();
}

bool WritePipeline::NextBatch(ApplyBatch* batch) {
  batch->items_.clear();
  batch->holding_.clear();
  MutexLock lock(&mu_);
  while (apply_queue_.empty() && !log_done_) lock.Wait(&apply_cv_);
  if (apply_queue_.empty()) return false;  // log_done_: nothing more will come
  for (auto& write : apply_queue_) {
    batch->holding_.push_back(write);
    for (size_t i = write->applied;
         i < write->entries.size() && batch->items_.size() < options_.apply_batch; ++i) {
      batch->items_.push_back(ApplyBatch::Item{write.get(), i});
    }
    if (batch->items_.size() >= options_.apply_batch) break;
  }
  batch->backlog_ = in_flight_;
  return true;
}

void WritePipeline::FinishBatch(const ApplyBatch& batch, std::span<const size_t> duplicates) {
  {
    MutexLock lock(&mu_);
    for (size_t b = 0; b < batch.items_.size(); ++b) {
      batch.items_[b].write->applied += 1;
      batch.items_[b].write->duplicates += duplicates[b];
    }
    while (!apply_queue_.empty() &&
           apply_queue_.front()->applied == apply_queue_.front()->entries.size()) {
      apply_queue_.pop_front();
    }
    in_flight_ -= batch.items_.size();
  }
  done_cv_.notify_all();
}

Status WritePipeline::RunOnLogThread(std::function<Status(LogWriter&)> task) {
  MutexLock one_at_a_time(&log_task_mu_);
  MutexLock lock(&mu_);
  if (stopping_ || log_done_) return Unavailable("the engine is shutting down");
  if (!log_error_.ok()) return log_error_;
  log_task_ = std::move(task);
  log_task_done_ = false;
  log_cv_.notify_one();
  while (!log_task_done_) lock.Wait(&done_cv_);
  return log_task_status_;
}

void WritePipeline::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  log_cv_.notify_all();
}

void WritePipeline::Close() {
  if (log_thread_.joinable()) log_thread_.join();
  if (writer_ == nullptr) return;
  Status status = writer_->Close();
  if (!status.ok()) Log(LogLevel::kError, "closing the log: " + status.message());
  writer_.reset();
}

size_t WritePipeline::in_flight() const {
  MutexLock lock(&mu_);
  return in_flight_;
}

size_t WritePipeline::QueueRoom() const {
  MutexLock lock(&mu_);
  return in_flight_ >= options_.queue_capacity ? 0 : options_.queue_capacity - in_flight_;
}

Status WritePipeline::health() const {
  MutexLock lock(&mu_);
  return log_error_;
}

uint64_t WritePipeline::last_durable_seq() const {
  MutexLock lock(&mu_);
  return last_durable_seq_;
}

}  // namespace liverec
