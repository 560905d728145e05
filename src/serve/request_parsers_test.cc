// Tests of the metadata and control body parsers: every field, defaults and the errors that
// name the field.
#include "serve/request_parsers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace liverec {
namespace {

TEST(ParseItemMetadata, ReadsEveryField) {
  const StatusOr<ItemMetadata> m =
      ParseItemMetadata(R"({"categories":["news","sports"],"tags":["a"],"text":"Caf\u00e9 opens",)"
                        R"("properties":{"price":9.5,"stock":3},"available":false})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ItemMetadata expected;
  expected.categories = {"news", "sports"};
  expected.tags = {"a"};
  expected.text = "Caf\xc3\xa9 opens";
  expected.properties = {{"price", 9.5}, {"stock", 3.0}};
  expected.available = false;
  EXPECT_EQ(*m, expected);
}

TEST(ParseItemMetadata, AbsentOrNullFieldsTakeTheirDefaults) {
  for (std::string_view body : {"{}", R"({"categories":null,"text":null,"available":null})"}) {
    const StatusOr<ItemMetadata> m = ParseItemMetadata(body);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(*m, ItemMetadata{});
  }
}

TEST(ParseItemMetadata, ErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"categorys":["a"]})", "categorys: unknown field; did you mean \"categories\"?"},
      {R"({"color":"red"})",
       "color: unknown field; expected one of categories, tags, text, properties, available"},
      {R"({"categories":"news"})", "categories: expected an array, got string"},
      {R"({"categories":["a",1]})", "categories[1]: expected a string, got number"},
      {R"({"tags":["a",""]})", "tags[1]: empty"},
      {R"({"text":["a"]})", "text: expected a string, got array"},
      {R"({"properties":[1]})", "properties: expected an object, got array"},
      {R"({"properties":{"price":"9"}})", "properties.price: expected a number, got string"},
      {R"({"properties":{"price":1,"price":2}})", "properties.price: given twice"},
      {R"({"properties":{"":1}})", "properties: empty key"},
      {R"({"available":1})", "available: expected a boolean, got number"},
      {R"({"text":"a","text":"b"})", "text: given twice"},
      {R"([])", "byte 0: expected a JSON object, got array"},
      {"", "empty body: expected a JSON object"},
      {R"({"text":)",
       "byte 8: invalid JSON: syntax error while parsing value - unexpected end "
       "of input; expected '[', '{', or a literal"},
  };
  for (const auto& [body, message] : cases) {
    const StatusOr<ItemMetadata> m = ParseItemMetadata(body);
    ASSERT_FALSE(m.ok()) << body;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(m.status().message(), message) << body;
  }
}

TEST(ParseUserMetadata, AttributeValuesBecomeStrings) {
  const StatusOr<UserMetadata> m =
      ParseUserMetadata(R"({"attributes":{"country":"br","age":31,"vip":true,"score":0.25}})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"country", "br"}, {"age", "31"}, {"vip", "true"}, {"score", "0.25"}};
  EXPECT_EQ(m->attributes, expected);
  const StatusOr<UserMetadata> empty = ParseUserMetadata("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->attributes.empty());
}

TEST(ParseUserMetadata, ErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"atributes":{}})", "atributes: unknown field; did you mean \"attributes\"?"},
      {R"({"attributes":[]})", "attributes: expected an object, got array"},
      {R"({"attributes":{"a":{}}})",
       "attributes.a: expected a string, number or boolean, got object"},
      {R"({"attributes":{"a":"1","a":"2"}})", "attributes.a: given twice"},
      {R"({"attributes":{},"attributes":{}})", "attributes: given twice"},
  };
  for (const auto& [body, message] : cases) {
    const StatusOr<UserMetadata> m = ParseUserMetadata(body);
    ASSERT_FALSE(m.ok()) << body;
    EXPECT_EQ(m.status().message(), message) << body;
  }
}

TEST(ParseRollbackRequest, ReadsTheSequenceNumber) {
  StatusOr<uint64_t> seq = ParseRollbackRequest(R"({"seq": 42})");
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 42u);
  seq = ParseRollbackRequest(R"({"seq":18446744073709551615})");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, std::numeric_limits<uint64_t>::max());
}

TEST(ParseRollbackRequest, ErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "seq: missing"},
      {R"({"seq":-1})", "seq: must be >= 0, got -1"},
      {R"({"seq":"42"})", "seq: expected an integer, got string"},
      {R"({"seq":4.5})", "seq: expected an integer, got number"},
      {R"({"seq":1,"seq":2})", "seq: given twice"},
      {R"({"sq":1})", "sq: unknown field; did you mean \"seq\"?"},
      {R"(42)", "byte 0: expected a JSON object, got number"},
  };
  for (const auto& [body, message] : cases) {
    const StatusOr<uint64_t> seq = ParseRollbackRequest(body);
    ASSERT_FALSE(seq.ok()) << body;
    EXPECT_EQ(seq.status().message(), message) << body;
  }
}

TEST(ParseListParam, SplitsEveryValueOnCommasInOrder) {
  const StatusOr<std::vector<std::string>> ids = ParseListParam("exclude", {"a,b", "c"});
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(ParseListParam("exclude", {})->empty());
}

TEST(ParseListParam, AnEmptyIdIsAnErrorNamingTheParameterAndPosition) {
  for (const std::string value : {"", ",a", "a,", "a,,b"}) {
    const StatusOr<std::vector<std::string>> ids = ParseListParam("category", {value});
    ASSERT_FALSE(ids.ok()) << value;
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ids.status().message().rfind("category: empty id at position ", 0), 0)
        << ids.status().message();
  }
  EXPECT_EQ(ParseListParam("category", {"a,,b"}).status().message(),
            "category: empty id at position 2 of 'a,,b'");
}

TEST(ParseListParam, RefusesMoreIdsThanTheLimit) {
  std::string value = "i";
  for (size_t i = 0; i < kMaxListParamValues; ++i) value += ",i";
  EXPECT_EQ(ParseListParam("exclude", {value}).status().message(), "exclude: more than 1000 ids");
}

}  // namespace
}  // namespace liverec
