#include "serve/json_codec.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/strings.h"

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
using Json = nlohmann::ordered_json;

// Keys echoed back in error field names are cut to this many bytes: a 60 KB key must not come
// back in every error of a batch.
constexpr size_t kMaxEchoedKeyBytes = 64;
// Body-level error messages (which may quote the offending token) are cut to this many bytes.
constexpr size_t kMaxSyntaxMessageBytes = 200;
// An unknown field within this edit distance of a known one gets a "did you mean".
constexpr size_t kMaxSuggestionDistance = 2;
// Up to this many context keys, duplicates are found by comparing all pairs; above, by sorting.
constexpr size_t kMaxPairwiseDuplicateCheck = 8;
// Room for the decimal text of any 64-bit integer or shortest double.
constexpr size_t kNumberTextBytes = 32;

constexpr std::string_view kGivenTwice = "given twice";

// ---------------------------------------------------------------------------------------------
// Helpers shared by all parsers.

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsBlank(std::string_view line) { return std::all_of(line.begin(), line.end(), IsJsonSpace); }

std::string_view TypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "array";
    case dom::element_type::OBJECT:
      return "object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "number";
    case dom::element_type::STRING:
      return "string";
    case dom::element_type::BOOL:
      return "boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown value";
}

std::string ExpectedGot(std::string_view expected, dom::element el) {
  std::string out = "expected ";
  out += expected;
  out += ", got ";
  out += TypeName(el.type());
  return out;
}

bool IsNumber(dom::element el) {
  const dom::element_type t = el.type();
  return t == dom::element_type::INT64 || t == dom::element_type::UINT64 ||
         t == dom::element_type::DOUBLE;
}

// Returns at most `max_bytes` of `s`, cut before a UTF-8 continuation byte so that a valid
// UTF-8 string stays valid.
std::string_view CutUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  constexpr unsigned char kContinuationMask = 0xC0;
  constexpr unsigned char kContinuation = 0x80;
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & kContinuationMask) == kContinuation) --n;
  return s.substr(0, n);
}

std::string EchoKey(std::string_view key) {
  std::string out(CutUtf8(key, kMaxEchoedKeyBytes));
  if (out.size() < key.size()) out += "...";
  return out;
}

// The decimal text of a number element (integers exactly, doubles shortest round-trip).
std::string NumberText(dom::element el) {
  std::array<char, kNumberTextBytes> buf;
  std::to_chars_result r{};
  switch (el.type()) {
    case dom::element_type::INT64:
      r = std::to_chars(buf.data(), buf.data() + buf.size(), el.get_int64().value_unsafe());
      break;
    case dom::element_type::UINT64:
      r = std::to_chars(buf.data(), buf.data() + buf.size(), el.get_uint64().value_unsafe());
      break;
    default:
      return FormatNumber(el.get_double().value_unsafe());
  }
  return std::string(buf.data(), r.ptr);
}

double NumberValue(dom::element el) {
  switch (el.type()) {
    case dom::element_type::INT64:
      return static_cast<double>(el.get_int64().value_unsafe());
    case dom::element_type::UINT64:
      return static_cast<double>(el.get_uint64().value_unsafe());
    default:
      return el.get_double().value_unsafe();
  }
}

// A context or attribute value: a string, number or boolean, as text. False for other types.
bool ScalarText(dom::element el, std::string* out) {
  switch (el.type()) {
    case dom::element_type::STRING:
      out->assign(el.get_string().value_unsafe());
      return true;
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      *out = NumberText(el);
      return true;
    case dom::element_type::BOOL:
      out->assign(el.get_bool().value_unsafe() ? "true" : "false");
      return true;
    default:
      return false;
  }
}

template <size_t N>
size_t FindName(std::string_view key, const std::array<std::string_view, N>& names) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == key) return i;
  }
  return N;
}

template <size_t N>
std::string UnknownFieldReason(std::string_view key, const std::array<std::string_view, N>& names) {
  const std::string lower = ToLower(CutUtf8(key, kMaxEchoedKeyBytes));
  for (std::string_view known : names) {
    // Cheap bound first: the distance is at least the difference in length.
    if (key.size() > known.size() + kMaxSuggestionDistance) continue;
    if (EditDistance(lower, known) <= kMaxSuggestionDistance) {
      return "unknown field; did you mean \"" + std::string(known) + "\"?";
    }
  }
  std::string out = "unknown field; expected one of ";
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  return out;
}

