#include "feature/id_map.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/serialize.h"

namespace liverec {
namespace {

TEST(IdMapTest, GetOrAddGivesDenseIdsInOrderOfFirstInsertion) {
  IdMap map;
  EXPECT_EQ(map.GetOrAdd("b"), 0u);
  EXPECT_EQ(map.GetOrAdd("a"), 1u);
  EXPECT_EQ(map.GetOrAdd("b"), 0u);
  EXPECT_EQ(map.GetOrAdd(""), 2u);
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.Key(0), "b");
  EXPECT_EQ(map.Key(1), "a");
  EXPECT_EQ(map.Key(2), "");
}

TEST(IdMapTest, FindDoesNotInsert) {
  IdMap map;
  map.GetOrAdd("x");
  EXPECT_EQ(map.Find("x"), 0u);
  EXPECT_EQ(map.Find("y"), kInvalidId);
  EXPECT_EQ(map.size(), 1u);
}

TEST(IdMapTest, KeysOutliveTheViewsTheyWereAddedFrom) {
  IdMap map;
  for (int i = 0; i < 1000; ++i) {
    std::string key = "a fairly long key that does not fit in a small string " + std::to_string(i);
    EXPECT_EQ(map.GetOrAdd(std::string_view(key)), static_cast<uint32_t>(i));
  }
  EXPECT_EQ(map.Find("a fairly long key that does not fit in a small string 999"), 999u);
  EXPECT_EQ(map.Key(5), "a fairly long key that does not fit in a small string 5");
}

TEST(IdMapTest, ClearEmptiesTheMap) {
  IdMap map;
  map.GetOrAdd("x");
  map.Clear();
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.Find("x"), kInvalidId);
  EXPECT_EQ(map.GetOrAdd("y"), 0u);
}

TEST(IdMapTest, SaveLoadRoundTripKeepsIdsAndBinaryKeys) {
  IdMap map;
  const std::string binary("a\0b\xff", 4);
  map.GetOrAdd("user-1");
  map.GetOrAdd(binary);
  map.GetOrAdd("");
  BinaryWriter out;
  map.Save(&out);
  IdMap loaded;
  loaded.GetOrAdd("previous content is replaced");
  BinaryReader in(out.data());
  ASSERT_TRUE(loaded.Load(&in).ok());
  EXPECT_EQ(in.remaining(), 0u);
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded.Key(1), binary);
  EXPECT_EQ(loaded.Find("user-1"), 0u);
  EXPECT_EQ(loaded.Find(""), 2u);
  EXPECT_EQ(loaded.Find("previous content is replaced"), kInvalidId);
}

TEST(IdMapTest, EveryTruncationIsCorruption) {
  IdMap map;
  for (int i = 0; i < 5; ++i) map.GetOrAdd("key" + std::to_string(i));
  BinaryWriter out;
  map.Save(&out);
  const std::string& bytes = out.data();
  for (size_t n = 0; n < bytes.size(); ++n) {
    IdMap loaded;
    BinaryReader in(std::string_view(bytes).substr(0, n));
    Status s = loaded.Load(&in);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << "prefix of " << n << " bytes";
  }
}

TEST(IdMapTest, WrongTagIsCorruption) {
  BinaryWriter out;
  out.Put<uint32_t>(0x12345678);
  out.Put<uint32_t>(1);
  out.Put<uint64_t>(0);
  IdMap map;
  BinaryReader in(out.data());
  Status s = map.Load(&in);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("id map"), std::string::npos) << s.message();
}

TEST(IdMapTest, DuplicateKeyIsCorruption) {
  IdMap map;
  map.GetOrAdd("a");
  map.GetOrAdd("b");
  BinaryWriter good;
  map.Save(&good);
  // Same bytes with the second key spelled like the first.
  std::string bytes = good.data();
  const size_t b = bytes.rfind('b');
  ASSERT_NE(b, std::string::npos);
  bytes[b] = 'a';
  IdMap loaded;
  BinaryReader in(bytes);
  Status s = loaded.Load(&in);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("duplicate"), std::string::npos) << s.message();
}

