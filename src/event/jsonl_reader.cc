#include "event/jsonl_reader.h"

#include <array>
#include <optional>
#include <string>

#include "common/strings.h"
#include "event/json_line.h"

namespace liverec {
namespace {

namespace dom = simdjson::dom;

constexpr std::array<std::string_view, 7> kJsonFields = {"user",      "item",    "type", "value",
                                                         "timestamp", "context", "id"};
enum JsonField : size_t { kUser, kItem, kType, kValue, kTimestamp, kContext, kId };

class JsonlParser {
 public:
  explicit JsonlParser(EventParse& p) : p_(p) {}

  // Parses and validates one line; on success the event is added to the dataset.
  Status ParseLine(std::string_view line) {
    dom::object obj;
    LIVEREC_RETURN_IF_ERROR(parser_.ParseObject(line, &obj));
    std::array<std::optional<dom::element>, kJsonFields.size()> fields;
    LIVEREC_RETURN_IF_ERROR(SortJsonFields(obj, kJsonFields, JsonNullMember::kAbsent, fields));

    LineEvent e;
    NumberText user_buf, item_buf, id_buf;
    LIVEREC_RETURN_IF_ERROR(Key(fields[kUser], kJsonFields[kUser], user_buf, &e.user));
    LIVEREC_RETURN_IF_ERROR(Key(fields[kItem], kJsonFields[kItem], item_buf, &e.item));
    if (!fields[kTimestamp].has_value()) {
      return InvalidArgument(FieldMessage(kJsonFields[kTimestamp], "missing"));
    }
    dom::element ts = *fields[kTimestamp];
    if (ts.type() == dom::element_type::INT64) {
      e.time_ms = ts.get_int64().value_unsafe();
    } else if (ts.type() == dom::element_type::UINT64) {
      return InvalidArgument(
          FieldError(kJsonFields[kTimestamp], "an integer within int64", IntegerText(ts, id_buf)));
    } else {
      return InvalidArgument(JsonTypeError(kJsonFields[kTimestamp], "an integer (ms)", ts));
    }
    if (fields[kType].has_value()) {
      if (fields[kType]->get_string().get(e.type) != simdjson::SUCCESS) {
        return InvalidArgument(JsonTypeError(kJsonFields[kType], "a string", *fields[kType]));
      }
    }
    if (fields[kValue].has_value()) {
      double v = 0;
      if (!IsJsonNumber(*fields[kValue]) ||
          fields[kValue]->get_double().get(v) != simdjson::SUCCESS) {
        return InvalidArgument(JsonTypeError(kJsonFields[kValue], "a number", *fields[kValue]));
      }
      if (!ToFiniteFloat(v, &e.value)) {
        return InvalidArgument(
            FieldError(kJsonFields[kValue], "a number within float range", FormatNumber(v)));
      }
    }
    if (fields[kId].has_value()) {
      LIVEREC_RETURN_IF_ERROR(Key(fields[kId], kJsonFields[kId], id_buf, &e.id));
      e.has_id = true;
    }
    dom::object context;
    size_t num_context = 0;
    if (fields[kContext].has_value()) {
      if (fields[kContext]->get(context) != simdjson::SUCCESS) {
        return InvalidArgument(
            JsonTypeError(kJsonFields[kContext], "an object", *fields[kContext]));
      }
      for (dom::key_value_pair kv : context) {
        if (!IsJsonNumber(kv.value) && !kv.value.is_string()) {
          return InvalidArgument(
              JsonTypeError("context." + std::string(kv.key), "a string or a number", kv.value));
        }
        ++num_context;
      }
    }
    LIVEREC_RETURN_IF_ERROR(p_.CheckLimits(e, num_context));

    p_.Add(e);
    if (num_context > 0) AddContext(context);
    return Status::Ok();
  }

 private:
  // A key field: a non-empty string, or an integer (42 -> "42").
  static Status Key(const std::optional<dom::element>& field, std::string_view name,
                    NumberText& buf, std::string_view* out) {
    if (!field.has_value()) return InvalidArgument(FieldMessage(name, "missing"));
    if (IsJsonInteger(*field)) {
      *out = IntegerText(*field, buf);
      return Status::Ok();
    }
    if (field->get_string().get(*out) != simdjson::SUCCESS) {
      return InvalidArgument(JsonTypeError(name, "a string or an integer", *field));
    }
    if (out->empty()) return InvalidArgument(FieldMessage(name, "empty"));
    return Status::Ok();
  }

  void AddContext(dom::object context) {
    for (dom::key_value_pair kv : context) {
      std::string_view value;
      NumberText buf;
      std::string number;
      if (IsJsonInteger(kv.value)) {
        value = IntegerText(kv.value, buf);
      } else if (kv.value.type() == dom::element_type::DOUBLE) {
        number = FormatNumber(kv.value.get_double().value_unsafe());
        value = number;
      } else {
        value = kv.value.get_string().value_unsafe();
      }
      p_.dataset().AddContext(kv.key, value);
    }
  }

  EventParse& p_;
  JsonLineParser parser_;
};

}  // namespace

Status ParseJsonl(std::string_view data, EventParse& p) {
  JsonlParser parser(p);
  return p.ForEachLine(data, [&](std::string_view line) { return parser.ParseLine(line); });
}

}  // namespace liverec
