#include "event/data_file.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/strings.h"

namespace liverec {
namespace {

// Files are read whole and parsed from memory: the Dataset holds every event anyway (about as
// many bytes as the text), and one flat buffer lets every parser work on string_views.
constexpr size_t kReadChunkBytes = size_t{4} << 20;
constexpr unsigned kGzipBufferBytes = 1u << 20;
// Deflate cannot compress better than about 1032:1; caps the size hint read from a gzip
// trailer, which is only the size modulo 2^32 (and garbage for a foreign file).
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr size_t kGzipTrailerBytes = 4;

// Names listed by QuotedList.
constexpr size_t kMaxListedNames = 20;

std::string ErrnoText() { return std::strerror(errno); }

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

// The uncompressed size recorded in a gzip trailer (modulo 2^32), capped to what deflate can
// produce from the file; 0 if unknown. Only a capacity hint.
size_t GzipSizeHint(const std::string& path) {
  std::error_code ec;
  uintmax_t compressed = std::filesystem::file_size(path, ec);
  if (ec || compressed < kGzipTrailerBytes) return 0;
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr || std::fseek(f.get(), -static_cast<long>(kGzipTrailerBytes), SEEK_END) != 0) {
    return 0;
  }
  std::array<unsigned char, kGzipTrailerBytes> b{};
  if (std::fread(b.data(), 1, b.size(), f.get()) != b.size()) return 0;
  uint64_t size =
      uint64_t{b[0]} | uint64_t{b[1]} << 8 | uint64_t{b[2]} << 16 | uint64_t{b[3]} << 24;
  return static_cast<size_t>(std::min<uint64_t>(size, compressed * kMaxDeflateRatio));
}

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

}  // namespace

StatusOr<std::string> ReadPlainFile(const std::string& path) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr) return IOError("cannot open " + Quote(path, path.size()) + ": " + ErrnoText());
  std::string out;
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec) out.reserve(static_cast<size_t>(size));
  while (true) {
    size_t old = out.size();
    out.resize(old + kReadChunkBytes);
    size_t n = std::fread(out.data() + old, 1, kReadChunkBytes, f.get());
    out.resize(old + n);
    if (n < kReadChunkBytes) break;
  }
  if (std::ferror(f.get())) {
    return IOError("cannot read " + Quote(path, path.size()) + ": " + ErrnoText());
  }
  return out;
}

StatusOr<std::string> ReadGzipFile(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (f == nullptr) return IOError("cannot open " + Quote(path, path.size()) + ": " + ErrnoText());
  gzbuffer(f.get(), kGzipBufferBytes);
  std::string out;
  out.reserve(GzipSizeHint(path));
  while (true) {
    size_t old = out.size();
    out.resize(old + kReadChunkBytes);
    int n = gzread(f.get(), out.data() + old, static_cast<unsigned>(kReadChunkBytes));
    out.resize(old + static_cast<size_t>(std::max(n, 0)));
    if (n <= 0) break;
  }
  int err = Z_OK;
  const char* message = gzerror(f.get(), &err);
  if (err == Z_ERRNO) {
    return IOError("cannot read " + Quote(path, path.size()) + ": " + ErrnoText());
  }
  if (err != Z_OK) {
    return Corruption(Quote(path, path.size()) + ": bad gzip data after " +
                      std::to_string(out.size()) + " bytes: " + message);
  }
  return out;
}

StatusOr<std::string> ReadFileBytes(const std::string& path) {
  if (EndsWith(ToLower(path), ".gz")) return ReadGzipFile(path);
  return ReadPlainFile(path);
}

std::string LowerBaseName(std::string_view name) {
  const size_t slash = name.find_last_of('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  return ToLower(name);
}

bool IsBlank(std::string_view line) { return Trim(line).empty(); }

std::string_view FirstNonBlankLine(std::string_view data) {
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string_view::npos) end = data.size();
    std::string_view line = data.substr(pos, end - pos);
    if (!IsBlank(line)) return line;
    pos = end + 1;
  }
  return {};
}

bool LineCursor::NextNonBlank(std::string_view* line, size_t* line_no) {
  while (Next(line, line_no)) {
    if (!IsBlank(*line)) return true;
  }
  return false;
}

Status LineError(std::string_view name, size_t line_no, std::string_view message) {
  return InvalidArgument(std::string(name) + ":" + std::to_string(line_no) + ": " +
                         std::string(message));
}

std::string FieldMessage(std::string_view field, std::string_view message) {
  return "field " + Quote(field, kMaxQuotedNameChars) + ": " + std::string(message);
}

std::string FieldError(std::string_view field, std::string_view expected, std::string_view got) {
  return FieldMessage(field, "expected " + std::string(expected) + ", got " + Quote(got));
}

std::string QuotedList(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kMaxListedNames; ++i) {
    if (i > 0) out += ", ";
    out += Quote(names[i], kMaxQuotedNameChars);
  }
  if (names.size() > kMaxListedNames) {
    out += ", ... (" + std::to_string(names.size()) + " columns)";
  }
  return out;
}

}  // namespace liverec
