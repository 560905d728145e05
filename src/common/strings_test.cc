#include "common/strings.h"

#include <gtest/gtest.h>

namespace liverec {
namespace {

TEST(StringsTest, ParseNumbersAcceptsOnlyWholeInputs) {
  int64_t i = 0;
  EXPECT_TRUE(ParseInt64("881250949", &i));
  EXPECT_EQ(i, 881250949);
  EXPECT_TRUE(ParseInt64("+5", &i));
  EXPECT_EQ(i, 5);
  EXPECT_FALSE(ParseInt64("12a", &i));
  EXPECT_FALSE(ParseInt64("", &i));
  EXPECT_FALSE(ParseInt64("99999999999999999999", &i));
  double d = 0;
  EXPECT_TRUE(ParseDouble("3.5", &d));
  EXPECT_DOUBLE_EQ(d, 3.5);
  EXPECT_FALSE(ParseDouble("3.5.1", &d));
  bool b = false;
  EXPECT_TRUE(ParseBool("Yes", &b));
  EXPECT_TRUE(b);
  EXPECT_TRUE(ParseBool("off", &b));
  EXPECT_FALSE(b);
  EXPECT_FALSE(ParseBool("maybe", &b));
}

TEST(StringsTest, SplitKeepsEmptyFields) {
  auto parts = Split("a,,b", ',');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1], "");
  auto ml = SplitOn("1::2::5::978300760", "::");
  ASSERT_EQ(ml.size(), 4u);
  EXPECT_EQ(ml[3], "978300760");
}

TEST(StringsTest, EditDistanceAndTrim) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(Trim("  x y \t"), "x y");
  EXPECT_EQ(Quote("abcdef", 3), "'abc...'");
}

}  // namespace
}  // namespace liverec
