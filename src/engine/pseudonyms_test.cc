// Pseudonyms: keyed BLAKE2b of user ids, their key file, and the refusals that keep a data
// directory one way or the other.
#include "engine/pseudonyms.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/engine_testing.h"
#include "store/secret_file.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

class PseudonymsTest : public testing::TempDirTest {
 protected:
  Options Settings(bool on, const std::string& key_file = "") {
    return testing::EngineOptions(root_,
                                  {std::string("privacy.pseudonymize=") + (on ? "true" : "false"),
                                   "privacy.key_file=" + key_file});
  }
  std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

TEST_F(PseudonymsTest, OffKeepsTheIdAndWritesNoKey) {
  StatusOr<Pseudonyms> p = Pseudonyms::Open(Settings(false), root_);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->enabled());
  EXPECT_EQ(p->Of("u1"), "u1");
  EXPECT_FALSE(std::filesystem::exists(Pseudonyms::DefaultKeyPath(root_)));
}

// The vectors are BLAKE2b-128 keyed with the bytes 0..31, as Python's hashlib computes them:
// hashlib.blake2b(b"u1", key=bytes(range(32)), digest_size=16).hexdigest().
TEST_F(PseudonymsTest, AKeyFileGivesBlake2bOfTheId) {
  const std::string key_file = root_ + "/outside.key";
  std::string hex;
  for (int i = 0; i < 32; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[i >> 4];
    hex += kDigits[i & 15];
  }
  ASSERT_TRUE(WriteSecretFile(key_file, hex + "\n").ok());
  StatusOr<Pseudonyms> p = Pseudonyms::Open(Settings(true, key_file), root_);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->Of("u1"), "p0b6c2f05a174a0e82f2ac751f14e3a20");
  EXPECT_EQ(p->Of("alice@example.com"), "p5e6c9ded4b512df3e49598a25df84679");
  EXPECT_FALSE(std::filesystem::exists(Pseudonyms::DefaultKeyPath(root_)));
}

TEST_F(PseudonymsTest, TheFirstStartGeneratesAKeyThatLaterStartsReuse) {
  StatusOr<Pseudonyms> first = Pseudonyms::Open(Settings(true), root_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string path = Pseudonyms::DefaultKeyPath(root_);
  const std::string text = ReadFile(path);
  EXPECT_EQ(text.size(), 65u);  // 64 hex digits and a newline
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string u1 = first->Of("u1");
  EXPECT_EQ(u1.size(), 33u);
  EXPECT_NE(u1, first->Of("u2"));
  EXPECT_EQ(u1.find("u1"), std::string::npos);
  StatusOr<Pseudonyms> again = Pseudonyms::Open(Settings(true), root_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Of("u1"), u1);
  EXPECT_EQ(ReadFile(path), text);
  // A directory of pseudonyms refuses raw ids.
  StatusOr<Pseudonyms> off = Pseudonyms::Open(Settings(false), root_);
  EXPECT_EQ(off.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(off.status().message().find("privacy.pseudonymize"), std::string::npos);
}

TEST_F(PseudonymsTest, BadKeysAndRawLogsAreRefusedWithTheReason) {
  StatusOr<Pseudonyms> missing = Pseudonyms::Open(Settings(true, root_ + "/nope.key"), root_);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("privacy.key_file"), std::string::npos);
  ASSERT_TRUE(WriteSecretFile(root_ + "/short.key", "abcd\n").ok());
  StatusOr<Pseudonyms> short_key = Pseudonyms::Open(Settings(true, root_ + "/short.key"), root_);
  EXPECT_EQ(short_key.status().code(), StatusCode::kCorruption);
  EXPECT_NE(short_key.status().message().find("64 hex digits"), std::string::npos)
      << short_key.status().message();
  // A log written with raw ids.
  std::filesystem::create_directories(root_ + "/log");
  std::ofstream(root_ + "/log/000001.log") << "records";
  StatusOr<Pseudonyms> raw = Pseudonyms::Open(Settings(true), root_);
  EXPECT_EQ(raw.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(raw.status().message().find("raw user ids"), std::string::npos);
}

}  // namespace
}  // namespace liverec
