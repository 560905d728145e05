// Data files as the event readers (readers.h) and the item metadata reader (item_metadata.h)
// see them: whole files read into memory (plain, or gzip by name), lines numbered from 1, and
// the error messages every format shares, "FILE:LINE: field 'NAME': REASON".
#ifndef LIVEREC_EVENT_DATA_FILE_H_
#define LIVEREC_EVENT_DATA_FILE_H_

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "liverec/status.h"

namespace liverec {

// Names quoted in an error message (fields, columns, files: hostile input at times) are cut at
// this many characters.
inline constexpr size_t kMaxQuotedNameChars = 80;

// The whole content of the file at `path`. IOError "cannot open 'PATH': REASON" or
// "cannot read 'PATH': REASON".
StatusOr<std::string> ReadPlainFile(const std::string& path);

// The decompressed content of the gzip file at `path`. IOError as ReadPlainFile; Corruption
// "'PATH': bad gzip data after N bytes: REASON" for a damaged stream.
StatusOr<std::string> ReadGzipFile(const std::string& path);

// ReadGzipFile for a path ending in ".gz" (any case), else ReadPlainFile.
StatusOr<std::string> ReadFileBytes(const std::string& path);

// The file name of `name` without its folders, lower-cased ("data/U.Data.gz" -> "u.data.gz").
std::string LowerBaseName(std::string_view name);

// True if `line` holds only white space.
bool IsBlank(std::string_view line);

// The first line of `data` that is not blank, without its "\n" ("" if none).
std::string_view FirstNonBlankLine(std::string_view data);

// Iterates over the lines of `data` (which must outlive it), numbered from 1. A line excludes
// its "\n" or "\r\n"; a last line without a line end counts.
class LineCursor {
 public:
  explicit LineCursor(std::string_view data) : data_(data) {}

  // The next line and its number; false at the end of the data.
  bool Next(std::string_view* line, size_t* line_no) {
    if (pos_ >= data_.size()) return false;
    const void* newline = std::memchr(data_.data() + pos_, '\n', data_.size() - pos_);
    const size_t end = newline == nullptr
                           ? data_.size()
                           : static_cast<size_t>(static_cast<const char*>(newline) - data_.data());
    *line = data_.substr(pos_, end - pos_);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    *line_no = ++line_no_;
    pos_ = end + 1;
    return true;
  }
  // The next line that is not blank and its number; false at the end of the data.
  bool NextNonBlank(std::string_view* line, size_t* line_no);

 private:
  std::string_view data_;
  size_t pos_ = 0;
  size_t line_no_ = 0;
};

// "NAME:LINE: MESSAGE" as an InvalidArgument status (NAME stands for the file).
Status LineError(std::string_view name, size_t line_no, std::string_view message);

// "field 'NAME': MESSAGE", NAME cut at kMaxQuotedNameChars.
std::string FieldMessage(std::string_view field, std::string_view message);

// "field 'NAME': expected WHAT, got 'VALUE'".
std::string FieldError(std::string_view field, std::string_view expected, std::string_view got);

// The names quoted and comma-separated ("'a', 'b'"), the first 20 only, then
// ", ... (N columns)".
std::string QuotedList(const std::vector<std::string>& names);

}  // namespace liverec

#endif  // LIVEREC_EVENT_DATA_FILE_H_
