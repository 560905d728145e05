// Helpers shared by the request-body parsers of the HTTP API (event_batch_parser.h,
// request_parsers.h): reading simdjson elements, naming fields in error reasons, "did you mean"
// suggestions for unknown fields, duplicate keys, and locating the syntax error of a body that
// simdjson rejected. Internal to the serve codec library.
//
// Thread safety: free functions on values.
#ifndef LIVEREC_SERVE_JSON_PARSE_H_
#define LIVEREC_SERVE_JSON_PARSE_H_

#include <simdjson.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace liverec {

// The reason given for a key that appears twice in one object: requests that say two things
// are refused rather than guessed at.
inline constexpr std::string_view kGivenTwice = "given twice";

// JSON whitespace: space, tab, newline, carriage return.
bool IsJsonSpace(char c);
// True if `text` is empty or JSON whitespace only.
bool IsJsonBlank(std::string_view text);

// "expected EXPECTED, got TYPE", TYPE being the JSON type of `el` ("number", "null", ...).
std::string ExpectedGot(std::string_view expected, simdjson::dom::element el);

// True if `el` is an integer or a double.
bool IsNumber(simdjson::dom::element el);
// The decimal text of a number element: integers exactly, doubles as the shortest text that
// reads back as the same double. Requires IsNumber(el).
std::string NumberText(simdjson::dom::element el);
// The value of a number element as a double. Requires IsNumber(el).
double NumberValue(simdjson::dom::element el);
// A context or attribute value (string, number or boolean) as text into `*out`: strings as
// they are, numbers as NumberText, booleans as "true"/"false". False for other types.
bool ScalarText(simdjson::dom::element el, std::string* out);

// `key` as echoed back in an error's field name: cut to 64 bytes (at a UTF-8 character
// boundary) with "..." appended, so that a huge key does not come back in every error.
std::string EchoKey(std::string_view key);

// Returns the index of `key` in `names`, or names.size() if it is not there.
inline size_t FindName(std::string_view key, std::span<const std::string_view> names) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == key) return i;
  }
  return names.size();
}

// The reason for an unknown field `key`: "unknown field; did you mean \"user\"?" when a name
// is within edit distance 2 (case-insensitively), else "unknown field; expected one of a, b".
std::string UnknownFieldReason(std::string_view key, std::span<const std::string_view> names);

// True if two of `keys` are equal; `*duplicate` is then one of them. `scratch` is reused
// storage (large key sets are sorted in it).
bool HasDuplicate(const std::vector<std::string_view>& keys, std::vector<std::string_view>* scratch,
                  std::string_view* duplicate);

// Where and why a text is not JSON.
struct SyntaxError {
  bool located = false;  // false: nlohmann accepts what simdjson rejected (numbers beyond
                         // double, nesting deeper than simdjson's limit)
  size_t position = 0;   // 1-based position of the offending character, when located
  std::string reason;    // at most 200 bytes
};

// Locates the error in `text`, which simdjson rejected with `code` (whose message is the
// reason when the error cannot be located). Slow; for error messages only.
SyntaxError FindSyntaxError(std::string_view text, simdjson::error_code code);

// "byte 17: invalid JSON: REASON" (0-based offset), or "invalid JSON: REASON".
std::string ByteError(const SyntaxError& error);

// "line 3, column 18: invalid JSON: REASON" (both 1-based), or "line 3: invalid JSON: REASON".
std::string LineError(size_t line_no, const SyntaxError& error);

}  // namespace liverec

#endif  // LIVEREC_SERVE_JSON_PARSE_H_
