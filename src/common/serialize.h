// Little-endian binary encoding of model state (save/load). Models write their fields in a
// fixed order with a type tag and a format version first; readers check both and every length,
// so a truncated or foreign buffer gives a Corruption status, never a crash.
//
// The snapshot file format (magic, checksum, atomic rename) wraps these bytes; this layer is
// only the encoding.
#ifndef LIVEREC_COMMON_SERIALIZE_H_
#define LIVEREC_COMMON_SERIALIZE_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "liverec/status.h"

namespace liverec {

class BinaryWriter {
 public:
  template <typename T>
  requires std::is_arithmetic_v<T>
  void Put(T v) {
    static_assert(std::endian::native == std::endian::little, "little-endian hosts only");
    out_.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  void PutBytes(const void* data, size_t n) {
    if (n != 0) out_.append(static_cast<const char*>(data), n);  // data may be null when n is 0
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    out_.append(s);
  }
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void PutVector(const std::vector<T>& v) {
    Put<uint64_t>(v.size());
    PutBytes(v.data(), v.size() * sizeof(T));
  }

  const std::string& data() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  std::string out_;
};

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view in) : in_(in) {}

  template <typename T>
  requires std::is_arithmetic_v<T> Status Get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return Truncated(sizeof(T));
    std::memcpy(v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status GetBytes(void* data, size_t n) {
    if (in_.size() - pos_ < n) return Truncated(n);
    if (n == 0) return Status::Ok();  // data may be null (an empty vector's)
    std::memcpy(data, in_.data() + pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  Status GetString(std::string* s) {
    uint64_t n = 0;
    LIVEREC_RETURN_IF_ERROR(Get(&n));
    if (in_.size() - pos_ < n) return Truncated(n);
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  template <typename T>
  requires std::is_trivially_copyable_v<T> Status GetVector(std::vector<T>* v) {
    uint64_t n = 0;
    LIVEREC_RETURN_IF_ERROR(Get(&n));
    if (n > (in_.size() - pos_) / sizeof(T)) return Truncated(n * sizeof(T));
    v->resize(n);
    return GetBytes(v->data(), n * sizeof(T));
  }
  // Reads a 32-bit tag and version and checks them against the expected ones.
  Status ExpectHeader(uint32_t tag, uint32_t version, std::string_view what);

  size_t position() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  Status Truncated(uint64_t wanted) const;

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_COMMON_SERIALIZE_H_
