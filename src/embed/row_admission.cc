#include "embed/row_admission.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/random.h"

namespace liverec {
namespace {

constexpr uint32_t kTag = 0x4d444152;  // "RADM" in little-endian bytes
constexpr uint32_t kVersion = 1;

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
constexpr size_t kMinSlots = 16;
constexpr size_t kSketchWidth = size_t{1} << RowAdmission::kSketchWidthBits;
constexpr size_t kSketchBytes = RowAdmission::kSketchDepth * kSketchWidth;

template <typename T>
size_t HeapBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

Status Inconsistent(const std::string& what) { return Corruption("row admission state: " + what); }

}  // namespace

RowAdmission::RowAdmission(const AdmissionOptions& options)
    : options_(options),
      dense_(options.min_count <= 1 && options.idle_ttl_ms == 0),
      clock_ms_(kNoTime) {
  LIVEREC_CHECK(options.min_count <= kMaxMinCount && options.idle_ttl_ms >= 0)
      << "min_count " << options.min_count << ", idle_ttl_ms " << options.idle_ttl_ms;
  if (dense_) return;
  slots_.resize(kMinSlots);
  slot_mask_ = kMinSlots - 1;
  slot_shift_ = 64 - std::countr_zero(kMinSlots);
  if (options_.min_count > 1) counters_.assign(kSketchBytes, 0);
}

RowAdmission::Touched RowAdmission::Touch(uint32_t id, int64_t time_ms) {
  LIVEREC_CHECK(id != kInvalidId) << "touch of the invalid id";
  clock_ms_ = std::max(clock_ms_, time_ms);
  if (dense_) {
    if (id >= num_rows_) num_rows_ = size_t{id} + 1;
    return {id, false};
  }
  EvictIdle();
  // Ids with rows are counted too: a frequent id that is evicted and comes back within the
  // sketch's memory gets a row again at once.
  const bool counting = options_.min_count > 1;
  if (counting && touches_since_halving_ >= kHalvingTouches) HalveSketch();
  const uint32_t count = counting ? Count(id) : 0;
  if (const uint32_t row = Find(id); row != kNoRow) {
    touched_ms_[row] = clock_ms_;
    if (row != newest_) {
      Unlink(row);
      LinkAtNewEnd(row);
    }
    return {row, false};
  }
  if (counting && count < options_.min_count) return {};
  return {Admit(id), true};
}

// The list is ordered by last touch because every touch stamps the clock, which never goes
// back, and moves its row to the new end; so the idle rows are a prefix of it.
void RowAdmission::EvictIdle() {
  if (options_.idle_ttl_ms == 0) return;
  while (oldest_ != kNoRow && clock_ms_ - touched_ms_[oldest_] > options_.idle_ttl_ms) {
    Evict(oldest_);
  }
}

uint32_t RowAdmission::Forget(uint32_t id) {
  const uint32_t row = Find(id);
  if (dense_ || row == kNoRow) return row;
  Evict(row);
  return row;
}

void RowAdmission::Evict(uint32_t row) {
  EraseSlot(id_of_row_[row]);
  Unlink(row);
  // Swap-remove from the live list; the row that moves keeps its contents, only its position
  // in the list changes.
  const uint32_t position = live_position_[row];
  const uint32_t moved = live_.back();
  live_[position] = moved;
  live_position_[moved] = position;
  live_.pop_back();
  live_position_[row] = kNoRow;
  id_of_row_[row] = kInvalidId;
  free_.push_back(row);
  ++num_evicted_;
}

uint32_t RowAdmission::Admit(uint32_t id) {
  uint32_t row;
  if (!free_.empty()) {
    row = free_.back();
    free_.pop_back();
  } else {
    LIVEREC_CHECK(num_rows_ < kNoRow) << "row admission: out of 32-bit rows";
    row = static_cast<uint32_t>(num_rows_++);
    id_of_row_.push_back(kInvalidId);
    touched_ms_.push_back(kNoTime);
    prev_.push_back(kNoRow);
    next_.push_back(kNoRow);
    live_position_.push_back(kNoRow);
  }
  InsertSlot(id, row);
  id_of_row_[row] = id;
  touched_ms_[row] = clock_ms_;
  live_position_[row] = static_cast<uint32_t>(live_.size());
  live_.push_back(row);
  LinkAtNewEnd(row);
  return row;
}

void RowAdmission::LinkAtNewEnd(uint32_t row) {
  prev_[row] = newest_;
  next_[row] = kNoRow;
  if (newest_ != kNoRow) {
    next_[newest_] = row;
  } else {
    oldest_ = row;
  }
  newest_ = row;
}

void RowAdmission::Unlink(uint32_t row) {
  const uint32_t before = prev_[row];
  const uint32_t after = next_[row];
  (before != kNoRow ? next_[before] : oldest_) = after;
  (after != kNoRow ? prev_[after] : newest_) = before;
  prev_[row] = kNoRow;
  next_[row] = kNoRow;
}

void RowAdmission::InsertSlot(uint32_t id, uint32_t row) {
  if (2 * (live_.size() + 1) > slots_.size()) GrowSlots();
  size_t s = SlotOf(id);
  while (slots_[s].id != kInvalidId) s = (s + 1) & slot_mask_;
  slots_[s] = Slot{id, row};
}

void RowAdmission::GrowSlots() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.size() * 2, Slot{});
  slot_mask_ = slots_.size() - 1;
  slot_shift_ = 64 - std::countr_zero(slots_.size());
  for (const Slot& slot : old) {
    if (slot.id == kInvalidId) continue;
    size_t s = SlotOf(slot.id);
    while (slots_[s].id != kInvalidId) s = (s + 1) & slot_mask_;
    slots_[s] = slot;
  }
}

