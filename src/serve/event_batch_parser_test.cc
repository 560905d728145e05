// Tests of the ingest body parser: every event field and its errors, body shapes (array,
// NDJSON, single object) and body-level errors, limits, unicode, and a round trip of random
// records through an independent JSON encoder (nlohmann) as the oracle.
#include "serve/event_batch_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/random.h"

namespace liverec {
namespace {

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

std::vector<EventRecord> Plain(const std::vector<ValidEventRecord>& records) {
  std::vector<EventRecord> out;
  for (const ValidEventRecord& record : records) out.push_back(*record);
  return out;
}

ParsedEvents ParseOk(std::string_view body, size_t max_events = kNoLimit) {
  ParsedEvents out;
  const Status s = ParseEventBatch(body, max_events, &out);
  EXPECT_TRUE(s.ok()) << s.ToString() << "\nbody: " << body.substr(0, 200);
  return out;
}

Status ParseError(std::string_view body, size_t max_events = kNoLimit) {
  ParsedEvents out;
  const Status s = ParseEventBatch(body, max_events, &out);
  EXPECT_FALSE(s.ok()) << "body: " << body.substr(0, 200);
  // Nothing is parsed when the call fails.
  EXPECT_TRUE(out.records.empty());
  EXPECT_TRUE(out.record_index.empty());
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.total, 0u);
  return s;
}

// The single error of a one-record body `{"user":"u","item":"i",<fields>}`.
IngestError RecordError(const std::string& fields) {
  const ParsedEvents out = ParseOk(R"([{"user":"u","item":"i",)" + fields + "}]");
  EXPECT_EQ(out.total, 1u);
  EXPECT_TRUE(out.records.empty());
  if (out.errors.size() != 1) {
    ADD_FAILURE() << "expected one error for " << fields;
    return {};
  }
  EXPECT_EQ(out.errors[0].index, 0u);
  return out.errors[0];
}

void ExpectRecordError(const std::string& fields, std::string_view field, std::string_view reason) {
  const IngestError e = RecordError(fields);
  EXPECT_EQ(e.field, field) << fields;
  EXPECT_EQ(e.reason, reason) << fields;
}

EventRecord OneRecord(std::string_view body) {
  const ParsedEvents out = ParseOk(body);
  if (out.records.size() != 1 || !out.errors.empty()) {
    ADD_FAILURE() << "expected one valid record; errors: " << out.errors.size()
                  << (out.errors.empty()
                          ? ""
                          : " first: " + out.errors[0].field + ": " + out.errors[0].reason);
    return {};
  }
  return *out.records[0];
}

// ---------------------------------------------------------------------------------------------
// Fields.

TEST(ParseEventBatch, ArrayOfEventsReadsEveryField) {
  const ParsedEvents out = ParseOk(R"([
    {"user": "u1", "item": "i9", "type": "purchase", "value": 2.5,
     "timestamp": 1700000000123, "context": {"device": "mobile", "page": "home"},
     "id": "ev-1", "recommendation_id": "rec-7"},
    {"user": "u2", "item": "i3"}
  ])");
  ASSERT_EQ(out.records.size(), 2u);
  EventRecord first;
  first.user = "u1";
  first.item = "i9";
  first.type = "purchase";
  first.value = 2.5f;
  first.time_ms = 1'700'000'000'123;
  first.context = {{"device", "mobile"}, {"page", "home"}};
  first.id = "ev-1";
  first.recommendation_id = "rec-7";
  EXPECT_EQ(*out.records[0], first);
  EventRecord second;
  second.user = "u2";
  second.item = "i3";
  EXPECT_EQ(*out.records[1], second);
  EXPECT_EQ(out.record_index, (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.total, 2u);
}

TEST(ParseEventBatch, AbsentOptionalFieldsTakeTheirDefaults) {
  const EventRecord r = OneRecord(R"({"user":"u","item":"i"})");
  EXPECT_EQ(r.type, "");
  EXPECT_EQ(r.value, 1.0f);
  EXPECT_EQ(r.time_ms, 0);
  EXPECT_TRUE(r.context.empty());
  EXPECT_EQ(r.id, "");
  EXPECT_EQ(r.recommendation_id, "");
}

TEST(ParseEventBatch, NullStandsForAnAbsentOptionalField) {
  const EventRecord r = OneRecord(
      R"({"user":"u","item":"i","type":null,"value":null,"timestamp":null,"context":null,)"
      R"("id":null,"recommendation_id":null})");
  EXPECT_EQ(r, OneRecord(R"({"user":"u","item":"i"})"));
}

TEST(ParseEventBatch, IntegerUserAndItemBecomeTheirDecimalText) {
  EXPECT_EQ(OneRecord(R"({"user":42,"item":-7})").user, "42");
  EXPECT_EQ(OneRecord(R"({"user":42,"item":-7})").item, "-7");
  EXPECT_EQ(OneRecord(R"({"user":18446744073709551615,"item":0})").user, "18446744073709551615");
  EXPECT_EQ(OneRecord(R"({"user":-9223372036854775808,"item":0})").user, "-9223372036854775808");
}

TEST(ParseEventBatch, NumericValuesAreReadAsFloats) {
  EXPECT_EQ(OneRecord(R"({"user":"u","item":"i","value":-2})").value, -2.0f);
  EXPECT_EQ(OneRecord(R"({"user":"u","item":"i","value":0.1})").value, 0.1f);
  EXPECT_EQ(OneRecord(R"({"user":"u","item":"i","value":3.4e38})").value, 3.4e38f);
  EXPECT_EQ(OneRecord(R"({"user":"u","item":"i","value":1e-400})").value, 0.0f);
}

TEST(ParseEventBatch, ContextValuesBecomeStringsInBodyOrder) {
  const EventRecord r =
      OneRecord(R"({"user":"u","item":"i","context":{"s":"x","i":7,"n":-3,"d":0.5,"e":1e21,)"
                R"("w":7.0,"b":true,"f":false,"big":18446744073709551615}})");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"s", "x"},    {"i", "7"},     {"n", "-3"},
      {"d", "0.5"},  {"e", "1e+21"}, {"w", "7"},
      {"b", "true"}, {"f", "false"}, {"big", "18446744073709551615"}};
  EXPECT_EQ(r.context, expected);
}

