#include "event/event_record.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include "common/check.h"

namespace liverec {
namespace {

static_assert(std::endian::native == std::endian::little,
              "fixed-width fields are copied as little-endian host values");

constexpr unsigned kVarintPayloadBits = 7;
constexpr uint8_t kVarintContinue = 0x80;
constexpr uint8_t kVarintPayloadMask = 0x7F;
// The 10th byte of a u64 varint holds bit 63 only, so it may be 0 or 1 (and never continues).
constexpr uint8_t kMaxLastVarintByte = 1;

// Names a field for error messages; formatted only when an error is reported.
struct Field {
  const char* name;
  size_t pair_idx = 0;  // used when `name` is "key" or "value" of a context pair
  bool in_context = false;

  std::string ToString() const {
    if (!in_context) return name;
    return "context[" + std::to_string(pair_idx) + "]." + name;
  }
};

size_t StringFieldSize(std::string_view s) { return Varint64Size(s.size()) + s.size(); }

std::optional<FieldError> CheckStringLimit(std::string_view s, const Field& field) {
  if (s.size() <= kMaxEventRecordStringBytes) return std::nullopt;
  return FieldError{field.ToString(),
                    "longer than " + std::to_string(kMaxEventRecordStringBytes) + " bytes (" +
                        std::to_string(s.size()) + ")",
                    StatusCode::kOutOfRange};
}

// Encoding writes through a raw cursor into space resized once: a dozen small std::string
// appends cost more than the copying itself for a typical ~80-byte record.
char* WriteVarint(uint64_t v, char* p) {
  while (v > kVarintPayloadMask) {
    *p++ = static_cast<char>((v & kVarintPayloadMask) | kVarintContinue);
    v >>= kVarintPayloadBits;
  }
  *p++ = static_cast<char>(v);
  return p;
}

template <typename T>
char* WriteFixed(T v, char* p) {
  std::memcpy(p, &v, sizeof(T));
  return p + sizeof(T);
}

char* WriteString(std::string_view s, char* p) {
  p = WriteVarint(s.size(), p);
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Reads the fields of one record in order, tracking the byte offset for error messages.
class Decoder {
 public:
  explicit Decoder(std::string_view bytes) : bytes_(bytes) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  Status Error(size_t offset, const Field& field, const std::string& what) const {
    return Corruption("event record byte " + std::to_string(offset) + ": " + field.ToString() +
                      ": " + what);
  }

  template <typename T>
  Status GetFixed(const Field& field, T* v) {
    if (remaining() < sizeof(T)) return Truncated(field, sizeof(T));
    std::memcpy(v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status GetVarint(const Field& field, uint64_t* v) {
    const size_t start = pos_;
    Status s = GetVarint64(bytes_, &pos_, v);
    if (!s.ok()) return Error(start, field, s.message());
    return Status::Ok();
  }

  Status GetString(const Field& field, std::string* s) {
    const size_t start = pos_;
    uint64_t length = 0;
    LIVEREC_RETURN_IF_ERROR(GetVarint(field, &length));
    // The limit is checked before the remaining size so that a damaged length never reads as
    // plain truncation when it is simply impossible.
    if (length > kMaxEventRecordStringBytes) {
      return Error(start, field,
                   "length " + std::to_string(length) + " over the limit " +
                       std::to_string(kMaxEventRecordStringBytes));
    }
    if (length > remaining()) {
      return Error(start, field,
                   "length " + std::to_string(length) + " past the end (" +
                       std::to_string(remaining()) + " bytes left)");
    }
    s->assign(bytes_.data() + pos_, length);
    pos_ += length;
    return Status::Ok();
  }

 private:
  Status Truncated(const Field& field, size_t wanted) const {
    return Error(pos_, field,
                 "truncated (needs " + std::to_string(wanted) + " bytes, " +
                     std::to_string(remaining()) + " left)");
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

size_t Varint64Size(uint64_t v) {
  size_t n = 1;
  while (v > kVarintPayloadMask) {
    v >>= kVarintPayloadBits;
    ++n;
  }
  return n;
}

void PutVarint64(uint64_t v, std::string* out) {
  char bytes[kMaxVarint64Bytes];
  out->append(bytes, WriteVarint(v, bytes) - bytes);
}

Status GetVarint64(std::string_view bytes, size_t* pos, uint64_t* v) {
  uint64_t result = 0;
  for (size_t i = 0; i < kMaxVarint64Bytes; ++i) {
    if (*pos + i >= bytes.size())
      return Corruption("varint cut short after " + std::to_string(i) + " bytes");
    const auto b = static_cast<uint8_t>(bytes[*pos + i]);
    if (i == kMaxVarint64Bytes - 1 && b > kMaxLastVarintByte) {
      if ((b & kVarintContinue) != 0) return Corruption("varint longer than 10 bytes");
      return Corruption("varint overflows 64 bits");
    }
    result |= static_cast<uint64_t>(b & kVarintPayloadMask) << (kVarintPayloadBits * i);
    if ((b & kVarintContinue) == 0) {
      // A zero last byte after the first adds nothing: rejecting it keeps one encoding per
      // value, which makes the whole record encoding canonical.
      if (b == 0 && i > 0) return Corruption("non-minimal varint");
      *pos += i + 1;
      *v = result;
      return Status::Ok();
    }
  }
  // Unreachable: the 10th byte either ends the varint or fails the check above.
  return Corruption("varint longer than 10 bytes");
}

size_t EventRecordEncodedSize(const EventRecord& r) {
  size_t size = sizeof(kEventRecordVersion) + StringFieldSize(r.user) + StringFieldSize(r.item) +
                StringFieldSize(r.type) + sizeof(r.value) + sizeof(r.time_ms) +
                Varint64Size(r.context.size());
  for (const auto& [key, value] : r.context) size += StringFieldSize(key) + StringFieldSize(value);
  return size + StringFieldSize(r.id) + StringFieldSize(r.recommendation_id);
}

std::optional<FieldError> ValidateEventRecord(const EventRecord& r) {
  if (r.user.empty()) return FieldError{"user", "expected a non-empty string"};
  if (r.item.empty()) return FieldError{"item", "expected a non-empty string"};
  if (r.time_ms < 0) return FieldError{"timestamp", "expected Unix milliseconds >= 0"};
  return CheckEventRecordLimits(r);
}

std::optional<ValidEventRecord> ValidEventRecord::Make(EventRecord record, FieldError* error) {
  if (std::optional<FieldError> invalid = ValidateEventRecord(record)) {
    *error = std::move(*invalid);
    return std::nullopt;
  }
  return ValidEventRecord(std::move(record));
}

std::optional<FieldError> CheckEventRecordLimits(const EventRecord& r) {
  if (auto error = CheckStringLimit(r.user, {"user"})) return error;
  if (auto error = CheckStringLimit(r.item, {"item"})) return error;
  if (auto error = CheckStringLimit(r.type, {"type"})) return error;
  if (!std::isfinite(r.value)) {
    return FieldError{"value", "not finite (" + std::to_string(r.value) + ")"};
  }
  if (r.context.size() > kMaxEventRecordContextPairs) {
    return FieldError{"context",
                      std::to_string(r.context.size()) + " pairs, over the limit " +
                          std::to_string(kMaxEventRecordContextPairs),
                      StatusCode::kOutOfRange};
  }
  for (size_t i = 0; i < r.context.size(); ++i) {
    if (auto error = CheckStringLimit(r.context[i].first, {"key", i, true})) return error;
    if (auto error = CheckStringLimit(r.context[i].second, {"value", i, true})) return error;
  }
  if (auto error = CheckStringLimit(r.id, {"id"})) return error;
  if (auto error = CheckStringLimit(r.recommendation_id, {"recommendation_id"})) return error;
  const size_t size = EventRecordEncodedSize(r);
  if (size > kMaxEventRecordBytes) {
    return FieldError{"",
                      "encoded size " + std::to_string(size) + " bytes, over the limit " +
                          std::to_string(kMaxEventRecordBytes),
                      StatusCode::kOutOfRange};
  }
  return std::nullopt;
}

void EncodeEventRecord(const EventRecord& r, std::string* out) {
  const std::optional<FieldError> error = CheckEventRecordLimits(r);
  LIVEREC_CHECK(!error.has_value())
      << "EncodeEventRecord of a record over the limits: " << error->field << ": " << error->reason;
  const size_t start = out->size();
  const size_t size = EventRecordEncodedSize(r);
  out->resize(start + size);
  char* p = out->data() + start;
  *p++ = static_cast<char>(kEventRecordVersion);
  p = WriteString(r.user, p);
  p = WriteString(r.item, p);
  p = WriteString(r.type, p);
  p = WriteFixed(r.value, p);
  p = WriteFixed(r.time_ms, p);
  p = WriteVarint(r.context.size(), p);
  for (const auto& [key, value] : r.context) {
    p = WriteString(key, p);
    p = WriteString(value, p);
  }
  p = WriteString(r.id, p);
  p = WriteString(r.recommendation_id, p);
  LIVEREC_CHECK(p == out->data() + start + size) << "EventRecordEncodedSize disagrees with Encode";
}

Status DecodeEventRecord(std::string_view bytes, EventRecord* out) {
  Decoder d(bytes);
  uint8_t version = 0;
  LIVEREC_RETURN_IF_ERROR(d.GetFixed({"version"}, &version));
  if (version != kEventRecordVersion) {
    return d.Error(0, {"version"}, "unsupported event record version " + std::to_string(version));
  }
  if (bytes.size() > kMaxEventRecordBytes) {
    return d.Error(0, {"record"},
                   "size " + std::to_string(bytes.size()) + " bytes over the limit " +
                       std::to_string(kMaxEventRecordBytes));
  }
  LIVEREC_RETURN_IF_ERROR(d.GetString({"user"}, &out->user));
  LIVEREC_RETURN_IF_ERROR(d.GetString({"item"}, &out->item));
  LIVEREC_RETURN_IF_ERROR(d.GetString({"type"}, &out->type));
  const size_t value_pos = d.position();
  LIVEREC_RETURN_IF_ERROR(d.GetFixed({"value"}, &out->value));
  if (!std::isfinite(out->value)) return d.Error(value_pos, {"value"}, "not finite");
  LIVEREC_RETURN_IF_ERROR(d.GetFixed({"time_ms"}, &out->time_ms));
  const size_t count_pos = d.position();
  uint64_t num_pairs = 0;
  LIVEREC_RETURN_IF_ERROR(d.GetVarint({"context"}, &num_pairs));
  if (num_pairs > kMaxEventRecordContextPairs) {
    return d.Error(count_pos, {"context"},
                   std::to_string(num_pairs) + " pairs, over the limit " +
                       std::to_string(kMaxEventRecordContextPairs));
  }
  out->context.resize(num_pairs);
  for (size_t i = 0; i < num_pairs; ++i) {
    LIVEREC_RETURN_IF_ERROR(d.GetString({"key", i, true}, &out->context[i].first));
    LIVEREC_RETURN_IF_ERROR(d.GetString({"value", i, true}, &out->context[i].second));
  }
  LIVEREC_RETURN_IF_ERROR(d.GetString({"id"}, &out->id));
  LIVEREC_RETURN_IF_ERROR(d.GetString({"recommendation_id"}, &out->recommendation_id));
  if (d.remaining() != 0) {
    return d.Error(d.position(), {"record"},
                   std::to_string(d.remaining()) + " trailing bytes after the record");
  }
  return Status::Ok();
}

}  // namespace liverec
