#include "store/log_rewrite.h"

#include <memory>
#include <vector>

#include "store/log_format.h"
#include "store/log_reader.h"
#include "store/log_record.h"
#include "store/posix_file.h"

namespace liverec {
namespace {

constexpr unsigned kSegmentFileMode = 0644;

}  // namespace

StatusOr<LogRewriteStats> RewriteLogRecords(
    const std::string& dir, uint64_t before_seq, std::shared_ptr<const Keyring> keys,
    const std::function<bool(uint64_t seq, std::string_view payload, std::string* replacement)>&
        edit) {
  LogRewriteStats stats;
  LIVEREC_ASSIGN_OR_RETURN(std::vector<LogSegmentFile> segments, ListLogSegments(dir));
  std::string replacement;
  // Segment i holds [first_seq(i), first_seq(i + 1)): closed before before_seq iff
  // first_seq(i + 1) <= before_seq. The last segment is the writer's and never read.
  for (size_t i = 0; i + 1 < segments.size() && segments[i + 1].first_seq <= before_seq; ++i) {
    const uint64_t end_seq = segments[i + 1].first_seq;
    LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader,
                             LogReader::Open(dir, segments[i].first_seq, keys));
    std::string bytes(kLogSegmentHeaderBytes, '\0');  // the header goes in last: its kind
    std::unique_ptr<Sealer> sealer;
    bool changed = false;
    LogRecord record;
    while (true) {
      LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&record));
      if (!more || record.seq >= end_seq) break;
      if (reader->segment_sealed() && sealer == nullptr) {
        if (keys == nullptr || keys->current() == nullptr) {
          return FailedPrecondition(segments[i].path +
                                    " is sealed: rewriting it needs storage.key_file");
        }
        sealer = std::make_unique<Sealer>(*keys->current());
      }
      ++stats.records_read;
      std::string_view payload = record.payload;
      if (edit(record.seq, payload, &replacement)) {
        changed = true;
        ++stats.records_replaced;
        if (stats.first_replaced_seq == 0) stats.first_replaced_seq = record.seq;
        payload = replacement;
      }
      EncodeLogRecord(record.seq, payload, sealer.get(), &bytes);
    }
    if (!changed) continue;
    EncodeLogSegmentHeader(segments[i].first_seq, sealer != nullptr, bytes.data());
    LIVEREC_RETURN_IF_ERROR(ReplaceFileDurably(segments[i].path, bytes, kSegmentFileMode));
    ++stats.segments_rewritten;
  }
  return stats;
}

}  // namespace liverec
