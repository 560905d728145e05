// Tests of the event log (LogWriter, LogReader, DeleteSegmentsBefore) on real files in a fresh
// temporary directory, with real fsyncs.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/random.h"
#include "store/crc32c.h"
#include "store/log_format.h"
#include "store/log_reader.h"
#include "store/log_record.h"
#include "store/log_rewrite.h"
#include "store/log_writer.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

namespace fs = std::filesystem;

using testing::RandomBytes;
using testing::ReadFile;
using testing::ReadLog;
using testing::ReadResult;
using testing::WriteFile;

// Bytes a record with this payload takes in a segment.
uint64_t RecordBytes(const std::string& payload) { return kLogRecordHeaderBytes + payload.size(); }

class LogTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    dir_ = root_ + "/log";
  }

  // Writes `payloads` as records of a log in dir_ and closes the writer.
  void WriteLog(const std::vector<std::string>& payloads, const LogWriterOptions& options) {
    StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, options);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    for (const std::string& payload : payloads) {
      StatusOr<uint64_t> seq = (*writer)->Append(payload);
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    }
    ASSERT_TRUE((*writer)->Close().ok());
  }

  // Expects the records of `result` to be exactly payloads[0, count) with seqs 1..count.
  static void ExpectPrefix(const ReadResult& result, const std::vector<std::string>& payloads,
                           size_t count) {
    ASSERT_EQ(result.records.size(), count);
    for (size_t i = 0; i < count; ++i) {
      EXPECT_EQ(result.records[i].first, i + 1);
      EXPECT_TRUE(result.records[i].second == payloads[i]) << "record " << i + 1;
    }
  }

  std::vector<LogSegmentFile> Segments() const {
    StatusOr<std::vector<LogSegmentFile>> segments = ListLogSegments(dir_);
    EXPECT_TRUE(segments.ok());
    return segments.ok() ? *segments : std::vector<LogSegmentFile>{};
  }

  std::string dir_;
};

LogWriterOptions SmallSegments(uint64_t segment_size_bytes) {
  LogWriterOptions options;
  options.segment_size_bytes = segment_size_bytes;
  options.sync = LogSyncPolicy::kNever;
  return options;
}

TEST_F(LogTest, WrittenRecordsReadBackIdenticalWithDenseSeqs) {
  Random rng(1);
  std::vector<std::string> payloads;
  payloads.push_back("");
  payloads.push_back(RandomBytes(rng, kMaxLogPayloadBytes));
  payloads.push_back(RandomBytes(rng, 1 << 20));
  for (int i = 0; i < 300; ++i) payloads.push_back(RandomBytes(rng, rng.Uniform(2000)));
  payloads.push_back("");
  WriteLog(payloads, LogWriterOptions());

  const ReadResult result = ReadLog(dir_, 0);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectPrefix(result, payloads, payloads.size());
  EXPECT_EQ(result.torn_tail_bytes, 0u);
  // One segment (64 MiB default) whose size is the header plus every record.
  ASSERT_EQ(Segments().size(), 1u);
  uint64_t expected_size = kLogSegmentHeaderBytes;
  for (const std::string& p : payloads) expected_size += RecordBytes(p);
  EXPECT_EQ(fs::file_size(Segments()[0].path), expected_size);
  EXPECT_EQ(fs::path(Segments()[0].path).filename(), "log-00000000000000000001.seg");
}

TEST_F(LogTest, ReopenedWriterContinuesTheSequence) {
  const std::vector<std::string> first = {"a", "bb", "ccc"};
  WriteLog(first, LogWriterOptions());
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, LogWriterOptions());
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_EQ((*writer)->last_appended_seq(), 3u);
  EXPECT_EQ((*writer)->last_synced_seq(), 3u);
  EXPECT_EQ((*writer)->dropped_tail_bytes(), 0u);
  StatusOr<uint64_t> seq = (*writer)->Append("dddd");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4u);
  const std::vector<std::string_view> batch = {"e", "", "ggg"};
  uint64_t first_seq = 0;
  ASSERT_TRUE((*writer)->AppendBatch(batch, &first_seq).ok());
  EXPECT_EQ(first_seq, 5u);
  EXPECT_EQ((*writer)->last_appended_seq(), 7u);
  ASSERT_TRUE((*writer)->Close().ok());

  const ReadResult result = ReadLog(dir_, 1);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectPrefix(result, {"a", "bb", "ccc", "dddd", "e", "", "ggg"}, 7);
}

