// The option table: every knob of liverec is declared once, in src/common/option_table.cc.
//
// An option has a dotted name "<scope>.<field>": the scope is a model type ("mf", "item_knn")
// or a subsystem ("replay"). Model *instances* have names of their own ("mf_wide", an instance
// of type mf); "mf_wide.dim" overrides "mf.dim" for that instance only, and "mf.dim" applies
// to every mf instance without an override of its own. Values are validated against the
// declared type and range; unknown names are errors that suggest the closest known name.
//
// Command-line `--set key=value`, config files and the generated docs/config.md all go
// through this one table.
//
// Thread safety: Options is a value; const methods may be called concurrently.
#ifndef LIVEREC_OPTIONS_H_
#define LIVEREC_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "liverec/status.h"

namespace liverec {

enum class OptionType {
  kInt,
  kFloat,
  kBool,  // true/false, 1/0, yes/no, on/off
  kString,
  kDuration,  // "90s", "15m", "48h", "7d", "250ms", or a plain number of seconds
  kEnum,      // one of `choices`, separated by '|'
};

struct OptionSpec {
  std::string_view name;  // "mf.dim"
  OptionType type;
  std::string_view default_value;  // in the same syntax a user would write
  std::string_view help;           // meaning, unit and why the default is what it is
  double min = -1e300;             // inclusive range for kInt / kFloat / kDuration (seconds)
  double max = 1e300;
  std::string_view choices = {};  // for kEnum: "implicit|rating"
};

// Every option liverec has.
std::span<const OptionSpec> AllOptions();

// The spec named `name`, or nullptr.
const OptionSpec* FindOption(std::string_view name);

// Parses a duration ("48h") into seconds.
StatusOr<double> ParseDurationSeconds(std::string_view text);

// A set of overrides on top of the table's defaults.
class Options {
 public:
  // Records `key` = `value` ("mf.dim", "64" or "mf_wide.dim", "128"). The value is checked
  // when the key names a declared option; keys whose scope is an instance name are checked by
  // Validate once the instances are known.
  Status Set(std::string_view key, std::string_view value);

  // Parses "key=value".
  Status SetAssignment(std::string_view assignment);

  // Checks every override: its scope must be a declared scope or one of `instances` (instance
  // name -> type), its field must exist, its value must parse and be within range. An error
  // about an override read from a config file starts with its file and line.
  Status Validate(const std::map<std::string, std::string>& instances = {}) const;

  // Typed lookups for `field` of instance `instance` of type `type`: the instance override,
  // else the type override, else the table default. `type.field` must be declared; a missing
  // declaration is a bug (it aborts).
  int64_t GetInt(std::string_view instance, std::string_view type, std::string_view field) const;
  double GetFloat(std::string_view instance, std::string_view type, std::string_view field) const;
  bool GetBool(std::string_view instance, std::string_view type, std::string_view field) const;
  std::string GetString(std::string_view instance, std::string_view type,
                        std::string_view field) const;
  double GetDurationSeconds(std::string_view instance, std::string_view type,
                            std::string_view field) const;

  // Reads a config file: one `key = value` per line ("serve.port = 8081"), blank lines and
  // lines starting with '#' ignored. Each key goes through Set. Errors name the file and line.
  Status LoadConfigFile(const std::string& path);

  // Sets every declared option that has an environment variable: LIVEREC_ + the option name
  // upper-cased with '.' as '_' (serve.port: LIVEREC_SERVE_PORT). `getenv` is the lookup
  // (std::getenv in production, a map in tests). Errors name the variable.
  Status LoadEnvironment(const std::function<const char*(const char*)>& getenv);

  const std::map<std::string, std::string, std::less<>>& overrides() const { return overrides_; }

 private:
  // The effective text of the option and its spec (aborts if `type.field` is undeclared).
  std::string_view Raw(std::string_view instance, std::string_view type, std::string_view field,
                       const OptionSpec** spec) const;

  std::map<std::string, std::string, std::less<>> overrides_;
  // "file:line" of the overrides read by LoadConfigFile and not set again since.
  std::map<std::string, std::string, std::less<>> sources_;
};

// A view of one model instance's options: Int("dim") reads "<instance>.dim" / "<type>.dim".
class OptionView {
 public:
  OptionView(const Options* options, std::string instance, std::string type)
      : options_(options), instance_(std::move(instance)), type_(std::move(type)) {}
  int64_t Int(std::string_view field) const { return options_->GetInt(instance_, type_, field); }
  double Float(std::string_view field) const { return options_->GetFloat(instance_, type_, field); }
  bool Bool(std::string_view field) const { return options_->GetBool(instance_, type_, field); }
  std::string String(std::string_view field) const {
    return options_->GetString(instance_, type_, field);
  }
  double DurationSeconds(std::string_view field) const {
    return options_->GetDurationSeconds(instance_, type_, field);
  }
  const std::string& instance() const { return instance_; }
  const std::string& type() const { return type_; }
  // The options viewed, for a model that creates models of its own (ensemble members).
  const Options* options() const { return options_; }

 private:
  const Options* options_;
  std::string instance_;
  std::string type_;
};

// Renders the table as Markdown (docs/config.md is generated from it).
std::string OptionTableMarkdown();

}  // namespace liverec

#endif  // LIVEREC_OPTIONS_H_
