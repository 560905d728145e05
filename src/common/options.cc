#include "liverec/options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <string>

#include "common/check.h"
#include "common/strings.h"

namespace liverec {
namespace {

std::string_view ScopeOf(std::string_view key) { return key.substr(0, key.find('.')); }

bool IsDeclaredScope(std::string_view scope) {
  for (const OptionSpec& spec : AllOptions()) {
    if (ScopeOf(spec.name) == scope) return true;
  }
  return false;
}

std::string ClosestName(std::string_view name) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const OptionSpec& spec : AllOptions()) {
    size_t d = EditDistance(name, spec.name);
    if (d < best_distance) {
      best_distance = d;
      best = spec.name;
    }
  }
  return best;
}

// Checks that `value` is a valid text for `spec`; returns the numeric value for range checks.
Status CheckValue(const OptionSpec& spec, std::string_view value) {
  auto bad = [&](std::string_view expected) {
    return InvalidArgument("option '" + std::string(spec.name) + "': expected " +
                           std::string(expected) + ", got '" + std::string(value) + "'");
  };
  double number = 0;
  switch (spec.type) {
    case OptionType::kInt: {
      int64_t v = 0;
      if (!ParseInt64(value, &v)) return bad("an integer");
      number = static_cast<double>(v);
      break;
    }
    case OptionType::kFloat:
      if (!ParseDouble(value, &number) || !std::isfinite(number)) return bad("a number");
      break;
    case OptionType::kBool: {
      bool b = false;
      if (!ParseBool(value, &b)) return bad("true or false");
      return Status::Ok();
    }
    case OptionType::kString:
      return Status::Ok();
    case OptionType::kDuration: {
      StatusOr<double> seconds = ParseDurationSeconds(value);
      if (!seconds.ok()) return bad("a duration such as 90s, 15m, 48h or 7d");
      number = *seconds;
      break;
    }
    case OptionType::kEnum: {
      for (std::string_view choice : Split(spec.choices, '|')) {
        if (choice == value) return Status::Ok();
      }
      return bad("one of " + std::string(spec.choices));
    }
  }
  if (number < spec.min || number > spec.max) {
    return InvalidArgument("option '" + std::string(spec.name) + "': " + std::string(value) +
                           " is outside [" + FormatNumber(spec.min) + ", " +
                           FormatNumber(spec.max) + "]");
  }
  return Status::Ok();
}

// Checks `key` (an instance-scoped option, "mf_wide.dim") against the type of its instance.
Status CheckInstanceOption(const std::string& key, const std::string& value,
                           const std::map<std::string, std::string>& instances) {
  std::string_view scope = ScopeOf(key);
  auto it = instances.find(std::string(scope));
  if (it == instances.end()) {
    return InvalidArgument("unknown option '" + key + "'; did you mean '" + ClosestName(key) +
                           "'?");
  }
  std::string type_key = it->second + key.substr(scope.size());
  const OptionSpec* spec = FindOption(type_key);
  if (spec == nullptr) {
    return InvalidArgument("unknown option '" + key + "': model type '" + it->second +
                           "' has no option '" + key.substr(scope.size() + 1) + "'");
  }
  return CheckValue(*spec, value).WithPrefix("for '" + key + "'");
}

}  // namespace

const OptionSpec* FindOption(std::string_view name) {
  for (const OptionSpec& spec : AllOptions()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

StatusOr<double> ParseDurationSeconds(std::string_view text) {
  text = Trim(text);
  size_t unit_pos = text.find_first_not_of("0123456789.+-eE");
  // "e" is both an exponent and nothing else here, so units never start with it.
  std::string_view number_text = text.substr(0, unit_pos);
  std::string_view unit = unit_pos == std::string_view::npos ? "" : text.substr(unit_pos);
  double number = 0;
  if (number_text.empty() || !ParseDouble(number_text, &number) || !std::isfinite(number) ||
      number < 0) {
    return InvalidArgument("expected a duration such as 90s, 15m, 48h or 7d, got '" +
                           std::string(text) + "'");
  }
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e-3;
  } else if (unit == "m" || unit == "min") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  } else if (unit == "w") {
    scale = 7 * 86400;
  } else {
    return InvalidArgument("unknown duration unit '" + std::string(unit) + "' in '" +
                           std::string(text) + "' (use ms, s, m, h, d or w)");
  }
  return number * scale;
}

Status Options::Set(std::string_view key, std::string_view value) {
  key = Trim(key);
  value = Trim(value);
  size_t dot = key.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == key.size()) {
    return InvalidArgument("option '" + std::string(key) +
                           "': expected <scope>.<name>, such as mf.dim");
  }
  if (const OptionSpec* spec = FindOption(key)) {
    LIVEREC_RETURN_IF_ERROR(CheckValue(*spec, value));
  } else if (IsDeclaredScope(ScopeOf(key))) {
    return InvalidArgument("unknown option '" + std::string(key) + "'; did you mean '" +
                           ClosestName(key) + "'?");
  }
  overrides_[std::string(key)] = std::string(value);
  if (auto source = sources_.find(key); source != sources_.end()) sources_.erase(source);
  return Status::Ok();
}

