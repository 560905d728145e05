// Little-endian binary encoding of model state (save/load). Models write their fields in a
// fixed order with a type tag and a format version first; readers check both and every length,
// so a truncated or foreign buffer gives a Corruption status, never a crash.
//
// The snapshot file format (magic, checksum, atomic rename) wraps these bytes; this layer is
// only the encoding.
#ifndef LIVEREC_COMMON_SERIALIZE_H_
#define LIVEREC_COMMON_SERIALIZE_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "liverec/status.h"

namespace liverec {

// Where a BinaryWriter with a sink sends its bytes, in order, in pieces of about
// BinaryWriter::kFlushBytes (a payload of that size or more goes in one piece, straight from the
// caller's memory). A sink keeps its own error: Write has no way to report one.
class ByteSink {
 public:
  virtual void Write(std::string_view bytes) = 0;

 protected:
  ~ByteSink() = default;
};

// Appends to a string (data(), Release()), or, given a sink, passes its bytes on as they come,
// so that a state of hundreds of MB is written without a copy of it in memory.
class BinaryWriter {
 public:
  static constexpr size_t kFlushBytes = size_t{1} << 20;

  BinaryWriter() = default;
  // Flush() (or the destructor) sends what is still buffered.
  explicit BinaryWriter(ByteSink* sink) : sink_(sink) {}
  BinaryWriter(const BinaryWriter&) = delete;
  BinaryWriter& operator=(const BinaryWriter&) = delete;
  ~BinaryWriter() { Flush(); }

  template <typename T>
  requires std::is_arithmetic_v<T>
  void Put(T v) {
    static_assert(std::endian::native == std::endian::little, "little-endian hosts only");
    out_.append(reinterpret_cast<const char*>(&v), sizeof(v));
    if (sink_ != nullptr && out_.size() >= kFlushBytes) Flush();
  }
  void PutBytes(const void* data, size_t n) {
    if (n == 0) return;  // data may be null when n is 0
    if (sink_ != nullptr && n >= kFlushBytes) {
      Flush();
      sink_->Write({static_cast<const char*>(data), n});
      return;
    }
    out_.append(static_cast<const char*>(data), n);
    if (sink_ != nullptr && out_.size() >= kFlushBytes) Flush();
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    PutBytes(s.data(), s.size());
  }
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void PutVector(const std::vector<T>& v) {
    Put<uint64_t>(v.size());
    PutBytes(v.data(), v.size() * sizeof(T));
  }

  // Sends the buffered bytes to the sink; without one, does nothing.
  void Flush() {
    if (sink_ == nullptr || out_.empty()) return;
    sink_->Write(out_);
    out_.clear();
  }

  // Without a sink only: everything written so far.
  const std::string& data() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  ByteSink* sink_ = nullptr;
  std::string out_;
};

// Passes the bytes of a BinaryWriter built on it on to `out`, counting them: for a length that
// follows what it measures, since a stream cannot go back to put it in front.
class CountingSink final : public ByteSink {
 public:
  explicit CountingSink(BinaryWriter* out) : out_(out) {}
  void Write(std::string_view bytes) override {
    out_->PutBytes(bytes.data(), bytes.size());
    bytes_ += bytes.size();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  BinaryWriter* out_;
  uint64_t bytes_ = 0;
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
  // The same, accepting any version in [min_version, max_version], which it stores in *version.
  Status ExpectHeader(uint32_t tag, uint32_t min_version, uint32_t max_version,
                      std::string_view what, uint32_t* version);

  size_t position() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  Status Truncated(uint64_t wanted) const;

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_COMMON_SERIALIZE_H_