TEST_F(LogTest, MissingDirectoryOrEmptyLogReadsAsZeroRecords) {
  ReadResult result = ReadLog(root_ + "/does-not-exist", 0);
  EXPECT_TRUE(result.status.ok());
  EXPECT_TRUE(result.records.empty());

  WriteLog({}, LogWriterOptions());  // a header-only segment
  result = ReadLog(dir_, 0);
  EXPECT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_TRUE(result.records.empty());
  EXPECT_EQ(result.torn_tail_bytes, 0u);
}

TEST_F(LogTest, ForeignFilesInTheDirectoryAreIgnored) {
  WriteLog({"x", "y"}, LogWriterOptions());
  WriteFile(dir_ + "/README", "not a segment");
  WriteFile(dir_ + "/log-1.seg", "too few digits");
  WriteFile(dir_ + "/log-00000000000000000009.seg.tmp", "wrong suffix");
  WriteFile(dir_ + "/log-0000000000000000000x.seg", "not digits");
  const ReadResult result = ReadLog(dir_, 0);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectPrefix(result, {"x", "y"}, 2);
}

TEST_F(LogTest, SmallSegmentSizeRollsToNewSegments) {
  constexpr uint64_t kSegmentBytes = 1000;
  Random rng(2);
  std::vector<std::string> payloads;
  for (int i = 0; i < 100; ++i) payloads.push_back(RandomBytes(rng, 100));
  WriteLog(payloads, SmallSegments(kSegmentBytes));

  // Each segment is cut before the record that would follow >= 1000 bytes: header 24 plus
  // 9 records of 118 bytes = 1086, so 9 records per segment, first seqs 1, 10, 19, ...
  const std::vector<LogSegmentFile> segments = Segments();
  ASSERT_EQ(segments.size(), 12u);
  for (size_t i = 0; i < segments.size(); ++i) {
    EXPECT_EQ(segments[i].first_seq, 1 + 9 * i);
    EXPECT_LE(fs::file_size(segments[i].path), kSegmentBytes + RecordBytes(payloads[0]));
  }
  const ReadResult result = ReadLog(dir_, 0);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectPrefix(result, payloads, payloads.size());

  // A reopened writer continues in the last segment and keeps rolling.
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, SmallSegments(kSegmentBytes));
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 20; ++i) {
    payloads.push_back(RandomBytes(rng, 100));
    ASSERT_TRUE((*writer)->Append(payloads.back()).ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ(Segments().size(), 14u);
  ExpectPrefix(ReadLog(dir_, 0), payloads, payloads.size());
}

TEST_F(LogTest, ReadingFromASeqStartsExactlyThere) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 50; ++i) payloads.push_back("record " + std::to_string(i + 1));
  WriteLog(payloads, SmallSegments(200));
  ASSERT_GT(Segments().size(), 3u);
  for (uint64_t from : {0, 1, 2, 7, 8, 9, 25, 49, 50}) {
    const ReadResult result = ReadLog(dir_, from);
    ASSERT_TRUE(result.status.ok()) << result.status.ToString();
    const uint64_t first = from == 0 ? 1 : from;
    ASSERT_EQ(result.records.size(), 50 - first + 1) << "from " << from;
    for (size_t i = 0; i < result.records.size(); ++i) {
      EXPECT_EQ(result.records[i].first, first + i);
      EXPECT_EQ(result.records[i].second, payloads[first + i - 1]);
    }
  }
  EXPECT_TRUE(ReadLog(dir_, 51).records.empty());
  EXPECT_TRUE(ReadLog(dir_, UINT64_MAX).records.empty());
}

