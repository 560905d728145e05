#include "engine/snapshots.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/strings.h"
#include "store/log_writer.h"
#include "store/posix_file.h"

namespace liverec {

std::string DataDir::snapshot_file(uint64_t seq) const {
  return snapshots() + "/" + SnapshotFileName(seq);
}

StatusOr<std::shared_ptr<const Keyring>> LoadStorageKeys(const Options& options) {
  const std::string key_file = options.GetString("", "storage", "key_file");
  std::vector<std::string> old_files;
  const std::string old_list = options.GetString("", "storage", "old_key_files");
  for (std::string_view file : Split(old_list, ',')) {
    file = Trim(file);
    if (!file.empty()) old_files.emplace_back(file);
  }
  StatusOr<Keyring> keys = Keyring::FromFiles(key_file, old_files);
  if (!keys.ok()) {
    return Status(keys.status().code(),
                  "storage.key_file / storage.old_key_files: " + keys.status().message());
  }
  return std::make_shared<const Keyring>(*std::move(keys));
}

StatusOr<std::unique_ptr<SnapshotWriter>> BeginSnapshot(const DataDir& dir, uint64_t seq,
                                                        int64_t now_unix_ms,
                                                        SnapshotEntry* existing) {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> snapshots, ListSnapshots(dir.snapshots()));
  if (!snapshots.empty() && snapshots.front().last_applied_seq == seq) {
    // Nothing was applied since the newest snapshot: it already is this state.
    *existing = SnapshotEntry{seq, snapshots.front().created_unix_ms, snapshots.front().size_bytes};
    return std::unique_ptr<SnapshotWriter>();
  }
  return SnapshotWriter::Create(dir.snapshots(), seq, now_unix_ms, dir.keys().get());
}

StatusOr<SnapshotEntry> FinishSnapshot(const DataDir& dir, SnapshotWriter* writer,
                                       int64_t created_unix_ms, size_t keep, bool prune_log) {
  LIVEREC_RETURN_IF_ERROR(writer->Commit());
  const uint64_t seq = writer->last_applied_seq();
  LIVEREC_RETURN_IF_ERROR(DeleteSnapshotsBefore(dir.snapshots(), seq, keep));
  // The log before the oldest kept snapshot is needed by no recovery or rollback.
  if (prune_log) {
    LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> kept, ListSnapshots(dir.snapshots()));
    if (!kept.empty()) {
      LIVEREC_RETURN_IF_ERROR(DeleteSegmentsBefore(dir.log(), kept.back().last_applied_seq + 1));
    }
  }
  return SnapshotEntry{seq, created_unix_ms, writer->size_bytes()};
}

Status DeleteSnapshotFile(const DataDir& dir, uint64_t seq) {
  const std::string path = dir.snapshot_file(seq);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("delete", path, errno);
  ScopedFd dir_fd(OpenDir(dir.snapshots()));
  if (dir_fd.get() < 0) return ErrnoError("open directory", dir.snapshots(), errno);
  return FsyncDir(dir_fd.get(), dir.snapshots());
}

StatusOr<std::vector<SnapshotEntry>> ListSnapshotEntries(const DataDir& dir) {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> infos, ListSnapshots(dir.snapshots()));
  std::vector<SnapshotEntry> out;
  for (const SnapshotInfo& info : infos) {
    out.push_back(SnapshotEntry{info.last_applied_seq, info.created_unix_ms, info.size_bytes});
  }
  return out;
}

Status CheckRollbackTarget(const DataDir& dir, uint64_t seq) {
  const std::string path = dir.snapshot_file(seq);
  if (!std::filesystem::exists(path)) {
    return NotFound("no snapshot with seq " + std::to_string(seq) +
                    " (GET /v1/admin/snapshots lists them)");
  }
  return ReadSnapshot(path, dir.keys().get()).status();
}

}  // namespace liverec
