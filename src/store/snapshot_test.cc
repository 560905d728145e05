#include "store/snapshot.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "common/random.h"
#include "store/crc32c.h"
#include "store/log_format.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

namespace fs = std::filesystem;

using testing::RandomBytes;
using testing::ReadFile;
using testing::WriteFile;

// Bytes a snapshot of these sections takes, from the spec: header, 16 + name + payload per
// section, footer.
uint64_t ExpectedFileBytes(const std::vector<SnapshotSection>& sections) {
  uint64_t bytes = kSnapshotHeaderBytes + kSnapshotFooterBytes;
  for (const SnapshotSection& s : sections) bytes += 16 + s.name.size() + s.payload.size();
  return bytes;
}

void ExpectSameSections(const Snapshot& snapshot, const std::vector<SnapshotSection>& sections) {
  ASSERT_EQ(snapshot.sections.size(), sections.size());
  for (size_t i = 0; i < sections.size(); ++i) {
    EXPECT_EQ(snapshot.sections[i].name, sections[i].name) << "section " << i;
    EXPECT_TRUE(snapshot.sections[i].payload == sections[i].payload) << "section " << i;
  }
}

class SnapshotTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    dir_ = root_ + "/snapshots";
  }

  // Writes a snapshot that must succeed and returns its path.
  std::string Write(uint64_t seq, const std::vector<SnapshotSection>& sections,
                    int64_t created_unix_ms = 1700000000000) {
    const Status status = WriteSnapshot(dir_, seq, created_unix_ms, sections);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return dir_ + "/" + SnapshotFileName(seq);
  }

  static std::vector<SnapshotSection> SmallSections() {
    return {{"popularity", "counts"}, {"", "unnamed"}, {"empty", ""}};
  }

  std::vector<uint64_t> ListedSeqs() const {
    StatusOr<std::vector<SnapshotInfo>> infos = ListSnapshots(dir_);
    EXPECT_TRUE(infos.ok()) << infos.status().ToString();
    std::vector<uint64_t> seqs;
    if (infos.ok()) {
      for (const SnapshotInfo& info : *infos) seqs.push_back(info.last_applied_seq);
    }
    return seqs;
  }

  std::string dir_;
};

TEST_F(SnapshotTest, FileNamesAreZeroPaddedAndParseBack) {
  EXPECT_EQ(SnapshotFileName(42), "snapshot-00000000000000000042.snap");
  EXPECT_EQ(SnapshotFileName(UINT64_MAX), "snapshot-18446744073709551615.snap");
  uint64_t seq = 0;
  EXPECT_TRUE(ParseSnapshotFileName("snapshot-18446744073709551615.snap", &seq));
  EXPECT_EQ(seq, UINT64_MAX);
  EXPECT_FALSE(ParseSnapshotFileName("snapshot-18446744073709551616.snap", &seq));
  EXPECT_FALSE(ParseSnapshotFileName("snapshot-42.snap", &seq));
  EXPECT_FALSE(ParseSnapshotFileName("snapshot-00000000000000000042.snap.tmp", &seq));
  EXPECT_FALSE(ParseSnapshotFileName("snapshot-0000000000000000004x.snap", &seq));
}

TEST_F(SnapshotTest, RoundTripKeepsSeqTimeAndSectionsInOrderIncludingEmptyAndLarge) {
  Random rng(7);
  constexpr size_t kLargeBytes = size_t{5} << 20;
  const std::vector<SnapshotSection> sections = {
      {"item_id_map", RandomBytes(rng, 1000)},
      {"empty", ""},
      {"mf", RandomBytes(rng, kLargeBytes)},
      {std::string(kMaxSnapshotSectionNameBytes, 'n'), RandomBytes(rng, 3)},
      {"", "payload of a section with an empty name"},
  };
  const std::string path = Write(123456, sections, -5);
  EXPECT_EQ(fs::file_size(path), ExpectedFileBytes(sections));
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->last_applied_seq, 123456u);
  EXPECT_EQ(snapshot->created_unix_ms, -5);
  ExpectSameSections(*snapshot, sections);
  ASSERT_NE(snapshot->Find("mf"), nullptr);
  EXPECT_EQ(snapshot->Find("mf")->payload.size(), kLargeBytes);
  ASSERT_NE(snapshot->Find("empty"), nullptr);
  EXPECT_TRUE(snapshot->Find("empty")->payload.empty());
  EXPECT_EQ(snapshot->Find("absent"), nullptr);
}

