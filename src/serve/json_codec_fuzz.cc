// libFuzzer entry point: feeds arbitrary bytes to ParseEventBatch (the first byte picks
// max_events) and to the metadata parsers. Whatever ParseEventBatch accepts must be
// self-consistent, validate, encode and decode to itself, and read back unchanged after being
// written as JSON by an independent encoder (nlohmann). Its error messages must render as valid
// JSON.
// Any crash, sanitizer report or failed check is a finding; error statuses are not.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/check.h"
#include "engine/experiments.h"
#include "engine/log_entry.h"
#include "event/event_record.h"
#include "liverec/status.h"
#include "serve/event_batch_parser.h"
#include "serve/json_render.h"
#include "serve/request_parsers.h"

namespace liverec {
namespace {

// Written as a client would send it; context keys in order (ordered_json keeps it).
nlohmann::ordered_json ToJson(const EventRecord& r) {
  nlohmann::ordered_json out = {{"user", r.user},
                                {"item", r.item},
                                {"type", r.type},
                                {"value", r.value},
                                {"timestamp", r.time_ms}};
  if (!r.context.empty()) {
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    for (const auto& [key, value] : r.context) context[key] = value;
    out["context"] = std::move(context);
  }
  if (!r.id.empty()) out["id"] = r.id;
  if (!r.recommendation_id.empty()) out["recommendation_id"] = r.recommendation_id;
  return out;
}

void CheckRendersAsJson(const Status& status) {
  LIVEREC_CHECK(!status.message().empty());
  const std::string rendered = RenderError(StatusCodeName(status.code()), status.message());
  LIVEREC_CHECK(nlohmann::json::accept(rendered)) << rendered;
}

void CheckAccepted(const ParsedEvents& out, size_t max_events) {
  LIVEREC_CHECK(out.records.size() == out.record_index.size());
  LIVEREC_CHECK(out.records.size() + out.errors.size() == out.total);
  LIVEREC_CHECK(out.total <= max_events);
  // Record and error indices together are exactly 0..total-1, each list increasing.
  size_t r = 0;
  size_t e = 0;
  for (size_t index = 0; index < out.total; ++index) {
    if (r < out.record_index.size() && out.record_index[r] == index) {
      ++r;
    } else {
      LIVEREC_CHECK(e < out.errors.size() && out.errors[e].index == index) << index;
      ++e;
    }
  }
  EventBatchParser reparser;
  for (const ValidEventRecord& valid : out.records) {
    const EventRecord& record = *valid;
    LIVEREC_CHECK(!record.user.empty() && !record.item.empty());
    LIVEREC_CHECK(record.time_ms >= 0 && record.time_ms < kMaxEventTimestampMs);
    const std::optional<FieldError> invalid = ValidateEventRecord(record);
    LIVEREC_CHECK(!invalid.has_value()) << invalid->field << ": " << invalid->reason;
    std::string encoded;
    EncodeEventRecord(record, &encoded);
    EventRecord decoded;
    const Status decode = DecodeEventRecord(encoded, &decoded);
    LIVEREC_CHECK(decode.ok()) << decode.ToString();
    LIVEREC_CHECK(decoded == record);
    // The parser validates UTF-8, so nlohmann can write every accepted string strictly.
    const std::string json = ToJson(record).dump();
    ParsedEvents again;
    const Status reparsed = reparser.Parse(json, 1, &again);
    LIVEREC_CHECK(reparsed.ok()) << reparsed.ToString() << " " << json;
    LIVEREC_CHECK(again.records.size() == 1 && *again.records[0] == record) << json;
  }
  IngestResult result;
  result.rejected = out.errors;
  LIVEREC_CHECK(nlohmann::json::accept(RenderIngestResult(result)));
}

}  // namespace
}  // namespace liverec

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liverec;
  if (size == 0) return 0;
  // Small limits exercise the OutOfRange path; the top one is effectively unlimited.
  constexpr size_t kMaxEventsChoices[] = {0, 1, 3, 1000000};
  const size_t max_events = kMaxEventsChoices[data[0] & 3];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  ParsedEvents out;
  const Status status = ParseEventBatch(body, max_events, &out);
  if (status.ok()) {
    CheckAccepted(out, max_events);
  } else {
    LIVEREC_CHECK(status.code() == StatusCode::kInvalidArgument ||
                  status.code() == StatusCode::kOutOfRange)
        << status.ToString();
    LIVEREC_CHECK(out.records.empty() && out.errors.empty() && out.total == 0);
    CheckRendersAsJson(status);
  }

  // The metadata parsers share the helpers above; here only crashes and sanitizer reports count.
  const StatusOr<ItemMetadata> item = ParseItemMetadata(body);
  if (!item.ok()) LIVEREC_CHECK(item.status().code() == StatusCode::kInvalidArgument);
  const StatusOr<UserMetadata> user = ParseUserMetadata(body);
  if (!user.ok()) LIVEREC_CHECK(user.status().code() == StatusCode::kInvalidArgument);
  const StatusOr<uint64_t> seq = ParseRollbackRequest(body);
  if (!seq.ok()) LIVEREC_CHECK(seq.status().code() == StatusCode::kInvalidArgument);
  // An experiment that parses checks against its limits and the set's rules without crashing,
  // and one within the limits logs and decodes to itself.
  const StatusOr<ExperimentSpec> spec = ParseExperimentSpec(body, "fuzz");
  if (!spec.ok()) {
    LIVEREC_CHECK(spec.status().code() == StatusCode::kInvalidArgument);
  } else if (ValidateExperimentSpecLimits(*spec).ok()) {
    ExperimentSet set;
    if (set.Check(*spec, [](std::string_view) { return true; }).ok()) set.Put(*spec, 0);
    LogEntry entry;
    entry.kind = LogEntryKind::kPutExperiment;
    entry.experiment = *spec;
    std::string bytes;
    EncodeLogEntry(entry, &bytes);
    LogEntry decoded;
    LIVEREC_CHECK(DecodeLogEntry(bytes, &decoded).ok());
    LIVEREC_CHECK(decoded == entry);
  }
  return 0;
}