TEST(IdMapTest, HugeCountWithoutKeysIsCorruptionNotAnAllocation) {
  IdMap map;
  BinaryWriter empty;
  map.Save(&empty);
  std::string bytes = empty.data();
  // Overwrite the 64-bit count that follows the tag and version.
  const uint64_t huge = uint64_t{1} << 60;
  std::memcpy(bytes.data() + 8, &huge, sizeof(huge));
  BinaryReader in(bytes);
  EXPECT_EQ(map.Load(&in).code(), StatusCode::kCorruption);
}

TEST(IdMapTest, AnErasedIdGoesToTheNextNewKeyMostRecentlyFreedFirst) {
  IdMap map;
  for (const char* key : {"a", "b", "c", "d"}) map.GetOrAdd(key);
  map.Erase("b");
  map.Erase("d");
  map.Erase("unknown");
  EXPECT_EQ(map.Find("b"), kInvalidId);
  EXPECT_EQ(map.size(), 4u);
  EXPECT_EQ(map.num_live(), 2u);
  EXPECT_EQ(map.Key(1), "");
  EXPECT_EQ(map.GetOrAdd("e"), 3u);
  EXPECT_EQ(map.GetOrAdd("b"), 1u);  // a returning key is a new key
  EXPECT_EQ(map.GetOrAdd("f"), 4u);  // no freed id left: the space grows
  EXPECT_EQ(map.Key(3), "e");
  EXPECT_EQ(map.num_live(), 5u);
}

TEST(IdMapTest, SaveLoadKeepsTheFreedIdsAndTheirOrder) {
  IdMap map;
  for (const char* key : {"a", "", "c", "d", "e"}) map.GetOrAdd(key);
  map.Erase("c");
  map.Erase("a");
  BinaryWriter out;
  map.Save(&out);
  IdMap loaded;
  BinaryReader in(out.data());
  ASSERT_TRUE(loaded.Load(&in).ok());
  EXPECT_EQ(in.remaining(), 0u);
  EXPECT_EQ(loaded.Find(""), 1u);
  EXPECT_EQ(loaded.Find("a"), kInvalidId);
  EXPECT_EQ(loaded.num_live(), 3u);
  EXPECT_EQ(loaded.GetOrAdd("x"), 0u);
  EXPECT_EQ(loaded.GetOrAdd("y"), 2u);
  // The original, given the same keys, ends in the same bytes.
  map.GetOrAdd("x");
  map.GetOrAdd("y");
  BinaryWriter again, expected;
  loaded.Save(&again);
  map.Save(&expected);
  EXPECT_EQ(again.data(), expected.data());
}

// Id map bytes written by hand: tag, `version`, the keys, then (version 2) the freed ids.
std::string IdMapBytes(uint32_t version, const std::vector<std::string>& keys,
                       const std::vector<uint32_t>& freed = {}) {
  BinaryWriter out;
  out.Put<uint32_t>(0x4d444950);
  out.Put<uint32_t>(version);
  out.Put<uint64_t>(keys.size());
  for (const std::string& key : keys) out.PutString(key);
  if (version >= 2) out.PutVector(freed);
  return out.Release();
}

TEST(IdMapTest, VersionOneBytesWithoutFreedIdsStillLoad) {
  const std::string bytes = IdMapBytes(1, {"a", "b"});
  IdMap map;
  BinaryReader in(bytes);
  ASSERT_TRUE(map.Load(&in).ok());
  EXPECT_EQ(map.Find("b"), 1u);
  EXPECT_EQ(map.GetOrAdd("c"), 2u);
}

TEST(IdMapTest, AFreedIdWithAKeyOrOutOfRangeIsCorruption) {
  for (uint32_t bad : {0u, 7u}) {
    const std::string bytes = IdMapBytes(2, {"a", ""}, {bad});
    IdMap map;
    BinaryReader in(bytes);
    EXPECT_EQ(map.Load(&in).code(), StatusCode::kCorruption) << bad;
    EXPECT_EQ(map.num_live(), 0u);
  }
}

}  // namespace
}  // namespace liverec
