#include "store/posix_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

namespace liverec {

Status ErrnoError(std::string_view op, const std::string& path, int err) {
  return IOError(std::string(op) + " " + path + ": " + std::generic_category().message(err));
}

Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t written = ::write(fd, data, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    data += written;
    n -= static_cast<size_t>(written);
  }
  return Status::Ok();
}

Status WriteAllAt(int fd, const char* data, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    const ssize_t written = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    data += written;
    n -= static_cast<size_t>(written);
    offset += static_cast<uint64_t>(written);
  }
  return Status::Ok();
}

Status ReadUpTo(int fd, char* data, size_t n, const std::string& path, size_t* got) {
  *got = 0;
  while (*got < n) {
    const ssize_t r = ::read(fd, data + *got, n - *got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return Status::Ok();
}

int OpenDir(const std::string& dir) {
  return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

Status FsyncDir(int dir_fd, const std::string& dir) {
  if (::fsync(dir_fd) != 0) return ErrnoError("fsync directory", dir, errno);
  return Status::Ok();
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

Status ScopedFd::Close(const std::string& path) {
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return ErrnoError("close", path, errno);
  return Status::Ok();
}

Status ReplaceFileDurably(const std::string& path, std::string_view bytes, unsigned mode) {
  const std::string temp = path + ".tmp";
  {
    ScopedFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (fd.get() < 0) return ErrnoError("create", temp, errno);
    LIVEREC_RETURN_IF_ERROR(WriteAll(fd.get(), bytes.data(), bytes.size(), temp));
    if (::fdatasync(fd.get()) != 0) return ErrnoError("fdatasync", temp, errno);
    LIVEREC_RETURN_IF_ERROR(fd.Close(temp));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) return ErrnoError("rename", temp, errno);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  ScopedFd dir_fd(OpenDir(dir.empty() ? "." : dir));
  if (dir_fd.get() < 0) return ErrnoError("open directory", dir, errno);
  return FsyncDir(dir_fd.get(), dir);
}

}  // namespace liverec