TEST_F(LogTest, TruncatedTailAtEveryByteOfTheLastRecordIsDroppedAndRepaired) {
  Random rng(3);
  std::vector<std::string> payloads;
  for (int i = 0; i < 10; ++i) payloads.push_back(RandomBytes(rng, 30));
  WriteLog(payloads, LogWriterOptions());
  const std::string path = Segments()[0].path;
  const std::string original = ReadFile(path);
  const uint64_t last_start = original.size() - RecordBytes(payloads.back());

  for (uint64_t cut = last_start; cut < original.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    WriteFile(path, std::string_view(original).substr(0, cut));
    const ReadResult result = ReadLog(dir_, 0);
    ASSERT_TRUE(result.status.ok()) << result.status.ToString();
    ExpectPrefix(result, payloads, payloads.size() - 1);
    EXPECT_EQ(result.torn_tail_bytes, cut - last_start);

    StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, LogWriterOptions());
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    EXPECT_EQ((*writer)->dropped_tail_bytes(), cut - last_start);
    EXPECT_EQ(fs::file_size(path), last_start);
    EXPECT_EQ((*writer)->last_appended_seq(), payloads.size() - 1);
    StatusOr<uint64_t> seq = (*writer)->Append("after the crash");
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, payloads.size());
    ASSERT_TRUE((*writer)->Close().ok());

    std::vector<std::string> expected(payloads.begin(), payloads.end() - 1);
    expected.push_back("after the crash");
    const ReadResult repaired = ReadLog(dir_, 0);
    ASSERT_TRUE(repaired.status.ok()) << repaired.status.ToString();
    ExpectPrefix(repaired, expected, expected.size());
    EXPECT_EQ(repaired.torn_tail_bytes, 0u);
  }
}

TEST_F(LogTest, ShortLastSegmentIsATornTailAndTheWriterRemovesIt) {
  std::vector<std::string> payloads = {"one", "two", "three"};
  WriteLog(payloads, LogWriterOptions());
  // A crash right after creating the next segment: its header is cut short.
  const std::string torn_path = dir_ + "/" + LogSegmentFileName(4);
  WriteFile(torn_path, std::string(kLogSegmentMagic.substr(0, 5)));
  ReadResult result = ReadLog(dir_, 0);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectPrefix(result, payloads, 3);
  EXPECT_EQ(result.torn_tail_bytes, 5u);

  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, LogWriterOptions());
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_EQ((*writer)->dropped_tail_bytes(), 5u);
  EXPECT_FALSE(fs::exists(torn_path));
  StatusOr<uint64_t> seq = (*writer)->Append("four");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4u);
  ASSERT_TRUE((*writer)->Close().ok());
  payloads.push_back("four");
  ExpectPrefix(ReadLog(dir_, 0), payloads, 4);
}

TEST_F(LogTest, FlippedByteInAMiddleRecordIsCorruptionNamingFileOffsetAndSeq) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 10; ++i) payloads.push_back(std::string(20, static_cast<char>('a' + i)));
  WriteLog(payloads, LogWriterOptions());
  const std::string path = Segments()[0].path;
  const std::string original = ReadFile(path);
  // Record 5 starts after the segment header and 4 records of 38 bytes.
  const uint64_t record5 = kLogSegmentHeaderBytes + 4 * RecordBytes(payloads[0]);
  for (uint64_t offset_in_record : {uint64_t{0}, kLogRecordLengthOffset, kLogRecordSeqOffset,
                                    kLogRecordTypeOffset, kLogRecordHeaderBytes + 7}) {
    SCOPED_TRACE("byte " + std::to_string(offset_in_record) + " of record 5");
    std::string damaged = original;
    damaged[record5 + offset_in_record] ^= 0x40;
    WriteFile(path, damaged);
    const ReadResult result = ReadLog(dir_, 0);
    EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
    EXPECT_NE(result.status.message().find(path), std::string::npos) << result.status.message();
    EXPECT_NE(result.status.message().find("offset " + std::to_string(record5)), std::string::npos)
        << result.status.message();
    EXPECT_NE(result.status.message().find("seq 5"), std::string::npos) << result.status.message();
    ExpectPrefix(result, payloads, 4);  // the records before the damage are still delivered

    // The writer must not append after damage it cannot classify as a torn tail.
    StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, LogWriterOptions());
    EXPECT_EQ(writer.status().code(), StatusCode::kCorruption);
  }
}

