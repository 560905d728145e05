#include "store/log_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

#include "common/check.h"
#include "store/log_format.h"
#include "store/log_reader.h"
#include "store/log_record.h"
#include "store/posix_file.h"

namespace liverec {
namespace {

// Records are gathered in user space and written in pieces of about this size: one write
// system call per many small records, while a large buffer would only delay the data.
constexpr size_t kWriteBufferBytes = size_t{256} << 10;
constexpr mode_t kSegmentFileMode = 0644;
constexpr mode_t kDirMode = 0755;

Status FileSize(const std::string& path, uint64_t* size) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("stat", path, errno);
  *size = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<LogWriter>> LogWriter::Open(const std::string& dir,
                                                     const LogWriterOptions& options) {
  if (options.segment_size_bytes == 0) {
    return InvalidArgument("log segment_size_bytes must be positive");
  }
  if (options.sync_interval_ms < 0) {
    return InvalidArgument("log sync_interval_ms must be >= 0, got " +
                           std::to_string(options.sync_interval_ms));
  }
  if (::mkdir(dir.c_str(), kDirMode) != 0 && errno != EEXIST) {
    return ErrnoError("create directory", dir, errno);
  }
  const int dir_fd = OpenDir(dir);
  if (dir_fd < 0) return ErrnoError("open directory", dir, errno);
  // The writer object owns dir_fd from here on (its destructor closes it).
  std::unique_ptr<LogWriter> writer(new LogWriter(dir, options, dir_fd));
  if (::flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      writer->closed_ = true;
      return FailedPrecondition("another LogWriter holds the log in " + dir);
    }
    writer->closed_ = true;
    return ErrnoError("lock directory", dir, errno);
  }
  const Status status = writer->Resume();
  if (!status.ok()) {
    writer->closed_ = true;
    return status;
  }
  return writer;
}

LogWriter::LogWriter(std::string dir, const LogWriterOptions& options, int dir_fd)
    : dir_(std::move(dir)), options_(options), dir_fd_(dir_fd) {
  if (options_.keys != nullptr && options_.keys->current() != nullptr) {
    sealer_ = std::make_unique<Sealer>(*options_.keys->current());
  }
}

LogWriter::~LogWriter() {
  if (!closed_) {
    const Status ignored = Close();
    (void)ignored;
  }
  if (fd_ >= 0) ::close(fd_);
  ::close(dir_fd_);  // also releases the flock
}

Status LogWriter::Resume() {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<LogSegmentFile> segments, ListLogSegments(dir_));
  // A last segment shorter than its header is a crash between creating the file and writing
  // the header: it holds no record, so it goes.
  while (!segments.empty()) {
    uint64_t size = 0;
    LIVEREC_RETURN_IF_ERROR(FileSize(segments.back().path, &size));
    if (size >= kLogSegmentHeaderBytes) break;
    if (::unlink(segments.back().path.c_str()) != 0) {
      return ErrnoError("delete torn segment", segments.back().path, errno);
    }
    LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd_, dir_));
    dropped_tail_bytes_ += size;
    segments.pop_back();
  }
  if (segments.empty()) {
    next_seq_ = kFirstLogSeq;
    last_synced_seq_ = next_seq_ - 1;
    LIVEREC_RETURN_IF_ERROR(CreateSegment(kFirstLogSeq));
    // The new segment's header is not yet durable; a cut back keeps the file, so the header
    // stays either way.
    Commit();
    return Status::Ok();
  }

  // Only the last segment needs reading: appends continue after its last valid record. Its
  // records are checked (checksums, sequence) but, asked to start after all of them, the
  // reader opens none: appending needs no old key, so a rotated key can take over once a
  // snapshot under it covers the log (recovery opens what it replays).
  const LogSegmentFile& last = segments.back();
  LIVEREC_ASSIGN_OR_RETURN(
      std::unique_ptr<LogReader> reader,
      LogReader::Open(dir_, std::numeric_limits<uint64_t>::max(), options_.keys));
  LogRecord record;
  while (true) {
    LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more) break;
  }
  next_seq_ = reader->next_seq();
  LIVEREC_CHECK(next_seq_ >= last.first_seq) << "reader ended before the last segment";
  if (reader->segment_sealed() && sealer_ == nullptr) {
    return FailedPrecondition("the log in " + dir_ + " is sealed (" + last.path +
                              "): set storage.key_file to write to it");
  }

  fd_ = ::open(last.path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd_ < 0) return ErrnoError("open", last.path, errno);
  segment_path_ = last.path;
  uint64_t size = 0;
  LIVEREC_RETURN_IF_ERROR(FileSize(last.path, &size));
  const uint64_t torn = reader->torn_tail_bytes();
  LIVEREC_CHECK(torn <= size) << "torn tail larger than the segment";
  if (torn > 0) {
    // Never append after a torn record: a reader would see the garbage in the middle.
    if (::ftruncate(fd_, static_cast<off_t>(size - torn)) != 0) {
      return ErrnoError("truncate torn tail of", last.path, errno);
    }
    size -= torn;
    dropped_tail_bytes_ += torn;
  }
  // The previous process may have died with records only in the page cache: syncing now makes
  // last_synced_seq() true for everything found.
  if (::fdatasync(fd_) != 0) return ErrnoError("fdatasync", last.path, errno);
  LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd_, dir_));
  if (::lseek(fd_, static_cast<off_t>(size), SEEK_SET) < 0) {
    return ErrnoError("seek", last.path, errno);
  }
  segment_bytes_ = size;
  segment_records_ = next_seq_ - last.first_seq;
  last_synced_seq_ = next_seq_ - 1;
  if (sealer_ != nullptr && !reader->segment_sealed()) {
    LIVEREC_RETURN_IF_ERROR(StartSealedSegment(last.path, last.first_seq));
  }
  Commit();
  return Status::Ok();
}

