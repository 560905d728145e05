// libFuzzer entry point: arbitrary bytes as a request target and as a Content-Type value.
// SplitTargetPath must either fail or return segments whose total size is at most the path's
// bytes (decoding only shrinks) and that hold no NUL; MediaType must return at most its input's
// size, lowercased; ParseListParam must return ids that are non-empty, hold no comma and
// together are no longer than the input. Any crash, sanitizer report or failed check is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "serve/request_parsers.h"
#include "serve/request_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  liverec::StatusOr<std::vector<std::string>> path = liverec::SplitTargetPath(input);
  if (path.ok()) {
    size_t total = 0;
    for (const std::string& segment : *path) {
      total += segment.size();
      LIVEREC_CHECK(segment.find('\0') == std::string::npos) << "NUL in a segment";
    }
    LIVEREC_CHECK(total + path->size() <= input.size()) << "segments longer than the path";
  } else {
    LIVEREC_CHECK(!path.status().message().empty()) << "error without a message";
  }
  const std::string type = liverec::MediaType(input);
  LIVEREC_CHECK(type.size() <= input.size()) << "media type longer than its input";
  for (char c : type) LIVEREC_CHECK(!(c >= 'A' && c <= 'Z')) << "media type not lowercased";
  liverec::StatusOr<std::vector<std::string>> ids =
      liverec::ParseListParam("exclude", {std::string(input)});
  if (ids.ok()) {
    size_t total = 0;
    for (const std::string& id : *ids) {
      LIVEREC_CHECK(!id.empty() && id.find(',') == std::string::npos) << "bad id '" << id << "'";
      total += id.size();
    }
    LIVEREC_CHECK(total <= input.size()) << "ids longer than the value";
  }
  return 0;
}