TEST_F(LogTest, FlippedByteInTheLastRecordIsATornTail) {
  std::vector<std::string> payloads = {"first", "second", "third and last"};
  WriteLog(payloads, LogWriterOptions());
  const std::string path = Segments()[0].path;
  std::string damaged = ReadFile(path);
  damaged[damaged.size() - 3] ^= 0x01;
  WriteFile(path, damaged);
  const ReadResult result = ReadLog(dir_, 0);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ExpectPrefix(result, payloads, 2);
  EXPECT_EQ(result.torn_tail_bytes, RecordBytes(payloads[2]));
}

TEST_F(LogTest, ImpossibleLengthFollowedByValidRecordsIsCorruption) {
  std::vector<std::string> payloads = {"aaaa", "bbbb", "cccc"};
  WriteLog(payloads, LogWriterOptions());
  const std::string path = Segments()[0].path;
  std::string damaged = ReadFile(path);
  const uint64_t record2 = kLogSegmentHeaderBytes + RecordBytes(payloads[0]);
  EncodeFixed<uint32_t>(damaged.data() + record2 + kLogRecordLengthOffset, kMaxLogPayloadBytes + 1);
  WriteFile(path, damaged);
  const ReadResult result = ReadLog(dir_, 0);
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find("impossible payload length"), std::string::npos);
  ExpectPrefix(result, payloads, 1);
}

TEST_F(LogTest, BadRecordAtTheEndOfANonLastSegmentIsCorruption) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 30; ++i) payloads.push_back("payload " + std::to_string(i));
  WriteLog(payloads, SmallSegments(150));
  const std::vector<LogSegmentFile> segments = Segments();
  ASSERT_GT(segments.size(), 2u);
  std::string damaged = ReadFile(segments[0].path);
  damaged.back() ^= 0x01;  // last payload byte of the first segment's last record
  WriteFile(segments[0].path, damaged);
  ReadResult result = ReadLog(dir_, 0);
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find(segments[0].path), std::string::npos);

  damaged.pop_back();  // a cut-short record in a non-last segment is no torn tail either
  WriteFile(segments[0].path, damaged);
  result = ReadLog(dir_, 0);
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
}

TEST_F(LogTest, BadSegmentHeaderIsCorruption) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 30; ++i) payloads.push_back("payload " + std::to_string(i));
  WriteLog(payloads, SmallSegments(150));
  const std::vector<LogSegmentFile> segments = Segments();
  ASSERT_GT(segments.size(), 2u);
  for (const LogSegmentFile* segment : {&segments.front(), &segments.back()}) {
    const std::string original = ReadFile(segment->path);
    for (size_t byte : {size_t{0}, kLogSegmentVersionOffset, kLogSegmentFirstSeqOffset,
                        kLogSegmentHeaderCrcOffset}) {
      SCOPED_TRACE(segment->path + " header byte " + std::to_string(byte));
      std::string damaged = original;
      damaged[byte] ^= 0x02;
      WriteFile(segment->path, damaged);
      const ReadResult result = ReadLog(dir_, 0);
      EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
      EXPECT_NE(result.status.message().find(segment->path + ": offset 0"), std::string::npos)
          << result.status.message();
    }
    WriteFile(segment->path, original);
  }
  ExpectPrefix(ReadLog(dir_, 0), payloads, payloads.size());
}

TEST_F(LogTest, UnknownFormatVersionIsRejected) {
  WriteLog({"r"}, LogWriterOptions());
  const std::string path = Segments()[0].path;
  std::string bytes = ReadFile(path);
  // A well-formed header of a future version, checksum included.
  EncodeFixed<uint32_t>(bytes.data() + kLogSegmentVersionOffset, kSealedLogFormatVersion + 1);
  EncodeFixed<uint32_t>(bytes.data() + kLogSegmentHeaderCrcOffset,
                        MaskCrc32c(Crc32c(bytes.data(), kLogSegmentHeaderCrcOffset)));
  WriteFile(path, bytes);
  const ReadResult result = ReadLog(dir_, 0);
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find("unsupported log format version 3"), std::string::npos)
      << result.status.message();
}

