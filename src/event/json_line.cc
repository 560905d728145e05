#include "event/json_line.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "common/check.h"
#include "common/strings.h"
#include "event/data_file.h"

namespace liverec {
namespace {

namespace dom = simdjson::dom;

// A misspelled JSON field within this edit distance gets a "did you mean".
constexpr size_t kMaxSuggestionDistance = 2;
// SortJsonFields tracks the fields given in the bits of one word.
constexpr size_t kMaxJsonFields = 32;

Status UnknownField(std::string_view key, std::span<const std::string_view> names) {
  std::string message = "unknown field; expected one of ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) message += ", ";
    message += names[i];
  }
  for (std::string_view known : names) {
    if (EditDistance(ToLower(key), known) <= kMaxSuggestionDistance) {
      message += " (did you mean '" + std::string(known) + "'?)";
      break;
    }
  }
  return InvalidArgument(FieldMessage(key, message));
}

}  // namespace

std::string_view JsonTypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "an integer";
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

std::string JsonTypeError(std::string_view field, std::string_view expected, dom::element el) {
  return FieldMessage(
      field, "expected " + std::string(expected) + ", got " + std::string(JsonTypeName(el.type())));
}

bool IsJsonInteger(dom::element el) {
  return el.type() == dom::element_type::INT64 || el.type() == dom::element_type::UINT64;
}

bool IsJsonNumber(dom::element el) {
  return IsJsonInteger(el) || el.type() == dom::element_type::DOUBLE;
}

std::string_view IntegerText(dom::element el, NumberText& buf) {
  char* end = buf.data();
  if (el.type() == dom::element_type::INT64) {
    end = std::to_chars(buf.data(), buf.data() + buf.size(), int64_t(el.get_int64().value_unsafe()))
              .ptr;
  } else {
    end =
        std::to_chars(buf.data(), buf.data() + buf.size(), uint64_t(el.get_uint64().value_unsafe()))
            .ptr;
  }
  return std::string_view(buf.data(), static_cast<size_t>(end - buf.data()));
}

Status JsonLineParser::ParseObject(std::string_view line, dom::object* object) {
  // simdjson reads SIMDJSON_PADDING bytes past the end of its input: parse a padded copy.
  if (padded_.size() < line.size() + simdjson::SIMDJSON_PADDING) {
    padded_.resize(line.size() + simdjson::SIMDJSON_PADDING);
  }
  std::memcpy(padded_.data(), line.data(), line.size());
  dom::element doc;
  const simdjson::error_code code = parser_.parse(padded_.data(), line.size(), false).get(doc);
  if (code != simdjson::SUCCESS) {
    return InvalidArgument("invalid JSON: " + std::string(simdjson::error_message(code)));
  }
  if (doc.get(*object) != simdjson::SUCCESS) {
    return InvalidArgument("expected a JSON object, got " + std::string(JsonTypeName(doc.type())));
  }
  return Status::Ok();
}

Status SortJsonFields(dom::object object, std::span<const std::string_view> names,
                      JsonNullMember null_member, std::span<std::optional<dom::element>> fields) {
  LIVEREC_CHECK(names.size() == fields.size() && names.size() <= kMaxJsonFields);
  uint32_t given = 0;
  for (dom::key_value_pair kv : object) {
    auto known = std::find(names.begin(), names.end(), kv.key);
    if (known == names.end()) return UnknownField(kv.key, names);
    const auto index = static_cast<size_t>(known - names.begin());
    const uint32_t bit = uint32_t{1} << index;
    if ((given & bit) != 0) return InvalidArgument(FieldMessage(kv.key, "given twice"));
    const bool is_null = kv.value.is_null();
    if (!is_null || null_member == JsonNullMember::kGiven) given |= bit;
    if (!is_null) fields[index] = kv.value;
  }
  return Status::Ok();
}

}  // namespace liverec
