#include "store/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "store/crc32c.h"
#include "store/log_format.h"
#include "store/log_record.h"
#include "store/posix_file.h"

namespace liverec {
namespace {

// Reads the whole file at `path` into *out with POSIX calls, retrying on EINTR.
Status ReadWholeFile(const std::string& path, std::string* out) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", path, errno);
  out->resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  LIVEREC_RETURN_IF_ERROR(ReadUpTo(fd.get(), out->data(), out->size(), path, &got));
  out->resize(got);  // the file shrank since fstat: keep what is there
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<LogSegmentFile>> ListLogSegments(const std::string& dir) {
  std::vector<LogSegmentFile> segments;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return segments;
  if (ec) return IOError("list " + dir + ": " + ec.message());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    uint64_t first_seq = 0;
    if (ParseLogSegmentFileName(it->path().filename().string(), &first_seq)) {
      segments.push_back(
          {first_seq, (std::filesystem::path(dir) / it->path().filename()).string()});
    }
  }
  if (ec) return IOError("list " + dir + ": " + ec.message());
  std::sort(segments.begin(), segments.end(), [](const LogSegmentFile& a, const LogSegmentFile& b) {
    return a.first_seq < b.first_seq;
  });
  return segments;
}

StatusOr<std::unique_ptr<LogReader>> LogReader::Open(const std::string& dir, uint64_t from_seq,
                                                     std::shared_ptr<const Keyring> keys) {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<LogSegmentFile> segments, ListLogSegments(dir));
  // Start at the last segment whose first record is <= from_seq: it holds from_seq if any does.
  size_t first_idx = 0;
  while (first_idx + 1 < segments.size() && segments[first_idx + 1].first_seq <= from_seq) {
    ++first_idx;
  }
  if (keys == nullptr) keys = std::make_shared<const Keyring>();
  return std::unique_ptr<LogReader>(
      new LogReader(std::move(segments), first_idx, from_seq, std::move(keys)));
}

LogReader::LogReader(std::vector<LogSegmentFile> segments, size_t first_segment_idx,
                     uint64_t from_seq, std::shared_ptr<const Keyring> keys)
    : segments_(std::move(segments)),
      segment_idx_(first_segment_idx),
      from_seq_(from_seq),
      keys_(std::move(keys)) {}

Status LogReader::CorruptionAt(size_t offset, std::string_view what) const {
  return Corruption(segments_[segment_idx_].path + ": offset " + std::to_string(offset) + ": seq " +
                    std::to_string(expected_seq_) + ": " + std::string(what));
}

Status LogReader::ErrorAt(size_t offset, const Status& status) const {
  return Status(status.code(), segments_[segment_idx_].path + ": offset " + std::to_string(offset) +
                                   ": seq " + std::to_string(expected_seq_) + ": " +
                                   status.message());
}

Status LogReader::LoadSegment() {
  const LogSegmentFile& segment = segments_[segment_idx_];
  const bool is_last = segment_idx_ + 1 == segments_.size();
  LIVEREC_RETURN_IF_ERROR(ReadWholeFile(segment.path, &buffer_));
  if (buffer_.size() < kLogSegmentHeaderBytes) {
    // A crash between creating a segment and writing its header leaves a short last file.
    if (is_last) {
      torn_tail_bytes_ = buffer_.size();
      done_ = true;
      return Status::Ok();
    }
    return CorruptionAt(0, "segment header cut short: " + std::to_string(buffer_.size()) + " of " +
                               std::to_string(kLogSegmentHeaderBytes) + " bytes");
  }
  const char* header = buffer_.data();
  if (std::string_view(header, kLogSegmentMagic.size()) != kLogSegmentMagic) {
    return CorruptionAt(0, "bad segment magic");
  }
  const uint32_t stored_crc =
      UnmaskCrc32c(DecodeFixed<uint32_t>(header + kLogSegmentHeaderCrcOffset));
  if (stored_crc != Crc32c(header, kLogSegmentHeaderCrcOffset)) {
    return CorruptionAt(0, "segment header checksum mismatch");
  }
  const uint32_t version = DecodeFixed<uint32_t>(header + kLogSegmentVersionOffset);
  if (version != kLogFormatVersion && version != kSealedLogFormatVersion) {
    return CorruptionAt(0, "unsupported log format version " + std::to_string(version) +
                               " (this reader knows " + std::to_string(kLogFormatVersion) +
                               " and " + std::to_string(kSealedLogFormatVersion) + ")");
  }
  segment_sealed_ = version == kSealedLogFormatVersion;
  if (!segment_sealed_ && seen_sealed_) {
    return CorruptionAt(0,
                        "plain segment after sealed ones (the writer never turns sealing off "
                        "in a log: replaced or planted file?)");
  }
  seen_sealed_ = seen_sealed_ || segment_sealed_;
  const uint64_t first_seq = DecodeFixed<uint64_t>(header + kLogSegmentFirstSeqOffset);
  if (first_seq < kFirstLogSeq) return CorruptionAt(0, "segment first seq 0");
  if (first_seq != segment.first_seq) {
    return CorruptionAt(0, "header first seq " + std::to_string(first_seq) +
                               " differs from the file name's " +
                               std::to_string(segment.first_seq));
  }
  // The first segment read may start anywhere (older ones may have been deleted); every
  // later one must continue exactly where the previous one ended.
  if (expected_seq_ != 0 && first_seq != expected_seq_) {
    return CorruptionAt(
        0, "sequence gap between segments: segment starts at " + std::to_string(first_seq));
  }
  expected_seq_ = first_seq;
  pos_ = kLogSegmentHeaderBytes;
  segment_loaded_ = true;
  return Status::Ok();
}

