// Tests of sealing (store/sealing.h) and of sealed logs and snapshots on real files: round
// trips, flipped bytes, truncation, wrong keys, key rotation, and logs that turn sealing on.
#include "store/sealing.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/crc32c.h"
#include "store/log_format.h"
#include "store/log_reader.h"
#include "store/log_record.h"
#include "store/log_writer.h"
#include "store/snapshot.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

using testing::ReadFile;
using testing::ReadLog;
using testing::ReadResult;
using testing::WriteFile;

// A marker no envelope can contain by chance: its absence from the files shows they are sealed.
constexpr std::string_view kMarker = "movie-ZEBRA-4711";

Secret256 KeyOf(uint8_t fill) {
  Secret256 key;
  key.fill(fill);
  return key;
}

std::shared_ptr<const Keyring> Ring(std::optional<Secret256> current,
                                    std::vector<Secret256> old_keys = {}) {
  StatusOr<Keyring> ring = Keyring::FromKeys(current, old_keys);
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return std::make_shared<const Keyring>(ring.ok() ? *ring : Keyring());
}

// Recomputes the checksum of the record at `offset` of a segment's bytes, as a forger would.
void FixRecordCrc(std::string* bytes, size_t offset) {
  const uint32_t length = DecodeFixed<uint32_t>(bytes->data() + offset + kLogRecordLengthOffset);
  const uint32_t crc = Crc32c(bytes->data() + offset + kLogRecordCrcBytes,
                              kLogRecordHeaderBytes - kLogRecordCrcBytes + length);
  EncodeFixed<uint32_t>(bytes->data() + offset, MaskCrc32c(crc));
}

std::string Payload(int i) { return std::string(kMarker) + " event " + std::to_string(i); }

class SealedLogTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    dir_ = root_ + "/log";
  }

  void Append(std::shared_ptr<const Keyring> keys, int first, int last,
              uint64_t segment_size_bytes = uint64_t{64} << 20) {
    LogWriterOptions options;
    options.keys = std::move(keys);
    options.segment_size_bytes = segment_size_bytes;
    StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, options);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    for (int i = first; i <= last; ++i) ASSERT_TRUE((*writer)->Append(Payload(i)).ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }

  std::vector<LogSegmentFile> Segments() const {
    StatusOr<std::vector<LogSegmentFile>> segments = ListLogSegments(dir_);
    EXPECT_TRUE(segments.ok());
    return segments.ok() ? *segments : std::vector<LogSegmentFile>{};
  }

  static void ExpectRecords(const ReadResult& result, int first, int last) {
    ASSERT_EQ(result.records.size(), static_cast<size_t>(last - first + 1));
    for (int i = first; i <= last; ++i) {
      EXPECT_EQ(result.records[i - first].first, static_cast<uint64_t>(i));
      EXPECT_EQ(result.records[i - first].second, Payload(i));
    }
  }

  std::string dir_;
};

TEST_F(SealedLogTest, SealedRecordsReadBackAsPlaintextAndNeverAppearOnDisk) {
  Append(Ring(KeyOf(1)), 1, 5);
  const ReadResult result = ReadLog(dir_, 0, Ring(KeyOf(1)));
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectRecords(result, 1, 5);
  const std::string bytes = ReadFile(Segments()[0].path);
  EXPECT_EQ(bytes.find(kMarker), std::string::npos);
  EXPECT_EQ(DecodeFixed<uint32_t>(bytes.data() + kLogSegmentVersionOffset),
            kSealedLogFormatVersion);
  EXPECT_EQ(bytes.size(), kLogSegmentHeaderBytes + 5 * kLogRecordHeaderBytes +
                              5 * kSealOverheadBytes + 5 * Payload(1).size());
}

TEST_F(SealedLogTest, AWriterResumesASealedLogAndReadersStartMidLog) {
  Append(Ring(KeyOf(1)), 1, 3, 200);
  Append(Ring(KeyOf(1)), 4, 9, 200);
  EXPECT_GT(Segments().size(), 2u);
  const ReadResult all = ReadLog(dir_, 0, Ring(KeyOf(1)));
  ASSERT_TRUE(all.status.ok()) << all.status.ToString();
  ExpectRecords(all, 1, 9);
  const ReadResult tail = ReadLog(dir_, 6, Ring(KeyOf(1)));
  ASSERT_TRUE(tail.status.ok()) << tail.status.ToString();
  ExpectRecords(tail, 6, 9);
}

