#include "serve/prometheus.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "common/check.h"
#include "common/strings.h"

namespace liverec {
namespace {

// Integers of smaller magnitude convert to int64_t exactly and print without an exponent.
constexpr double kTwoPow63 = 9223372036854775808.0;
// Room for the shortest text of any double ("-2.2250738585072014e-308") or int64_t.
constexpr size_t kValueTextBytes = 32;

constexpr std::array<std::string_view, 5> kTypes = {"counter", "gauge", "summary", "histogram",
                                                    "untyped"};

bool IsNameStart(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || (c >= '0' && c <= '9');
}

bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty() || !IsNameStart(name[0], allow_colon)) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [allow_colon](char c) { return IsNameChar(c, allow_colon); });
}

bool IsMetricName(std::string_view name) { return IsValidName(name, true); }

// Label names have no ':'; those starting with "__" are reserved for Prometheus itself.
bool IsLabelName(std::string_view name) {
  return IsValidName(name, false) && name.substr(0, 2) != "__";
}

void AppendEscaped(std::string_view s, bool escape_quote, std::string* out) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '"' && escape_quote) {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

}  // namespace

std::string FormatPrometheusValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, kValueTextBytes> buf;
  std::to_chars_result r{};
  if (value == std::trunc(value) && std::fabs(value) < kTwoPow63) {
    r = std::to_chars(buf.data(), buf.data() + buf.size(), static_cast<int64_t>(value));
  } else {
    r = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  }
  return std::string(buf.data(), r.ptr);
}

void PrometheusWriter::Family(std::string_view name, std::string_view help, std::string_view type) {
  LIVEREC_CHECK(IsMetricName(name)) << "bad metric name '" << name << "'";
  LIVEREC_CHECK(std::find(kTypes.begin(), kTypes.end(), type) != kTypes.end())
      << "bad metric type '" << type << "'";
  LIVEREC_CHECK(type != "counter" || EndsWith(name, "_total"))
      << "counter '" << name << "' must end in _total";
  LIVEREC_CHECK(std::find(families_.begin(), families_.end(), name) == families_.end())
      << "metric family '" << name << "' declared twice";
  families_.emplace_back(name);
  family_ = name;
  type_ = type;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  AppendEscaped(help, false, &text_);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void PrometheusWriter::Sample(std::string_view name, std::initializer_list<Label> labels,
                              double value) {
  LIVEREC_CHECK(!family_.empty()) << "sample '" << name << "' before any Family()";
  bool in_family = name == family_;
  if (!in_family && name.size() > family_.size() && name.substr(0, family_.size()) == family_) {
    const std::string_view suffix = name.substr(family_.size());
    const bool summary_like = type_ == "summary" || type_ == "histogram";
    in_family = (summary_like && (suffix == "_sum" || suffix == "_count")) ||
                (type_ == "histogram" && suffix == "_bucket");
  }
  LIVEREC_CHECK(in_family) << "sample '" << name << "' outside family '" << family_ << "'";
  text_ += name;
  if (labels.size() > 0) {
    text_ += '{';
    bool first = true;
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      LIVEREC_CHECK(IsLabelName(it->first)) << "bad label name '" << it->first << "'";
      for (auto prev = labels.begin(); prev != it; ++prev) {
        LIVEREC_CHECK(prev->first != it->first) << "label '" << it->first << "' given twice";
      }
      if (!first) text_ += ',';
      first = false;
      text_ += it->first;
      text_ += "=\"";
      AppendEscaped(it->second, true, &text_);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += FormatPrometheusValue(value);
  text_ += '\n';
}

}  // namespace liverec