// True if two of `keys` are equal; `scratch` is reused storage.
bool HasDuplicate(const std::vector<std::string_view>& keys, std::vector<std::string_view>* scratch,
                  std::string_view* duplicate) {
  if (keys.size() <= kMaxPairwiseDuplicateCheck) {
    for (size_t i = 1; i < keys.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (keys[i] == keys[j]) {
          *duplicate = keys[i];
          return true;
        }
      }
    }
    return false;
  }
  scratch->assign(keys.begin(), keys.end());
  std::sort(scratch->begin(), scratch->end());
  auto it = std::adjacent_find(scratch->begin(), scratch->end());
  if (it == scratch->end()) return false;
  *duplicate = *it;
  return true;
}

// Finds where a text simdjson rejected stops being JSON, for the error message only; the fast
// path never runs it. nlohmann's SAX parser is iterative, so deep nesting cannot overflow the
// stack, and it reports the byte offset and a readable reason.
class SyntaxErrorFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    found_ = true;
    position_ = position;
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 4: REASON" or
    // "[json.exception.out_of_range.406] REASON": keep REASON, the position is reported apart.
    std::string_view what = ex.what();
    const size_t bracket = what.find("] ");
    if (!what.empty() && what[0] == '[' && bracket != std::string_view::npos) {
      what.remove_prefix(bracket + 2);
    }
    constexpr std::string_view kParseErrorAt = "parse error at ";
    const size_t colon = what.find(": ");
    if (what.substr(0, kParseErrorAt.size()) == kParseErrorAt && colon != std::string_view::npos) {
      what.remove_prefix(colon + 2);
    }
    reason_ = what;
    return false;
  }

  bool found() const { return found_; }
  // 1-based position of the offending character (nlohmann counts characters read).
  size_t position() const { return position_; }
  const std::string& reason() const { return reason_; }

 private:
  bool found_ = false;
  size_t position_ = 0;
  std::string reason_;
};

struct SyntaxError {
  bool located = false;  // false: nlohmann accepts what simdjson rejected (numbers beyond
                         // double, nesting deeper than simdjson's limit)
  size_t position = 0;   // 1-based position of the offending character, when located
  std::string reason;
};

SyntaxError FindSyntaxError(std::string_view text, simdjson::error_code code) {
  SyntaxErrorFinder finder;
  nlohmann::json::sax_parse(text.begin(), text.end(), &finder);
  SyntaxError error;
  error.located = finder.found();
  error.position = finder.position();
  error.reason = CutUtf8(finder.found() ? std::string_view(finder.reason())
                                        : std::string_view(simdjson::error_message(code)),
                         kMaxSyntaxMessageBytes);
  return error;
}

// "byte 17: invalid JSON: REASON" (0-based offset), or "invalid JSON: REASON".
std::string ByteError(const SyntaxError& error) {
  if (!error.located) return "invalid JSON: " + error.reason;
  const size_t offset = error.position > 0 ? error.position - 1 : 0;
  return "byte " + std::to_string(offset) + ": invalid JSON: " + error.reason;
}

// "line 3, column 18: invalid JSON: REASON" (both 1-based), or "line 3: invalid JSON: REASON".
std::string LineError(size_t line_no, const SyntaxError& error) {
  std::string out = "line " + std::to_string(line_no);
  if (error.located) out += ", column " + std::to_string(error.position);
  return out + ": invalid JSON: " + error.reason;
}

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

