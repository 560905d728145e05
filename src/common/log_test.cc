#include "common/log.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

namespace liverec {
namespace {

using Json = nlohmann::json;

// 2026-12-06T17:05:33.045Z
constexpr int64_t kTimeMs = 1'796'576'733'045;

TEST(DiagnosticLogTest, JsonLineIsOneObjectWithTypedFields) {
  const std::string line = FormatLogLine(LogFormat::kJson, kTimeMs, LogLevel::kWarning, "recovered",
                                         {{"seconds", 0.25},
                                          {"seq", uint64_t{42}},
                                          {"delta", -3},
                                          {"ok", true},
                                          {"path", "/v1/users/{id}"}});
  ASSERT_EQ(line.back(), '\n');
  ASSERT_EQ(line.find('\n'), line.size() - 1);
  const Json j = Json::parse(line);
  EXPECT_EQ(j["ts"], "2026-12-06T17:05:33.045Z");
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["msg"], "recovered");
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 0.25);
  EXPECT_EQ(j["seq"].get<uint64_t>(), 42u);
  EXPECT_EQ(j["delta"].get<int64_t>(), -3);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["path"], "/v1/users/{id}");
}

TEST(DiagnosticLogTest, OutsideBytesCannotBreakOrForgeAJsonLine) {
  // A newline with a forged object after it, a quote, a control byte, a lone continuation byte,
  // a truncated sequence and an encoded surrogate: the line stays one valid object.
  const std::string hostile = "a\n{\"level\":\"error\"}\"\x01\x80z\xE2\x82\xED\xA0\x80 caf\xC3\xA9";
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTimeMs, LogLevel::kInfo, hostile, {{"value", hostile}});
  ASSERT_EQ(line.find('\n'), line.size() - 1);
  const Json j = Json::parse(line);
  const std::string expected =
      "a\n{\"level\":\"error\"}\"\x01\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
      "\xEF\xBF\xBD caf\xC3\xA9";
  EXPECT_EQ(j["msg"], expected);
  EXPECT_EQ(j["value"], expected);
  EXPECT_EQ(j["level"], "info");
}

TEST(DiagnosticLogTest, NumbersKeepSixSignificantDigits) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTimeMs, LogLevel::kInfo, "m",
                          {{"seconds", 0.094831583}, {"ms", 0.367}, {"n", uint64_t{1} << 40}}),
            "liverec: m seconds=0.0948316 ms=0.367 n=1099511627776\n");
}

TEST(DiagnosticLogTest, NonFiniteNumbersAreNull) {
  const Json j = Json::parse(FormatLogLine(LogFormat::kJson, kTimeMs, LogLevel::kInfo, "m",
                                           {{"x", std::numeric_limits<double>::quiet_NaN()}}));
  EXPECT_TRUE(j["x"].is_null());
}

TEST(DiagnosticLogTest, TextLineKeepsTheMessageAndQuotesAmbiguousValues) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTimeMs, LogLevel::kInfo, "request",
                          {{"method", "GET"}, {"status", 200}, {"id", "a b"}, {"empty", ""}}),
            "liverec: request method=GET status=200 id=\"a b\" empty=\"\"\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTimeMs, LogLevel::kError, "disk\nfull", {}),
            "liverec: ERROR: disk full\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTimeMs, LogLevel::kWarning, "torn", {{"k", "x=y"}}),
            "liverec: WARNING: torn k=\"x=y\"\n");
}

TEST(DiagnosticLogTest, ParseLogFormatTakesTheOptionsChoicesOnly) {
  LogFormat format = LogFormat::kText;
  EXPECT_TRUE(ParseLogFormat("json", &format));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_TRUE(ParseLogFormat("text", &format));
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("JSON", &format));
}

}  // namespace
}  // namespace liverec
