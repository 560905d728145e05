#include "store/crc32c.h"

#include <isa-l.h>

namespace liverec {
namespace {

// Added after rotating; any constant with mixed bits works, this is LevelDB's.
constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;
constexpr int kCrcMaskRotation = 15;

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

uint32_t MaskCrc32c(uint32_t crc) {
  return ((crc >> kCrcMaskRotation) | (crc << (32 - kCrcMaskRotation))) + kCrcMaskDelta;
}

uint32_t UnmaskCrc32c(uint32_t masked_crc) {
  const uint32_t rotated = masked_crc - kCrcMaskDelta;
  return (rotated >> (32 - kCrcMaskRotation)) | (rotated << kCrcMaskRotation);
}

}  // namespace liverec
