// RowAdmission: which dense id owns which row of an embedding table, with memory bounded on a
// stream of endless new ids.
//
// A model keeps one RowAdmission per id space (users, items) beside its EmbeddingTable and its
// per-row arrays (biases, counts); this class decides which id owns which row and never touches
// the rows' contents. Two modes, fixed by the options:
//
//   dense    (min_count <= 1, idle_ttl_ms == 0): row = id. The rows cover every id touched
//            and every id below it; nothing is counted or evicted.
//   bounded  (otherwise): when min_count > 1, every touch is counted in a count-min sketch of
//            fixed size (Cormode & Muthukrishnan 2005, with conservative update) whose counters
//            all halve after every kHalvingTouches touches (the reset of TinyLFU, Einziger et
//            al. 2017); an id without a row gets one on the touch that brings its estimated
//            count to min_count, so it must reach min_count within about kHalvingTouches to
//            2 * kHalvingTouches touches of its id space. A row whose id has not been touched
//            for more than idle_ttl_ms of stream time is evicted: the id has no row again, and
//            the row goes to a free list that the next admitted ids take from (last freed
//            first) before new rows are added. An evicted id that comes back while its count is
//            still at min_count gets a row on its first touch.
//
// Rows are stable: an id keeps its row from admission to eviction. Every row below num_rows()
// is live (owned) or free. The live rows also form a dense list, live_row(0 .. num_live()-1),
// so that a uniform draw over live rows (negative sampling) is one random index.
//
// Stream time: the clock is the largest time_ms touched so far, never wall time. An older touch
// (batch epochs shuffle events) stamps its id with the clock, so idle times never go negative.
//
// Costs (bounded): Find is one probe sequence of an open-addressing hash (load <= 1/2); Touch
// is O(1) amortized: the rows are kept in a list ordered by last touch, eviction pops from its
// old end, and a halving (one pass over the sketch) comes once per kHalvingTouches touches.
// Memory: the sketch (kSketchDepth << kSketchWidthBits bytes, 1 MiB, only when min_count > 1)
// plus about 40 bytes per row; rows never exceed the peak number of ids live at once (those
// admitted and touched within idle_ttl_ms), whatever the number of distinct ids. Without an
// idle TTL nothing is evicted, and rows grow with the ids that reach min_count.
//
// Determinism: the state is a function of the sequence of touches; Save/Load round-trip it bit
// for bit (the hash index is not saved but rebuilt, and lookups do not depend on its layout).
//
// Thread safety: const methods may run concurrently with each other, never with Touch/Load.
#ifndef LIVEREC_EMBED_ROW_ADMISSION_H_
#define LIVEREC_EMBED_ROW_ADMISSION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/serialize.h"
#include "common/types.h"
#include "liverec/status.h"

namespace liverec {

struct AdmissionOptions {
  uint32_t min_count = 1;   // touches an id needs to get a row; at most kMaxMinCount
  int64_t idle_ttl_ms = 0;  // evict rows idle for longer than this; 0 = never
};

class RowAdmission {
 public:
  static constexpr uint32_t kNoRow = kInvalidId;
  static constexpr uint32_t kMaxMinCount = 255;  // the sketch's counters are 8 bits
  static constexpr uint32_t kSketchDepth = 4;
  static constexpr uint32_t kSketchWidthBits = 18;
  // A quarter of the sketch's width: between halvings each counter takes at most 1/4 of a
  // foreign touch on average, so a one-off id reads as counted before with probability below
  // 0.3 % (all four of its counters hit).
  static constexpr uint64_t kHalvingTouches = uint64_t{1} << (kSketchWidthBits - 2);

  // The outcome of Touch. `fresh` marks a row that was just given to the id (bounded mode
  // only): its contents belong to an evicted id or to no one, and the owner must reset them.
  struct Touched {
    uint32_t row = kNoRow;
    bool fresh = false;
  };

  // Requires 1 <= min_count <= kMaxMinCount (0 counts as 1) and idle_ttl_ms >= 0.
  explicit RowAdmission(const AdmissionOptions& options);

  bool dense() const { return dense_; }
  const AdmissionOptions& options() const { return options_; }

  // The row of `id`, or kNoRow when it has none (never admitted, or evicted).
  uint32_t Find(uint32_t id) const {
    if (dense_) return id < num_rows_ ? id : kNoRow;
    for (size_t s = SlotOf(id);; s = (s + 1) & slot_mask_) {
      if (slots_[s].id == id) return slots_[s].row;
      if (slots_[s].id == kInvalidId) return kNoRow;
    }
  }

