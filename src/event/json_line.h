// JSON Lines as the event and item metadata readers parse them: one JSON object per line, its
// members sorted into a fixed list of fields, and the messages of a field of the wrong type.
// The messages go after the "FILE:LINE: " of data_file.h.
//
// Only files of the event module include this header: simdjson is a private dependency.
#ifndef LIVEREC_EVENT_JSON_LINE_H_
#define LIVEREC_EVENT_JSON_LINE_H_

#include <simdjson.h>

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "liverec/status.h"

namespace liverec {

// How a JSON type is named in a message: "a string", "an array", "null", ...
std::string_view JsonTypeName(simdjson::dom::element_type type);

// "field 'NAME': expected WHAT, got TYPE" (TYPE from JsonTypeName).
std::string JsonTypeError(std::string_view field, std::string_view expected,
                          simdjson::dom::element el);

// True for INT64 and UINT64 elements; IsJsonNumber also for DOUBLE.
bool IsJsonInteger(simdjson::dom::element el);
bool IsJsonNumber(simdjson::dom::element el);

// Room for the decimal text of a 64-bit integer.
using NumberText = std::array<char, 24>;

// The decimal text of an integer element (requires IsJsonInteger), written into `buf`.
std::string_view IntegerText(simdjson::dom::element el, NumberText& buf);

// Whether a member whose value is null counts for the "given twice" check (a null member is
// otherwise absent: its field stays empty).
enum class JsonNullMember { kAbsent, kGiven };

// Parses lines one at a time, reusing one simdjson parser. Not thread-safe.
class JsonLineParser {
 public:
  // Parses `line` as one JSON object into *object, valid until the next call. InvalidArgument
  // "invalid JSON: REASON" or "expected a JSON object, got TYPE".
  Status ParseObject(std::string_view line, simdjson::dom::object* object);

 private:
  simdjson::dom::parser parser_;
  std::vector<char> padded_;
};

// Sorts the members of `object` into `fields` (fields[i] takes the member named names[i];
// the spans have the same size, at most 32). InvalidArgument for a member whose name is not
// in `names`, "field 'KEY': unknown field; expected one of NAME, NAME, ..." with a
// " (did you mean 'NAME'?)" for a near miss, and "field 'KEY': given twice" for a repeated one.
// Null values leave their field empty; `null_member` says whether they count as given.
Status SortJsonFields(simdjson::dom::object object, std::span<const std::string_view> names,
                      JsonNullMember null_member,
                      std::span<std::optional<simdjson::dom::element>> fields);

}  // namespace liverec

#endif  // LIVEREC_EVENT_JSON_LINE_H_
