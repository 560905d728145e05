// Byte layout of the event log (docs/formats/event_log.md is the full prose spec).
//
// A log is a directory of segment files named `log-<first seq, 20 digits>.seg`. Each segment
// is a 24-byte header followed by records back to back, all integers little-endian:
//
//   segment header  [0, 8)   magic "LRECLOG\0"
//                   [8, 12)  u32 format version: kLogFormatVersion (plain records) or
//                            kSealedLogFormatVersion (sealed records only)
//                   [12, 20) u64 sequence number of the segment's first record
//                   [20, 24) u32 masked CRC32C of bytes [0, 20)
//
//   record          [0, 4)   u32 masked CRC32C of bytes [4, 18 + length) of the record
//                   [4, 8)   u32 payload length (at most kMaxLogPayloadBytes, plus the
//                            envelope of a sealed record)
//                   [8, 16)  u64 sequence number
//                   [16, 18) u16 record type (LogRecordType)
//                   [18, ...) payload bytes: the payload itself (kFull), or its sealed envelope
//                            (kSealed: store/sealing.h, kSealOverheadBytes longer, the length
//                            counting the envelope), authenticated with the additional data
//                            u32 format version, u64 seq, u32 length, u16 type, u32 key id
//
// Sequence numbers start at 1 in a new log and grow by exactly 1 from record to record,
// across segments too. Internal to src/store; callers use LogWriter and LogReader.
#ifndef LIVEREC_STORE_LOG_FORMAT_H_
#define LIVEREC_STORE_LOG_FORMAT_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "store/crc32c.h"

namespace liverec {

inline constexpr std::string_view kLogSegmentMagic{"LRECLOG\0", 8};
// Readers reject any other version: a format change bumps it. A segment holds either plain
// records (version 1, as before sealing existed, so old logs stay readable) or sealed ones.
inline constexpr uint32_t kLogFormatVersion = 1;
inline constexpr uint32_t kSealedLogFormatVersion = 2;

inline constexpr size_t kLogSegmentHeaderBytes = 24;
inline constexpr size_t kLogSegmentVersionOffset = 8;
inline constexpr size_t kLogSegmentFirstSeqOffset = 12;
inline constexpr size_t kLogSegmentHeaderCrcOffset = 20;

inline constexpr size_t kLogRecordHeaderBytes = 18;
// The CRC covers everything after its own 4 bytes.
inline constexpr size_t kLogRecordCrcBytes = 4;
inline constexpr size_t kLogRecordLengthOffset = 4;
inline constexpr size_t kLogRecordSeqOffset = 8;
inline constexpr size_t kLogRecordTypeOffset = 16;

// 16 MiB: far above any event, yet small enough that a corrupt length can never make a reader
// allocate unbounded memory. A sealed record's length field may exceed it by the envelope's
// overhead (kMaxLogRecordLength).
inline constexpr uint32_t kMaxLogPayloadBytes = uint32_t{16} << 20;
// The largest length field a record may carry: a maximal payload, sealed. 44 is
// store/sealing.h's kSealOverheadBytes (checked there).
inline constexpr uint32_t kMaxLogRecordLength = kMaxLogPayloadBytes + 44;

// The sequence number of the first record of a new, empty log; 0 means "no record".
inline constexpr uint64_t kFirstLogSeq = 1;

enum class LogRecordType : uint16_t {
  kFull = 0,    // one whole payload (the only type of version 1)
  kSealed = 1,  // one whole payload, sealed (the only type of version 2)
};

inline constexpr std::string_view kLogSegmentPrefix = "log-";
inline constexpr std::string_view kLogSegmentSuffix = ".seg";
inline constexpr size_t kLogSegmentSeqDigits = 20;

// "log-00000000000000000001.seg" for first_seq 1.
inline std::string LogSegmentFileName(uint64_t first_seq) {
  std::string digits = std::to_string(first_seq);
  return std::string(kLogSegmentPrefix) + std::string(kLogSegmentSeqDigits - digits.size(), '0') +
         digits + std::string(kLogSegmentSuffix);
}

// True iff `name` is exactly a segment name (20 decimal digits); then sets *first_seq.
inline bool ParseLogSegmentFileName(std::string_view name, uint64_t* first_seq) {
  if (name.size() != kLogSegmentPrefix.size() + kLogSegmentSeqDigits + kLogSegmentSuffix.size() ||
      !name.starts_with(kLogSegmentPrefix) || !name.ends_with(kLogSegmentSuffix)) {
    return false;
  }
  const std::string_view digits = name.substr(kLogSegmentPrefix.size(), kLogSegmentSeqDigits);
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;  // beyond 2^64 - 1
    value = value * 10 + digit;
  }
  *first_seq = value;
  return true;
}

// Little-endian fixed-width integers at `p` (memcpy: `p` need not be aligned).
template <typename T>
inline void EncodeFixed(char* p, T v) {
  static_assert(std::endian::native == std::endian::little, "little-endian hosts only");
  std::memcpy(p, &v, sizeof(v));
}
template <typename T>
inline T DecodeFixed(const char* p) {
  static_assert(std::endian::native == std::endian::little, "little-endian hosts only");
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Fills `out[0, kLogSegmentHeaderBytes)` with the header of a segment starting at first_seq,
// of sealed records or of plain ones.
inline void EncodeLogSegmentHeader(uint64_t first_seq, bool sealed, char* out) {
  std::memcpy(out, kLogSegmentMagic.data(), kLogSegmentMagic.size());
  EncodeFixed<uint32_t>(out + kLogSegmentVersionOffset,
                        sealed ? kSealedLogFormatVersion : kLogFormatVersion);
  EncodeFixed<uint64_t>(out + kLogSegmentFirstSeqOffset, first_seq);
  EncodeFixed<uint32_t>(out + kLogSegmentHeaderCrcOffset,
                        MaskCrc32c(Crc32c(out, kLogSegmentHeaderCrcOffset)));
}

}  // namespace liverec

#endif  // LIVEREC_STORE_LOG_FORMAT_H_