TEST_F(SnapshotTest, SnapshotWithoutSectionsRoundTrips) {
  const std::string path = Write(0, {});
  EXPECT_EQ(fs::file_size(path), kSnapshotHeaderBytes + kSnapshotFooterBytes);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->last_applied_seq, 0u);
  EXPECT_TRUE(snapshot->sections.empty());
}

// Decodes the written bytes field by field against the spec, so that the format is pinned down
// by the test and not only by the code's agreement with itself.
TEST_F(SnapshotTest, BytesOnDiskFollowTheSpec) {
  const std::string path = Write(9, {{"ab", "xyz"}}, 1234);
  const std::string bytes = ReadFile(path);
  ASSERT_EQ(bytes.size(), 36u + (4 + 2 + 8 + 4 + 3) + 20);
  const char* p = bytes.data();
  EXPECT_EQ(std::string_view(p, 8), "LRECSNAP");
  EXPECT_EQ(DecodeFixed<uint32_t>(p + 8), 1u);
  EXPECT_EQ(DecodeFixed<uint64_t>(p + 12), 9u);
  EXPECT_EQ(DecodeFixed<uint64_t>(p + 20), 1234u);
  EXPECT_EQ(DecodeFixed<uint32_t>(p + 28), 1u);
  EXPECT_EQ(UnmaskCrc32c(DecodeFixed<uint32_t>(p + 32)), Crc32c(p, 32));
  EXPECT_EQ(DecodeFixed<uint32_t>(p + 36), 2u);
  EXPECT_EQ(std::string_view(p + 40, 2), "ab");
  EXPECT_EQ(DecodeFixed<uint64_t>(p + 42), 3u);
  EXPECT_EQ(UnmaskCrc32c(DecodeFixed<uint32_t>(p + 50)), Crc32c("abxyz", 5));
  EXPECT_EQ(std::string_view(p + 54, 3), "xyz");
  EXPECT_EQ(DecodeFixed<uint64_t>(p + 57), bytes.size());
  EXPECT_EQ(UnmaskCrc32c(DecodeFixed<uint32_t>(p + 65)), Crc32c(p, 65));
  EXPECT_EQ(std::string_view(p + 69, 8), "LRECSEND");
}

TEST_F(SnapshotTest, ListingIsNewestFirstWithSizesAndTimesAndIgnoresOtherFiles) {
  Write(5, {{"a", "1"}}, 500);
  Write(100, {{"a", "12"}}, 1000);
  Write(20, {{"a", "123"}}, 200);
  WriteFile(dir_ + "/notes.txt", "x");
  WriteFile(dir_ + "/snapshot-7.snap", "x");
  WriteFile(dir_ + "/" + SnapshotFileName(99) + ".tmp", "x");

  StatusOr<std::vector<SnapshotInfo>> infos = ListSnapshots(dir_);
  ASSERT_TRUE(infos.ok()) << infos.status().ToString();
  ASSERT_EQ(infos->size(), 3u);
  const uint64_t seqs[] = {100, 20, 5};
  const int64_t times[] = {1000, 200, 500};
  const uint64_t payload_bytes[] = {2, 3, 1};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*infos)[i].last_applied_seq, seqs[i]);
    EXPECT_EQ((*infos)[i].created_unix_ms, times[i]);
    EXPECT_EQ((*infos)[i].path, dir_ + "/" + SnapshotFileName(seqs[i]));
    EXPECT_EQ((*infos)[i].size_bytes,
              ExpectedFileBytes({{"a", std::string(payload_bytes[i], 'x')}}));
  }
}

