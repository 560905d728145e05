// Recovery: rebuilding the engine's state from its data directory when it opens, and applying
// one logged entry, which recovery and the apply thread share.
//
// Recover loads the newest valid snapshot (or, for an empty directory, the snapshot `liverec
// train` wrote) and replays the log after it. Learning is deterministic given the seed and the
// log order, so the recovered state is bit-identical to that of an engine that never stopped.
//
// Thread safety: none; the engine recovers before its threads start.
#ifndef LIVEREC_ENGINE_RECOVERY_H_
#define LIVEREC_ENGINE_RECOVERY_H_

#include <cstdint>
#include <string>

#include "engine/engine_state.h"
#include "engine/log_entry.h"
#include "engine/snapshots.h"
#include "liverec/engine.h"
#include "liverec/status.h"

namespace liverec {

// Replayed records per round of parallel model learning (recovery, an erasure's replay): large
// enough that starting the threads is noise, small enough to stay in cache-friendly memory.
inline constexpr uint64_t kReplayLearnChunk = 16384;

// Applies log entry `seq` to `state`; a rollback loads the snapshot it names from `dir`.
Status ApplyLogEntry(const DataDir& dir, uint64_t seq, const LogEntry& entry, EngineState* state);

// Writes `state`, in the middle of a replay with deferred learning, as the snapshot of its last
// applied sequence number (a snapshot an erasure deleted, written again from its replay).
Status WriteReplayedSnapshot(const DataDir& dir, int64_t now_unix_ms, EngineState* state);

// Recovers `state` (fresh from EngineState::Create) from `dir`, whose log ends at record
// `log_end_seq`: the newest valid snapshot, else `init_snapshot` (a snapshot file or a folder
// of them, written into `dir` as the first snapshot) when the log is empty, then the log
// after it. Fills *info's snapshot and replay fields (snapshot_seq 0: no snapshot loaded). With
// dir.erasure_marker() present, a snapshot a rollback record returns to that is missing (an
// erasure deleted it and stopped before writing it again) is written again from the replay.
// Corruption when the log lost acknowledged records or does not continue the snapshot;
// FailedPrecondition for an init snapshot into a directory that holds a log.
Status Recover(const DataDir& dir, const std::string& init_snapshot, uint64_t log_end_seq,
               int64_t now_unix_ms, EngineState* state, RecoveryInfo* info);

}  // namespace liverec

#endif  // LIVEREC_ENGINE_RECOVERY_H_
