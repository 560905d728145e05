// libFuzzer entry point: feeds arbitrary bytes to DecodeEventRecord. Whatever decodes must
// re-encode to exactly the input (the encoding is canonical) and decode again to the same
// record. Any crash, sanitizer report or failed check is a finding; Corruption statuses are not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/check.h"
#include "event/event_record.h"
#include "liverec/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liverec;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  EventRecord record;
  const Status status = DecodeEventRecord(bytes, &record);
  if (!status.ok()) {
    LIVEREC_CHECK(status.code() == StatusCode::kCorruption) << status.ToString();
    return 0;
  }
  // Whatever decodes is within the limits (not necessarily ingestible: the format holds an empty
  // user, which ValidateEventRecord refuses).
  LIVEREC_CHECK(!CheckEventRecordLimits(record).has_value());
  std::string encoded;
  EncodeEventRecord(record, &encoded);
  LIVEREC_CHECK(encoded == bytes);
  EventRecord again;
  const Status again_status = DecodeEventRecord(encoded, &again);
  LIVEREC_CHECK(again_status.ok()) << again_status.ToString();
  LIVEREC_CHECK(again == record);
  return 0;
}
