#include "serve/event_batch_parser.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/strings.h"
#include "serve/json_parse.h"

// Why simdjson's DOM front end and not On-Demand: On-Demand is compiled inline into this file
// for the build's baseline target, which for the portable x86-64 build is simdjson's scalar
// "fallback" kernel; the DOM parser runs inside libsimdjson, which picks the best kernel of the
// CPU at run time (haswell/icelake here). Measured on the 10 K-event body of the brief, both
// parse at ~8.5 M events/s, so the DOM costs nothing in speed, and it gives two things we want:
// the whole body is validated (On-Demand does not validate values it skips, such as those of
// rejected fields), and a record with an error cannot leave an iterator in a state that
// corrupts the next record.

namespace liverec {
namespace {

namespace dom = simdjson::dom;

Status TooManyEvents(size_t max_events) {
  return OutOfRange("batch has more than " + std::to_string(max_events) + " events");
}

// ---------------------------------------------------------------------------------------------
// Event records.

enum EventField : size_t {
  kUser,
  kItem,
  kType,
  kValue,
  kTimestamp,
  kContext,
  kId,
  kRecommendationId,
  kNumEventFields
};
constexpr std::array<std::string_view, kNumEventFields> kEventFields = {
    "user", "item", "type", "value", "timestamp", "context", "id", "recommendation_id"};

// Sets `*error` and returns false, so that a parse step can `return Fail(...)`.
bool Fail(FieldError* error, std::string_view field, std::string reason,
          StatusCode code = StatusCode::kInvalidArgument) {
  error->field = field;
  error->reason = std::move(reason);
  error->code = code;
  return false;
}

std::string LongerThan(size_t size) {
  return "longer than " + std::to_string(kMaxEventRecordStringBytes) + " bytes (" +
         std::to_string(size) + ")";
}

}  // namespace

class EventBatchParser::Impl {
 public:
  Status Parse(std::string_view body, size_t max_events, ParsedEvents* out) {
    out->records.clear();
    out->record_index.clear();
    out->errors.clear();
    out->total = 0;
    const size_t start =
        static_cast<size_t>(std::find_if_not(body.begin(), body.end(), IsJsonSpace) - body.begin());
    if (start == body.size()) {
      return InvalidArgument("empty body: expected a JSON array or NDJSON of event objects");
    }
    // simdjson reads up to SIMDJSON_PADDING bytes past the end of what it parses: one padded
    // copy of the body serves the whole array, or every NDJSON line in it.
    padded_.resize(body.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(padded_.data(), body.data(), body.size());
    Status status;
    if (body[start] == '[') {
      status = ParseArray(body, max_events, out);
    } else if (body[start] == '{') {
      status = ParseLines(body, max_events, out);
    } else {
      status = NotArrayOrObject(body, start);
    }
    if (!status.ok()) {
      out->records.clear();
      out->record_index.clear();
      out->errors.clear();
      out->total = 0;
    }
    return status;
  }

 private:
  Status NotArrayOrObject(std::string_view body, size_t start) {
    dom::element root;
    const simdjson::error_code code = parser_.parse(padded_.data(), body.size(), false).get(root);
    if (code != simdjson::SUCCESS) {
      return InvalidArgument(ByteError(FindSyntaxError(body, code)));
    }
    return InvalidArgument("byte " + std::to_string(start) + ": " +
                           ExpectedGot("a JSON array or object of events", root));
  }

  Status ParseArray(std::string_view body, size_t max_events, ParsedEvents* out) {
    dom::element root;
    const simdjson::error_code code = parser_.parse(padded_.data(), body.size(), false).get(root);
    if (code != simdjson::SUCCESS) {
      return InvalidArgument(ByteError(FindSyntaxError(body, code)));
    }
    const dom::array array = root.get_array().value_unsafe();
    const size_t size = array.size();
    if (size > max_events) return TooManyEvents(max_events);
    out->records.reserve(size);
    out->record_index.reserve(size);
    size_t element_idx = 0;
    for (dom::element element : array) {
      if (element.type() != dom::element_type::OBJECT) {
        return InvalidArgument("element " + std::to_string(element_idx) + ": " +
                               ExpectedGot("an object", element));
      }
      AddRecord(element.get_object().value_unsafe(), out);
      ++element_idx;
    }
    return Status::Ok();
  }

  Status ParseLines(std::string_view body, size_t max_events, ParsedEvents* out) {
    size_t line_no = 0;
    size_t pos = 0;
    while (pos < body.size()) {
      const void* newline = std::memchr(body.data() + pos, '\n', body.size() - pos);
      const size_t end = newline == nullptr
                             ? body.size()
                             : static_cast<size_t>(static_cast<const char*>(newline) - body.data());
      const std::string_view line = body.substr(pos, end - pos);
      const size_t line_pos = pos;
      pos = end + 1;
      ++line_no;
      if (IsJsonBlank(line)) continue;
      if (out->total == max_events) return TooManyEvents(max_events);
      dom::element doc;
      const simdjson::error_code code =
          parser_.parse(padded_.data() + line_pos, line.size(), false).get(doc);
      if (code != simdjson::SUCCESS) {
        const SyntaxError line_error = FindSyntaxError(line, code);
        if (out->total > 0) return InvalidArgument(LineError(line_no, line_error));
        // The first line is not JSON: the body may be one object spread over several lines.
        const simdjson::error_code whole = SingleObject(body, out);
        if (whole == simdjson::SUCCESS) return Status::Ok();
        // If the first line was only cut short, the client meant one object: say where the
        // whole body breaks rather than that line 1 is incomplete.
        if (line_error.located && line_error.position > line.size()) {
          return InvalidArgument(ByteError(FindSyntaxError(body, whole)));
        }
        return InvalidArgument(LineError(line_no, line_error));
      }
      if (doc.type() != dom::element_type::OBJECT) {
        return InvalidArgument("line " + std::to_string(line_no) + ": " +
                               ExpectedGot("an object", doc));
      }
      AddRecord(doc.get_object().value_unsafe(), out);
    }
    return Status::Ok();
  }

  // Parses the whole body (which starts with '{') as one event; returns the parse error if it
  // is not one JSON value.
  simdjson::error_code SingleObject(std::string_view body, ParsedEvents* out) {
    dom::element doc;
    const simdjson::error_code code = parser_.parse(padded_.data(), body.size(), false).get(doc);
    if (code != simdjson::SUCCESS) return code;
    LIVEREC_CHECK(doc.type() == dom::element_type::OBJECT);
    AddRecord(doc.get_object().value_unsafe(), out);
    return simdjson::SUCCESS;
  }

  void AddRecord(dom::object object, ParsedEvents* out) {
    const size_t index = out->total++;
    EventRecord record;
    FieldError error;
    if (ParseRecord(object, &record, &error)) {
      // The record's one validation; the field checks of ParseRecord came first, in body order
      // with reasons in JSON's terms, so of its checks only the encoded size can fail here.
      if (std::optional<ValidEventRecord> valid =
              ValidEventRecord::Make(std::move(record), &error)) {
        out->records.push_back(std::move(*valid));
        out->record_index.push_back(index);
        return;
      }
    }
    out->errors.push_back(IngestError{index, std::move(error.field), std::move(error.reason)});
  }

  bool ParseRecord(dom::object object, EventRecord* record, FieldError* error) {
    uint32_t seen = 0;
    for (dom::key_value_pair kv : object) {
      const size_t field = FindName(kv.key, kEventFields);
      if (field == kNumEventFields) {
        return Fail(error, EchoKey(kv.key), UnknownFieldReason(kv.key, kEventFields));
      }
      const std::string_view name = kEventFields[field];
      const uint32_t bit = uint32_t{1} << field;
      if ((seen & bit) != 0) return Fail(error, name, std::string(kGivenTwice));
      seen |= bit;
      // null stands for an absent optional field (clients serialize unset options so).
      if (kv.value.is_null() && field != kUser && field != kItem) continue;
      bool ok = true;
      switch (field) {
        case kUser:
          ok = Key(kv.value, name, &record->user, error);
          break;
        case kItem:
          ok = Key(kv.value, name, &record->item, error);
          break;
        case kType:
          ok = String(kv.value, name, &record->type, error);
          break;
        case kValue:
          ok = Value(kv.value, &record->value, error);
          break;
        case kTimestamp:
          ok = Timestamp(kv.value, &record->time_ms, error);
          break;
        case kContext:
          ok = Context(kv.value, &record->context, error);
          break;
        case kId:
          ok = String(kv.value, name, &record->id, error);
          break;
        case kRecommendationId:
          ok = String(kv.value, name, &record->recommendation_id, error);
          break;
        default:
          LIVEREC_CHECK(false) << "field " << field;
      }
      if (!ok) return false;
    }
    for (size_t required : {kUser, kItem}) {
      if ((seen & (uint32_t{1} << required)) == 0) {
        return Fail(error, kEventFields[required], "missing");
      }
    }
    return true;
  }

  // A user or item key: a non-empty string, or an integer as its decimal text.
  static bool Key(dom::element el, std::string_view name, std::string* out, FieldError* error) {
    switch (el.type()) {
      case dom::element_type::STRING: {
        const std::string_view s = el.get_string().value_unsafe();
        if (s.empty()) return Fail(error, name, "empty");
        if (s.size() > kMaxEventRecordStringBytes) {
          return Fail(error, name, LongerThan(s.size()), StatusCode::kOutOfRange);
        }
        out->assign(s);
        return true;
      }
      case dom::element_type::INT64:
      case dom::element_type::UINT64:
        *out = NumberText(el);
        return true;
      default:
        return Fail(error, name, ExpectedGot("a string or an integer", el));
    }
  }

  static bool String(dom::element el, std::string_view name, std::string* out, FieldError* error) {
    if (el.type() != dom::element_type::STRING) {
      return Fail(error, name, ExpectedGot("a string", el));
    }
    const std::string_view s = el.get_string().value_unsafe();
    if (s.size() > kMaxEventRecordStringBytes) {
      return Fail(error, name, LongerThan(s.size()), StatusCode::kOutOfRange);
    }
    out->assign(s);
    return true;
  }

  static bool Value(dom::element el, float* out, FieldError* error) {
    const std::string_view name = kEventFields[kValue];
    if (!IsNumber(el)) return Fail(error, name, ExpectedGot("a number", el));
    const double v = NumberValue(el);
    // Casting a double beyond the float range is undefined behaviour: reject it first.
    if (!(std::fabs(v) <= std::numeric_limits<float>::max())) {
      return Fail(error, name, "expected a number within float range, got " + FormatNumber(v));
    }
    *out = static_cast<float>(v);
    return true;
  }

  static bool Timestamp(dom::element el, int64_t* out, FieldError* error) {
    const std::string_view name = kEventFields[kTimestamp];
    switch (el.type()) {
      case dom::element_type::INT64: {
        const int64_t t = el.get_int64().value_unsafe();
        if (t < 0) return Fail(error, name, "must be >= 0, got " + std::to_string(t));
        if (t >= kMaxEventTimestampMs) break;
        *out = t;
        return true;
      }
      case dom::element_type::UINT64:
        break;
      default:
        return Fail(error, name, ExpectedGot("an integer (Unix milliseconds)", el));
    }
    return Fail(
        error, name,
        "must be below 2^53 (" + std::to_string(kMaxEventTimestampMs) + "), got " + NumberText(el));
  }

  bool Context(dom::element el, std::vector<std::pair<std::string, std::string>>* out,
               FieldError* error) {
    const std::string_view name = kEventFields[kContext];
    if (el.type() != dom::element_type::OBJECT) {
      return Fail(error, name, ExpectedGot("an object", el));
    }
    const dom::object context = el.get_object().value_unsafe();
    const size_t size = context.size();
    if (size > kMaxEventRecordContextPairs) {
      return Fail(error, name,
                  "more than " + std::to_string(kMaxEventRecordContextPairs) + " pairs (" +
                      std::to_string(size) + ")",
                  StatusCode::kOutOfRange);
    }
    out->reserve(size);
    keys_.clear();
    for (dom::key_value_pair kv : context) {
      if (kv.key.empty()) return Fail(error, name, "empty key");
      if (kv.key.size() > kMaxEventRecordStringBytes) {
        return Fail(error, name, "key " + LongerThan(kv.key.size()), StatusCode::kOutOfRange);
      }
      std::string value;
      if (!ScalarText(kv.value, &value)) {
        return Fail(error, std::string(name) + "." + EchoKey(kv.key),
                    ExpectedGot("a string, number or boolean", kv.value));
      }
      if (value.size() > kMaxEventRecordStringBytes) {
        return Fail(error, std::string(name) + "." + EchoKey(kv.key), LongerThan(value.size()),
                    StatusCode::kOutOfRange);
      }
      out->emplace_back(kv.key, std::move(value));
      keys_.push_back(kv.key);
    }
    std::string_view duplicate;
    if (HasDuplicate(keys_, &sorted_keys_, &duplicate)) {
      return Fail(error, std::string(name) + "." + EchoKey(duplicate), std::string(kGivenTwice));
    }
    return true;
  }

  dom::parser parser_;
  std::string padded_;
  // Scratch of Context, reused across records.
  std::vector<std::string_view> keys_;
  std::vector<std::string_view> sorted_keys_;
};

EventBatchParser::EventBatchParser() : impl_(std::make_unique<Impl>()) {}
EventBatchParser::~EventBatchParser() = default;

Status EventBatchParser::Parse(std::string_view body, size_t max_events, ParsedEvents* out) {
  return impl_->Parse(body, max_events, out);
}

Status ParseEventBatch(std::string_view body, size_t max_events, ParsedEvents* out) {
  EventBatchParser parser;
  return parser.Parse(body, max_events, out);
}

}  // namespace liverec
