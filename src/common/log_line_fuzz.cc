// libFuzzer entry point: arbitrary bytes as a log message and as a field's value (the request
// log echoes a client's method, and the server's messages quote paths and parse errors). Every
// JSON line must be one line that parses as one object; valid UTF-8 must come back unchanged
// and invalid UTF-8 must still give a string; every text line must be one line. Any crash,
// sanitizer report or failed check is a finding.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/check.h"
#include "common/log.h"

namespace {

// nlohmann's strict dump throws on invalid UTF-8: an oracle independent of common/log.cc's.
bool IsValidUtf8(std::string_view s) {
  try {
    (void)nlohmann::json(std::string(s)).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view message = input.substr(0, size / 2);
  const std::string_view value = input.substr(size / 2);
  constexpr int64_t kTimeMs = 1'700'000'000'123;
  const std::string json =
      liverec::FormatLogLine(liverec::LogFormat::kJson, kTimeMs, liverec::LogLevel::kWarning,
                             message, {{"value", value}, {"n", -1}});
  LIVEREC_CHECK(json.find('\n') == json.size() - 1) << "not one JSON line: " << json;
  const nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  LIVEREC_CHECK(parsed.is_object()) << "not one JSON object: " << json;
  LIVEREC_CHECK(parsed["level"] == "warning" && parsed["n"] == -1) << json;
  LIVEREC_CHECK(parsed["msg"].is_string() && parsed["value"].is_string()) << json;
  if (IsValidUtf8(message)) LIVEREC_CHECK(parsed["msg"] == message) << "message changed";
  if (IsValidUtf8(value)) LIVEREC_CHECK(parsed["value"] == value) << "value changed";
  const std::string text = liverec::FormatLogLine(
      liverec::LogFormat::kText, kTimeMs, liverec::LogLevel::kInfo, message, {{"value", value}});
  LIVEREC_CHECK(text.find('\n') == text.size() - 1) << "not one text line: " << text;
  return 0;
}
