// libFuzzer entry point for the store's parsers of bytes on disk: the log reader and the
// snapshot reader, plain and sealed. Checksums would stop almost every raw mutation at the
// first record, so most inputs build a valid log or snapshot from the fuzzer's bytes (payloads,
// keys, sealed or not) and then damage it as the input says, checksums forged or not: the
// reader must return exactly the records written before the damage and then stop cleanly or
// fail with a message, never hand out other bytes. The first byte picks the mode; mode 0 reads
// the rest as a raw segment and a raw snapshot. Any crash, sanitizer report or failed check
// is a finding.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "store/crc32c.h"
#include "store/log_format.h"
#include "store/log_reader.h"
#include "store/log_record.h"
#include "store/sealing.h"
#include "store/snapshot.h"

namespace liverec {
namespace {

// Damage to the built file: a byte flipped (its record's checksum forged or not), the file cut.
enum class Damage : uint8_t { kNone, kFlip, kFlipAndForge, kTruncate };

// Reads bytes off the front of the fuzzer's input.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | Byte();
    return v;
  }
  std::string_view Take(size_t n) {
    n = std::min(n, size_ - pos_);
    const std::string_view out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }
  std::string_view Rest() { return Take(size_ - pos_); }
  bool empty() const { return pos_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

const std::string& TempDir() {
  static const std::string dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "store_fuzz_XXXXXX").string();
    LIVEREC_CHECK(::mkdtemp(pattern.data()) != nullptr);
    return pattern;
  }();
  static const bool removed_at_exit = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return true;
  }();
  (void)removed_at_exit;
  return dir;
}

void WriteFileBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  LIVEREC_CHECK(out.good()) << path;
}

Secret256 KeyOf(uint8_t fill) {
  Secret256 key;
  key.fill(fill);
  return key;
}

// The readers' keys: key 1, and key 2 as an old one; the writer seals with key `writer_key`
// (0: plain), so 3 gives records no reader key opens.
std::shared_ptr<const Keyring> ReaderKeys() {
  static const std::shared_ptr<const Keyring> keys = [] {
    StatusOr<Keyring> ring = Keyring::FromKeys(KeyOf(1), {KeyOf(2)});
    LIVEREC_CHECK(ring.ok());
    return std::make_shared<const Keyring>(*ring);
  }();
  return keys;
}

struct Read {
  Status status;
  std::vector<std::string> payloads;
};

Read ReadLogDir(const std::string& dir) {
  Read read;
  StatusOr<std::unique_ptr<LogReader>> reader = LogReader::Open(dir, 0, ReaderKeys());
  LIVEREC_CHECK(reader.ok()) << reader.status().message();
  LogRecord record;
  while (true) {
    StatusOr<bool> more = (*reader)->Next(&record);
    if (!more.ok()) {
      read.status = more.status();
      break;
    }
    if (!*more) break;
    LIVEREC_CHECK(record.seq == read.payloads.size() + 1) << "seq " << record.seq;
    read.payloads.emplace_back(record.payload);
  }
  if (!read.status.ok()) LIVEREC_CHECK(!read.status.message().empty());
  return read;
}

void FuzzRawBytes(std::string_view bytes) {
  const std::string dir = TempDir() + "/raw";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  WriteFileBytes(dir + "/" + LogSegmentFileName(1), bytes);
  ReadLogDir(dir);
  const std::string snapshot = dir + "/" + SnapshotFileName(0);
  WriteFileBytes(snapshot, bytes);
  StatusOr<Snapshot> read = ReadSnapshot(snapshot, ReaderKeys().get());
  if (!read.ok()) LIVEREC_CHECK(!read.status().message().empty());
}

