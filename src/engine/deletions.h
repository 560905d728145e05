// DeletionRegistry: the users' deletions an engine was asked for (DELETE /v1/users/{id}) and
// how far each got, kept in <data_dir>/deletions so that a pending one resumes after a restart.
//
// The file never names the user: a deletion that resumes after a restart finds its user in its
// own log record (kDeleteUser, sealed like the rest of the log under storage.key_file), so no
// byte of the user's id is ever readable in the data directory outside the log and snapshots,
// and none at all once the deletion is complete. The user (the client's id and the key) is
// kept in memory only.
//
// Thread safety: none; the engine guards it with its deletions mutex.
#ifndef LIVEREC_ENGINE_DELETIONS_H_
#define LIVEREC_ENGINE_DELETIONS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "liverec/engine.h"
#include "liverec/status.h"

namespace liverec {

struct DeletionRecord {
  DeletionInfo info;  // what GET /v1/deletions/{id} answers; info.user is memory only
  // The user as the state and the log name it; memory only (empty after a restart).
  std::string user_key;
  // The sequence number of the deletion's own log record, and of the user's first record found
  // in the log (0: not searched yet): snapshots from it on hold the user.
  uint64_t deletion_seq = 0;
  uint64_t first_seq = 0;
};

class DeletionRegistry {
 public:
  // Reads `path` (no file: no deletions). Corruption naming the file for bad bytes.
  static StatusOr<DeletionRegistry> Open(const std::string& path);

  // Adds or replaces the deletion `record.info.deletion`, and writes the file durably.
  Status Put(DeletionRecord record);
  const DeletionRecord* Find(const std::string& deletion) const;
  // Deletions neither complete nor failed, in the order they were asked for.
  std::vector<DeletionRecord> Unfinished() const;

 private:
  Status Write() const;

  std::string path_;
  std::map<std::string, DeletionRecord> records_;
  std::vector<std::string> order_;  // ids in the order they were added
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_DELETIONS_H_
