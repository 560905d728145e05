#include "store/log_record.h"

#include "common/check.h"
#include "store/crc32c.h"
#include "store/log_format.h"

namespace liverec {
namespace {

static_assert(kMaxLogRecordLength == kMaxLogPayloadBytes + kSealOverheadBytes);

// The additional data of a sealed record: what its header says, plus the segment's format
// version, so that neither can change without the tag failing (the key id follows, added by
// the sealing itself). u32 version, u64 seq, u32 length, u16 type.
constexpr size_t kSealedRecordAdBytes = 4 + 8 + 4 + 2;

void SealedRecordAd(uint64_t seq, uint32_t length, char* out) {
  EncodeFixed<uint32_t>(out, kSealedLogFormatVersion);
  EncodeFixed<uint64_t>(out + 4, seq);
  EncodeFixed<uint32_t>(out + 12, length);
  EncodeFixed<uint16_t>(out + 16, static_cast<uint16_t>(LogRecordType::kSealed));
}

}  // namespace

size_t EncodedLogRecordBytes(size_t payload_bytes, bool sealed) {
  return kLogRecordHeaderBytes + payload_bytes + (sealed ? kSealOverheadBytes : 0);
}

void EncodeLogRecord(uint64_t seq, std::string_view payload, Sealer* sealer, std::string* out) {
  LIVEREC_CHECK(payload.size() <= kMaxLogPayloadBytes) << payload.size() << " payload bytes";
  const bool sealed = sealer != nullptr;
  const uint32_t length =
      static_cast<uint32_t>(EncodedLogRecordBytes(payload.size(), sealed) - kLogRecordHeaderBytes);
  const LogRecordType type = sealed ? LogRecordType::kSealed : LogRecordType::kFull;
  const size_t start = out->size();
  out->resize(start + kLogRecordHeaderBytes);
  char* header = out->data() + start;
  EncodeFixed<uint32_t>(header + kLogRecordLengthOffset, length);
  EncodeFixed<uint64_t>(header + kLogRecordSeqOffset, seq);
  EncodeFixed<uint16_t>(header + kLogRecordTypeOffset, static_cast<uint16_t>(type));
  if (sealed) {
    char ad[kSealedRecordAdBytes];
    SealedRecordAd(seq, length, ad);
    sealer->Seal({ad, sizeof(ad)}, payload, out);
  } else {
    out->append(payload);
  }
  // `out` may have moved while growing.
  header = out->data() + start;
  const uint32_t crc =
      Crc32c(header + kLogRecordCrcBytes, kLogRecordHeaderBytes - kLogRecordCrcBytes + length);
  EncodeFixed<uint32_t>(header, MaskCrc32c(crc));
}

Status OpenLogRecordPayload(const char* record, const Keyring& keys, std::string* scratch,
                            std::string_view* payload) {
  const uint32_t length = DecodeFixed<uint32_t>(record + kLogRecordLengthOffset);
  const std::string_view body(record + kLogRecordHeaderBytes, length);
  const auto type =
      static_cast<LogRecordType>(DecodeFixed<uint16_t>(record + kLogRecordTypeOffset));
  if (type != LogRecordType::kSealed) {
    *payload = body;
    return Status::Ok();
  }
  char ad[kSealedRecordAdBytes];
  SealedRecordAd(DecodeFixed<uint64_t>(record + kLogRecordSeqOffset), length, ad);
  LIVEREC_RETURN_IF_ERROR(OpenSealed(keys, {ad, sizeof(ad)}, body, scratch));
  *payload = *scratch;
  return Status::Ok();
}

}  // namespace liverec
