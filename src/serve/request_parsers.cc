#include "serve/request_parsers.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/check.h"
#include "serve/json_parse.h"

namespace liverec {
namespace {

namespace dom = simdjson::dom;

// A request body that must be one JSON object. Metadata and control bodies are not on a hot
// path, so each one is parsed from a fresh padded copy.
class ObjectBody {
 public:
  Status Open(std::string_view body) {
    if (IsJsonBlank(body)) return InvalidArgument("empty body: expected a JSON object");
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

enum ExperimentField : size_t {
  kArms,
  kLearning,
  kSalt,
  kLayer,
  kTraffic,
  kType,
  kNumExperimentFields
};
constexpr std::array<std::string_view, kNumExperimentFields> kExperimentFields = {
    "arms", "learning", "salt", "layer", "traffic", "type"};
enum ArmField : size_t {
  kArmName,
  kArmModel,
  kArmShare,
  kArmDiversity,
  kArmCap,
  kArmExplore,
  kNumArmFields
};
constexpr std::array<std::string_view, kNumArmFields> kArmFields = {
    "name", "model", "share", "diversity", "category_cap", "explore"};

Status StringField(std::string_view name, dom::element el, std::string* out) {
  if (el.type() != dom::element_type::STRING) return BadField(name, ExpectedGot("a string", el));
  *out = el.get_string().value_unsafe();
  return Status::Ok();
}

Status NumberField(std::string_view name, dom::element el, double* out) {
  if (!IsNumber(el)) return BadField(name, ExpectedGot("a number", el));
  *out = NumberValue(el);
  return Status::Ok();
}

// One arm of an experiment; *has_share tells whether it gave its share (only an interleave
// experiment may leave it out, which the caller knows once the whole body is read).
Status Arm(std::string_view name, dom::element el, ExperimentArm* arm, bool* has_share) {
  if (el.type() != dom::element_type::OBJECT) return BadField(name, ExpectedGot("an object", el));
  uint32_t seen = 0;
  // A named copy: ranging over value_unsafe() of a temporary result would dangle.
  const dom::object object = el.get_object().value_unsafe();
  for (dom::key_value_pair kv : object) {
    const size_t field = FindName(kv.key, kArmFields);
    if (field == kNumArmFields) {
      return BadField(std::string(name) + "." + EchoKey(kv.key),
                      UnknownFieldReason(kv.key, kArmFields));
    }
    const std::string field_name = std::string(name) + "." + std::string(kArmFields[field]);
    LIVEREC_RETURN_IF_ERROR(MarkSeen(field, field_name, &seen));
    if (kv.value.is_null()) continue;
    switch (field) {
      case kArmName:
        LIVEREC_RETURN_IF_ERROR(StringField(field_name, kv.value, &arm->name));
        break;
      case kArmModel:
        LIVEREC_RETURN_IF_ERROR(StringField(field_name, kv.value, &arm->model));
        break;
      case kArmShare:
        LIVEREC_RETURN_IF_ERROR(NumberField(field_name, kv.value, &arm->share));
        break;
      case kArmDiversity: {
        double diversity = 0;
        LIVEREC_RETURN_IF_ERROR(NumberField(field_name, kv.value, &diversity));
        arm->diversity = diversity;
        break;
      }
      case kArmCap:
        if (kv.value.type() != dom::element_type::INT64) {
          return BadField(field_name, ExpectedGot("an integer", kv.value));
        }
        arm->category_cap = kv.value.get_int64().value_unsafe();
        break;
      case kArmExplore:
        LIVEREC_RETURN_IF_ERROR(StringField(field_name, kv.value, &arm->explore));
        break;
      default:
        LIVEREC_CHECK(false) << "field " << field;
    }
  }
  for (size_t required : {kArmName, kArmModel}) {
    if ((seen & (uint32_t{1} << required)) == 0) {
      return BadField(std::string(name) + "." + std::string(kArmFields[required]), "missing");
    }
  }
  *has_share = (seen & (uint32_t{1} << kArmShare)) != 0;
  return Status::Ok();
}

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

StatusOr<ExperimentSpec> ParseExperimentSpec(std::string_view body, std::string_view name) {
  ObjectBody parsed;
  LIVEREC_RETURN_IF_ERROR(parsed.Open(body));
  ExperimentSpec spec;
  spec.name = name;
  uint32_t seen = 0;
  std::vector<uint8_t> has_share;
  for (dom::key_value_pair kv : parsed.root()) {
    const size_t field = FindName(kv.key, kExperimentFields);
    if (field == kNumExperimentFields) {
      return BadField(EchoKey(kv.key), UnknownFieldReason(kv.key, kExperimentFields));
    }
    const std::string_view field_name = kExperimentFields[field];
    LIVEREC_RETURN_IF_ERROR(MarkSeen(field, field_name, &seen));
    if (kv.value.is_null()) continue;
    switch (field) {
      case kArms: {
        if (kv.value.type() != dom::element_type::ARRAY) {
          return BadField(field_name, ExpectedGot("an array", kv.value));
        }
        const dom::array arms = kv.value.get_array().value_unsafe();
        for (dom::element arm : arms) {
          const std::string arm_name = "arms[" + std::to_string(spec.arms.size()) + "]";
          bool share = false;
          LIVEREC_RETURN_IF_ERROR(Arm(arm_name, arm, &spec.arms.emplace_back(), &share));
          has_share.push_back(share);
        }
        break;
      }
      case kLearning:
        LIVEREC_RETURN_IF_ERROR(StringField(field_name, kv.value, &spec.learning));
        break;
      case kSalt:
        LIVEREC_RETURN_IF_ERROR(StringField(field_name, kv.value, &spec.salt));
        break;
      case kLayer:
        LIVEREC_RETURN_IF_ERROR(StringField(field_name, kv.value, &spec.layer));
        break;
      case kTraffic:
        LIVEREC_RETURN_IF_ERROR(NumberField(field_name, kv.value, &spec.traffic));
        break;
      case kType:
        LIVEREC_RETURN_IF_ERROR(StringField(field_name, kv.value, &spec.type));
        break;
      default:
        LIVEREC_CHECK(false) << "field " << field;
    }
  }
  if ((seen & (uint32_t{1} << kArms)) == 0 || spec.arms.empty()) {
    return BadField("arms", "missing");
  }
  if (spec.type != "interleave") {
    for (size_t i = 0; i < has_share.size(); ++i) {
      if (!has_share[i]) return BadField("arms[" + std::to_string(i) + "].share", "missing");
    }
  }
  return spec;
}

StatusOr<std::vector<std::string>> ParseListParam(std::string_view name,
                                                  const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& value : values) {
    size_t position = 1;
    for (size_t start = 0;; ++position) {
      const size_t comma = std::min(value.find(',', start), value.size());
      if (comma == start) {
        return BadField(name,
                        "empty id at position " + std::to_string(position) + " of '" + value + "'");
      }
      if (out.size() == kMaxListParamValues) {
        return BadField(name, "more than " + std::to_string(kMaxListParamValues) + " ids");
      }
      out.emplace_back(value, start, comma - start);
      if (comma == value.size()) break;
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace liverec