TEST_F(SealedLogTest, WrongOrMissingKeyNamesTheFileSeqAndKeyId) {
  Append(Ring(KeyOf(1)), 1, 3);
  const std::string id = KeyIdText(SealingKeyId(KeyOf(1)));
  for (const std::shared_ptr<const Keyring>& keys : {Ring(KeyOf(2)), Ring(std::nullopt)}) {
    const ReadResult result = ReadLog(dir_, 0, keys);
    EXPECT_EQ(result.status.code(), StatusCode::kFailedPrecondition);
    const std::string& message = result.status.message();
    EXPECT_NE(message.find(Segments()[0].path), std::string::npos) << message;
    EXPECT_NE(message.find("seq 1: no key for key id " + id), std::string::npos) << message;
    EXPECT_TRUE(result.records.empty());
  }
}

TEST_F(SealedLogTest, ANewKeyAppendsWithoutTheOldOneWhichOnlyReadersOfOldRecordsNeed) {
  Append(Ring(KeyOf(1)), 1, 3);
  Append(Ring(KeyOf(2)), 4, 5);
  const ReadResult new_only = ReadLog(dir_, 4, Ring(KeyOf(2)));
  ASSERT_TRUE(new_only.status.ok()) << new_only.status.ToString();
  ExpectRecords(new_only, 4, 5);
  const ReadResult from_start = ReadLog(dir_, 0, Ring(KeyOf(2)));
  EXPECT_EQ(from_start.status.code(), StatusCode::kFailedPrecondition);
  const ReadResult both = ReadLog(dir_, 0, Ring(KeyOf(1), {KeyOf(2)}));
  ASSERT_TRUE(both.status.ok()) << both.status.ToString();
  ExpectRecords(both, 1, 5);
}

TEST_F(SealedLogTest, FlippedByteWithAForgedChecksumFailsAuthentication) {
  Append(Ring(KeyOf(1)), 1, 3);
  const std::string path = Segments()[0].path;
  const std::string original = ReadFile(path);
  const size_t record_bytes = kLogRecordHeaderBytes + kSealOverheadBytes + Payload(1).size();
  const size_t record2 = kLogSegmentHeaderBytes + record_bytes;
  // Every byte of record 2's envelope after its key id: nonce, ciphertext, tag.
  for (size_t at = record2 + kLogRecordHeaderBytes + kSealKeyIdBytes; at < record2 + record_bytes;
       ++at) {
    std::string bytes = original;
    bytes[at] ^= 0x20;
    FixRecordCrc(&bytes, record2);
    WriteFile(path, bytes);
    const ReadResult result = ReadLog(dir_, 0, Ring(KeyOf(1)));
    ASSERT_EQ(result.status.code(), StatusCode::kCorruption) << "byte " << at;
    EXPECT_NE(result.status.message().find("seq 2: authentication failed"), std::string::npos)
        << result.status.message();
    ExpectRecords(result, 1, 1);
  }
  // Without the forged checksum a flipped byte is a checksum mismatch, as in a plain log.
  std::string bytes = original;
  bytes[record2 + kLogRecordHeaderBytes + 30] ^= 0x01;
  WriteFile(path, bytes);
  const ReadResult result = ReadLog(dir_, 0, Ring(KeyOf(1)));
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find("seq 2: record checksum mismatch"), std::string::npos)
      << result.status.message();
}

TEST_F(SealedLogTest, AnEnvelopeMovedToAnotherRecordFailsAuthentication) {
  Append(Ring(KeyOf(1)), 1, 3);
  const std::string path = Segments()[0].path;
  std::string bytes = ReadFile(path);
  const size_t record_bytes = kLogRecordHeaderBytes + kSealOverheadBytes + Payload(1).size();
  const size_t record2 = kLogSegmentHeaderBytes + record_bytes;
  const size_t record3 = record2 + record_bytes;
  // Record 3's envelope under record 2's header: a valid envelope, bound to another seq.
  bytes.replace(
      record2 + kLogRecordHeaderBytes, record_bytes - kLogRecordHeaderBytes,
      bytes.substr(record3 + kLogRecordHeaderBytes, record_bytes - kLogRecordHeaderBytes));
  FixRecordCrc(&bytes, record2);
  WriteFile(path, bytes);
  const ReadResult result = ReadLog(dir_, 0, Ring(KeyOf(1)));
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find("seq 2: authentication failed"), std::string::npos)
      << result.status.message();
}