TEST(ParseEventBatch, TimestampBoundsAreInclusiveOfZeroAndExclusiveOfTwoToThe53) {
  EXPECT_EQ(OneRecord(R"({"user":"u","item":"i","timestamp":0})").time_ms, 0);
  EXPECT_EQ(OneRecord(R"({"user":"u","item":"i","timestamp":9007199254740991})").time_ms,
            kMaxEventTimestampMs - 1);
  ExpectRecordError(R"("timestamp":9007199254740992)", "timestamp",
                    "must be below 2^53 (9007199254740992), got 9007199254740992");
  ExpectRecordError(R"("timestamp":18446744073709551615)", "timestamp",
                    "must be below 2^53 (9007199254740992), got 18446744073709551615");
  ExpectRecordError(R"("timestamp":-1)", "timestamp", "must be >= 0, got -1");
}

TEST(ParseEventBatch, WrongTypesNameTheFieldAndTheExpectedType) {
  struct Case {
    std::string record;
    std::string field;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {R"({"user":1.5,"item":"i"})", "user", "expected a string or an integer, got number"},
      {R"({"user":true,"item":"i"})", "user", "expected a string or an integer, got boolean"},
      {R"({"user":null,"item":"i"})", "user", "expected a string or an integer, got null"},
      {R"({"user":"","item":"i"})", "user", "empty"},
      {R"({"user":"u","item":[]})", "item", "expected a string or an integer, got array"},
      {R"({"user":"u","item":{}})", "item", "expected a string or an integer, got object"},
      {R"({"user":"u","item":"i","type":3})", "type", "expected a string, got number"},
      {R"({"user":"u","item":"i","value":"1"})", "value", "expected a number, got string"},
      {R"({"user":"u","item":"i","value":false})", "value", "expected a number, got boolean"},
      {R"({"user":"u","item":"i","value":1e39})", "value",
       "expected a number within float range, got 1e+39"},
      {R"({"user":"u","item":"i","value":-1e39})", "value",
       "expected a number within float range, got -1e+39"},
      {R"({"user":"u","item":"i","timestamp":"now"})", "timestamp",
       "expected an integer (Unix milliseconds), got string"},
      {R"({"user":"u","item":"i","timestamp":1.5})", "timestamp",
       "expected an integer (Unix milliseconds), got number"},
      {R"({"user":"u","item":"i","context":[]})", "context", "expected an object, got array"},
      {R"({"user":"u","item":"i","context":"d=1"})", "context", "expected an object, got string"},
      {R"({"user":"u","item":"i","context":{"a":{}}})", "context.a",
       "expected a string, number or boolean, got object"},
      {R"({"user":"u","item":"i","context":{"a":[1]}})", "context.a",
       "expected a string, number or boolean, got array"},
      {R"({"user":"u","item":"i","context":{"a":null}})", "context.a",
       "expected a string, number or boolean, got null"},
      {R"({"user":"u","item":"i","context":{"":"x"}})", "context", "empty key"},
      {R"({"user":"u","item":"i","id":5})", "id", "expected a string, got number"},
      {R"({"user":"u","item":"i","recommendation_id":{}})", "recommendation_id",
       "expected a string, got object"},
  };
  // All in one batch, each bad record between good ones: every bad record is reported with its
  // index, and the good ones around it still parse.
  std::string body = "[";
  for (const Case& c : cases) body += R"({"user":"ok","item":"ok"},)" + c.record + ",";
  body += R"({"user":"last","item":"ok"}])";
  const ParsedEvents out = ParseOk(body);
  ASSERT_EQ(out.errors.size(), cases.size());
  ASSERT_EQ(out.records.size(), cases.size() + 1);
  EXPECT_EQ(out.total, 2 * cases.size() + 1);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(out.errors[i].index, 2 * i + 1) << cases[i].record;
    EXPECT_EQ(out.errors[i].field, cases[i].field) << cases[i].record;
    EXPECT_EQ(out.errors[i].reason, cases[i].reason) << cases[i].record;
    EXPECT_EQ(out.record_index[i], 2 * i);
    EXPECT_EQ(out.records[i]->user, "ok");
  }
  EXPECT_EQ(out.records.back()->user, "last");
  EXPECT_EQ(out.record_index.back(), 2 * cases.size());
}

