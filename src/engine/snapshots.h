// The engine's data directory and its snapshots, as files: where the log and the snapshots
// live, writing a serialized state as the newest snapshot (and pruning what no recovery or
// rollback needs any more), listing them, and finding the one a rollback names.
//
//   <data_dir>/log/        the event log's segments (store/log_writer.h)
//   <data_dir>/snapshots/  snapshot files named by their last applied sequence number
//
// With storage.key_file, both are sealed (store/sealing.h) under the keys the DataDir carries.
//
// Thread safety: free functions over files; the engine lets one snapshot be written at a time.
#ifndef LIVEREC_ENGINE_SNAPSHOTS_H_
#define LIVEREC_ENGINE_SNAPSHOTS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "liverec/engine.h"
#include "liverec/options.h"
#include "liverec/status.h"
#include "store/sealing.h"
#include "store/snapshot.h"

namespace liverec {

// The storage keys in use: replaced while the engine runs (SIGHUP, Engine::ReloadStorageKeys),
// read by every thread that opens the log or a snapshot. Copies of a DataDir share one.
class StorageKeys {
 public:
  explicit StorageKeys(std::shared_ptr<const Keyring> keys = nullptr) : keys_(std::move(keys)) {}
  std::shared_ptr<const Keyring> get() const LIVEREC_EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return keys_;
  }
  void set(std::shared_ptr<const Keyring> keys) LIVEREC_EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    keys_ = std::move(keys);
  }

 private:
  mutable Mutex mu_;
  std::shared_ptr<const Keyring> keys_ LIVEREC_GUARDED_BY(mu_);
};

// The layout of a data directory.
struct DataDir {
  DataDir() = default;
  explicit DataDir(std::string root_dir, std::shared_ptr<const Keyring> keys = nullptr)
      : root(std::move(root_dir)), key_source(std::make_shared<StorageKeys>(std::move(keys))) {}

  std::string root;  // serve.data_dir
  // storage.key_file and storage.old_key_files; null: nothing sealed, nothing opened.
  std::shared_ptr<StorageKeys> key_source = std::make_shared<StorageKeys>();
  std::shared_ptr<const Keyring> keys() const { return key_source->get(); }

  std::string log() const { return root + "/log"; }
  std::string snapshots() const { return root + "/snapshots"; }
  // The file of the snapshot whose last applied sequence number is `seq`.
  std::string snapshot_file(uint64_t seq) const;
  // Present while an erasure (a user's deletion, retention) may have deleted snapshots that a
  // rollback record names and that its replay has not written again: recovery then writes them
  // again as it passes them (recovery.h).
  std::string erasure_marker() const { return root + "/erasure.pending"; }
};

// The keys of storage.key_file (new writes) and storage.old_key_files (reading only). Errors
// name the option and the file.
StatusOr<std::shared_ptr<const Keyring>> LoadStorageKeys(const Options& options);

// Begins the snapshot of a state whose last applied sequence number is `seq`, created at
// `now_unix_ms`: a writer for its sections (EngineState::Save streams into it), or null when the
// newest snapshot already is that state, which *existing then describes.
StatusOr<std::unique_ptr<SnapshotWriter>> BeginSnapshot(const DataDir& dir, uint64_t seq,
                                                        int64_t now_unix_ms,
                                                        SnapshotEntry* existing);

// Commits the snapshot of `writer`, then deletes snapshots beyond the newest `keep` and, with
// `prune_log` (log.retain=snapshots), the log segments that only older snapshots needed.
StatusOr<SnapshotEntry> FinishSnapshot(const DataDir& dir, SnapshotWriter* writer,
                                       int64_t created_unix_ms, size_t keep, bool prune_log);

// Deletes snapshot `seq` (a missing one is OK) and makes that durable.
Status DeleteSnapshotFile(const DataDir& dir, uint64_t seq);

// The snapshots on disk, newest first.
StatusOr<std::vector<SnapshotEntry>> ListSnapshotEntries(const DataDir& dir);

// OK when snapshot `seq` exists and reads back valid: what a rollback to it needs. NotFound
// for an unknown seq; the snapshot's error when it is damaged.
Status CheckRollbackTarget(const DataDir& dir, uint64_t seq);

}  // namespace liverec

#endif  // LIVEREC_ENGINE_SNAPSHOTS_H_