TEST_F(SnapshotTest, MissingDirectoryListsEmptyAndHasNoValidSnapshot) {
  EXPECT_TRUE(ListedSeqs().empty());
  std::vector<std::string> skipped;
  StatusOr<Snapshot> snapshot = ReadNewestValidSnapshot(dir_, &skipped);
  EXPECT_EQ(snapshot.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(skipped.empty());
  EXPECT_TRUE(DeleteSnapshotsBefore(dir_, 100, 0).ok());
}

TEST_F(SnapshotTest, TruncationAtEveryByteIsCorruption) {
  const std::string path = Write(3, SmallSections());
  const std::string bytes = ReadFile(path);
  const std::string cut_dir = root_ + "/cut";
  fs::create_directory(cut_dir);
  const std::string cut_path = cut_dir + "/" + SnapshotFileName(3);
  for (size_t size = 0; size < bytes.size(); ++size) {
    WriteFile(cut_path, std::string_view(bytes).substr(0, size));
    StatusOr<Snapshot> snapshot = ReadSnapshot(cut_path);
    ASSERT_EQ(snapshot.status().code(), StatusCode::kCorruption) << "size " << size;
    EXPECT_NE(snapshot.status().message().find(cut_path + ": offset "), std::string::npos)
        << snapshot.status().message();
  }
}

TEST_F(SnapshotTest, FlippedByteAtEveryOffsetIsCorruption) {
  const std::string path = Write(3, SmallSections());
  const std::string bytes = ReadFile(path);
  const std::string bad_dir = root_ + "/bad";
  fs::create_directory(bad_dir);
  const std::string bad_path = bad_dir + "/" + SnapshotFileName(3);
  for (size_t offset = 0; offset < bytes.size(); ++offset) {
    for (const unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string damaged = bytes;
      damaged[offset] = static_cast<char>(damaged[offset] ^ mask);
      WriteFile(bad_path, damaged);
      StatusOr<Snapshot> snapshot = ReadSnapshot(bad_path);
      ASSERT_EQ(snapshot.status().code(), StatusCode::kCorruption)
          << "offset " << offset << " mask " << int{mask};
    }
  }
}

TEST_F(SnapshotTest, ErrorsNameTheFileOffsetAndCheck) {
  const std::string path = Write(3, SmallSections());
  std::string bytes = ReadFile(path);
  // The payload "counts" of the first section starts after header, u32, "popularity", u64, u32.
  const size_t payload_offset = kSnapshotHeaderBytes + 4 + 10 + 8 + 4;
  ASSERT_EQ(bytes.substr(payload_offset, 6), "counts");
  bytes[payload_offset] = 'C';
  WriteFile(path, bytes);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  EXPECT_EQ(snapshot.status().message(), path + ": offset " + std::to_string(kSnapshotHeaderBytes) +
                                             ": section 0: CRC mismatch");
}

TEST_F(SnapshotTest, UnknownVersionIsRefusedEvenWithAValidHeaderCrc) {
  const std::string path = Write(3, SmallSections());
  std::string bytes = ReadFile(path);
  EncodeFixed<uint32_t>(bytes.data() + kSnapshotVersionOffset, kSealedSnapshotFormatVersion + 1);
  EncodeFixed<uint32_t>(bytes.data() + kSnapshotHeaderCrcOffset,
                        MaskCrc32c(Crc32c(bytes.data(), kSnapshotHeaderCrcOffset)));
  WriteFile(path, bytes);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
  EXPECT_NE(snapshot.status().message().find("unsupported snapshot format version 3"),
            std::string::npos)
      << snapshot.status().message();
}

TEST_F(SnapshotTest, SeqThatDiffersFromTheFileNameIsRefused) {
  const std::string path = Write(3, SmallSections());
  const std::string renamed = dir_ + "/" + SnapshotFileName(4);
  fs::rename(path, renamed);
  StatusOr<Snapshot> snapshot = ReadSnapshot(renamed);
  EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
  EXPECT_NE(snapshot.status().message().find("header last applied seq 3 differs from the file "
                                             "name's 4"),
            std::string::npos)
      << snapshot.status().message();
  // And a path that is no snapshot name at all is the caller's mistake.
  const std::string other = dir_ + "/copy.snap";
  fs::copy_file(renamed, other);
  EXPECT_EQ(ReadSnapshot(other).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SnapshotTest, NewestValidSnapshotFallsBackPastCorruptOnesAndReportsThem) {
  Write(10, {{"state", "old"}});
  const std::string middle = Write(20, {{"state", "middle"}});
  const std::string newest = Write(30, {{"state", "new"}});
  std::string bytes = ReadFile(newest);
  bytes[bytes.size() - 1] ^= 1;  // end magic
  WriteFile(newest, bytes);
  WriteFile(middle, ReadFile(middle).substr(0, 40));  // truncated

  std::vector<std::string> skipped;
  StatusOr<Snapshot> snapshot = ReadNewestValidSnapshot(dir_, &skipped);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->last_applied_seq, 10u);
  ASSERT_NE(snapshot->Find("state"), nullptr);
  EXPECT_EQ(snapshot->Find("state")->payload, "old");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0].rfind(newest + ": ", 0), 0u) << skipped[0];
  EXPECT_NE(skipped[0].find("bad end magic"), std::string::npos) << skipped[0];
  EXPECT_EQ(skipped[1].rfind(middle + ": ", 0), 0u) << skipped[1];

  // With every snapshot corrupt there is none to load.
  WriteFile(dir_ + "/" + SnapshotFileName(10), "");
  skipped.clear();
  EXPECT_EQ(ReadNewestValidSnapshot(dir_, &skipped).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(skipped.size(), 3u);
  EXPECT_EQ(ReadNewestValidSnapshot(dir_, nullptr).status().code(), StatusCode::kNotFound);
}