TEST(ParseEventBatch, UnknownFieldIsNamedWithASuggestion) {
  ExpectRecordError(R"("itme":"x")", "itme", "unknown field; did you mean \"item\"?");
  ExpectRecordError(R"("Value":2)", "Value", "unknown field; did you mean \"value\"?");
  ExpectRecordError(R"("colour":"red")", "colour",
                    "unknown field; expected one of user, item, type, value, timestamp, "
                    "context, id, recommendation_id");
  // A huge unknown key is cut in the field name.
  const IngestError e = RecordError("\"" + std::string(1000, 'k') + "\":1");
  EXPECT_EQ(e.field, std::string(64, 'k') + "...");
}

TEST(ParseEventBatch, MissingUserOrItemIsARecordError) {
  ParsedEvents out = ParseOk(R"([{"item":"i"},{"user":"u"},{}])");
  ASSERT_EQ(out.errors.size(), 3u);
  EXPECT_EQ(out.errors[0].field, "user");
  EXPECT_EQ(out.errors[0].reason, "missing");
  EXPECT_EQ(out.errors[1].field, "item");
  EXPECT_EQ(out.errors[1].reason, "missing");
  EXPECT_EQ(out.errors[2].field, "user");
}

TEST(ParseEventBatch, DuplicateKeysAreErrorsNotLastWins) {
  ExpectRecordError(R"("item":"j")", "item", "given twice");
  ExpectRecordError(R"("value":1,"value":2)", "value", "given twice");
  ExpectRecordError(R"("context":{"a":"1","b":"2","a":"3"})", "context.a", "given twice");
  // Past the pairwise check, duplicates are found by sorting.
  std::string context = R"("context":{)";
  for (int k = 0; k < 20; ++k) context += "\"k" + std::to_string(k) + "\":1,";
  context += R"("k13":2})";
  ExpectRecordError(context, "context.k13", "given twice");
}