TEST_F(SealedLogTest, TruncatedRecordIsATornTailAtTheEndAndCorruptionInside) {
  Append(Ring(KeyOf(1)), 1, 6, 200);
  std::vector<LogSegmentFile> segments = Segments();
  ASSERT_GE(segments.size(), 2u);
  // The last record cut short: what a crash leaves; the records before it read back.
  const std::string last = ReadFile(segments.back().path);
  WriteFile(segments.back().path, last.substr(0, last.size() - 10));
  ReadResult result = ReadLog(dir_, 0, Ring(KeyOf(1)));
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectRecords(result, 1, 5);
  EXPECT_GT(result.torn_tail_bytes, 0u);
  // A record cut short in the first segment: corruption, naming it.
  const std::string first = ReadFile(segments[0].path);
  WriteFile(segments[0].path, first.substr(0, first.size() - 10));
  result = ReadLog(dir_, 0, Ring(KeyOf(1)));
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find(segments[0].path), std::string::npos);
  EXPECT_NE(result.status.message().find("payload cut short"), std::string::npos)
      << result.status.message();
}

TEST_F(SealedLogTest, RotationWritesUnderTheNewKeyAndReadsBothWhileTheOldIsKept) {
  Append(Ring(KeyOf(1)), 1, 3);
  Append(Ring(KeyOf(2), {KeyOf(1)}), 4, 6);
  ASSERT_EQ(Segments().size(), 1u);  // one segment holds records of both keys
  const ReadResult both = ReadLog(dir_, 0, Ring(KeyOf(2), {KeyOf(1)}));
  ASSERT_TRUE(both.status.ok()) << both.status.ToString();
  ExpectRecords(both, 1, 6);
  // The new key alone reads what it sealed; the old records need the old key.
  const ReadResult new_only = ReadLog(dir_, 4, Ring(KeyOf(2)));
  ASSERT_TRUE(new_only.status.ok()) << new_only.status.ToString();
  ExpectRecords(new_only, 4, 6);
  const ReadResult missing_old = ReadLog(dir_, 0, Ring(KeyOf(2)));
  EXPECT_EQ(missing_old.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing_old.status.message().find(KeyIdText(SealingKeyId(KeyOf(1)))),
            std::string::npos);
}

TEST_F(SealedLogTest, TurningSealingOnStartsASealedSegmentAndTurningItOffIsRefused) {
  Append(Ring(std::nullopt), 1, 3);
  Append(Ring(KeyOf(1)), 4, 6);
  std::vector<LogSegmentFile> segments = Segments();
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[1].first_seq, 4u);
  EXPECT_NE(ReadFile(segments[0].path).find(Payload(1)), std::string::npos);
  EXPECT_EQ(ReadFile(segments[1].path).find(kMarker), std::string::npos);
  const ReadResult with_key = ReadLog(dir_, 0, Ring(KeyOf(1)));
  ASSERT_TRUE(with_key.status.ok()) << with_key.status.ToString();
  ExpectRecords(with_key, 1, 6);
  const ReadResult without = ReadLog(dir_, 0, Ring(std::nullopt));
  EXPECT_EQ(without.status.code(), StatusCode::kFailedPrecondition);
  ExpectRecords(without, 1, 3);

  LogWriterOptions plain;
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, plain);
  EXPECT_EQ(writer.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(writer.status().message().find("storage.key_file"), std::string::npos)
      << writer.status().message();
}

TEST_F(SealedLogTest, TurningSealingOnInAnEmptyLogReplacesItsPlainSegment) {
  Append(Ring(std::nullopt), 1, 0);
  Append(Ring(KeyOf(1)), 1, 2);
  std::vector<LogSegmentFile> segments = Segments();
  ASSERT_EQ(segments.size(), 1u);
  const std::string bytes = ReadFile(segments[0].path);
  EXPECT_EQ(DecodeFixed<uint32_t>(bytes.data() + kLogSegmentVersionOffset),
            kSealedLogFormatVersion);
  const ReadResult result = ReadLog(dir_, 0, Ring(KeyOf(1)));
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectRecords(result, 1, 2);
}

