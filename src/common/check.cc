#include "common/check.h"

#include <cstdlib>

#include "common/log.h"

namespace liverec::internal {

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": check failed: " << condition << " ";
}

CheckFailure::~CheckFailure() {
  // Through the logger, so that in log.format=json even the last line is one JSON object.
  Log(LogLevel::kError, stream_.str());
  std::abort();
}

}  // namespace liverec::internal