Status LogWriter::StartSealedSegment(const std::string& last_path, uint64_t last_first_seq) {
  if (segment_records_ == 0) {
    // A header alone: it is replaced by a sealed header under the same name, through a
    // temporary file and a rename, so that a crash leaves one header or the other and never no
    // segment (the last segment's name fixes the next sequence number).
    LIVEREC_CHECK(next_seq_ == last_first_seq);
    const std::string temp_path = last_path + ".tmp";
    {
      ScopedFd temp(
          ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kSegmentFileMode));
      if (temp.get() < 0) return ErrnoError("create", temp_path, errno);
      char header[kLogSegmentHeaderBytes];
      EncodeLogSegmentHeader(last_first_seq, /*sealed=*/true, header);
      LIVEREC_RETURN_IF_ERROR(WriteAll(temp.get(), header, sizeof(header), temp_path));
      if (::fdatasync(temp.get()) != 0) return ErrnoError("fdatasync", temp_path, errno);
      LIVEREC_RETURN_IF_ERROR(temp.Close(temp_path));
    }
    if (::rename(temp_path.c_str(), last_path.c_str()) != 0) {
      return ErrnoError("rename " + temp_path + " to", last_path, errno);
    }
    LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd_, dir_));
    // fd_ still refers to the replaced file: append through the new one.
    ::close(fd_);
    fd_ = ::open(last_path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return ErrnoError("open", last_path, errno);
    if (::lseek(fd_, static_cast<off_t>(kLogSegmentHeaderBytes), SEEK_SET) < 0) {
      return ErrnoError("seek", last_path, errno);
    }
    return Status::Ok();
  }
  // Records in it: a new sealed segment starts after them, durable at once, so that a crash
  // cannot leave a log whose last segment is a plain one again.
  LIVEREC_RETURN_IF_ERROR(RollSegment());
  if (::fdatasync(fd_) != 0) return ErrnoError("fdatasync", segment_path_, errno);
  LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd_, dir_));
  dir_sync_pending_ = false;
  return Status::Ok();
}

Status LogWriter::CreateSegment(uint64_t first_seq) {
  const std::string path = dir_ + "/" + LogSegmentFileName(first_seq);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kSegmentFileMode);
  if (fd < 0) return ErrnoError("create segment", path, errno);
  fd_ = fd;
  segment_path_ = path;
  char header[kLogSegmentHeaderBytes];
  EncodeLogSegmentHeader(first_seq, sealer_ != nullptr, header);
  LIVEREC_RETURN_IF_ERROR(WriteAll(fd_, header, sizeof(header), path));
  segment_bytes_ = kLogSegmentHeaderBytes;
  segment_records_ = 0;
  dir_sync_pending_ = true;
  return Status::Ok();
}

Status LogWriter::RollSegment() {
  // The old segment is synced before it is closed whatever the policy, so that Sync() only
  // ever has the current segment to sync: one fdatasync per segment, negligible next to its
  // size.
  LIVEREC_RETURN_IF_ERROR(SyncSegmentAndDir());
  if (::close(fd_) != 0) {
    fd_ = -1;
    return ErrnoError("close", segment_path_, errno);
  }
  fd_ = -1;
  return CreateSegment(next_seq_);
}