TEST(ParseEventBatch, HugeStringsAreLimitErrors) {
  const std::string max(kMaxEventRecordStringBytes, 'x');
  const std::string over(kMaxEventRecordStringBytes + 1, 'x');
  EXPECT_EQ(OneRecord(R"({"user":")" + max + R"(","item":"i"})").user, max);
  const std::string reason = "longer than 65536 bytes (65537)";
  ExpectRecordError(R"("type":")" + over + "\"", "type", reason);
  ExpectRecordError(R"("id":")" + over + "\"", "id", reason);
  ExpectRecordError(R"("recommendation_id":")" + over + "\"", "recommendation_id", reason);
  ExpectRecordError(R"("context":{"k":")" + over + "\"}", "context.k", reason);
  ExpectRecordError(R"("context":{")" + over + "\":1}", "context", "key " + reason);
  const ParsedEvents out = ParseOk(R"([{"user":")" + over + R"(","item":"i"}])");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].field, "user");
  EXPECT_EQ(out.errors[0].reason, reason);
}

TEST(ParseEventBatch, TooManyContextPairsOrTooBigARecordAreLimitErrors) {
  std::string context = R"("context":{)";
  for (size_t k = 0; k <= kMaxEventRecordContextPairs; ++k) {
    context += (k > 0 ? ",\"" : "\"") + std::to_string(k) + "\":1";
  }
  context += "}";
  ExpectRecordError(context, "context", "more than 1024 pairs (1025)");

  // 20 values of 60000 bytes: each string is within its limit, the record is not
  // (ValidateEventRecord).
  constexpr size_t kValueBytes = 60000;
  constexpr int kValues = 20;
  const std::string value(kValueBytes, 'v');
  context = R"("context":{)";
  for (int k = 0; k < kValues; ++k) {
    context += (k > 0 ? ",\"" : "\"") + std::to_string(k) + "\":\"" + value + "\"";
  }
  context += "}";
  const IngestError e = RecordError(context);
  EXPECT_EQ(e.field, "");
  EXPECT_EQ(e.reason.rfind("encoded size ", 0), 0u) << e.reason;
  EXPECT_NE(e.reason.find("over the limit 1048576"), std::string::npos) << e.reason;
}

TEST(ParseEventBatch, UnicodeEscapesAreDecodedToUtf8) {
  const EventRecord r =
      OneRecord(R"({"user":"caf\u00e9","item":"\ud83d\ude00","type":"a\"b\\c\/d\n\t",)"
                R"("context":{"\u006b":"\u00fc"}})");
  EXPECT_EQ(r.user, "caf\xc3\xa9");
  EXPECT_EQ(r.item, "\xf0\x9f\x98\x80");
  EXPECT_EQ(r.type, "a\"b\\c/d\n\t");
  EXPECT_EQ(r.context, (std::vector<std::pair<std::string, std::string>>{{"k", "\xc3\xbc"}}));
  // Raw UTF-8 passes through unchanged.
  EXPECT_EQ(OneRecord("{\"user\":\"\xe6\x97\xa5\",\"item\":\"i\"}").user, "\xe6\x97\xa5");
  // An escaped key is matched after unescaping.
  EXPECT_EQ(OneRecord(R"({"\u0075ser":"u","item":"i"})").user, "u");
}

