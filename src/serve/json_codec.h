// JSON codec of HTTP API v1: parses request bodies into the native structs of liverec/engine.h
// and renders native results as JSON. Nothing below the HTTP layer sees JSON (STYLE.md, habit 8).
//
// Parsing uses simdjson (events are on the ingest hot path); rendering uses nlohmann-json. All
// output is compact JSON text; strings are escaped, invalid UTF-8 in them is replaced by U+FFFD
// and non-finite numbers render as null, so the output is always valid JSON. Keys appear in the
// order documented below.
//
// Duplicate keys in any parsed object are errors ("given twice"), never "last one wins": a
// request that says two things is rejected rather than guessed at.
//
// Thread safety: the free functions may be called from any thread. An EventBatchParser is not
// thread-safe; keep one per thread.
#ifndef LIVEREC_SERVE_JSON_CODEC_H_
#define LIVEREC_SERVE_JSON_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
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
  std::vector<EventRecord> records;  // the valid ones, in body order
  std::vector<size_t> record_index;  // records[i] was at this 0-based index of the body
  std::vector<IngestError> errors;   // the invalid ones (one error each), in body order
  size_t total = 0;                  // records seen in the body (records + errors)
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
  //   string", "unknown field (did you mean \"item\"?)", "missing").
  // On an error status `*out` is left empty (nothing parsed).
  Status Parse(std::string_view body, size_t max_events, ParsedEvents* out);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// EventBatchParser().Parse(body, max_events, out), with a fresh parser (allocates).
Status ParseEventBatch(std::string_view body, size_t max_events, ParsedEvents* out);

// PUT /v1/items/{id}: {"categories": ["news"], "tags": ["a"], "text": "..",
// "properties": {"price": 9.5}, "available": true}. Every field is optional (null = absent);
// categories and tags are non-empty strings; property values are numbers. InvalidArgument
// naming the field for unknown fields, wrong types and duplicates ("categories[1]: expected a
// string, got number"), or the byte for malformed JSON.
StatusOr<ItemMetadata> ParseItemMetadata(std::string_view body);

// PUT /v1/users/{id}: {"attributes": {"country": "br", "age": 31}}; attribute values are
// strings, numbers or booleans and become strings as context values do. Errors as above.
StatusOr<UserMetadata> ParseUserMetadata(std::string_view body);

// POST /v1/snapshots/rollback: {"seq": 42}; seq is a required non-negative integer.
StatusOr<uint64_t> ParseRollbackRequest(std::string_view body);

// {"accepted":n,"duplicates":n,"last_seq":n,"rejected":[{"index":i,"field":"..","reason":".."}]}
std::string RenderIngestResult(const IngestResult& result);

// {"recommendation_id":"..","model":"..","fallback":false,"model_version":n,
//  "items":[{"item":"..","score":0.5,"because":[".."]}]}; "because" only when not empty.
// Scores print as the shortest decimal that reads back as the same float (0.1f -> 0.1).
std::string RenderRecommendations(const Recommendations& recommendations);

// {"item":"..","items":[{"item":"..","score":0.5}]}
std::string RenderSimilar(const std::string& item, const std::vector<ScoredItem>& items);

// {"user":"..","num_events":n,"recent":[{"item":"..","timestamp":ms}],
//  "metadata":{"attributes":{"name":"value"}}}
std::string RenderUser(const UserInfo& user);

// {"events_accepted":n,"events_applied":n,"events_duplicate":n,"events_rejected":n,
//  "num_users":n,"num_items":n,"queue_depth":n,"queue_capacity":n,"last_durable_seq":n,
//  "last_applied_seq":n,"snapshot_seq":n,"metrics_k":n,"default_model":"..",
//  "models":[{"name":"..","type":"..","evaluated":n,"recall":x,"ndcg":x,"memory_bytes":n}]}
std::string RenderStats(const EngineStats& stats);

// {"snapshots":[<RenderSnapshot>, ...]}
std::string RenderSnapshots(const std::vector<SnapshotEntry>& snapshots);

// {"seq":n,"created_unix_ms":n,"size_bytes":n}
std::string RenderSnapshot(const SnapshotEntry& snapshot);

// {"error":{"code":"..","message":".."}}
std::string RenderError(std::string_view code, std::string_view message);

}  // namespace liverec

#endif  // LIVEREC_SERVE_JSON_CODEC_H_
