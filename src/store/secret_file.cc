#include "store/secret_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>

#include "common/strings.h"
#include "store/posix_file.h"

namespace liverec {
namespace {

constexpr size_t kHexDigits = 2 * sizeof(Secret256);

Status FillRandom(uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(out + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("getrandom", "", errno);
    }
    got += static_cast<size_t>(r);
  }
  return Status::Ok();
}

}  // namespace

Status WriteSecretFile(const std::string& path, std::string_view text) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return IOError("create directory " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  const std::string tmp = path + ".tmp";
  {
    ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoError("open", tmp, errno);
    LIVEREC_RETURN_IF_ERROR(WriteAll(fd.get(), text.data(), text.size(), tmp));
    if (::fsync(fd.get()) != 0) return ErrnoError("fsync", tmp, errno);
    LIVEREC_RETURN_IF_ERROR(fd.Close(tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename", tmp, errno);
  const std::string dir_name = dir.empty() ? "." : dir.string();
  ScopedFd dir_fd(OpenDir(dir_name));
  if (dir_fd.get() < 0) return ErrnoError("open", dir_name, errno);
  return FsyncDir(dir_fd.get(), dir_name);
}

StatusOr<Secret256> ReadSecretFile(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return ErrnoError("open", path, errno);
  }
  std::string text(kHexDigits + 2, '\0');
  size_t got = 0;
  LIVEREC_RETURN_IF_ERROR(ReadUpTo(fd.get(), text.data(), text.size(), path, &got));
  text.resize(got);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  const Status bad = Corruption(path + ": expected " + std::to_string(kHexDigits) +
                                " hex digits (as `openssl rand -hex 32` writes them)");
  if (text.size() != kHexDigits) return bad;
  Secret256 secret{};
  for (size_t i = 0; i < secret.size(); ++i) {
    const char* begin = text.data() + 2 * i;
    auto [end, ec] = std::from_chars(begin, begin + 2, secret[i], 16);
    if (ec != std::errc() || end != begin + 2) return bad;
  }
  return secret;
}

StatusOr<Secret256> LoadOrCreateSecretFile(const std::string& path) {
  StatusOr<Secret256> secret = ReadSecretFile(path);
  if (secret.ok() || secret.status().code() != StatusCode::kNotFound) return secret;
  Secret256 fresh{};
  LIVEREC_RETURN_IF_ERROR(FillRandom(fresh.data(), fresh.size()));
  LIVEREC_RETURN_IF_ERROR(WriteSecretFile(path, ToHex(fresh.data(), fresh.size()) + "\n"));
  return fresh;
}

}  // namespace liverec
