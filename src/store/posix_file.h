// POSIX file helpers shared by the event log, the snapshot files and the engine's small files.
// Every failure is an IOError naming the operation, the path and the errno text.
#ifndef LIVEREC_STORE_POSIX_FILE_H_
#define LIVEREC_STORE_POSIX_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "liverec/status.h"

namespace liverec {

// IOError("<op> <path>: <strerror(err)>").
Status ErrnoError(std::string_view op, const std::string& path, int err);

// Writes all of data[0, n) to fd, retrying on EINTR and after short writes.
Status WriteAll(int fd, const char* data, size_t n, const std::string& path);

// The same at byte `offset` of the file (pwrite), leaving the file position alone.
Status WriteAllAt(int fd, const char* data, size_t n, uint64_t offset, const std::string& path);

// Reads data[0, n) from fd at its current position, retrying on EINTR and short reads; stops
// early only at end of file. *got receives the number of bytes read.
Status ReadUpTo(int fd, char* data, size_t n, const std::string& path, size_t* got);

// Opens a directory for fsync and flock (O_RDONLY | O_DIRECTORY); -1 with errno on failure.
int OpenDir(const std::string& dir);

// fsync of a directory descriptor: makes created, renamed and deleted entries durable.
Status FsyncDir(int dir_fd, const std::string& dir);

// Replaces the file at `path` by `bytes` durably: written to `path` + ".tmp" with `mode`,
// fdatasynced, renamed over `path`, and the directory fsynced, so a crash leaves either the
// old or the new file whole (a leftover ".tmp" is overwritten by the next call).
Status ReplaceFileDurably(const std::string& path, std::string_view bytes, unsigned mode);

// Owns a descriptor and closes it when it goes out of scope (errors of that close are moot: the
// paths that care call Close() themselves).
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;

  int get() const { return fd_; }
  // Closes now and reports the error: on some file systems close is where a write fails.
  Status Close(const std::string& path);

 private:
  int fd_;
};

}  // namespace liverec

#endif  // LIVEREC_STORE_POSIX_FILE_H_