TEST_F(SnapshotTest, LeftoverTempFileIsIgnoredAndDeletedByTheNextWrite) {
  Write(1, {{"state", "one"}});
  // A crash mid-write leaves a partial temporary file of a newer snapshot.
  const std::string temp = dir_ + "/" + SnapshotFileName(2) + ".tmp";
  WriteFile(temp, ReadFile(dir_ + "/" + SnapshotFileName(1)).substr(0, 30));
  EXPECT_EQ(ListedSeqs(), std::vector<uint64_t>{1});
  StatusOr<Snapshot> snapshot = ReadNewestValidSnapshot(dir_, nullptr);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->last_applied_seq, 1u);

  Write(3, {{"state", "three"}});
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(ListedSeqs(), (std::vector<uint64_t>{3, 1}));
}

TEST_F(SnapshotTest, SnapshotWithTheSameSeqIsNeverOverwritten) {
  const std::string path = Write(8, {{"state", "first"}});
  const Status status = WriteSnapshot(dir_, 8, 0, std::vector<SnapshotSection>{{"state", "x"}});
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists) << status.ToString();
  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->sections[0].payload, "first");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(SnapshotTest, InvalidSectionsAreRefusedAndNothingIsWritten) {
  const std::vector<SnapshotSection> long_name = {
      {std::string(kMaxSnapshotSectionNameBytes + 1, 'n'), "x"}};
  EXPECT_EQ(WriteSnapshot(dir_, 1, 0, long_name).code(), StatusCode::kInvalidArgument);
  const std::vector<SnapshotSection> repeated = {{"a", "1"}, {"a", "2"}};
  EXPECT_EQ(WriteSnapshot(dir_, 1, 0, repeated).code(), StatusCode::kInvalidArgument);
  std::vector<SnapshotSection> too_many(size_t{kMaxSnapshotSections} + 1);
  for (size_t i = 0; i < too_many.size(); ++i) too_many[i].name = std::to_string(i);
  EXPECT_EQ(WriteSnapshot(dir_, 1, 0, too_many).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::is_empty(dir_));  // neither a snapshot nor its temporary file

  too_many.pop_back();  // exactly the limit is fine
  const std::string path = Write(1, too_many);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->sections.size(), kMaxSnapshotSections);
}

// A state written the way the engine writes it: each section's payload produced piece by piece
// (small fields, and vectors larger than the write buffers), straight into the file.
TEST_F(SnapshotTest, StreamedSectionsReadBackAndMatchTheSameSectionsWrittenWhole) {
  Random rng(5);
  const std::string big = RandomBytes(rng, (size_t{3} << 20) + 17);  // beyond every buffer
  std::vector<uint32_t> many(300000);
  for (uint32_t& v : many) v = static_cast<uint32_t>(rng.Next());
  const auto produce = [&](BinaryWriter* out, int variant) {
    for (int i = 0; i < 100000; ++i) out->Put<uint32_t>(static_cast<uint32_t>(i * variant));
    out->PutString(big);
    out->PutVector(many);
    out->Put<uint8_t>(7);
  };
  StatusOr<std::unique_ptr<SnapshotWriter>> writer = SnapshotWriter::Create(dir_, 9, 1234);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Add("small", [](BinaryWriter* out) { out->PutString("x"); }).ok());
  ASSERT_TRUE((*writer)->Add("first", [&](BinaryWriter* out) { produce(out, 1); }).ok());
  ASSERT_TRUE((*writer)->Add("empty", [](BinaryWriter*) {}).ok());
  ASSERT_TRUE((*writer)->Add("second", [&](BinaryWriter* out) { produce(out, 3); }).ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  const std::string streamed = ReadFile(dir_ + "/" + SnapshotFileName(9));
  EXPECT_EQ((*writer)->size_bytes(), streamed.size());

  // The same sections, each serialized in memory first, written whole by WriteSnapshot to
  // another directory: the files are equal byte for byte, so every CRC joined from pieces is
  // the one computed in one pass.
  SectionCollector collected;
  ASSERT_TRUE(collected.Add("small", [](BinaryWriter* out) { out->PutString("x"); }).ok());
  ASSERT_TRUE(collected.Add("first", [&](BinaryWriter* out) { produce(out, 1); }).ok());
  ASSERT_TRUE(collected.Add("empty", [](BinaryWriter*) {}).ok());
  ASSERT_TRUE(collected.Add("second", [&](BinaryWriter* out) { produce(out, 3); }).ok());
  const std::string other = root_ + "/whole";
  ASSERT_TRUE(WriteSnapshot(other, 9, 1234, collected.sections()).ok());
  EXPECT_TRUE(ReadFile(other + "/" + SnapshotFileName(9)) == streamed);

  StatusOr<Snapshot> snapshot = ReadSnapshot(dir_ + "/" + SnapshotFileName(9));
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  ExpectSameSections(*snapshot, collected.sections());
}