TEST_F(SealedLogTest, APlainSegmentAfterSealedOnesIsCorruption) {
  Append(Ring(KeyOf(1)), 1, 3);
  // A planted plain segment continuing the sequence: well-formed, but a downgrade.
  std::string planted(kLogSegmentHeaderBytes, '\0');
  EncodeLogSegmentHeader(4, /*sealed=*/false, planted.data());
  EncodeLogRecord(4, Payload(4), nullptr, &planted);
  WriteFile(dir_ + "/" + LogSegmentFileName(4), planted);
  const ReadResult result = ReadLog(dir_, 0, Ring(KeyOf(1)));
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find("plain segment after sealed ones"), std::string::npos)
      << result.status.message();
  ExpectRecords(result, 1, 3);
}

class SealedSnapshotTest : public testing::TempDirTest {
 protected:
  std::vector<SnapshotSection> Sections() const {
    return {{"item_id_map", std::string(kMarker) + " in the id map"},
            {"popularity", std::string(1000, 'p')},
            {"empty", ""}};
  }

  std::string Write(uint64_t seq, std::shared_ptr<const Keyring> keys) {
    const Status status = WriteSnapshot(root_, seq, 1234, Sections(), keys.get());
    EXPECT_TRUE(status.ok()) << status.ToString();
    return root_ + "/" + SnapshotFileName(seq);
  }
};

// Offset of section 0's payload and of its CRC in a snapshot file.
constexpr size_t kSection0CrcOffset = kSnapshotHeaderBytes + 4 + 11 + 8;
constexpr size_t kSection0PayloadOffset = kSection0CrcOffset + 4;

// Recomputes section 0's CRC and the whole-file CRC, as a forger would.
void FixSnapshotCrcs(std::string* bytes, size_t section0_envelope_bytes) {
  const uint32_t section_crc = Crc32cExtend(
      Crc32c("item_id_map", 11), bytes->data() + kSection0PayloadOffset, section0_envelope_bytes);
  EncodeFixed<uint32_t>(bytes->data() + kSection0CrcOffset, MaskCrc32c(section_crc));
  const size_t footer_crc = bytes->size() - kSnapshotFooterBytes + 8;
  EncodeFixed<uint32_t>(bytes->data() + footer_crc, MaskCrc32c(Crc32c(bytes->data(), footer_crc)));
}

TEST_F(SealedSnapshotTest, SealedSectionsReadBackAsPlaintextAndNeverAppearOnDisk) {
  const std::string path = Write(7, Ring(KeyOf(1)));
  const std::string bytes = ReadFile(path);
  EXPECT_EQ(bytes.find(kMarker), std::string::npos);
  EXPECT_EQ(DecodeFixed<uint32_t>(bytes.data() + kSnapshotVersionOffset),
            kSealedSnapshotFormatVersion);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path, Ring(KeyOf(1)).get());
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->last_applied_seq, 7u);
  ASSERT_EQ(snapshot->sections.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(snapshot->sections[i].name, Sections()[i].name);
    EXPECT_EQ(snapshot->sections[i].payload, Sections()[i].payload);
  }
}

TEST_F(SealedSnapshotTest, WrongOrMissingKeyIsFailedPreconditionAndNotSkippedAsCorrupt) {
  Write(3, Ring(KeyOf(1)));
  const std::string path = Write(7, Ring(KeyOf(1)));
  StatusOr<Snapshot> wrong = ReadSnapshot(path, Ring(KeyOf(2)).get());
  EXPECT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find(path), std::string::npos);
  EXPECT_NE(wrong.status().message().find("section 0 'item_id_map': no key for key id " +
                                          KeyIdText(SealingKeyId(KeyOf(1)))),
            std::string::npos)
      << wrong.status().message();
  StatusOr<Snapshot> newest = ReadNewestValidSnapshot(root_, nullptr, nullptr);
  EXPECT_EQ(newest.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(SealedSnapshotTest, FlippedByteWithForgedChecksumsFailsAuthenticationNamingTheSection) {
  const std::string path = Write(7, Ring(KeyOf(1)));
  std::string bytes = ReadFile(path);
  const size_t envelope_bytes = Sections()[0].payload.size() + kSealOverheadBytes;
  bytes[kSection0PayloadOffset + kSealKeyIdBytes + kSealNonceBytes + 3] ^= 0x01;
  FixSnapshotCrcs(&bytes, envelope_bytes);
  WriteFile(path, bytes);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path, Ring(KeyOf(1)).get());
  EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
  EXPECT_NE(snapshot.status().message().find("section 0 'item_id_map': authentication failed"),
            std::string::npos)
      << snapshot.status().message();
}