TEST(ParseEventBatch, BadUnicodeIsABodyError) {
  // A lone surrogate, invalid UTF-8, and an unescaped control character.
  Status s = ParseError(R"([{"user":"\ud800","item":"i"}])");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s.message().rfind(
          "byte 16: invalid JSON: syntax error while parsing value - invalid string: surrogate", 0),
      0u)
      << s.message();
  s = ParseError("[{\"user\":\"a\xff\",\"item\":\"i\"}]");
  EXPECT_EQ(s.message(),
            "byte 11: invalid JSON: syntax error while parsing value - invalid string: "
            "ill-formed UTF-8 byte; last read: '\"a\xff'");
  s = ParseError("[{\"user\":\"a\x01\",\"item\":\"i\"}]");
  EXPECT_EQ(s.message().rfind("byte 11: invalid JSON: syntax error while parsing value - invalid "
                              "string: control character U+0001",
                              0),
            0u)
      << s.message();
}

TEST(ParseEventBatch, NumbersBeyondWhatJsonParsersHoldAreBodyErrors) {
  // simdjson refuses integers beyond 64 bits and doubles beyond the double range outright.
  Status s = ParseError(R"([{"user":99999999999999999999,"item":"i"}])");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "invalid JSON: Problem while parsing a number");
  s = ParseError(R"([{"user":"u","item":"i","value":1e400}])");
  EXPECT_EQ(s.message(), "byte 36: invalid JSON: number overflow parsing '1e400'");
}

// ---------------------------------------------------------------------------------------------
// Body shapes and body-level errors.

TEST(ParseEventBatch, NdjsonLinesAreRecordsAndBlankLinesAreSkipped) {
  const ParsedEvents out = ParseOk(
      "{\"user\":\"a\",\"item\":\"1\"}\r\n"
      "\n"
      "   \t\n"
      "{\"user\":\"b\",\"item\":\"2\",\"value\":\"x\"}\n"
      "{\"user\":\"c\",\"item\":\"3\"}\n");
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[0]->user, "a");
  EXPECT_EQ(out.records[1]->user, "c");
  // Indices count records, not lines.
  EXPECT_EQ(out.record_index, (std::vector<size_t>{0, 2}));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].index, 1u);
  EXPECT_EQ(out.errors[0].field, "value");
  EXPECT_EQ(out.total, 3u);
}

TEST(ParseEventBatch, SingleObjectBodyIsOneEventEvenOverSeveralLines) {
  EXPECT_EQ(OneRecord(R"({"user":"u","item":"i"})").user, "u");
  const ParsedEvents out = ParseOk(
      "{\n  \"user\": \"u\",\n  \"item\": \"i\",\n  \"context\": {\n"
      "    \"device\": \"tv\"\n  }\n}\n",
      1);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0]->context[0].second, "tv");
  EXPECT_EQ(out.total, 1u);
}

TEST(ParseEventBatch, BrokenObjectOverSeveralLinesNamesTheByteOfTheBody) {
  // Line 1 ("{") is only cut short, so the error is where the whole body breaks: the second ','.
  const Status s = ParseError("{\n  \"user\": \"u\",\n  \"item\": 5,,\n}\n");
  EXPECT_EQ(s.message(),
            "byte 29: invalid JSON: syntax error while parsing object key - unexpected ','; "
            "expected string literal");
}

TEST(ParseEventBatch, EmptyBodyIsInvalidArgument) {
  for (std::string_view body : {"", " \n\t\r\n"}) {
    const Status s = ParseError(body);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "empty body: expected a JSON array or NDJSON of event objects");
  }
}

TEST(ParseEventBatch, EmptyArrayHasNoRecords) {
  const ParsedEvents out = ParseOk(" [ ] ");
  EXPECT_EQ(out.total, 0u);
  EXPECT_TRUE(out.records.empty());
}