std::string LogReader::CheckRecordAt(size_t pos) const {
  const size_t available = buffer_.size() - pos;
  if (available < kLogRecordHeaderBytes) {
    return "record header cut short: " + std::to_string(available) + " of " +
           std::to_string(kLogRecordHeaderBytes) + " bytes";
  }
  const char* record = buffer_.data() + pos;
  const uint32_t length = DecodeFixed<uint32_t>(record + kLogRecordLengthOffset);
  if (length > (segment_sealed_ ? kMaxLogRecordLength : kMaxLogPayloadBytes)) {
    return "impossible payload length " + std::to_string(length);
  }
  if (available - kLogRecordHeaderBytes < length) {
    return "payload cut short: " + std::to_string(available - kLogRecordHeaderBytes) + " of " +
           std::to_string(length) + " bytes";
  }
  const uint32_t stored_crc = UnmaskCrc32c(DecodeFixed<uint32_t>(record));
  const uint32_t crc =
      Crc32c(record + kLogRecordCrcBytes, kLogRecordHeaderBytes - kLogRecordCrcBytes + length);
  if (stored_crc != crc) return "record checksum mismatch";
  return "";
}

bool LogReader::ValidRecordFollows(size_t pos) const {
  // Records after the bad one carry sequence numbers expected_seq_ + 1, + 2, ... and each
  // takes at least a header, which bounds the plausible range. Testing it before the checksum
  // makes this scan cheap over garbage.
  const uint64_t max_plausible_seq = expected_seq_ + (buffer_.size() - pos) / kLogRecordHeaderBytes;
  for (size_t p = pos + 1; p + kLogRecordHeaderBytes <= buffer_.size(); ++p) {
    const uint64_t seq = DecodeFixed<uint64_t>(buffer_.data() + p + kLogRecordSeqOffset);
    if (seq < expected_seq_ || seq > max_plausible_seq) continue;
    if (CheckRecordAt(p).empty()) return true;
  }
  return false;
}

StatusOr<bool> LogReader::Next(LogRecord* out) {
  while (true) {
    if (!error_.ok()) return error_;
    if (done_) return false;
    if (!segment_loaded_) {
      if (segment_idx_ >= segments_.size()) {
        done_ = true;
        return false;
      }
      error_ = LoadSegment();
      continue;
    }
    if (pos_ == buffer_.size()) {
      segment_loaded_ = false;
      ++segment_idx_;
      continue;
    }
    const std::string problem = CheckRecordAt(pos_);
    if (!problem.empty()) {
      const bool is_last = segment_idx_ + 1 == segments_.size();
      if (is_last && !ValidRecordFollows(pos_)) {
        // The normal result of a crash during the last write: drop the partial record.
        torn_tail_bytes_ = buffer_.size() - pos_;
        done_ = true;
        return false;
      }
      error_ = CorruptionAt(pos_, problem);
      continue;
    }
    const char* record = buffer_.data() + pos_;
    const uint64_t seq = DecodeFixed<uint64_t>(record + kLogRecordSeqOffset);
    if (seq != expected_seq_) {
      error_ = CorruptionAt(pos_, "sequence gap: record carries seq " + std::to_string(seq));
      continue;
    }
    const uint16_t type = DecodeFixed<uint16_t>(record + kLogRecordTypeOffset);
    const LogRecordType segment_type =
        segment_sealed_ ? LogRecordType::kSealed : LogRecordType::kFull;
    if (type != static_cast<uint16_t>(segment_type)) {
      error_ = CorruptionAt(pos_, "record type " + std::to_string(type) + " in a segment of " +
                                      (segment_sealed_ ? "sealed" : "plain") + " records");
      continue;
    }
    const uint32_t length = DecodeFixed<uint32_t>(record + kLogRecordLengthOffset);
    if (seq < from_seq_) {
      // Records before from_seq are checked but not opened: nobody reads their payload.
      pos_ += kLogRecordHeaderBytes + length;
      ++expected_seq_;
      continue;
    }
    std::string_view payload;
    if (Status opened = OpenLogRecordPayload(record, *keys_, &plaintext_, &payload); !opened.ok()) {
      error_ = ErrorAt(pos_, opened);
      continue;
    }
    pos_ += kLogRecordHeaderBytes + length;
    ++expected_seq_;
    out->seq = seq;
    out->payload = payload;
    return true;
  }
}

}  // namespace liverec
