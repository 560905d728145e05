// Parser of ingest bodies (POST /v1/events of HTTP API v1): a JSON array or NDJSON of event
// objects into ValidEventRecords (validated here, once), and one structured error per refused
// record. Nothing below the HTTP layer sees JSON (STYLE.md, habit 8).
//
// Parsing uses simdjson (events are on the ingest hot path). Duplicate keys in an event object
// are errors ("given twice"), never "last one wins": a request that says two things is rejected
// rather than guessed at.
//
// Thread safety: ParseEventBatch may be called from any thread. An EventBatchParser is not
// thread-safe; keep one per thread.
#ifndef LIVEREC_SERVE_EVENT_BATCH_PARSER_H_
#define LIVEREC_SERVE_EVENT_BATCH_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "event/event_record.h"
#include "liverec/engine.h"
#include "liverec/status.h"

namespace liverec {

// Event timestamps must be below 2^53 ms, so every client language's JSON numbers (doubles)
// hold them exactly.
inline constexpr int64_t kMaxEventTimestampMs = int64_t{1} << 53;

// The outcome of parsing one ingest body.
struct ParsedEvents {
  std::vector<ValidEventRecord> records;  // the valid ones, in body order
  std::vector<size_t> record_index;       // records[i] was at this 0-based index of the body
  std::vector<IngestError> errors;        // the invalid ones (one error each), in body order
  size_t total = 0;                       // records seen in the body (records + errors)
};

// Parses ingest bodies (POST /v1/events) into EventRecords, reusing its buffers across calls:
// keep one per server thread so that steady-state parsing does not allocate parser memory.
//
// Body shapes: a JSON array of event objects; or NDJSON, one object per line ("\n" or "\r\n";
// blank lines skipped); a body that is a single object (also spread over several lines) is one
// event.
//
// Event object fields:
//   "user", "item"      required; a non-empty string, or an integer (42 -> "42")
//   "type"              string; absent/"" = the engine's default type
//   "value"             number, default 1; must fit a float
//   "timestamp"         integer Unix ms in [0, 2^53); absent/0 = stamped on arrival
//   "context"           object whose values are strings, numbers or booleans; they become
//                       strings (7 -> "7", 0.5 -> "0.5", true -> "true"), in body order
//   "id"                string, idempotency key; "recommendation_id" string
// null stands for an absent optional field. Limits are those of ValidateEventRecord. A JSON
// number that fits neither a 64-bit integer nor a double (99999999999999999999, 1e400) makes
// the whole body invalid: the parser refuses it before any record is read.
class EventBatchParser {
 public:
  EventBatchParser();
  ~EventBatchParser();
  EventBatchParser(const EventBatchParser&) = delete;
  EventBatchParser& operator=(const EventBatchParser&) = delete;

  // Replaces `*out` with the parse of `body`. Returns:
  // - OutOfRange("batch has more than N events") if the body holds more than `max_events`
  //   records (HTTP 413);
  // - InvalidArgument naming where ("line 3: ...", "byte 17: ...", "element 4: ...") for
  //   body-level problems: empty body, not JSON, not an array or object, an array element or
  //   NDJSON line that is not an object;
  // - OK otherwise. Record-level problems do not fail the call: such a record is left out of
  //   out->records and listed in out->errors with its index, the field ("user",
  //   "context.device"; "" = the whole record) and the reason ("expected a number, got
  //   string", "unknown field (did you mean \"item\"?)", "missing"). Every record in
  //   out->records is a ValidEventRecord: the engine is left to check only what its policy
  //   decides (whether the event type is known).
  // On an error status `*out` is left empty (nothing parsed).
  Status Parse(std::string_view body, size_t max_events, ParsedEvents* out);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// EventBatchParser().Parse(body, max_events, out), with a fresh parser (allocates).
Status ParseEventBatch(std::string_view body, size_t max_events, ParsedEvents* out);

}  // namespace liverec

#endif  // LIVEREC_SERVE_EVENT_BATCH_PARSER_H_
