#include "serve/request_log.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace liverec {
namespace {

TEST(RequestLogTest, ASaneClientIdIsKeptAndAnyOtherReplaced) {
  EXPECT_EQ(RequestIdFor("trace-0042"), "trace-0042");
  EXPECT_EQ(RequestIdFor("0af7651916cd43dd8448eb211c80319c"), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(RequestIdFor("a1.b_2:c-3"), "a1.b_2:c-3");
  const std::string longest(kMaxRequestIdChars, 'x');
  EXPECT_EQ(RequestIdFor(longest), longest);
  for (const std::string& bad :
       {std::string(kMaxRequestIdChars + 1, 'x'), std::string(""), std::string("a b"),
        std::string("a\"b"), std::string("a\nb"), std::string("<script>"),
        std::string("caf\xC3\xA9"), std::string("a=b"), std::string("a/b")}) {
    const std::string id = RequestIdFor(bad);
    EXPECT_NE(id, bad);
    EXPECT_EQ(id.size(), 32u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }
}

TEST(RequestLogTest, NewIdsAreSaneAndDistinct) {
  std::set<std::string> seen;
  constexpr int kIds = 10000;
  for (int i = 0; i < kIds; ++i) {
    const std::string id = NewRequestId();
    EXPECT_TRUE(IsSaneRequestId(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), size_t{kIds});
}

}  // namespace
}  // namespace liverec
