// One event-log record's bytes: the header and the payload, sealed or plain (layout:
// store/log_format.h, docs/formats/event_log.md). The writer and anything that rewrites a
// segment (keeping sequence numbers, replacing payloads) encode through EncodeLogRecord; the
// reader opens through OpenLogRecordPayload, so there is one definition of each.
//
// A rewriter reads a segment with LogReader (plaintext payloads), writes EncodeLogSegmentHeader
// with the same first sequence number and each record with EncodeLogRecord, and keeps the
// segment's kind (LogReader::segment_sealed()): sealed records with a Sealer of the keyring's
// current key, plain ones with none. Sealing a plain segment that plain ones follow would make
// readers refuse them ("plain segment after sealed ones").
//
// Thread safety: pure functions, except that EncodeLogRecord advances the Sealer's nonce.
#ifndef LIVEREC_STORE_LOG_RECORD_H_
#define LIVEREC_STORE_LOG_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "liverec/status.h"
#include "store/sealing.h"

namespace liverec {

// Bytes EncodeLogRecord appends for a payload of `payload_bytes`.
size_t EncodedLogRecordBytes(size_t payload_bytes, bool sealed);

// Appends to *out the record of `payload` with sequence number `seq`, checksum included: a
// kSealed record sealed by `sealer` (for a segment of kSealedLogFormatVersion) or, with a null
// sealer, a kFull one (kLogFormatVersion). Requires payload.size() <= kMaxLogPayloadBytes.
void EncodeLogRecord(uint64_t seq, std::string_view payload, Sealer* sealer, std::string* out);

// The payload of the record at `record` (header first), whose length, checksum, sequence
// number and type were checked against its segment's format version: for a kFull record a
// view of its bytes; for a kSealed one the opened plaintext, kept in *scratch (the view points
// into it). Errors as OpenSealed's (FailedPrecondition "no key for key id ...", Corruption
// "authentication failed ..."); the caller adds the file and sequence number.
Status OpenLogRecordPayload(const char* record, const Keyring& keys, std::string* scratch,
                            std::string_view* payload);

}  // namespace liverec

#endif  // LIVEREC_STORE_LOG_RECORD_H_