TEST(ParseEventBatch, BodyThatIsNotJsonNamesTheByte) {
  // 0-based byte 25 is the 'x'.
  Status s = ParseError(R"([{"user":"a","item":"b"},x])");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "byte 25: invalid JSON: syntax error while parsing value - invalid literal; last "
            "read: '\"b\"},x'");
  s = ParseError(R"([{"user":"a","item":"b"} {"user":"c","item":"d"}])");
  EXPECT_EQ(s.message(),
            "byte 25: invalid JSON: syntax error while parsing array - unexpected '{'; expected "
            "']'");
  s = ParseError(R"([{"user":"a","item":"b"})");
  EXPECT_EQ(s.message(),
            "byte 24: invalid JSON: syntax error while parsing array - unexpected end of input; "
            "expected ']'");
  s = ParseError(R"([{"user":"a","item":"b"}] trailing)");
  EXPECT_EQ(s.message().rfind("byte 28: invalid JSON: syntax error while parsing value", 0), 0u)
      << s.message();
}

TEST(ParseEventBatch, BodyThatIsNeitherArrayNorObjectIsInvalidArgument) {
  Status s = ParseError(R"(  "hello")");
  EXPECT_EQ(s.message(), "byte 2: expected a JSON array or object of events, got string");
  s = ParseError("42");
  EXPECT_EQ(s.message(), "byte 0: expected a JSON array or object of events, got number");
  s = ParseError("nope");
  EXPECT_EQ(s.message().rfind("byte 1: invalid JSON: syntax error while parsing value", 0), 0u)
      << s.message();
}

TEST(ParseEventBatch, ArrayOfNonObjectsIsInvalidArgument) {
  Status s = ParseError(R"([{"user":"a","item":"b"}, 3])");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "element 1: expected an object, got number");
  s = ParseError(R"([["u","i"]])");
  EXPECT_EQ(s.message(), "element 0: expected an object, got array");
  s = ParseError(R"(["u"])");
  EXPECT_EQ(s.message(), "element 0: expected an object, got string");
}

TEST(ParseEventBatch, NdjsonWithABadLineInTheMiddleNamesTheLine) {
  Status s = ParseError(
      "{\"user\":\"a\",\"item\":\"1\"}\n"
      "\n"
      "{\"user\":\"b\",\"item\":2,}\n"
      "{\"user\":\"c\",\"item\":\"3\"}\n");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "line 3, column 22: invalid JSON: syntax error while parsing object key - "
            "unexpected '}'; expected string literal");
  s = ParseError(
      "{\"user\":\"a\",\"item\":\"1\"}\n"
      "{\"user\":\"b\",\"item\":\"2\"}\n"
      "[{\"user\":\"c\",\"item\":\"3\"}]\n");
  EXPECT_EQ(s.message(), "line 3: expected an object, got array");
  // Two objects on one line are not NDJSON.
  s = ParseError("{\"user\":\"a\",\"item\":\"1\"} {\"user\":\"b\",\"item\":\"2\"}\n");
  EXPECT_EQ(s.message().rfind("line 1, column 25: invalid JSON: syntax error", 0), 0u)
      << s.message();
}

TEST(ParseEventBatch, MoreEventsThanTheMaximumIsOutOfRangeAndParsesNothing) {
  const std::string array = R"([{"user":"a","item":"1"},{"user":"b","item":"2"},{"user":"c"}])";
  const std::string ndjson =
      "{\"user\":\"a\",\"item\":\"1\"}\n{\"user\":\"b\",\"item\":\"2\"}\n{\"user\":\"c\"}\n";
  for (const std::string& body : {array, ndjson}) {
    const Status s = ParseError(body, 2);
    EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
    EXPECT_EQ(s.message(), "batch has more than 2 events");
    // Invalid records count toward the limit too; exactly the limit is fine.
    const ParsedEvents out = ParseOk(body, 3);
    EXPECT_EQ(out.total, 3u);
    EXPECT_EQ(out.records.size(), 2u);
    EXPECT_EQ(out.errors.size(), 1u);
  }
  EXPECT_EQ(ParseError(R"({"user":"a","item":"1"})", 0).code(), StatusCode::kOutOfRange);
}

