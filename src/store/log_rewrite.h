// RewriteLogRecords: replaces the payloads of chosen records in the closed segments of an
// event log, keeping every sequence number (what a user's deletion does to the records that
// name the user; engine/engine_deletions.cc).
//
// A segment with a replaced record is written anew beside the old one, fsynced, renamed over
// it and the directory fsynced, so a crash leaves either the old or the new segment whole.
// Segments without a replaced record are not touched.
//
// Thread safety: one rewrite at a time per directory. The writer may append meanwhile, but only
// to segments the rewrite does not read: call LogWriter::StartNewSegment first and pass its
// sequence number as `before_seq`. Readers opened before a rename keep reading the old segment.
#ifndef LIVEREC_STORE_LOG_REWRITE_H_
#define LIVEREC_STORE_LOG_REWRITE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "liverec/status.h"
#include "store/sealing.h"

namespace liverec {

struct LogRewriteStats {
  uint64_t records_read = 0;
  uint64_t records_replaced = 0;
  uint64_t segments_rewritten = 0;
  uint64_t first_replaced_seq = 0;  // 0: none
};

// For every record of `dir` in a segment that ends before `before_seq`, calls
// edit(seq, payload, &replacement); a true return replaces the payload by `replacement`. A
// segment that reaches `before_seq` or beyond is neither read nor rewritten. A segment keeps its
// kind: a sealed one is sealed again under the current key of `keys` (which opens it too).
// Errors: the reader's (Corruption, IOError, FailedPrecondition for a missing key), IOError
// naming the file for a failed write, FailedPrecondition for a sealed segment without a current
// key; `edit` cannot fail.
StatusOr<LogRewriteStats> RewriteLogRecords(
    const std::string& dir, uint64_t before_seq, std::shared_ptr<const Keyring> keys,
    const std::function<bool(uint64_t seq, std::string_view payload, std::string* replacement)>&
        edit);

}  // namespace liverec

#endif  // LIVEREC_STORE_LOG_REWRITE_H_