TEST_F(LogTest, SequenceGapBetweenSegmentsIsCorruption) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 30; ++i) payloads.push_back("payload " + std::to_string(i));
  WriteLog(payloads, SmallSegments(150));
  const std::vector<LogSegmentFile> segments = Segments();
  ASSERT_GT(segments.size(), 3u);
  fs::remove(segments[1].path);
  const ReadResult result = ReadLog(dir_, 0);
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find(segments[2].path), std::string::npos);
  EXPECT_NE(result.status.message().find("sequence gap between segments"), std::string::npos)
      << result.status.message();
  EXPECT_EQ(result.records.size(), segments[1].first_seq - 1);
}

TEST_F(LogTest, SequenceGapInsideASegmentIsCorruption) {
  WriteLog({"a", "b", "c"}, LogWriterOptions());
  const std::string path = Segments()[0].path;
  std::string bytes = ReadFile(path);
  // Rewrite record 2 as a well-formed record that carries seq 3.
  const uint64_t record2 = kLogSegmentHeaderBytes + RecordBytes("a");
  std::string record;
  EncodeLogRecord(3, "b", nullptr, &record);
  bytes.replace(record2, record.size(), record);
  WriteFile(path, bytes);
  const ReadResult result = ReadLog(dir_, 0);
  EXPECT_EQ(result.status.code(), StatusCode::kCorruption);
  EXPECT_NE(result.status.message().find("record carries seq 3"), std::string::npos);
}

TEST_F(LogTest, PayloadAboveTheMaximumIsInvalidArgumentAndWritesNothing) {
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, LogWriterOptions());
  ASSERT_TRUE(writer.ok());
  const std::string too_big(kMaxLogPayloadBytes + 1, 'x');
  EXPECT_EQ((*writer)->Append(too_big).status().code(), StatusCode::kInvalidArgument);
  const std::vector<std::string_view> batch = {"fine", too_big};
  uint64_t first_seq = 0;
  EXPECT_EQ((*writer)->AppendBatch(batch, &first_seq).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->last_appended_seq(), 0u);
  StatusOr<uint64_t> seq = (*writer)->Append("ok");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 1u);
  ASSERT_TRUE((*writer)->Close().ok());
  ExpectPrefix(ReadLog(dir_, 0), {"ok"}, 1);
}

TEST_F(LogTest, AlwaysPolicySyncsEveryAppend) {
  LogWriterOptions options;
  options.sync = LogSyncPolicy::kAlways;
  options.segment_size_bytes = 100;
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, options);
  ASSERT_TRUE(writer.ok());
  for (uint64_t i = 1; i <= 20; ++i) {
    ASSERT_TRUE((*writer)->Append("payload").ok());
    EXPECT_EQ((*writer)->last_appended_seq(), i);
    EXPECT_EQ((*writer)->last_synced_seq(), i);
    EXPECT_FALSE((*writer)->SyncDue(1'000'000));
  }
}

TEST_F(LogTest, NeverPolicySyncsOnlyWhenAsked) {
  LogWriterOptions options;
  options.sync = LogSyncPolicy::kNever;
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, options);
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*writer)->Append("payload").ok());
  EXPECT_EQ((*writer)->last_appended_seq(), 5u);
  EXPECT_EQ((*writer)->last_synced_seq(), 0u);
  EXPECT_FALSE((*writer)->SyncDue(1'000'000));
  // Flushed but unsynced records are visible to a reader (they are in the page cache).
  ASSERT_TRUE((*writer)->Flush().ok());
  EXPECT_EQ(ReadLog(dir_, 0).records.size(), 5u);
  ASSERT_TRUE((*writer)->Sync().ok());
  EXPECT_EQ((*writer)->last_synced_seq(), 5u);
}

