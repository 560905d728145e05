// LogWriter: appends opaque payloads as sequence-numbered records to a segmented event log
// (format: store/log_format.h, docs/formats/event_log.md) and makes them durable.
//
// Appends are buffered; Sync() writes the buffer, fdatasyncs the current segment and, after a
// segment was created, fsyncs the directory. Group commit is the caller's job: append many
// records, call Sync() once, then acknowledge everything up to last_synced_seq().
//
// Opening resumes after the last valid record. A torn tail left by a crash is truncated away
// (and made durable) before anything is appended; dropped_tail_bytes() says how many bytes
// went, for the caller to log. A corrupt last segment (see LogReader) makes Open fail rather
// than append after damage.
//
// After a failed write or sync, the writer is unusable: every later call returns the same
// error (after a failed fsync the state of the page cache is unknown, so retrying could
// acknowledge lost data). Reopen it to recover. Before giving up, it cuts the log back to the
// last commit point (the end of the last successful Sync or Flush, or of Open): records
// appended since, which the caller has not acknowledged, must not come back after a restart
// (a disk that filled in the middle of a batch would otherwise leave half of it). The error
// says whether the cut succeeded; if it did not, the records after the commit point may
// reappear, and the message names their sequence numbers.
//
// Sealing (store/sealing.h): with a current key in LogWriterOptions::keys, every record is
// sealed, in segments of sealed records. Open checks the last segment's records but opens
// none, so it needs no earlier key (key rotation: a new key takes over at the next Open, and a
// segment may hold records of several keys). Open starts a new segment when the last one is
// plain and the writer seals (turning sealing on); it refuses a log whose last segment is
// sealed when the writer has no key (turning it off would write plain after sealed).
//
// Thread safety: not thread-safe; one thread (the engine's log thread) owns a writer. Only one
// writer per directory: Open fails with FailedPrecondition while another holds it (flock).
#ifndef LIVEREC_STORE_LOG_WRITER_H_
#define LIVEREC_STORE_LOG_WRITER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "liverec/status.h"
#include "store/sealing.h"

namespace liverec {

enum class LogSyncPolicy {
  kAlways,    // Append and AppendBatch sync before returning
  kInterval,  // the caller syncs when SyncDue(now) says so
  kNever,     // only explicit Sync() calls (and segment rolls) sync
};

struct LogWriterOptions {
  // A new segment is started before a record once the current segment holds at least this
  // many bytes (so a segment exceeds it by at most one record). 64 MiB keeps the number of
  // files small and deleting old segments after a snapshot fine-grained enough.
  uint64_t segment_size_bytes = uint64_t{64} << 20;
  // kAlways by default: an acknowledged event is durable unless the operator opts for speed.
  LogSyncPolicy sync = LogSyncPolicy::kAlways;
  // kInterval: longest time in milliseconds that appended records wait for a sync, counted
  // from the first SyncDue call that sees them. 10 ms bounds the acknowledgement latency while
  // amortizing one fdatasync over every event of the interval.
  int64_t sync_interval_ms = 10;
  // Keys (null: none). With a current key, records are sealed; every key opens what Open reads.
  std::shared_ptr<const Keyring> keys;
};

class LogWriter {
 public:
  // Opens (creating `dir` if needed, but not its parent) the log in `dir` for appending after
  // its last valid record; a new log starts at sequence number 1. Errors: IOError naming the
  // file and errno text; Corruption if the last segment is corrupt (not merely torn);
  // FailedPrecondition if another writer holds the directory or if the log is sealed and the
  // writer has no current key; InvalidArgument for bad options.
  static StatusOr<std::unique_ptr<LogWriter>> Open(const std::string& dir,
                                                   const LogWriterOptions& options);

  // Closes the log as Close() does, ignoring errors (call Close() to see them).
  ~LogWriter();

  // Appends one record and returns its sequence number. InvalidArgument (and nothing
  // written) if payload is longer than kMaxLogPayloadBytes. With kAlways the record is durable
  // on return; otherwise it is buffered until Sync, Flush or a full buffer.
  StatusOr<uint64_t> Append(std::string_view payload);

  // Appends the payloads as consecutive records; *first_seq receives the sequence number of
  // the first (or the next one, for an empty batch). All or nothing for InvalidArgument.
  // With kAlways the batch is made durable with a single sync.
  Status AppendBatch(std::span<const std::string_view> payloads, uint64_t* first_seq);