// A log of up to 8 records from the input, sealed or not, damaged as the input says.
void FuzzBuiltLog(Input& in) {
  const uint8_t writer_key = in.Byte() % 4;
  const auto damage = static_cast<Damage>(in.Byte() % 4);
  const uint32_t damage_at = in.U32();
  const uint8_t flip = static_cast<uint8_t>(in.Byte() | 1);
  std::vector<std::string> payloads;
  while (!in.empty() && payloads.size() < 8) payloads.emplace_back(in.Take(in.Byte()));

  std::unique_ptr<Sealer> sealer;
  if (writer_key != 0)
    sealer =
        std::make_unique<Sealer>(SealingKey{KeyOf(writer_key), SealingKeyId(KeyOf(writer_key))});
  std::string segment(kLogSegmentHeaderBytes, '\0');
  EncodeLogSegmentHeader(1, sealer != nullptr, segment.data());
  std::vector<size_t> record_starts;
  for (size_t i = 0; i < payloads.size(); ++i) {
    record_starts.push_back(segment.size());
    EncodeLogRecord(i + 1, payloads[i], sealer.get(), &segment);
  }
  size_t intact = payloads.size();  // records before the damage
  if (damage != Damage::kNone && !segment.empty()) {
    const size_t at = damage_at % segment.size();
    size_t record = 0;
    while (record < record_starts.size() && record_starts[record] <= at) ++record;
    intact = record == 0 ? 0 : record - 1;  // the record holding `at` (none: the header)
    if (damage == Damage::kTruncate) {
      segment.resize(at);
    } else {
      segment[at] = static_cast<char>(segment[at] ^ flip);
      if (damage == Damage::kFlipAndForge && record > 0) {
        const size_t start = record_starts[record - 1];
        const uint32_t length =
            DecodeFixed<uint32_t>(segment.data() + start + kLogRecordLengthOffset);
        if (start + kLogRecordHeaderBytes + length <= segment.size()) {
          const uint32_t crc = Crc32c(segment.data() + start + kLogRecordCrcBytes,
                                      kLogRecordHeaderBytes - kLogRecordCrcBytes + length);
          EncodeFixed<uint32_t>(segment.data() + start, MaskCrc32c(crc));
        }
      }
    }
  }
  const std::string dir = TempDir() + "/log";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  WriteFileBytes(dir + "/" + LogSegmentFileName(1), segment);
  const Read read = ReadLogDir(dir);
  const bool openable = writer_key != 3;
  if (damage == Damage::kNone) {
    LIVEREC_CHECK(read.status.ok() == (openable || payloads.empty())) << read.status.message();
  }
  // Every record handed out is the one written, damage or not: a flip that a forged checksum
  // lets through is caught by the tag, or it is in a plain record's payload (then that record
  // may differ, and nothing after it is compared).
  const size_t compared = std::min(read.payloads.size(), payloads.size());
  for (size_t i = 0; i < compared; ++i) {
    if (i >= intact && sealer == nullptr) break;
    LIVEREC_CHECK(read.payloads[i] == payloads[i]) << "record " << i + 1 << " changed";
  }
  if (sealer != nullptr) {
    LIVEREC_CHECK(read.payloads.size() <= payloads.size());
  }
}

// A snapshot of up to 4 sections from the input, sealed or not, damaged as the input says.
void FuzzBuiltSnapshot(Input& in) {
  const uint8_t writer_key = in.Byte() % 4;
  const auto damage = static_cast<Damage>(in.Byte() % 4);
  const uint32_t damage_at = in.U32();
  std::vector<SnapshotSection> sections;
  while (!in.empty() && sections.size() < 4) {
    sections.push_back({"s" + std::to_string(sections.size()), std::string(in.Take(in.Byte()))});
  }
  const std::string dir = TempDir() + "/snap";
  std::filesystem::remove_all(dir);
  std::shared_ptr<const Keyring> writer_keys;
  if (writer_key != 0) {
    StatusOr<Keyring> ring = Keyring::FromKeys(KeyOf(writer_key), {});
    LIVEREC_CHECK(ring.ok());
    writer_keys = std::make_shared<const Keyring>(*ring);
  }
  LIVEREC_CHECK(WriteSnapshot(dir, 5, 0, sections, writer_keys.get()).ok());
  const std::string path = dir + "/" + SnapshotFileName(5);
  std::ifstream file(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (damage != Damage::kNone) {
    const size_t at = damage_at % bytes.size();
    if (damage == Damage::kTruncate) {
      bytes.resize(at);
    } else {
      bytes[at] = static_cast<char>(bytes[at] ^ 0x40);
    }
    WriteFileBytes(path, bytes);
  }
  StatusOr<Snapshot> read = ReadSnapshot(path, ReaderKeys().get());
  if (!read.ok()) {
    LIVEREC_CHECK(!read.status().message().empty());
    LIVEREC_CHECK(damage != Damage::kNone || writer_key == 3 || sections.empty())
        << read.status().message();
    return;
  }
  // Whatever reads back is what was written: the whole-file checksum catches plain damage.
  LIVEREC_CHECK(read->sections.size() == sections.size());
  for (size_t i = 0; i < sections.size(); ++i) {
    LIVEREC_CHECK(read->sections[i].payload == sections[i].payload) << "section " << i;
  }
}

}  // namespace
}  // namespace liverec

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  liverec::Input in(data, size);
  switch (in.Byte() % 3) {
    case 0:
      liverec::FuzzRawBytes(in.Rest());
      break;
    case 1:
      liverec::FuzzBuiltLog(in);
      break;
    default:
      liverec::FuzzBuiltSnapshot(in);
      break;
  }
  return 0;
}