  // Records an occurrence of `id` at stream time `time_ms`: first evicts every row idle for
  // longer than idle_ttl_ms at the new clock (the id's own row included), then counts the id
  // and admits it if due. Returns its row (kNoRow while it has none). After it, the owner's
  // tables need num_rows() rows. Requires id != kInvalidId.
  Touched Touch(uint32_t id, int64_t time_ms);

  // Frees the row of `id` as an eviction does (bounded mode; dense mode has nothing to free:
  // the owner resets row `id` itself) and returns it, or kNoRow when the id has none. The
  // sketch keeps the id's count, which it cannot take back (conservative update): like a hash
  // collision, the id's next owner may be admitted a few touches early.
  uint32_t Forget(uint32_t id);

  // Rows the owner's tables must have: every row below is live or free.
  size_t num_rows() const { return num_rows_; }
  // Rows owned by an id.
  size_t num_live() const { return dense_ ? num_rows_ : live_.size(); }
  // The k-th live row, k < num_live(); live_position(live_row(k)) == k.
  uint32_t live_row(size_t k) const { return dense_ ? static_cast<uint32_t>(k) : live_[k]; }
  // Requires `row` to be live.
  uint32_t live_position(uint32_t row) const { return dense_ ? row : live_position_[row]; }
  // The id owning `row`, or kInvalidId for a free row. Requires row < num_rows().
  uint32_t id_of_row(uint32_t row) const { return dense_ ? row : id_of_row_[row]; }
  // The largest time_ms touched so far (INT64_MIN before the first touch).
  int64_t clock_ms() const { return clock_ms_; }
  // Rows evicted since construction (bounded mode).
  uint64_t num_evicted() const { return num_evicted_; }

  // Heap bytes held (capacities, the sketch included).
  size_t MemoryBytes() const;

  void Save(BinaryWriter* out) const;
  // Replaces the state with what Save wrote. Corruption on foreign, truncated or inconsistent
  // bytes; InvalidArgument when the bytes were saved in the other mode (dense vs bounded).
  // The options stay this object's (they are policy, not state). On error, unchanged.
  Status Load(BinaryReader* in);

 private:
  struct Slot {
    uint32_t id = kInvalidId;
    uint32_t row = kNoRow;
  };

  // Fibonacci hashing: the top bits of id * 2^64 / phi spread consecutive ids evenly.
  size_t SlotOf(uint32_t id) const {
    return static_cast<size_t>((uint64_t{id} * 0x9e3779b97f4a7c15ULL) >> slot_shift_);
  }
  void InsertSlot(uint32_t id, uint32_t row);
  void EraseSlot(uint32_t id);
  void GrowSlots();

  void LinkAtNewEnd(uint32_t row);
  void Unlink(uint32_t row);
  void EvictIdle();
  void Evict(uint32_t row);
  uint32_t Admit(uint32_t id);

  // Adds one touch of `id` to the sketch; returns its estimated count, this touch included.
  uint32_t Count(uint32_t id);
  void HalveSketch();

  AdmissionOptions options_;
  bool dense_;
  int64_t clock_ms_;
  size_t num_rows_ = 0;
  uint64_t num_evicted_ = 0;

  // Bounded mode. Per row: owner, last touch and the links of the list ordered by last touch
  // (oldest_ -> newest_ through next_); kNoRow ends it.
  std::vector<uint32_t> id_of_row_;
  std::vector<int64_t> touched_ms_;
  std::vector<uint32_t> prev_;
  std::vector<uint32_t> next_;
  std::vector<uint32_t> live_position_;
  uint32_t oldest_ = kNoRow;
  uint32_t newest_ = kNoRow;
  std::vector<uint32_t> live_;
  std::vector<uint32_t> free_;  // a stack
  // id -> row, linear probing; capacity a power of two, at least twice the live rows.
  std::vector<Slot> slots_;
  size_t slot_mask_ = 0;
  int slot_shift_ = 63;

  // The sketch: kSketchDepth rows of 2^kSketchWidthBits counters (empty when min_count <= 1).
  std::vector<uint8_t> counters_;
  uint64_t touches_since_halving_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_EMBED_ROW_ADMISSION_H_
