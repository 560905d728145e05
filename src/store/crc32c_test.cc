#include "store/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/random.h"

namespace liverec {
namespace {

// Bitwise CRC32C (reflected polynomial 0x82f63b78): the definition, as the oracle.
uint32_t ReferenceCrc32c(const std::string& data) {
  constexpr uint32_t kReflectedPoly = 0x82f63b78u;
  uint32_t crc = ~0u;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kReflectedPoly : 0u);
  }
  return ~crc;
}

TEST(Crc32cTest, CheckValueOfTheStandardTestString) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xe3069283u);
}

TEST(Crc32cTest, EmptyInputGivesZero) { EXPECT_EQ(Crc32c(nullptr, 0), 0u); }

TEST(Crc32cTest, KnownVectorsFromRfc3720) {
  // RFC 3720 B.4: 32 bytes of zeros, of 0xff, and ascending 0..31.
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xff');
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62a8ab43u);
  EXPECT_EQ(Crc32c(ascending.data(), ascending.size()), 0x46dd794eu);
}

TEST(Crc32cTest, MatchesTheBitwiseDefinitionOnRandomInputs) {
  Random rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string data(rng.Uniform(300), '\0');
    for (char& c : data) c = static_cast<char>(rng.Next());
    EXPECT_EQ(Crc32c(data.data(), data.size()), ReferenceCrc32c(data)) << "size " << data.size();
  }
}

TEST(Crc32cTest, CombiningTheCrcsOfTwoPiecesEqualsOnePass) {
  Random rng(13);
  std::string data(5000, '\0');
  for (char& c : data) c = static_cast<char>(rng.Next());
  for (size_t split :
       {size_t{0}, size_t{1}, size_t{7}, size_t{64}, size_t{4095}, size_t{4999}, size_t{5000}}) {
    const uint32_t a = Crc32c(data.data(), split);
    const uint32_t b = Crc32c(data.data() + split, data.size() - split);
    EXPECT_EQ(Crc32cCombine(a, b, data.size() - split), Crc32c(data.data(), data.size()))
        << "split at " << split;
  }
  // Long second pieces: appending n zero bytes against combining with the CRC of n zeros.
  const std::string zeros(size_t{1} << 20, '\0');
  const uint32_t head = Crc32c("liverec", 7);
  for (size_t n : {size_t{1}, size_t{3}, size_t{255}, size_t{1} << 16, size_t{1} << 20}) {
    EXPECT_EQ(Crc32cCombine(head, Crc32c(zeros.data(), n), n), Crc32cExtend(head, zeros.data(), n))
        << n << " zero bytes";
  }
}

TEST(Crc32cTest, ExtendingByTwoPiecesEqualsOnePass) {
  Random rng(11);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(rng.Next());
  const uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t split : {size_t{0}, size_t{1}, size_t{17}, size_t{500}, size_t{999}, size_t{1000}}) {
    const uint32_t first = Crc32c(data.data(), split);
    EXPECT_EQ(Crc32cExtend(first, data.data() + split, data.size() - split), whole)
        << "split at " << split;
  }
}

TEST(Crc32cTest, MaskChangesTheValueAndUnmaskInvertsIt) {
  Random rng(3);
  for (int trial = 0; trial < 1000; ++trial) {
    const uint32_t crc = static_cast<uint32_t>(rng.Next());
    EXPECT_NE(MaskCrc32c(crc), crc);
    EXPECT_EQ(UnmaskCrc32c(MaskCrc32c(crc)), crc);
  }
  // Hand-computed: rotate 0x00000001 right by 15 gives 0x00020000, plus 0xa282ead8.
  EXPECT_EQ(MaskCrc32c(1u), 0xa284ead8u);
}

}  // namespace
}  // namespace liverec
