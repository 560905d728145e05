// RowJournal: the rows of a model's parameters moved since a mark, each with its values at the
// mark: what a model learning in rounds (model/capabilities.h RoundLearner) needs to tell its
// change over a round and to go back to the round's start.
//
// A row is `width` floats the model gathers from wherever it keeps them (an embedding row and
// its bias, say). Before a row's first change after Begin, the model records it:
//   if (journal.active() && !journal.Contains(row)) Gather(row, journal.Add(row));
// Cost: one flag test per change, and width floats copied per distinct row a round moves.
//
// Row deltas travel as bytes (RowDeltaWriter / ReadRowDeltas): u32 width, u64 rows, then per
// row a u32 row number and `width` floats, the row's value now minus its value at the mark.
// Thread safety: none; the owner serializes it with its learning.
#ifndef LIVEREC_EMBED_ROW_JOURNAL_H_
#define LIVEREC_EMBED_ROW_JOURNAL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "common/serialize.h"
#include "liverec/status.h"

namespace liverec {

class RowJournal {
 public:
  explicit RowJournal(size_t width) : width_(width) {}

  size_t width() const { return width_; }
  bool active() const { return active_; }

  // Marks now: forgets every row recorded and records from here on.
  void Begin();
  // Stops recording and forgets every row recorded.
  void Stop();

  bool Contains(uint32_t row) const { return row < recorded_.size() && recorded_[row] != 0; }
  // Records `row` (requires !Contains(row)) and returns where its width floats at the mark go.
  float* Add(uint32_t row);

  // Rows recorded since Begin, in the order of their first change.
  size_t size() const { return rows_.size(); }
  uint32_t row(size_t k) const { return rows_[k]; }
  const float* before(size_t k) const { return before_.data() + k * width_; }

 private:
  size_t width_;
  bool active_ = false;
  std::vector<uint8_t> recorded_;  // by row number
  std::vector<uint32_t> rows_;
  std::vector<float> before_;  // width floats per entry of rows_
};

// Writes the rows `journal` recorded as a delta: `gather(row, out)` writes the row's width floats
// now, and the delta holds them minus the recorded ones. A recorded row whose values are back
// where they were (or never left: a row created at its initial value) is left out, so that a
// delta names only the rows its partition moved.
void WriteRowDelta(const RowJournal& journal,
                   const std::function<void(uint32_t row, float* out)>& gather, BinaryWriter* out);

// Reads a delta WriteRowDelta wrote: calls `visit(row, delta)` for each of its rows in order.
// Corruption on truncated or trailing bytes, and when its width is not `width` or a row number
// is `row_limit` or more (nothing visited then: the whole delta is checked first).
Status ReadRowDelta(std::string_view bytes, size_t width, uint32_t row_limit,
                    const std::function<void(uint32_t row, const float* delta)>& visit);

// How many of `deltas` (each WriteRowDelta's bytes, already accepted by ReadRowDelta with
// this width) name each row: (*movers)[row], resized to cover every row named, 0 for the rows
// none names. For a model that moves a row several partitions moved in one round by the mean
// of their changes (mf).
void CountRowMovers(std::span<const std::string_view> deltas, size_t width,
                    std::vector<uint32_t>* movers);

}  // namespace liverec

#endif  // LIVEREC_EMBED_ROW_JOURNAL_H_
