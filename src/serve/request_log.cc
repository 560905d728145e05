#include "serve/request_log.h"

#include <random>

#include "common/log.h"
#include "common/random.h"

namespace liverec {
namespace {

// The most bytes of the method echoed: httplib accepts only the methods it knows, but the line
// should not grow with whatever a client sends.
constexpr size_t kMaxMethodChars = 16;

// Request ids need uniqueness, not reproducibility: each thread draws from its own generator
// seeded from the OS once, so no lock is taken per request.
Random& ThreadRandom() {
  thread_local Random random([] {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }());
  return random;
}

}  // namespace

bool IsSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdChars) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string NewRequestId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  Random& random = ThreadRandom();
  for (size_t half = 0; half < 2; ++half) {
    uint64_t bits = random.Next();
    for (size_t i = 0; i < 16; ++i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0xF];
  }
  return id;
}

std::string RequestIdFor(std::string_view header) {
  return IsSaneRequestId(header) ? std::string(header) : NewRequestId();
}

void LogRequest(const RequestLogLine& line) {
  Log(line.status >= 500 ? LogLevel::kError : LogLevel::kInfo, "request",
      {{"method", line.method.substr(0, kMaxMethodChars)},
       {"path", line.route.empty() ? std::string_view("(no route)") : line.route},
       {"status", line.status},
       {"duration_ms", line.duration_ms},
       {"bytes", line.bytes},
       {"request_id", line.request_id},
       {"key_id", line.key_id}});
}

}  // namespace liverec