TEST(ParseEventBatch, DeepNestingIsAnErrorNotACrash) {
  const size_t depth = 100000;
  Status s = ParseError(std::string(depth, '[') + std::string(depth, ']'));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = ParseError(R"({"user":"u","item":"i","context":{"a":)" + std::string(depth, '[') +
                 std::string(depth, ']') + "}}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(EventBatchParser, ReuseGivesTheSameResultsAsAFreshParser) {
  const std::vector<std::string> bodies = {
      R"([{"user":"a","item":"1","context":{"x":1}},{"user":"b"}])",
      "{\"user\":\"c\",\"item\":\"3\"}\n{\"user\":\"d\",\"item\":\"4\",\"type\":\"view\"}\n",
      R"([{"user":"a","item":"1"}, 7])",
      std::string(R"([{"user":")") + std::string(5000, 'u') + R"(","item":"i"}])",
      R"({"user":"e","item":"5"})",
  };
  EventBatchParser parser;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& body : bodies) {
      ParsedEvents reused;
      ParsedEvents fresh;
      const Status a = parser.Parse(body, kNoLimit, &reused);
      const Status b = ParseEventBatch(body, kNoLimit, &fresh);
      EXPECT_EQ(a.ToString(), b.ToString());
      EXPECT_EQ(Plain(reused.records), Plain(fresh.records));
      EXPECT_EQ(reused.record_index, fresh.record_index);
      EXPECT_EQ(reused.total, fresh.total);
      ASSERT_EQ(reused.errors.size(), fresh.errors.size());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Random records through an independent encoder (nlohmann), back through the parser.

std::string RandomString(Random& rng, uint32_t max_len) {
  // Printable ASCII, quotes, backslashes, control characters and multi-byte UTF-8.
  static constexpr std::string_view kPieces[] = {
      "a",  "Z",  "0",    " ",    "\"",       "\\",           "/",
      "\n", "\t", "\x01", "\x1f", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80",
      "{",  "]"};
  std::string s;
  const uint32_t len = rng.Uniform(max_len + 1);
  for (uint32_t i = 0; i < len; ++i) {
    s += kPieces[rng.Uniform(static_cast<uint32_t>(std::size(kPieces)))];
  }
  return s;
}

TEST(ParseEventBatch, RandomRecordsRoundTripThroughAnIndependentEncoder) {
  Random rng(20240601);
  constexpr int kBatches = 50;
  constexpr uint32_t kMaxRecords = 20;
  constexpr uint32_t kMaxLen = 12;
  // Values on a 1/8 grid in [-125, 125], timestamps uniform in [0, 2^53).
  constexpr uint32_t kValueSteps = 2001;
  constexpr float kValueScale = 8;
  constexpr float kValueOffset = 125;
  constexpr int kTimestampShift = 11;
  constexpr uint32_t kMaxContext = 3;
  for (int batch = 0; batch < kBatches; ++batch) {
    std::vector<EventRecord> expected;
    nlohmann::json array = nlohmann::json::array();
    const size_t n = rng.Uniform(kMaxRecords) + 1;
    for (size_t i = 0; i < n; ++i) {
      EventRecord r;
      r.user = "u" + RandomString(rng, kMaxLen);
      r.item = "i" + RandomString(rng, kMaxLen);
      r.type = RandomString(rng, kMaxLen);
      r.value = static_cast<float>(rng.Uniform(kValueSteps)) / kValueScale - kValueOffset;
      r.time_ms = static_cast<int64_t>(rng.Next() >> kTimestampShift);
      nlohmann::json record = {{"user", r.user},
                               {"item", r.item},
                               {"type", r.type},
                               {"value", r.value},
                               {"timestamp", r.time_ms}};
      const uint32_t num_context = rng.Uniform(kMaxContext + 1);
      nlohmann::json context = nlohmann::json::object();
      for (uint32_t c = 0; c < num_context; ++c) {
        const std::string key = "k" + std::to_string(c) + RandomString(rng, kMaxLen);
        const std::string value = RandomString(rng, kMaxLen);
        r.context.emplace_back(key, value);
        context[key] = value;
      }
      // nlohmann's object sorts its keys: the record lists them in the same (body) order.
      std::sort(r.context.begin(), r.context.end());
      if (num_context > 0) record["context"] = context;
      if (rng.Uniform(2) == 0) {
        r.id = RandomString(rng, kMaxLen);
        record["id"] = r.id;
      }
      expected.push_back(r);
      array.push_back(record);
    }
    // As an array, and as NDJSON.
    const ParsedEvents from_array = ParseOk(array.dump());
    EXPECT_EQ(Plain(from_array.records), expected) << array.dump();
    std::string ndjson;
    for (const nlohmann::json& record : array) ndjson += record.dump() + "\n";
    const ParsedEvents from_lines = ParseOk(ndjson);
    EXPECT_EQ(Plain(from_lines.records), expected) << ndjson;
  }
}

// ---------------------------------------------------------------------------------------------
// Throughput: reported, not asserted (timing is not a test here).

// The brief's typical event, 10 000 times with varying users and items.
std::vector<std::string> TenThousandEvents() {
  constexpr int kEvents = 10000;
  constexpr int kUsers = 900;
  constexpr int kItems = 9000;
  std::vector<std::string> events;
  for (int i = 0; i < kEvents; ++i) {
    events.push_back(R"({"user":"u)" + std::to_string(100 + i % kUsers) + R"(","item":"i)" +
                     std::to_string(1000 + (i * 7) % kItems) +
                     R"(","type":"click","timestamp":1700000000000,)"
                     R"("context":{"device":"mobile"}})");
  }
  return events;
}

struct Rates {
  double wall = 0;  // events per elapsed second
  double cpu = 0;   // events per second of this process's CPU time (robust to a busy machine)
};

// Medians of 5 runs.
Rates MedianEventsPerSecond(EventBatchParser* reused, const std::string& body, size_t num_events) {
  constexpr int kRuns = 5;
  std::vector<double> wall;
  std::vector<double> cpu;
  for (int run = 0; run < kRuns; ++run) {
    ParsedEvents out;
    const std::clock_t cpu_start = std::clock();
    const auto start = std::chrono::steady_clock::now();
    const Status s = reused != nullptr ? reused->Parse(body, kNoLimit, &out)
                                       : ParseEventBatch(body, kNoLimit, &out);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(out.records.size(), num_events);
    const auto events = static_cast<double>(out.records.size());
    wall.push_back(events / seconds);
    cpu.push_back(cpu_seconds > 0 ? events / cpu_seconds : 0);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall[kRuns / 2], cpu[kRuns / 2]};
}

TEST(ParseEventBatch, ThroughputOnTenThousandEventsIsReported) {
  const std::vector<std::string> events = TenThousandEvents();
  std::string array = "[";
  std::string ndjson;
  for (const std::string& e : events) {
    array += e + ",";
    ndjson += e + "\n";
  }
  array.back() = ']';
  EventBatchParser parser;
  const Rates array_reused = MedianEventsPerSecond(&parser, array, events.size());
  const Rates array_fresh = MedianEventsPerSecond(nullptr, array, events.size());
  const Rates ndjson_reused = MedianEventsPerSecond(&parser, ndjson, events.size());
  constexpr double kMillion = 1e6;
  std::printf(
      "ParseEventBatch, %zu events (%zu bytes), median of 5, M events/s wall (cpu): "
      "array reused parser %.2f (%.2f), array fresh parser %.2f (%.2f), "
      "NDJSON reused parser %.2f (%.2f)\n",
      events.size(), array.size(), array_reused.wall / kMillion, array_reused.cpu / kMillion,
      array_fresh.wall / kMillion, array_fresh.cpu / kMillion, ndjson_reused.wall / kMillion,
      ndjson_reused.cpu / kMillion);
}

}  // namespace
}  // namespace liverec