TEST_F(SnapshotTest, AWriterDroppedBeforeCommitLeavesNothing) {
  {
    StatusOr<std::unique_ptr<SnapshotWriter>> writer = SnapshotWriter::Create(dir_, 3, 0);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Add("a", [](BinaryWriter* out) { out->PutString("payload"); }).ok());
  }
  EXPECT_TRUE(fs::is_empty(dir_));
  // After a refused section, later ones and Commit report the same error and write nothing.
  StatusOr<std::unique_ptr<SnapshotWriter>> writer = SnapshotWriter::Create(dir_, 3, 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Add("a", [](BinaryWriter*) {}).ok());
  EXPECT_EQ((*writer)->Add("a", [](BinaryWriter*) {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->Add("b", [](BinaryWriter*) {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->Commit().code(), StatusCode::kInvalidArgument);
  writer->reset();
  EXPECT_TRUE(fs::is_empty(dir_));
}

// Lengths and counts beyond the limits are Corruption on read, even with every CRC recomputed
// so that only the limit check can catch them.
TEST_F(SnapshotTest, CountAndNameLengthAboveTheLimitsAreCorruption) {
  const std::string path = Write(3, {{"a", "1"}});
  const std::string bytes = ReadFile(path);

  std::string too_many = bytes;
  EncodeFixed<uint32_t>(too_many.data() + kSnapshotNumSectionsOffset, kMaxSnapshotSections + 1);
  EncodeFixed<uint32_t>(too_many.data() + kSnapshotHeaderCrcOffset,
                        MaskCrc32c(Crc32c(too_many.data(), kSnapshotHeaderCrcOffset)));
  WriteFile(path, too_many);
  StatusOr<Snapshot> snapshot = ReadSnapshot(path);
  EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
  EXPECT_NE(snapshot.status().message().find("65537 sections, at most 65536"), std::string::npos)
      << snapshot.status().message();

  std::string long_name = bytes;
  EncodeFixed<uint32_t>(long_name.data() + kSnapshotHeaderBytes, kMaxSnapshotSectionNameBytes + 1);
  WriteFile(path, long_name);
  snapshot = ReadSnapshot(path);
  EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
  EXPECT_NE(snapshot.status().message().find("name length 257 above 256"), std::string::npos)
      << snapshot.status().message();
}

TEST_F(SnapshotTest, RetentionDeletesOlderSnapshotsButKeepsTheNewestN) {
  for (uint64_t seq : {10, 20, 30, 40, 50}) Write(seq, {{"s", std::to_string(seq)}});
  // Below 45 are 10..40, but the newest three (50, 40, 30) stay.
  ASSERT_TRUE(DeleteSnapshotsBefore(dir_, 45, 3).ok());
  EXPECT_EQ(ListedSeqs(), (std::vector<uint64_t>{50, 40, 30}));
  // Nothing below 30 is left to delete; 30 itself is not below 30.
  ASSERT_TRUE(DeleteSnapshotsBefore(dir_, 30, 0).ok());
  EXPECT_EQ(ListedSeqs(), (std::vector<uint64_t>{50, 40, 30}));
  ASSERT_TRUE(DeleteSnapshotsBefore(dir_, 1000, 1).ok());
  EXPECT_EQ(ListedSeqs(), std::vector<uint64_t>{50});
  ASSERT_TRUE(DeleteSnapshotsBefore(dir_, 1000, 0).ok());
  EXPECT_TRUE(ListedSeqs().empty());
}

}  // namespace
}  // namespace liverec