TEST_F(LogTest, IntervalPolicySyncIsDueAfterTheIntervalFromFirstSeenUnsyncedRecord) {
  LogWriterOptions options;
  options.sync = LogSyncPolicy::kInterval;
  options.sync_interval_ms = 50;
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, options);
  ASSERT_TRUE(writer.ok());
  LogWriter& w = **writer;
  EXPECT_FALSE(w.SyncDue(1000));  // nothing appended
  ASSERT_TRUE(w.Append("a").ok());
  EXPECT_EQ(w.last_synced_seq(), 0u);
  EXPECT_FALSE(w.SyncDue(2000));  // first sight of the unsynced record: the clock starts
  ASSERT_TRUE(w.Append("b").ok());
  EXPECT_FALSE(w.SyncDue(2049));
  EXPECT_TRUE(w.SyncDue(2050));
  EXPECT_TRUE(w.SyncDue(2100));
  ASSERT_TRUE(w.Sync().ok());
  EXPECT_EQ(w.last_synced_seq(), 2u);
  EXPECT_FALSE(w.SyncDue(5000));  // all synced
  ASSERT_TRUE(w.Append("c").ok());
  EXPECT_FALSE(w.SyncDue(6000));  // the clock restarts for the new record
  EXPECT_FALSE(w.SyncDue(6010));
  EXPECT_TRUE(w.SyncDue(6050));
}

TEST_F(LogTest, SecondWriterOnTheSameDirectoryIsRefused) {
  StatusOr<std::unique_ptr<LogWriter>> first = LogWriter::Open(dir_, LogWriterOptions());
  ASSERT_TRUE(first.ok());
  StatusOr<std::unique_ptr<LogWriter>> second = LogWriter::Open(dir_, LogWriterOptions());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  first->reset();
  StatusOr<std::unique_ptr<LogWriter>> third = LogWriter::Open(dir_, LogWriterOptions());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST_F(LogTest, ClosedWriterRefusesAppends) {
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, LogWriterOptions());
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ((*writer)->Append("late").status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(LogTest, RewriteReplacesChosenRecordsOfClosedSegmentsOnly) {
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, SmallSegments(150));
  ASSERT_TRUE(writer.ok());
  for (int i = 1; i <= 30; ++i) {
    ASSERT_TRUE((*writer)->Append((i % 3 == 0 ? "secret " : "plain ") + std::to_string(i)).ok());
  }
  // Record 31 onwards goes to a new segment, which the rewrite must not touch.
  StatusOr<uint64_t> end = (*writer)->StartNewSegment();
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 31u);
  EXPECT_EQ(*(*writer)->StartNewSegment(), 31u);  // an empty segment stays
  ASSERT_TRUE((*writer)->Append("secret 31").ok());
  const size_t segments = Segments().size();

  StatusOr<LogRewriteStats> stats = RewriteLogRecords(
      dir_, *end, nullptr, [](uint64_t seq, std::string_view payload, std::string* replacement) {
        if (!payload.starts_with("secret")) return false;
        *replacement = "erased " + std::to_string(seq);
        return true;
      });
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->records_read, 30u);
  EXPECT_EQ(stats->records_replaced, 10u);
  EXPECT_EQ(stats->first_replaced_seq, 3u);
  EXPECT_GT(stats->segments_rewritten, 0u);
  EXPECT_EQ(Segments().size(), segments);  // no file left beside them

  // The writer appends on; every record reads back in order, the chosen ones replaced.
  ASSERT_TRUE((*writer)->Append("plain 32").ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ReadResult result = ReadLog(dir_, 0);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ASSERT_EQ(result.records.size(), 32u);
  for (int i = 1; i <= 30; ++i) {
    EXPECT_EQ(result.records[i - 1].second,
              (i % 3 == 0 ? "erased " : "plain ") + std::to_string(i));
  }
  EXPECT_EQ(result.records[30].second, "secret 31");
  EXPECT_EQ(result.records[31].second, "plain 32");
  // A reopened writer resumes after the rewritten segments.
  writer->reset();  // releases the directory's lock
  StatusOr<std::unique_ptr<LogWriter>> reopened = LogWriter::Open(dir_, SmallSegments(150));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(*(*reopened)->Append("plain 33"), 33u);
}