void LogWriter::Commit() {
  commit_path_ = segment_path_;
  commit_bytes_ = segment_bytes_;
  commit_next_seq_ = next_seq_;
}

Status LogWriter::Fail(Status status) {
  if (status.ok() || !error_.ok()) return status;
  const uint64_t first_lost = commit_next_seq_;
  const uint64_t last_lost = next_seq_ - 1;
  std::string what;
  if (last_lost < first_lost) {
    what = "; no record was appended since the last commit";
  } else if (Status cut = CutBack(); cut.ok()) {
    what = "; the log was cut back to sequence number " + std::to_string(first_lost - 1) +
           ": records " + std::to_string(first_lost) + ".." + std::to_string(last_lost) +
           " (never acknowledged) are gone";
  } else {
    what = "; cutting the log back failed (" + cut.message() + "): records " +
           std::to_string(first_lost) + ".." + std::to_string(last_lost) +
           " (never acknowledged) may reappear after a restart";
  }
  error_ = Status(status.code(), status.message() + what);
  return error_;
}

Status LogWriter::CutBack() {
  buffer_.clear();
  // Segments started after the commit point hold only records after it.
  LIVEREC_ASSIGN_OR_RETURN(std::vector<LogSegmentFile> segments, ListLogSegments(dir_));
  bool unlinked = false;
  for (const LogSegmentFile& segment : segments) {
    if (segment.first_seq < commit_next_seq_ || segment.path == commit_path_) continue;
    if (segment.path == segment_path_ && fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (::unlink(segment.path.c_str()) != 0) {
      return ErrnoError("delete segment", segment.path, errno);
    }
    unlinked = true;
  }
  if (unlinked) LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd_, dir_));
  if (segment_path_ != commit_path_ || fd_ < 0) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(commit_path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return ErrnoError("open", commit_path_, errno);
    segment_path_ = commit_path_;
  }
  if (::ftruncate(fd_, static_cast<off_t>(commit_bytes_)) != 0) {
    return ErrnoError("truncate", commit_path_, errno);
  }
  if (::fdatasync(fd_) != 0) return ErrnoError("fdatasync", commit_path_, errno);
  next_seq_ = commit_next_seq_;
  segment_bytes_ = commit_bytes_;
  last_synced_seq_ = std::min(last_synced_seq_, next_seq_ - 1);
  return Status::Ok();
}

Status LogWriter::AppendOne(std::string_view payload) {
  if (segment_records_ > 0 && segment_bytes_ >= options_.segment_size_bytes) {
    LIVEREC_RETURN_IF_ERROR(Fail(RollSegment()));
  }
  const size_t old_size = buffer_.size();
  EncodeLogRecord(next_seq_, payload, sealer_.get(), &buffer_);
  segment_bytes_ += buffer_.size() - old_size;
  ++segment_records_;
  ++next_seq_;
  if (buffer_.size() >= kWriteBufferBytes) return Fail(WriteBuffer());
  return Status::Ok();
}

Status LogWriter::WriteBuffer() {
  if (buffer_.empty()) return Status::Ok();
  LIVEREC_RETURN_IF_ERROR(WriteAll(fd_, buffer_.data(), buffer_.size(), segment_path_));
  buffer_.clear();
  return Status::Ok();
}

Status LogWriter::SyncSegmentAndDir() {
  LIVEREC_RETURN_IF_ERROR(WriteBuffer());
  if (last_synced_seq_ != last_appended_seq()) {
    if (::fdatasync(fd_) != 0) return ErrnoError("fdatasync", segment_path_, errno);
  }
  // A new segment's records are durable only once its directory entry is.
  if (dir_sync_pending_) {
    LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd_, dir_));
    dir_sync_pending_ = false;
  }
  last_synced_seq_ = last_appended_seq();
  has_dirty_since_ = false;
  return Status::Ok();
}

StatusOr<uint64_t> LogWriter::Append(std::string_view payload) {
  uint64_t seq = 0;
  LIVEREC_RETURN_IF_ERROR(AppendBatch(std::span<const std::string_view>(&payload, 1), &seq));
  return seq;
}

