// EventRecord: one event as the edge accepted it, and its binary codec — the payload of an
// event log record (docs/formats/event_record.md has the byte-level spec).
//
// Records carry EXTERNAL keys (user, item, type and context strings as the client sent them),
// never dense ids, so the log does not depend on id-map numbering and can be replayed into any
// id map. The encoding is canonical: a record has exactly one encoding, and Decode accepts only
// that encoding (minimal varints, no trailing bytes), so Encode(Decode(b)) == b whenever Decode
// succeeds.
//
// Thread safety: free functions on values; distinct objects may be used from distinct threads.
#ifndef LIVEREC_EVENT_EVENT_RECORD_H_
#define LIVEREC_EVENT_EVENT_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "liverec/event.h"
#include "liverec/field_error.h"
#include "liverec/status.h"

namespace liverec {

// The version byte written first in every record; the only one Decode accepts.
inline constexpr uint8_t kEventRecordVersion = 1;
// Limits, enforced by CheckEventRecordLimits (before encoding) and DecodeEventRecord.
inline constexpr size_t kMaxEventRecordStringBytes = 65536;  // any one string field
inline constexpr size_t kMaxEventRecordContextPairs = 1024;  // context.size()
inline constexpr size_t kMaxEventRecordBytes = 1024 * 1024;  // whole encoded record
// A u64 LEB128 varint takes at most ceil(64 / 7) bytes.
inline constexpr size_t kMaxVarint64Bytes = 10;

// Returns why `record` cannot be ingested, or nullopt if it can. The one validation of an
// event, shared by the HTTP edge and Engine::Ingest; in this order:
// - user, then item, empty: field "user" / "item", "expected a non-empty string";
// - time_ms < 0: field "timestamp", "expected Unix milliseconds >= 0";
// - then CheckEventRecordLimits.
// Every error has code kInvalidArgument, except limits (kOutOfRange).
std::optional<FieldError> ValidateEventRecord(const EventRecord& record);

// Returns why `record` cannot be encoded, or nullopt if it can: `value` not finite
// (kInvalidArgument, "value", "not finite (nan)"); a string over kMaxEventRecordStringBytes
// ("context[3].key", "longer than 65536 bytes (70000)"), more than kMaxEventRecordContextPairs
// context pairs ("context", "1025 pairs, over the limit 1024") or an encoding over
// kMaxEventRecordBytes (field "" = the whole record, "encoded size N bytes, over the limit M"),
// all kOutOfRange. Looser than ValidateEventRecord: the format holds records the engine would
// not ingest (an empty user, a negative time).
std::optional<FieldError> CheckEventRecordLimits(const EventRecord& record);

// Returns the number of bytes EncodeEventRecord appends for `record` (no limits checked).
size_t EventRecordEncodedSize(const EventRecord& record);

// Appends the encoding of `record` to `*out`. Requires !CheckEventRecordLimits(record); a
// record that fails it is a bug of the caller and aborts (LIVEREC_CHECK).
void EncodeEventRecord(const EventRecord& record, std::string* out);

// Decodes exactly one record occupying all of `bytes` into `*out` (whose strings and vectors
// are reused). Returns Corruption naming the field and byte offset for truncation, a bad or
// non-minimal varint, a length past the end or over a limit, trailing bytes, an unknown version
// ("unsupported event record version N") or a non-finite value; `*out` is then unspecified.
Status DecodeEventRecord(std::string_view bytes, EventRecord* out);

// LEB128 varint helpers, exposed for tests and other codecs. PutVarint64 appends 1 to 10
// bytes. GetVarint64 reads one varint at `bytes[*pos]`, advances `*pos` past it and returns
// Corruption (message without position; callers add it) if the varint is cut short, longer than
// 10 bytes, overflows 64 bits or is not minimal (a last byte of 0 after the first).
void PutVarint64(uint64_t v, std::string* out);
Status GetVarint64(std::string_view bytes, size_t* pos, uint64_t* v);
// Returns how many bytes PutVarint64 appends for `v`.
size_t Varint64Size(uint64_t v);

}  // namespace liverec

#endif  // LIVEREC_EVENT_EVENT_RECORD_H_
