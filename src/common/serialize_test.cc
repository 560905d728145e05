#include "common/serialize.h"

#include <gtest/gtest.h>

namespace liverec {
namespace {

TEST(SerializeTest, RoundTripsEveryKind) {
  BinaryWriter w;
  w.Put<uint32_t>(0xabcd);
  w.Put<double>(2.5);
  w.PutString("hello");
  w.PutVector(std::vector<float>{1, 2, 3});
  BinaryReader r(w.data());
  uint32_t u = 0;
  double d = 0;
  std::string s;
  std::vector<float> v;
  ASSERT_TRUE(r.Get(&u).ok());
  ASSERT_TRUE(r.Get(&d).ok());
  ASSERT_TRUE(r.GetString(&s).ok());
  ASSERT_TRUE(r.GetVector(&v).ok());
  EXPECT_EQ(u, 0xabcdu);
  EXPECT_EQ(d, 2.5);
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(v, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(SerializeTest, TruncatedInputIsCorruptionNotACrash) {
  BinaryWriter w;
  w.PutVector(std::vector<float>{1, 2, 3});
  std::string bytes = w.data();
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    BinaryReader r(std::string_view(bytes).substr(0, cut));
    std::vector<float> v;
    EXPECT_EQ(r.GetVector(&v).code(), StatusCode::kCorruption) << cut;
  }
  // A length prefix claiming more than the buffer holds.
  BinaryWriter huge;
  huge.Put<uint64_t>(uint64_t{1} << 60);
  BinaryReader r(huge.data());
  std::string s;
  EXPECT_EQ(r.GetString(&s).code(), StatusCode::kCorruption);
}

TEST(SerializeTest, HeaderMismatchNamesWhatWasRead) {
  BinaryWriter w;
  w.Put<uint32_t>(1);
  w.Put<uint32_t>(9);
  BinaryReader r(w.data());
  Status s = r.ExpectHeader(1, 2, "mf model");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("mf model: unsupported format version 9"), std::string::npos);
}

}  // namespace
}  // namespace liverec
