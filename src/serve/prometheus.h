// PrometheusWriter: builds one page of the Prometheus text exposition format, version 0.0.4
// (served by GET /metrics with Content-Type "text/plain; version=0.0.4").
//
// A page is a sequence of families; each family starts with its "# HELP" and "# TYPE" lines
// and is followed by its samples:
//
//   PrometheusWriter w;
//   w.Family("liverec_events_total", "Events accepted.", "counter");
//   w.Sample("liverec_events_total", {{"model", "mf"}}, 42);
//   => # HELP liverec_events_total Events accepted.
//      # TYPE liverec_events_total counter
//      liverec_events_total{model="mf"} 42
//
// Escaping follows the format: in help text "\" and newline become "\\" and "\n"; in label
// values so does '"' (as "\""). Values print as integers when they are integers of magnitude
// below 2^63 ("42", not "4.2e+01"), otherwise as the shortest round-trip decimal; NaN and
// infinities as "NaN", "+Inf", "-Inf".
//
// Misuse is a bug of the caller and aborts (LIVEREC_CHECK): names that are not
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names that are not [a-zA-Z_][a-zA-Z0-9_]* or start with "__"
// (both reserved by Prometheus), a family declared twice, a counter whose name does not end in
// "_total", an unknown type, a sample outside the current family, a label given twice.
//
// Thread safety: none; build a page in one thread.
#ifndef LIVEREC_SERVE_PROMETHEUS_H_
#define LIVEREC_SERVE_PROMETHEUS_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace liverec {

class PrometheusWriter {
 public:
  using Label = std::pair<std::string_view, std::string_view>;  // (name, value)

  // Starts family `name`. `type` is "counter", "gauge", "summary", "histogram" or "untyped".
  void Family(std::string_view name, std::string_view help, std::string_view type);

  // Appends a sample of the current family. `name` is the family's name; for a summary also
  // name + "_sum" / "_count" (the family-name samples then carry a "quantile" label), for a
  // histogram name + "_bucket" / "_sum" / "_count".
  void Sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void Sample(std::string_view name, double value) { Sample(name, {}, value); }

  // The page so far; every line ends in "\n".
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string family_;  // the current family ("" before the first)
  std::string type_;
  std::vector<std::string> families_;  // all declared, to refuse a second declaration
};

// The text of `value` as a sample value (see above); exposed for tests.
std::string FormatPrometheusValue(double value);

}  // namespace liverec

#endif  // LIVEREC_SERVE_PROMETHEUS_H_
