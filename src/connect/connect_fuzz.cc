// libFuzzer target: arbitrary bytes through every parser of connect/ that reads what comes from
// outside (an engine URL from the command line; lease and checkpoint values from an engine),
// and the name checks. What parses must format back to text that parses to the same value.
// Run: build/fuzz/src/connect/connect_fuzz -max_total_time=60 [corpus_dir]
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "connect/engine_values.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liverec::connect;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto address = ParseEngineUrl(text);
  if (address.ok()) {
    const std::string again =
        address->scheme + "://" + address->host + ":" + std::to_string(address->port);
    const auto reparsed = ParseEngineUrl(again);
    Require(reparsed.ok() && reparsed->scheme == address->scheme &&
            reparsed->host == address->host && reparsed->port == address->port);
  } else {
    Require(address.status().code() == liverec::StatusCode::kInvalidArgument);
  }

  if (const auto lease = ParseLease(text)) {
    const auto again = ParseLease(FormatLease(*lease));
    Require(again && again->token == lease->token && again->ttl_ms == lease->ttl_ms &&
            again->holder == lease->holder);
  }

  if (const auto checkpoints = ParseCheckpoints(text)) {
    const auto again = ParseCheckpoints(FormatCheckpoints(*checkpoints));
    Require(again && *again == *checkpoints);
  }

  // A name that passes is safe in a Redis key and a NATS subject: no space, no wildcard.
  if (CheckName("stream", text).ok()) {
    Require(text.find_first_of(" *>\r\n\t") == std::string_view::npos &&
            text.size() <= kMaxNameBytes);
  }
  (void)CheckBatchId(text);
  return 0;
}