bool Fail(IngestError* error, std::string_view field, std::string reason) {
  error->field = field;
  error->reason = std::move(reason);
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
      if (IsBlank(line)) continue;
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
    EventRecord& record = out->records.emplace_back();
    IngestError error;
    if (ParseRecord(object, &record, &error)) {
      out->record_index.push_back(index);
      return;
    }
    out->records.pop_back();
    error.index = index;
    out->errors.push_back(std::move(error));
  }

  bool ParseRecord(dom::object object, EventRecord* record, IngestError* error) {
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
    if (std::optional<FieldError> invalid = ValidateEventRecord(*record)) {
      error->field = std::move(invalid->field);
      error->reason = std::move(invalid->reason);
      return false;
    }
    return true;
  }

  // A user or item key: a non-empty string, or an integer as its decimal text.
  static bool Key(dom::element el, std::string_view name, std::string* out, IngestError* error) {
    switch (el.type()) {
      case dom::element_type::STRING: {
        const std::string_view s = el.get_string().value_unsafe();
        if (s.empty()) return Fail(error, name, "empty");
        if (s.size() > kMaxEventRecordStringBytes) {
          return Fail(error, name, LongerThan(s.size()));
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

  static bool String(dom::element el, std::string_view name, std::string* out, IngestError* error) {
    if (el.type() != dom::element_type::STRING) {
      return Fail(error, name, ExpectedGot("a string", el));
    }
    const std::string_view s = el.get_string().value_unsafe();
    if (s.size() > kMaxEventRecordStringBytes) {
      return Fail(error, name, LongerThan(s.size()));
    }
    out->assign(s);
    return true;
  }

  static bool Value(dom::element el, float* out, IngestError* error) {
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

  static bool Timestamp(dom::element el, int64_t* out, IngestError* error) {
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
               IngestError* error) {
    const std::string_view name = kEventFields[kContext];
    if (el.type() != dom::element_type::OBJECT) {
      return Fail(error, name, ExpectedGot("an object", el));
    }
    const dom::object context = el.get_object().value_unsafe();
    const size_t size = context.size();
    if (size > kMaxEventRecordContextPairs) {
      return Fail(error, name,
                  "more than " + std::to_string(kMaxEventRecordContextPairs) + " pairs (" +
                      std::to_string(size) + ")");
    }
    out->reserve(size);
    keys_.clear();
    for (dom::key_value_pair kv : context) {
      if (kv.key.empty()) return Fail(error, name, "empty key");
      if (kv.key.size() > kMaxEventRecordStringBytes) {
        return Fail(error, name, "key " + LongerThan(kv.key.size()));
      }
      std::string value;
      if (!ScalarText(kv.value, &value)) {
        return Fail(error, std::string(name) + "." + EchoKey(kv.key),
                    ExpectedGot("a string, number or boolean", kv.value));
      }
      if (value.size() > kMaxEventRecordStringBytes) {
        return Fail(error, std::string(name) + "." + EchoKey(kv.key), LongerThan(value.size()));
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

// ---------------------------------------------------------------------------------------------
// Metadata and control bodies: not on a hot path, so each call parses a fresh padded copy.

namespace {

// A request body that must be one JSON object.
class ObjectBody {
 public:
  Status Open(std::string_view body) {
    if (IsBlank(body)) return InvalidArgument("empty body: expected a JSON object");
    text_ = simdjson::padded_string(body);
    dom::element root;
    const simdjson::error_code code = parser_.parse(text_).get(root);
    if (code != simdjson::SUCCESS) {
      return InvalidArgument(ByteError(FindSyntaxError(body, code)));
    }
    if (root.type() != dom::element_type::OBJECT) {
      return InvalidArgument("byte 0: " + ExpectedGot("a JSON object", root));
    }
    root_ = root.get_object().value_unsafe();
    return Status::Ok();
  }

  dom::object root() const { return root_; }

 private:
  simdjson::padded_string text_;
  dom::parser parser_;
  dom::object root_;
};

// The error of a request body whose `field` is wrong: InvalidArgument("FIELD: REASON"). A body
// is refused as a whole, so this message is the final answer, never split again.
Status BadField(std::string_view field, std::string_view reason) {
  return InvalidArgument(std::string(field) + ": " + std::string(reason));
}

// Marks field `idx` seen; an error if it was already.
Status MarkSeen(size_t idx, std::string_view name, uint32_t* seen) {
  const uint32_t bit = uint32_t{1} << idx;
  if ((*seen & bit) != 0) return BadField(name, kGivenTwice);
  *seen |= bit;
  return Status::Ok();
}

Status StringList(std::string_view name, dom::element el, std::vector<std::string>* out) {
  if (el.type() != dom::element_type::ARRAY) return BadField(name, ExpectedGot("an array", el));
  // A named copy: ranging over value_unsafe() of a temporary result would dangle.
  const dom::array array = el.get_array().value_unsafe();
  size_t idx = 0;
  auto item_name = [&] { return std::string(name) + "[" + std::to_string(idx) + "]"; };
  for (dom::element item : array) {
    if (item.type() != dom::element_type::STRING) {
      return BadField(item_name(), ExpectedGot("a string", item));
    }
    const std::string_view s = item.get_string().value_unsafe();
    if (s.empty()) return BadField(item_name(), "empty");
    out->emplace_back(s);
    ++idx;
  }
  return Status::Ok();
}

// Checks the keys of a name -> value object: non-empty and distinct.
Status CheckKeys(std::string_view name, dom::object object) {
  std::vector<std::string_view> keys;
  for (dom::key_value_pair kv : object) {
    if (kv.key.empty()) return BadField(name, "empty key");
    keys.push_back(kv.key);
  }
  std::vector<std::string_view> scratch;
  std::string_view duplicate;
  if (HasDuplicate(keys, &scratch, &duplicate)) {
    return BadField(std::string(name) + "." + EchoKey(duplicate), kGivenTwice);
  }
  return Status::Ok();
}

Status Properties(std::string_view name, dom::element el,
                  std::vector<std::pair<std::string, double>>* out) {
  if (el.type() != dom::element_type::OBJECT) {
    return BadField(name, ExpectedGot("an object", el));
  }
  const dom::object object = el.get_object().value_unsafe();
  LIVEREC_RETURN_IF_ERROR(CheckKeys(name, object));
  for (dom::key_value_pair kv : object) {
    if (!IsNumber(kv.value)) {
      return BadField(std::string(name) + "." + EchoKey(kv.key), ExpectedGot("a number", kv.value));
    }
    out->emplace_back(kv.key, NumberValue(kv.value));
  }
  return Status::Ok();
}

Status Attributes(std::string_view name, dom::element el,
                  std::vector<std::pair<std::string, std::string>>* out) {
  if (el.type() != dom::element_type::OBJECT) {
    return BadField(name, ExpectedGot("an object", el));
  }
  const dom::object object = el.get_object().value_unsafe();
  LIVEREC_RETURN_IF_ERROR(CheckKeys(name, object));
  for (dom::key_value_pair kv : object) {
    std::string value;
    if (!ScalarText(kv.value, &value)) {
      return BadField(std::string(name) + "." + EchoKey(kv.key),
                      ExpectedGot("a string, number or boolean", kv.value));
    }
    out->emplace_back(kv.key, std::move(value));
  }
  return Status::Ok();
}

enum ItemField : size_t { kCategories, kTags, kText, kProperties, kAvailable, kNumItemFields };
constexpr std::array<std::string_view, kNumItemFields> kItemFields = {"categories", "tags", "text",
                                                                      "properties", "available"};

constexpr std::array<std::string_view, 1> kUserFields = {"attributes"};
constexpr std::array<std::string_view, 1> kRollbackFields = {"seq"};

}  // namespace

StatusOr<ItemMetadata> ParseItemMetadata(std::string_view body) {
  ObjectBody parsed;
  LIVEREC_RETURN_IF_ERROR(parsed.Open(body));
  ItemMetadata metadata;
  uint32_t seen = 0;
  for (dom::key_value_pair kv : parsed.root()) {
    const size_t field = FindName(kv.key, kItemFields);
    if (field == kNumItemFields) {
      return BadField(EchoKey(kv.key), UnknownFieldReason(kv.key, kItemFields));
    }
    const std::string_view name = kItemFields[field];
    LIVEREC_RETURN_IF_ERROR(MarkSeen(field, name, &seen));
    if (kv.value.is_null()) continue;
    switch (field) {
      case kCategories:
        LIVEREC_RETURN_IF_ERROR(StringList(name, kv.value, &metadata.categories));
        break;
      case kTags:
        LIVEREC_RETURN_IF_ERROR(StringList(name, kv.value, &metadata.tags));
        break;
      case kText:
        if (kv.value.type() != dom::element_type::STRING) {
          return BadField(name, ExpectedGot("a string", kv.value));
        }
        metadata.text = kv.value.get_string().value_unsafe();
        break;
      case kProperties:
        LIVEREC_RETURN_IF_ERROR(Properties(name, kv.value, &metadata.properties));
        break;
      case kAvailable:
        if (kv.value.type() != dom::element_type::BOOL) {
          return BadField(name, ExpectedGot("a boolean", kv.value));
        }
        metadata.available = kv.value.get_bool().value_unsafe();
        break;
      default:
        LIVEREC_CHECK(false) << "field " << field;
    }
  }
  return metadata;
}

StatusOr<UserMetadata> ParseUserMetadata(std::string_view body) {
  ObjectBody parsed;
  LIVEREC_RETURN_IF_ERROR(parsed.Open(body));
  UserMetadata metadata;
  uint32_t seen = 0;
  for (dom::key_value_pair kv : parsed.root()) {
    const size_t field = FindName(kv.key, kUserFields);
    if (field == kUserFields.size()) {
      return BadField(EchoKey(kv.key), UnknownFieldReason(kv.key, kUserFields));
    }
    LIVEREC_RETURN_IF_ERROR(MarkSeen(field, kUserFields[field], &seen));
    if (kv.value.is_null()) continue;
    LIVEREC_RETURN_IF_ERROR(Attributes(kUserFields[field], kv.value, &metadata.attributes));
  }
  return metadata;
}

StatusOr<uint64_t> ParseRollbackRequest(std::string_view body) {
  ObjectBody parsed;
  LIVEREC_RETURN_IF_ERROR(parsed.Open(body));
  const std::string_view name = kRollbackFields[0];
  std::optional<uint64_t> seq;
  for (dom::key_value_pair kv : parsed.root()) {
    if (kv.key != name) {
      return BadField(EchoKey(kv.key), UnknownFieldReason(kv.key, kRollbackFields));
    }
    if (seq.has_value()) return BadField(name, kGivenTwice);
    switch (kv.value.type()) {
      case dom::element_type::INT64: {
        const int64_t v = kv.value.get_int64().value_unsafe();
        if (v < 0) return BadField(name, "must be >= 0, got " + std::to_string(v));
        seq = static_cast<uint64_t>(v);
        break;
      }
      case dom::element_type::UINT64:
        seq = kv.value.get_uint64().value_unsafe();
        break;
      default:
        return BadField(name, ExpectedGot("an integer", kv.value));
    }
  }
  if (!seq.has_value()) return BadField(name, "missing");
  return *seq;
}

// ---------------------------------------------------------------------------------------------
// Rendering.

namespace {

// A float score as the double whose shortest text is the float's shortest text (0.1f is
// 0.100000001490116..., which would print as such if widened directly); null if not finite.
Json Score(float score) {
  if (!std::isfinite(score)) return nullptr;
  std::array<char, kNumberTextBytes> buf;
  const std::to_chars_result text = std::to_chars(buf.data(), buf.data() + buf.size(), score);
  double v = 0;
  const std::from_chars_result parsed = std::from_chars(buf.data(), text.ptr, v);
  LIVEREC_CHECK(parsed.ec == std::errc()) << std::string_view(buf.data(), text.ptr - buf.data());
  return v;
}

Json Finite(double v) {
  if (!std::isfinite(v)) return nullptr;
  return v;
}

std::string Dump(const Json& json) {
  // Compact, and invalid UTF-8 becomes U+FFFD instead of an exception.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json ScoredItems(const std::vector<ScoredItem>& items, bool with_because) {
  Json out = Json::array();
  for (const ScoredItem& s : items) {
    Json item = {{"item", s.item}, {"score", Score(s.score)}};
    if (with_because && !s.because.empty()) item["because"] = s.because;
    if (with_because && !s.features.empty()) item["features"] = s.features;
    if (with_because && !s.models.empty()) {
      Json models = Json::array();
      for (const auto& [name, term] : s.models) {
        models.push_back({{"model", name}, {"contribution", Score(term)}});
      }
      item["models"] = std::move(models);
    }
    if (s.backfill) item["backfill"] = true;
    out.push_back(std::move(item));
  }
  return out;
}

Json SnapshotJson(const SnapshotEntry& s) {
  return {{"seq", s.seq}, {"created_unix_ms", s.created_unix_ms}, {"size_bytes", s.size_bytes}};
}

}  // namespace

std::string RenderIngestResult(const IngestResult& result) {
  Json rejected = Json::array();
  for (const IngestError& e : result.rejected) {
    rejected.push_back({{"index", e.index}, {"field", e.field}, {"reason", e.reason}});
  }
  return Dump({{"accepted", result.accepted},
               {"duplicates", result.duplicates},
               {"last_seq", result.last_seq},
               {"rejected", std::move(rejected)}});
}

std::string RenderRecommendations(const Recommendations& r) {
  return Dump({{"recommendation_id", r.recommendation_id},
               {"model", r.model},
               {"fallback", r.fallback},
               {"model_version", r.model_version},
               {"items", ScoredItems(r.items, true)}});
}

std::string RenderSimilar(const std::string& item, const std::vector<ScoredItem>& items) {
  return Dump({{"item", item}, {"items", ScoredItems(items, false)}});
}

std::string RenderUser(const UserInfo& user) {
  Json recent = Json::array();
  for (const auto& [item, time_ms] : user.recent) {
    recent.push_back({{"item", item}, {"timestamp", time_ms}});
  }
  Json attributes = Json::object();
  for (const auto& [name, value] : user.metadata.attributes) attributes[name] = value;
  return Dump({{"user", user.user},
               {"num_events", user.num_events},
               {"recent", std::move(recent)},
               {"metadata", {{"attributes", std::move(attributes)}}}});
}

std::string RenderStats(const EngineStats& s) {
  Json models = Json::array();
  for (const ModelStats& m : s.models) {
    Json model = {{"name", m.name},           {"type", m.type},
                  {"evaluated", m.evaluated}, {"recall", Finite(m.recall)},
                  {"ndcg", Finite(m.ndcg)},   {"memory_bytes", m.memory_bytes}};
    if (!m.members.empty()) {
      Json members = Json::array();
      for (const ModelStats::Member& member : m.members) {
        Json weights = Json::array();
        Json rewards = Json::array();
        for (double w : member.weights) weights.push_back(Finite(w));
        for (double r : member.mean_rewards) rewards.push_back(Finite(r));
        members.push_back({{"name", member.name},
                           {"type", member.type},
                           {"weights", std::move(weights)},
                           {"mean_rewards", std::move(rewards)}});
      }
      model["members"] = std::move(members);
      model["judged"] = m.judged;
    }
    models.push_back(std::move(model));
  }
  return Dump({{"events_accepted", s.events_accepted},
               {"events_applied", s.events_applied},
               {"events_duplicate", s.events_duplicate},
               {"events_rejected", s.events_rejected},
               {"num_users", s.num_users},
               {"users_forgotten", s.users_forgotten},
               {"num_items", s.num_items},
               {"queue_depth", s.queue_depth},
               {"queue_capacity", s.queue_capacity},
               {"last_durable_seq", s.last_durable_seq},
               {"last_applied_seq", s.last_applied_seq},
               {"snapshot_seq", s.snapshot_seq},
               {"metrics_k", s.metrics_k},
               {"default_model", s.default_model},
               {"models", std::move(models)}});
}

std::string RenderSnapshots(const std::vector<SnapshotEntry>& snapshots) {
  Json list = Json::array();
  for (const SnapshotEntry& s : snapshots) list.push_back(SnapshotJson(s));
  return Dump({{"snapshots", std::move(list)}});
}

std::string RenderSnapshot(const SnapshotEntry& snapshot) { return Dump(SnapshotJson(snapshot)); }

std::string RenderError(std::string_view code, std::string_view message) {
  return Dump({{"error", {{"code", std::string(code)}, {"message", std::string(message)}}}});
}

}  // namespace liverec
