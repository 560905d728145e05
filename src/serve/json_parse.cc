#include "serve/json_parse.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <nlohmann/json.hpp>
#include <string>

#include "common/strings.h"

namespace liverec {
namespace {

namespace dom = simdjson::dom;

// Keys echoed back in error field names are cut to this many bytes: a 60 KB key must not come
// back in every error of a batch.
constexpr size_t kMaxEchoedKeyBytes = 64;
// Body-level error messages (which may quote the offending token) are cut to this many bytes.
constexpr size_t kMaxSyntaxMessageBytes = 200;
// An unknown field within this edit distance of a known one gets a "did you mean".
constexpr size_t kMaxSuggestionDistance = 2;
// Up to this many keys, duplicates are found by comparing all pairs; above, by sorting.
constexpr size_t kMaxPairwiseDuplicateCheck = 8;
// Room for the decimal text of any 64-bit integer.
constexpr size_t kIntegerTextBytes = 32;

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

}  // namespace

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsJsonBlank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), IsJsonSpace);
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

std::string EchoKey(std::string_view key) {
  std::string out(CutUtf8(key, kMaxEchoedKeyBytes));
  if (out.size() < key.size()) out += "...";
  return out;
}

std::string NumberText(dom::element el) {
  std::array<char, kIntegerTextBytes> buf;
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

std::string UnknownFieldReason(std::string_view key, std::span<const std::string_view> names) {
  const std::string lower = ToLower(CutUtf8(key, kMaxEchoedKeyBytes));
  for (std::string_view known : names) {
    // Cheap bound first: the distance is at least the difference in length.
    if (key.size() > known.size() + kMaxSuggestionDistance) continue;
    if (EditDistance(lower, known) <= kMaxSuggestionDistance) {
      return "unknown field; did you mean \"" + std::string(known) + "\"?";
    }
  }
  std::string out = "unknown field; expected one of ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  return out;
}

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

}  // namespace liverec
