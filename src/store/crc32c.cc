#include "store/crc32c.h"

#include <isa-l.h>

namespace liverec {
namespace {

// Added after rotating; any constant with mixed bits works, this is LevelDB's.
constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;
constexpr int kCrcMaskRotation = 15;
// The Castagnoli polynomial in the reflected bit order CRC32C uses: bit 31 is x^0, bit 0 x^31.
constexpr uint32_t kCastagnoliReflected = 0x82f63b78u;

// a(x) * b(x) modulo the polynomial, both in the reflected order. Shift-and-add: for each term
// x^k of a, from x^0 up, add b(x) * x^k, and b is multiplied by x once per step.
uint32_t MultiplyModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t term = uint32_t{1} << 31; term != 0 && a != 0; term >>= 1) {
    if ((a & term) != 0) {
      product ^= b;
      a ^= term;
    }
    b = (b & 1) != 0 ? (b >> 1) ^ kCastagnoliReflected : b >> 1;
  }
  return product;
}

// x^(8 n) modulo the polynomial: what appending n zero bytes multiplies a CRC register by.
uint32_t XPowEightN(uint64_t n) {
  uint32_t power = uint32_t{1} << 31;   // x^0
  uint32_t square = uint32_t{1} << 23;  // x^8, then x^16, x^32, ... by squaring
  for (; n != 0; n >>= 1) {
    if ((n & 1) != 0) power = MultiplyModP(square, power);
    square = MultiplyModP(square, square);
  }
  return power;
}

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  if (n == 0) return crc;
  // ISA-L's crc32_iscsi neither pre- nor post-inverts: it continues from the raw register
  // value, so undo the final complement of `crc`, feed the bytes, and complement again.
  // ISA-L takes a non-const pointer and an int length, although it neither writes the bytes
  // nor handles more than INT_MAX of them in one call; feed large ranges in pieces.
  constexpr size_t kMaxChunkBytes = size_t{1} << 30;
  auto* bytes = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t state = ~crc;
  while (n > 0) {
    const size_t chunk = n < kMaxChunkBytes ? n : kMaxChunkBytes;
    state = crc32_iscsi(bytes, static_cast<int>(chunk), state);
    bytes += chunk;
    n -= chunk;
  }
  return ~state;
}

uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

// CRC32C is linear up to its initial and final complements: the register after A ++ B is the
// register after A shifted through |B| bytes of zeros, plus the register of B alone from zero.
// The complements cancel in that sum (zlib's crc32_combine rests on the same identity).
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
  return MultiplyModP(XPowEightN(length_b), crc_a) ^ crc_b;
}

uint32_t MaskCrc32c(uint32_t crc) {
  return ((crc >> kCrcMaskRotation) | (crc << (32 - kCrcMaskRotation))) + kCrcMaskDelta;
}

uint32_t UnmaskCrc32c(uint32_t masked_crc) {
  const uint32_t rotated = masked_crc - kCrcMaskDelta;
  return (rotated >> (32 - kCrcMaskRotation)) | (rotated << kCrcMaskRotation);
}

}  // namespace liverec
