#include "serve/request_target.h"

#include <cctype>

namespace liverec {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

StatusOr<std::vector<std::string>> SplitTargetPath(std::string_view target) {
  const std::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path.empty() || path.front() != '/') {
    return InvalidArgument("path: must start with '/'");
  }
  std::vector<std::string> segments(1);
  for (size_t i = 1; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '/') {
      segments.emplace_back();
      continue;
    }
    // A NUL would cut the id short in every C API below; no client id needs one.
    if (c == '\0') return InvalidArgument("path: NUL at byte " + std::to_string(i));
    if (c != '%') {
      segments.back().push_back(c);
      continue;
    }
    const int high = i + 2 < path.size() ? HexValue(path[i + 1]) : -1;
    const int low = i + 2 < path.size() ? HexValue(path[i + 2]) : -1;
    if (high < 0 || low < 0) {
      return InvalidArgument("path: '%' at byte " + std::to_string(i) +
                             " is not followed by two hex digits");
    }
    const char decoded = static_cast<char>(high * 16 + low);
    if (decoded == '\0') {
      return InvalidArgument("path: %00 at byte " + std::to_string(i) + " (NUL in an id)");
    }
    segments.back().push_back(decoded);
    i += 2;
  }
  return segments;
}

std::string MediaType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  std::string out(type);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace liverec
