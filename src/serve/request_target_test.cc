#include "serve/request_target.h"

#include <gtest/gtest.h>

namespace liverec {
namespace {

using Segments = std::vector<std::string>;

TEST(RequestTargetTest, EncodedSlashStaysInsideItsSegment) {
  StatusOr<Segments> path = SplitTargetPath("/v1/items/a%2Fb/similar?k=3");
  ASSERT_TRUE(path.ok()) << path.status().message();
  EXPECT_EQ(*path, (Segments{"v1", "items", "a/b", "similar"}));
}

TEST(RequestTargetTest, PercentEscapesDecodeInEitherCase) {
  StatusOr<Segments> path = SplitTargetPath("/v1/users/%e2%82%AC%20x");
  ASSERT_TRUE(path.ok()) << path.status().message();
  EXPECT_EQ(*path, (Segments{"v1", "users", "\xe2\x82\xac x"}));
}

TEST(RequestTargetTest, TrailingSlashGivesAnEmptyLastSegment) {
  EXPECT_EQ(*SplitTargetPath("/v1/stats/"), (Segments{"v1", "stats", ""}));
  EXPECT_EQ(*SplitTargetPath("/"), (Segments{""}));
  EXPECT_EQ(*SplitTargetPath("/metrics#x"), (Segments{"metrics"}));
}

TEST(RequestTargetTest, BadEscapesAndRelativeTargetsAreRejectedWithTheirOffset) {
  StatusOr<Segments> bad = SplitTargetPath("/v1/items/a%2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("byte 11"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(SplitTargetPath("/v1/items/%zz").ok());
  EXPECT_FALSE(SplitTargetPath("/v1/items/a%00b").ok());
  // Found by request_target_fuzz: a raw NUL passed through into the id.
  EXPECT_FALSE(SplitTargetPath(std::string_view("/v1/items/a\0b", 13)).ok());
  EXPECT_FALSE(SplitTargetPath("v1/stats").ok());
  EXPECT_FALSE(SplitTargetPath("").ok());
}

TEST(RequestTargetTest, MediaTypeDropsParametersBlanksAndCase) {
  EXPECT_EQ(MediaType("Application/JSON; charset=utf-8"), "application/json");
  EXPECT_EQ(MediaType("  application/x-ndjson  "), "application/x-ndjson");
  EXPECT_EQ(MediaType(""), "");
  EXPECT_EQ(MediaType(";"), "");
}

}  // namespace
}  // namespace liverec