TEST_F(LogTest, DeleteSegmentsBeforeKeepsTheSegmentHoldingTheSeq) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 50; ++i) payloads.push_back("payload " + std::to_string(i));
  WriteLog(payloads, SmallSegments(150));
  const std::vector<LogSegmentFile> before = Segments();
  ASSERT_GT(before.size(), 4u);
  // A seq inside segment 2 (not its first record): segments 0 and 1 go.
  const uint64_t seq = before[2].first_seq + 1;
  ASSERT_LT(seq, before[3].first_seq);
  ASSERT_TRUE(DeleteSegmentsBefore(dir_, seq).ok());
  std::vector<LogSegmentFile> after = Segments();
  ASSERT_EQ(after.size(), before.size() - 2);
  EXPECT_EQ(after[0].first_seq, before[2].first_seq);
  // Reading from seq still works; reading from the start begins at the first kept record.
  ReadResult result = ReadLog(dir_, seq);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ASSERT_FALSE(result.records.empty());
  EXPECT_EQ(result.records.front().first, seq);
  EXPECT_EQ(result.records.back().first, 50u);
  EXPECT_EQ(ReadLog(dir_, 0).records.front().first, before[2].first_seq);

  // The first seq of a segment keeps that segment; a seq past the end keeps the last one.
  ASSERT_TRUE(DeleteSegmentsBefore(dir_, before[3].first_seq).ok());
  EXPECT_EQ(Segments().front().first_seq, before[3].first_seq);
  ASSERT_TRUE(DeleteSegmentsBefore(dir_, UINT64_MAX).ok());
  after = Segments();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].first_seq, before.back().first_seq);
  EXPECT_TRUE(DeleteSegmentsBefore(root_ + "/missing", 10).ok());

  // The writer continues the sequence after deletion.
  StatusOr<std::unique_ptr<LogWriter>> writer = LogWriter::Open(dir_, SmallSegments(150));
  ASSERT_TRUE(writer.ok());
  StatusOr<uint64_t> next = (*writer)->Append("next");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 51u);
}

TEST_F(LogTest, RandomCorruptionNeverCrashesTheReader) {
  Random rng(20261123);
  std::vector<std::string> payloads;
  for (int i = 0; i < 60; ++i) payloads.push_back(RandomBytes(rng, rng.Uniform(120)));
  WriteLog(payloads, SmallSegments(600));
  const std::vector<LogSegmentFile> segments = Segments();
  ASSERT_GT(segments.size(), 3u);
  std::vector<std::string> originals;
  for (const LogSegmentFile& segment : segments) originals.push_back(ReadFile(segment.path));

  constexpr int kIterations = 200;
  std::map<StatusCode, int> outcomes;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    SCOPED_TRACE("iteration " + std::to_string(iteration));
    std::vector<std::string> files = originals;
    const uint32_t num_flips = 1 + rng.Uniform(3);
    for (uint32_t f = 0; f < num_flips; ++f) {
      std::string& file = files[rng.Uniform(static_cast<uint32_t>(files.size()))];
      file[rng.Uniform(static_cast<uint32_t>(file.size()))] ^=
          static_cast<char>(1 + rng.Uniform(255));
    }
    for (size_t i = 0; i < files.size(); ++i) WriteFile(segments[i].path, files[i]);

    const ReadResult result = ReadLog(dir_, 0);
    ++outcomes[result.status.code()];
    EXPECT_TRUE(result.status.ok() || result.status.code() == StatusCode::kCorruption)
        << result.status.ToString();
    // Whatever is delivered is correct: a prefix of what was written.
    ASSERT_LE(result.records.size(), payloads.size());
    ExpectPrefix(result, payloads, result.records.size());
    // A single damaged byte can only pass as a torn tail when it hit the very last record.
    if (result.status.ok() && num_flips == 1) {
      EXPECT_GE(result.records.size(), payloads.size() - 1);
    }
  }
  EXPECT_GT(outcomes[StatusCode::kCorruption], kIterations / 2);
}

}  // namespace
}  // namespace liverec