TEST_F(SealedSnapshotTest, ASnapshotRenamedToAnotherSeqFailsAuthentication) {
  const std::string path = Write(7, Ring(KeyOf(1)));
  std::string bytes = ReadFile(path);
  // Header and name say 8, consistently: only the sealing knows it was written as 7.
  EncodeFixed<uint64_t>(bytes.data() + kSnapshotSeqOffset, 8);
  EncodeFixed<uint32_t>(bytes.data() + kSnapshotHeaderCrcOffset,
                        MaskCrc32c(Crc32c(bytes.data(), kSnapshotHeaderCrcOffset)));
  FixSnapshotCrcs(&bytes, Sections()[0].payload.size() + kSealOverheadBytes);
  WriteFile(root_ + "/" + SnapshotFileName(8), bytes);
  StatusOr<Snapshot> snapshot =
      ReadSnapshot(root_ + "/" + SnapshotFileName(8), Ring(KeyOf(1)).get());
  EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
  EXPECT_NE(snapshot.status().message().find("authentication failed"), std::string::npos)
      << snapshot.status().message();
}

TEST_F(SealedSnapshotTest, TruncationAnywhereIsCorruption) {
  const std::string path = Write(7, Ring(KeyOf(1)));
  const std::string bytes = ReadFile(path);
  for (size_t size = 0; size < bytes.size(); size += 7) {
    WriteFile(path, bytes.substr(0, size));
    StatusOr<Snapshot> snapshot = ReadSnapshot(path, Ring(KeyOf(1)).get());
    EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption) << "size " << size;
  }
}

TEST_F(SealedSnapshotTest, RotationReadsOldSnapshotsWithTheOldKeyAndPlainOnesWithAnyKeys) {
  const std::string old_path = Write(3, Ring(KeyOf(1)));
  const std::string new_path = Write(7, Ring(KeyOf(2), {KeyOf(1)}));
  const std::string plain_path = Write(1, Ring(std::nullopt));
  const std::shared_ptr<const Keyring> rotated = Ring(KeyOf(2), {KeyOf(1)});
  for (const std::string& path : {old_path, new_path, plain_path}) {
    StatusOr<Snapshot> snapshot = ReadSnapshot(path, rotated.get());
    ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
    EXPECT_EQ(snapshot->sections[0].payload, Sections()[0].payload);
  }
  EXPECT_EQ(ReadSnapshot(old_path, Ring(KeyOf(2)).get()).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_NE(ReadFile(plain_path).find(kMarker), std::string::npos);
}

class KeyringTest : public testing::TempDirTest {};

TEST_F(KeyringTest, KeyFilesAreReadAndAMissingOneIsNamed) {
  const std::string dir = root_;
  const std::string current = dir + "/sealing_test_current.key";
  ASSERT_TRUE(WriteSecretFile(current, std::string(64, 'a') + "\n").ok());
  StatusOr<Keyring> ring = Keyring::FromFiles(current, {current});
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  ASSERT_NE(ring->current(), nullptr);
  EXPECT_EQ(ring->current()->id, SealingKeyId(KeyOf(0xaa)));
  EXPECT_EQ(ring->KnownIds(), KeyIdText(SealingKeyId(KeyOf(0xaa))));
  StatusOr<Keyring> missing = Keyring::FromFiles(current, {dir + "/sealing_test_missing.key"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("sealing_test_missing.key"), std::string::npos);
  EXPECT_EQ(Keyring().current(), nullptr);
}

}  // namespace
}  // namespace liverec