// Backward-shift deletion (Knuth, TAOCP 6.4, algorithm R): no tombstones, so probe sequences
// stay as short as the load allows however many ids come and go.
void RowAdmission::EraseSlot(uint32_t id) {
  size_t hole = SlotOf(id);
  while (slots_[hole].id != id) hole = (hole + 1) & slot_mask_;
  for (size_t s = (hole + 1) & slot_mask_; slots_[s].id != kInvalidId; s = (s + 1) & slot_mask_) {
    // The entry at s may fill the hole unless its home lies cyclically in (hole, s].
    const size_t home = SlotOf(slots_[s].id);
    const bool stays = hole <= s ? (hole < home && home <= s) : (hole < home || home <= s);
    if (stays) continue;
    slots_[hole] = slots_[s];
    hole = s;
  }
  slots_[hole] = Slot{};
}

// Eight counters per 64-bit word: shift the word and clear the bit each counter got from its
// neighbour.
void RowAdmission::HalveSketch() {
  constexpr uint64_t kLowSevenBits = 0x7f7f7f7f7f7f7f7fULL;
  for (size_t i = 0; i < counters_.size(); i += sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, &counters_[i], sizeof(word));
    word = (word >> 1) & kLowSevenBits;
    std::memcpy(&counters_[i], &word, sizeof(word));
  }
  touches_since_halving_ = 0;
}

// Conservative update (Estan & Varghese 2002): only the counters at the current minimum grow,
// which keeps the estimate an upper bound of the true count while adding less noise.
uint32_t RowAdmission::Count(uint32_t id) {
  const uint64_t h = SplitMix64(id);
  const auto h1 = static_cast<uint32_t>(h);
  const auto h2 = static_cast<uint32_t>(h >> 32) | 1u;  // odd: the depth rows differ
  uint8_t* cells[kSketchDepth];
  uint8_t least = std::numeric_limits<uint8_t>::max();
  for (uint32_t d = 0; d < kSketchDepth; ++d) {
    const size_t column = (h1 + d * h2) & (kSketchWidth - 1);
    cells[d] = &counters_[d * kSketchWidth + column];
    least = std::min(least, *cells[d]);
  }
  ++touches_since_halving_;
  if (least == std::numeric_limits<uint8_t>::max()) return least;
  for (uint8_t* cell : cells) {
    if (*cell == least) ++*cell;
  }
  return uint32_t{least} + 1;
}

size_t RowAdmission::MemoryBytes() const {
  return HeapBytes(id_of_row_) + HeapBytes(touched_ms_) + HeapBytes(prev_) + HeapBytes(next_) +
         HeapBytes(live_position_) + HeapBytes(live_) + HeapBytes(free_) + HeapBytes(slots_) +
         HeapBytes(counters_);
}

// Format (version 1): tag, version, u8 dense, i64 clock_ms, u64 num_rows, u64 num_evicted;
// bounded mode only: u32 vectors id_of_row (kInvalidId for free rows), then i64 touched_ms,
// then u32 vectors live rows (in list order), free rows (bottom of the stack first) and the
// live rows from least to most recently touched; u64 touches since the last halving, u8
// vector of sketch counters (empty when min_count <= 1).
void RowAdmission::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kTag);
  out->Put<uint32_t>(kVersion);
  out->Put<uint8_t>(dense_ ? 1 : 0);
  out->Put<int64_t>(clock_ms_);
  out->Put<uint64_t>(num_rows_);
  out->Put<uint64_t>(num_evicted_);
  if (dense_) return;
  out->PutVector(id_of_row_);
  out->PutVector(touched_ms_);
  out->PutVector(live_);
  out->PutVector(free_);
  std::vector<uint32_t> order;
  order.reserve(live_.size());
  for (uint32_t row = oldest_; row != kNoRow; row = next_[row]) order.push_back(row);
  out->PutVector(order);
  out->Put<uint64_t>(touches_since_halving_);
  out->PutVector(counters_);
}