Status Options::SetAssignment(std::string_view assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgument("expected key=value, got '" + std::string(assignment) + "'");
  }
  return Set(assignment.substr(0, eq), assignment.substr(eq + 1));
}

Status Options::LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return IOError("cannot open config file " + path);
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    std::string_view text = Trim(line);
    if (text.empty() || text.front() == '#') continue;
    size_t eq = text.find('=');
    Status status = eq == std::string_view::npos
                        ? InvalidArgument("expected key = value, got '" + std::string(text) + "'")
                        : Set(text.substr(0, eq), text.substr(eq + 1));
    const std::string where = path + ":" + std::to_string(line_no);
    LIVEREC_RETURN_IF_ERROR(status.WithPrefix(where));
    // Instance-scoped keys ("mf_wide.dim") are checked later, by Validate, which names the line.
    sources_[std::string(Trim(text.substr(0, eq)))] = where;
  }
  if (in.bad()) return IOError("cannot read config file " + path);
  return Status::Ok();
}

Status Options::LoadEnvironment(const std::function<const char*(const char*)>& getenv) {
  for (const OptionSpec& spec : AllOptions()) {
    std::string var = "LIVEREC_";
    for (char c : spec.name) var += c == '.' ? '_' : static_cast<char>(std::toupper(c));
    const char* value = getenv(var.c_str());
    if (value == nullptr) continue;
    LIVEREC_RETURN_IF_ERROR(Set(spec.name, value).WithPrefix("environment variable " + var));
  }
  return Status::Ok();
}

Status Options::Validate(const std::map<std::string, std::string>& instances) const {
  for (const auto& [key, value] : overrides_) {
    if (FindOption(key) != nullptr) continue;  // checked by Set
    const Status status = CheckInstanceOption(key, value, instances);
    if (status.ok()) continue;
    auto source = sources_.find(key);
    return source == sources_.end() ? status : status.WithPrefix(source->second);
  }
  return Status::Ok();
}

std::string_view Options::Raw(std::string_view instance, std::string_view type,
                              std::string_view field, const OptionSpec** spec) const {
  std::string type_key = std::string(type) + "." + std::string(field);
  *spec = FindOption(type_key);
  LIVEREC_CHECK(*spec != nullptr) << "undeclared option " << type_key;
  if (!instance.empty() && instance != type) {
    auto it = overrides_.find(std::string(instance) + "." + std::string(field));
    if (it != overrides_.end()) return it->second;
  }
  auto it = overrides_.find(type_key);
  if (it != overrides_.end()) return it->second;
  return (*spec)->default_value;
}

int64_t Options::GetInt(std::string_view instance, std::string_view type,
                        std::string_view field) const {
  const OptionSpec* spec = nullptr;
  int64_t v = 0;
  LIVEREC_CHECK(ParseInt64(Raw(instance, type, field, &spec), &v));
  return v;
}

double Options::GetFloat(std::string_view instance, std::string_view type,
                         std::string_view field) const {
  const OptionSpec* spec = nullptr;
  double v = 0;
  LIVEREC_CHECK(ParseDouble(Raw(instance, type, field, &spec), &v));
  return v;
}

bool Options::GetBool(std::string_view instance, std::string_view type,
                      std::string_view field) const {
  const OptionSpec* spec = nullptr;
  bool v = false;
  LIVEREC_CHECK(ParseBool(Raw(instance, type, field, &spec), &v));
  return v;
}

std::string Options::GetString(std::string_view instance, std::string_view type,
                               std::string_view field) const {
  const OptionSpec* spec = nullptr;
  return std::string(Raw(instance, type, field, &spec));
}

double Options::GetDurationSeconds(std::string_view instance, std::string_view type,
                                   std::string_view field) const {
  const OptionSpec* spec = nullptr;
  StatusOr<double> seconds = ParseDurationSeconds(Raw(instance, type, field, &spec));
  LIVEREC_CHECK(seconds.ok());
  return *seconds;
}

std::string OptionTableMarkdown() {
  std::string out =
      "# Configuration\n\n"
      "Generated from `src/common/option_table.cc` by `liverec options --markdown`; do not "
      "edit by hand.\n\n"
      "Set any option with `--set name=value`. A model instance of another name overrides its "
      "type's value with `--set <instance>.<field>=value` (for example `mf_wide.dim=128` for "
      "`--models mf_wide:mf`).\n\n"
      "| option | type | default | meaning |\n|---|---|---|---|\n";
  for (const OptionSpec& spec : AllOptions()) {
    std::string type;
    switch (spec.type) {
      case OptionType::kInt:
        type = "int";
        break;
      case OptionType::kFloat:
        type = "float";
        break;
      case OptionType::kBool:
        type = "bool";
        break;
      case OptionType::kString:
        type = "string";
        break;
      case OptionType::kDuration:
        type = "duration";
        break;
      case OptionType::kEnum:
        type = std::string(spec.choices);
        break;
    }
    out += "| `" + std::string(spec.name) + "` | " + type + " | `" +
           std::string(spec.default_value) + "` | " + std::string(spec.help) + " |\n";
  }
  return out;
}

}  // namespace liverec