Status LogWriter::AppendBatch(std::span<const std::string_view> payloads, uint64_t* first_seq) {
  if (!error_.ok()) return error_;
  if (closed_) return FailedPrecondition("append to closed log " + dir_);
  for (size_t i = 0; i < payloads.size(); ++i) {
    if (payloads[i].size() > kMaxLogPayloadBytes) {
      return InvalidArgument("log payload " + std::to_string(i) + " has " +
                             std::to_string(payloads[i].size()) + " bytes, over the limit of " +
                             std::to_string(kMaxLogPayloadBytes));
    }
  }
  *first_seq = next_seq_;
  for (std::string_view payload : payloads) LIVEREC_RETURN_IF_ERROR(AppendOne(payload));
  if (options_.sync == LogSyncPolicy::kAlways) return Sync();
  return Status::Ok();
}

Status LogWriter::Sync() {
  if (!error_.ok()) return error_;
  if (closed_) return FailedPrecondition("sync of closed log " + dir_);
  LIVEREC_RETURN_IF_ERROR(Fail(SyncSegmentAndDir()));
  Commit();
  return Status::Ok();
}

Status LogWriter::Flush() {
  if (!error_.ok()) return error_;
  if (closed_) return FailedPrecondition("flush of closed log " + dir_);
  LIVEREC_RETURN_IF_ERROR(Fail(WriteBuffer()));
  Commit();
  return Status::Ok();
}

Status LogWriter::SetKeys(std::shared_ptr<const Keyring> keys) {
  if (!error_.ok()) return error_;
  if (closed_) return FailedPrecondition("new keys for closed log " + dir_);
  if (keys == nullptr || keys->current() == nullptr) {
    if (sealer_ != nullptr) {
      return FailedPrecondition("the log in " + dir_ +
                                " is sealed: turning sealing off is refused");
    }
    options_.keys = std::move(keys);
    return Status::Ok();
  }
  const bool was_plain = sealer_ == nullptr;
  sealer_ = std::make_unique<Sealer>(*keys->current());
  options_.keys = std::move(keys);
  if (!was_plain) return Status::Ok();
  LIVEREC_RETURN_IF_ERROR(Fail(WriteBuffer()));
  LIVEREC_RETURN_IF_ERROR(Fail(StartSealedSegment(segment_path_, next_seq_ - segment_records_)));
  Commit();
  return Status::Ok();
}

StatusOr<uint64_t> LogWriter::StartNewSegment() {
  if (!error_.ok()) return error_;
  if (closed_) return FailedPrecondition("new segment of closed log " + dir_);
  if (segment_records_ > 0) {
    LIVEREC_RETURN_IF_ERROR(Fail(RollSegment()));
    LIVEREC_RETURN_IF_ERROR(Fail(SyncSegmentAndDir()));  // the new segment's directory entry
    Commit();
  }
  return next_seq_;
}

bool LogWriter::SyncDue(int64_t now_ms) {
  if (options_.sync != LogSyncPolicy::kInterval || last_synced_seq_ == last_appended_seq()) {
    return false;
  }
  if (!has_dirty_since_) {
    has_dirty_since_ = true;
    dirty_since_ms_ = now_ms;
  }
  return now_ms - dirty_since_ms_ >= options_.sync_interval_ms;
}

Status LogWriter::Close() {
  if (closed_) return error_;
  Status status = error_;
  if (status.ok()) {
    status = options_.sync == LogSyncPolicy::kNever ? Flush() : Sync();
  }
  closed_ = true;
  if (fd_ >= 0) {
    if (::close(fd_) != 0 && status.ok()) status = ErrnoError("close", segment_path_, errno);
    fd_ = -1;
  }
  return status;
}

Status DeleteSegmentsBefore(const std::string& dir, uint64_t seq) {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<LogSegmentFile> segments, ListLogSegments(dir));
  // Segment i holds [first_seq(i), first_seq(i + 1)): all below seq iff first_seq(i + 1) <= seq.
  bool deleted = false;
  for (size_t i = 0; i + 1 < segments.size() && segments[i + 1].first_seq <= seq; ++i) {
    if (::unlink(segments[i].path.c_str()) != 0) {
      return ErrnoError("delete segment", segments[i].path, errno);
    }
    deleted = true;
  }
  if (!deleted) return Status::Ok();
  ScopedFd dir_fd(OpenDir(dir));
  if (dir_fd.get() < 0) return ErrnoError("open directory", dir, errno);
  return FsyncDir(dir_fd.get(), dir);
}

}  // namespace liverec