  // Makes every appended record durable: on return last_synced_seq() == last_appended_seq().
  Status Sync();

  // Hands buffered records to the operating system (they survive a crash of this process but
  // not of the machine) without syncing.
  Status Flush();

  // kInterval: true iff there are unsynced records and `now_ms` (any monotonic clock, the
  // caller's) is at least sync_interval_ms after the first SyncDue call that saw them
  // unsynced. Always false for the other policies. No clock is read here.
  bool SyncDue(int64_t now_ms);

  // Syncs and closes the current segment and starts the next one, so that every record
  // appended so far is in a closed segment (what RewriteLogRecords may rewrite). Nothing
  // happens when the current segment holds no record yet. Returns the sequence number the
  // next record will have.
  StatusOr<uint64_t> StartNewSegment();
  // Seals the records appended from now on with the current key of `keys` (a rotation while
  // running); records already appended keep theirs (each names its key). A plain log gets a new
  // sealed segment, as Open gives it. FailedPrecondition when `keys` has no current key but
  // records are sealed now (turning sealing off is refused).
  Status SetKeys(std::shared_ptr<const Keyring> keys);
  // Flushes, syncs unless the policy is kNever, and closes the files. Later appends fail with
  // FailedPrecondition. Returns the first error.
  Status Close();

  // Sequence number of the last record appended (or found at Open); 0 for an empty log.
  uint64_t last_appended_seq() const { return next_seq_ - 1; }
  // Every record up to this sequence number is durable.
  uint64_t last_synced_seq() const { return last_synced_seq_; }
  // Bytes of a torn tail that Open truncated (0 if the log ended cleanly).
  uint64_t dropped_tail_bytes() const { return dropped_tail_bytes_; }

  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

 private:
  LogWriter(std::string dir, const LogWriterOptions& options, int dir_fd);

  Status Resume();
  Status CreateSegment(uint64_t first_seq);
  // Turns sealing on in a log that was plain: the records after the last plain one go into a
  // new sealed segment (replacing the last segment if it holds no record).
  Status StartSealedSegment(const std::string& last_path, uint64_t last_first_seq);
  Status RollSegment();
  Status AppendOne(std::string_view payload);
  Status WriteBuffer();
  Status SyncSegmentAndDir();
  // Records the first I/O error so that every later call returns it, after cutting the log
  // back to the commit point (CutBack); the returned error says how that went.
  Status Fail(Status status);
  Status CutBack();
  // Marks everything appended so far as the commit point.
  void Commit();

  std::string dir_;
  LogWriterOptions options_;
  int dir_fd_;  // held open for fsync and the writer's flock
  int fd_ = -1;
  std::string segment_path_;
  uint64_t segment_bytes_ = 0;      // written and buffered bytes of the current segment
  uint64_t segment_records_ = 0;    // records in the current segment
  std::string buffer_;              // encoded records not yet written
  std::unique_ptr<Sealer> sealer_;  // null: plain records
  uint64_t next_seq_ = 0;
  uint64_t last_synced_seq_ = 0;
  bool dir_sync_pending_ = false;  // a segment was created since the last directory fsync
  bool has_dirty_since_ = false;   // SyncDue has seen the current unsynced records
  int64_t dirty_since_ms_ = 0;
  uint64_t dropped_tail_bytes_ = 0;
  bool closed_ = false;
  Status error_;
  // The commit point: the segment, its size in bytes and the next sequence number at the end
  // of the last successful Sync or Flush (or Open).
  std::string commit_path_;
  uint64_t commit_bytes_ = 0;
  uint64_t commit_next_seq_ = 0;
};

// Deletes the segments of the log in `dir` whose records all have sequence numbers < seq (for
// use after a snapshot that covers them), then fsyncs the directory. Never deletes the segment
// that holds seq, nor the last segment (it fixes the next sequence number). Decides from the
// file names alone. Not to be called while a LogReader reads the same directory. A missing
// directory is OK. Errors: IOError.
Status DeleteSegmentsBefore(const std::string& dir, uint64_t seq);

}  // namespace liverec

#endif  // LIVEREC_STORE_LOG_WRITER_H_
