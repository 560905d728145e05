// LogReader: reads the records of an event log directory in sequence order, checking every
// checksum, length and sequence number (format: store/log_format.h, docs/formats/event_log.md).
//
// What recovery relies on:
//   - A torn tail (a crash while the last record of the last segment was being written: its
//     header or payload cut short, or its checksum wrong with nothing valid after it, or a last
//     segment shorter than its own header) ends reading cleanly; torn_tail_bytes() says how
//     many bytes were dropped.
//   - Anything else that fails a check (a bad record followed by valid data, a bad record in a
//     segment that is not the last, a bad segment header, a sequence gap inside or between
//     segments, an unknown format version) is Corruption naming the file, byte offset and
//     sequence number. Nothing is ever skipped silently.
//   - A missing directory or one without segments reads as an empty log. Files whose names are
//     not segment names are ignored.
//
// Sealed logs (store/sealing.h): Next opens each sealed record with the reader's keys and hands
// out its plaintext. A record sealed under a key the keyring lacks is FailedPrecondition ("no
// key for key id ..."); one whose tag does not verify is Corruption ("authentication failed"),
// both naming the file, offset and sequence number; neither is ever taken for a torn tail once
// its checksum holds. Plain segments are read with or without keys (a log written before
// encryption was turned on), but a plain segment after a sealed one is Corruption: the writer
// never goes back to plain, so it would be a downgrade.
//
// Thread safety: one thread at a time per reader. Reading while a LogWriter appends to the same
// directory is not supported (the reader may see a half-written record as a torn tail).
#ifndef LIVEREC_STORE_LOG_READER_H_
#define LIVEREC_STORE_LOG_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "liverec/status.h"
#include "store/sealing.h"

namespace liverec {

// One segment file of a log directory.
struct LogSegmentFile {
  uint64_t first_seq = 0;  // from the file name
  std::string path;        // dir + "/" + name
};

// Returns the segment files of `dir` sorted by first sequence number; an empty list if `dir`
// does not exist. Other files are ignored. IOError if the directory cannot be listed.
StatusOr<std::vector<LogSegmentFile>> ListLogSegments(const std::string& dir);

// One record as returned by LogReader::Next.
struct LogRecord {
  uint64_t seq = 0;
  // The plaintext (a sealed record opened). Points into the reader's buffers: valid until the
  // next call to Next or the reader's end.
  std::string_view payload;
};

class LogReader {
 public:
  // Opens the log in `dir` for reading the records whose sequence number is >= from_seq
  // (0 or 1: from the first record kept). Reading starts at the segment that holds from_seq,
  // so earlier segments are neither read nor checked. If segments before from_seq were
  // deleted, reading simply starts at the first record kept: a caller that needs from_seq
  // exactly (recovery after a snapshot) checks the seq of the first record returned.
  // `keys` opens sealed records (null: none can be opened). Errors: IOError if the directory
  // cannot be listed.
  static StatusOr<std::unique_ptr<LogReader>> Open(const std::string& dir, uint64_t from_seq,
                                                   std::shared_ptr<const Keyring> keys = nullptr);

  // Reads the next record into *out. Returns true with a record, false at the clean end of the
  // log (including a torn tail), Corruption or IOError otherwise. After an error, every later
  // call returns the same error.
  StatusOr<bool> Next(LogRecord* out);

  // Bytes dropped as a torn tail at the end of the last segment; 0 until the end is reached.
  uint64_t torn_tail_bytes() const { return torn_tail_bytes_; }

  // The sequence number the next record would carry: after the clean end, the one a writer
  // appends next. 0 if no segment header has been read.
  uint64_t next_seq() const { return expected_seq_; }

  // Whether the segment read last holds sealed records (kSealedLogFormatVersion).
  bool segment_sealed() const { return segment_sealed_; }

  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

 private:
  LogReader(std::vector<LogSegmentFile> segments, size_t first_segment_idx, uint64_t from_seq,
            std::shared_ptr<const Keyring> keys);

  // Reads segments_[segment_idx_] into buffer_ and checks its header. Sets done_ at a torn
  // header of the last segment.
  Status LoadSegment();
  // Returns "" if a well-formed record of sequence `expected_seq_` starts at `pos` of buffer_,
  // else what is wrong with it.
  std::string CheckRecordAt(size_t pos) const;
  // True iff some valid record (checksum and plausible sequence) starts anywhere in buffer_
  // after `pos`: decides between torn tail and corruption.
  bool ValidRecordFollows(size_t pos) const;
  Status CorruptionAt(size_t offset, std::string_view what) const;
  // `status` with the file, offset and sequence number in front of its message.
  Status ErrorAt(size_t offset, const Status& status) const;

  std::vector<LogSegmentFile> segments_;
  size_t segment_idx_;
  uint64_t from_seq_;
  std::shared_ptr<const Keyring> keys_;  // never null
  std::string plaintext_;                // the last sealed record's payload, opened
  bool segment_sealed_ = false;
  bool seen_sealed_ = false;  // a sealed segment was read: plain ones may no longer follow
  std::string buffer_;        // the whole current segment
  size_t pos_ = 0;            // offset of the next record in buffer_
  bool segment_loaded_ = false;
  bool done_ = false;
  Status error_;
  uint64_t expected_seq_ = 0;
  uint64_t torn_tail_bytes_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_STORE_LOG_READER_H_
