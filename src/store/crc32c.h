// CRC32C (Castagnoli polynomial, the "iSCSI" CRC) over byte ranges, computed by ISA-L with
// the CPU's CRC instructions where present.
//
// Conventions are the usual ones (initial value ~0, final complement), so
// Crc32c("123456789", 9) == 0xe3069283.
//
// Thread safety: pure functions.
#ifndef LIVEREC_STORE_CRC32C_H_
#define LIVEREC_STORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace liverec {

// Returns the CRC32C of `data[0, n)`. `data` may be null when n == 0.
uint32_t Crc32c(const void* data, size_t n);

// Returns the CRC32C of A followed by `data[0, n)`, given `crc` = Crc32c(A), so that
// separate pieces (a record header and its payload) are checksummed without copying them
// together: Crc32cExtend(Crc32c(a), b) == Crc32c(a ++ b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

// Returns the CRC32C of A followed by B given only crc_a = Crc32c(A), crc_b = Crc32c(B) and B's
// length, in O(log length) steps: a length field written in front of bytes checksummed as they
// streamed past joins a whole-file CRC without reading them again.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

// Returns the form of `crc` that is stored on disk. Computing the CRC of a byte string that
// itself contains embedded CRCs is weak (a CRC of data ending with its own CRC is a constant),
// and a log or snapshot may well hold such bytes as payload, so stored CRCs are rotated and
// offset by a constant, as LevelDB does. UnmaskCrc32c(MaskCrc32c(c)) == c for every c.
uint32_t MaskCrc32c(uint32_t crc);
uint32_t UnmaskCrc32c(uint32_t masked_crc);

}  // namespace liverec

#endif  // LIVEREC_STORE_CRC32C_H_