Status RowAdmission::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kTag, kVersion, "row admission"));
  uint8_t dense = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&dense));
  if (dense > 1) return Inconsistent("mode byte " + std::to_string(dense));
  if ((dense == 1) != dense_) {
    return InvalidArgument(std::string("row admission state was saved ") +
                           (dense == 1 ? "dense (min_count 1, no idle TTL)" : "bounded") +
                           ", the options ask for " + (dense_ ? "dense" : "bounded"));
  }
  RowAdmission loaded(options_);
  uint64_t num_rows = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.clock_ms_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_rows));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.num_evicted_));
  if (num_rows > kNoRow) return Inconsistent(std::to_string(num_rows) + " rows");
  loaded.num_rows_ = num_rows;
  if (dense_) {
    *this = std::move(loaded);
    return Status::Ok();
  }

  std::vector<uint32_t> order;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.id_of_row_));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.touched_ms_));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.live_));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.free_));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&order));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.touches_since_halving_));
  std::vector<uint8_t> counters;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&counters));

  if (loaded.id_of_row_.size() != num_rows || loaded.touched_ms_.size() != num_rows ||
      loaded.live_.size() + loaded.free_.size() != num_rows ||
      order.size() != loaded.live_.size()) {
    return Inconsistent(
        std::to_string(num_rows) + " rows with " + std::to_string(loaded.id_of_row_.size()) +
        " owners, " + std::to_string(loaded.touched_ms_.size()) + " touch times, " +
        std::to_string(loaded.live_.size()) + " live, " + std::to_string(loaded.free_.size()) +
        " free and " + std::to_string(order.size()) + " in touch order");
  }
  // Live and free rows must partition [0, num_rows): distinct, in range, owned iff live.
  loaded.live_position_.assign(num_rows, kNoRow);
  loaded.prev_.assign(num_rows, kNoRow);
  loaded.next_.assign(num_rows, kNoRow);
  std::vector<uint8_t> seen(num_rows, 0);
  for (size_t k = 0; k < loaded.live_.size(); ++k) {
    const uint32_t row = loaded.live_[k];
    if (row >= num_rows || seen[row] != 0 || loaded.id_of_row_[row] == kInvalidId) {
      return Inconsistent("live row " + std::to_string(row) + " is out of range, repeated or " +
                          "has no owner");
    }
    seen[row] = 1;
    loaded.live_position_[row] = static_cast<uint32_t>(k);
    if (loaded.Find(loaded.id_of_row_[row]) != kNoRow) {
      return Inconsistent("id " + std::to_string(loaded.id_of_row_[row]) + " owns two rows");
    }
    loaded.InsertSlot(loaded.id_of_row_[row], row);
  }
  for (const uint32_t row : loaded.free_) {
    if (row >= num_rows || seen[row] != 0 || loaded.id_of_row_[row] != kInvalidId) {
      return Inconsistent("free row " + std::to_string(row) + " is out of range, repeated or " +
                          "owned");
    }
    seen[row] = 2;
  }
  for (const uint32_t row : order) {
    if (row >= num_rows || seen[row] != 1) {
      return Inconsistent("touch order names row " + std::to_string(row) + ", not live or twice");
    }
    seen[row] = 3;
    if (loaded.newest_ != kNoRow && loaded.touched_ms_[row] < loaded.touched_ms_[loaded.newest_]) {
      return Inconsistent("touch order goes back in time at row " + std::to_string(row));
    }
    loaded.LinkAtNewEnd(row);
  }
  // The sketch exists iff this object's min_count needs it; a changed min_count starts it
  // empty or drops it.
  if (!counters.empty() && counters.size() != kSketchBytes) {
    return Inconsistent("sketch of " + std::to_string(counters.size()) + " bytes, expected " +
                        std::to_string(kSketchBytes));
  }
  if (!loaded.counters_.empty() && !counters.empty()) loaded.counters_ = std::move(counters);
  *this = std::move(loaded);
  return Status::Ok();
}

}  // namespace liverec
