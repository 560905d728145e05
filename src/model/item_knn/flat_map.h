// FlatMap: an open-addressing hash map from uint32_t keys to float values, the sparse neighbour
// list of one item in item_knn.
//
// Layout: one block of capacity() slots {key, value}; capacity() is 0 (nothing allocated) or a
// power of two >= kMinCapacity. Empty slots hold kEmptyKey and value 0. A key's home slot is the
// top log2(capacity) bits of key * 2^32/phi (Fibonacci hashing), so runs of consecutive ids, which
// co-occur often (items that appeared together), spread over the table instead of clustering;
// collisions probe linearly. The table doubles before its load would pass kMaxLoadTenths / 10.
// There is no single-key erase (co-occurrence counts only grow or decay; KeepLargest and EraseIf
// rebuild the table), so probing needs no tombstones, and the capacity is a function of size()
// alone.
//
// Thread safety: const methods may run concurrently; mutation needs exclusive access.
#ifndef LIVEREC_MODEL_ITEM_KNN_FLAT_MAP_H_
#define LIVEREC_MODEL_ITEM_KNN_FLAT_MAP_H_

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/serialize.h"
#include "liverec/status.h"

namespace liverec {

class FlatMap {
 public:
  static constexpr uint32_t kEmptyKey = 0xffffffffu;  // never a key (it is kInvalidId)
  static constexpr uint32_t kMinCapacity = 4;
  static constexpr uint32_t kMaxLoadTenths = 7;

  struct Slot {
    uint32_t key;
    float value;
  };

  FlatMap() = default;
  FlatMap(const FlatMap& other) { CopyFrom(other); }
  FlatMap& operator=(const FlatMap& other) {
    if (this != &other) CopyFrom(other);
    return *this;
  }
  FlatMap(FlatMap&& other) noexcept
      : slots_(std::move(other.slots_)), size_(other.size_), capacity_(other.capacity_) {
    other.size_ = 0;
    other.capacity_ = 0;
  }
  FlatMap& operator=(FlatMap&& other) noexcept {
    slots_ = std::move(other.slots_);
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.size_ = 0;
    other.capacity_ = 0;
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }

  // The capacity a map reaches after `size` inserts (0 for 0).
  static uint32_t CapacityFor(size_t size) {
    if (size == 0) return 0;
    uint32_t capacity = kMinCapacity;
    while (size * 10 > size_t{capacity} * kMaxLoadTenths) capacity *= 2;
    return capacity;
  }

  // The most entries a table of `capacity` slots holds before it doubles.
  static size_t MaxSizeFor(uint32_t capacity) { return size_t{capacity} * kMaxLoadTenths / 10; }

  // Adds delta to the value of `key`, inserting it with value 0 first when absent.
  // Requires key != kEmptyKey.
  void Add(uint32_t key, float delta) {
    LIVEREC_DCHECK(key != kEmptyKey);
    if (capacity_ > 0) {
      const uint32_t mask = capacity_ - 1;
      uint32_t i = Home(key);
      for (; slots_[i].key != kEmptyKey; i = (i + 1) & mask) {
        if (slots_[i].key == key) {
          slots_[i].value += delta;
          return;
        }
      }
      // Absent. Growth is decided only now, on an actual insert, so that the capacity depends
      // on size() alone (Load checks it).
      if ((size_t{size_} + 1) * 10 <= size_t{capacity_} * kMaxLoadTenths) {
        slots_[i] = Slot{key, delta};
        ++size_;
        return;
      }
    }
    Grow();
    const uint32_t mask = capacity_ - 1;
    uint32_t i = Home(key);
    while (slots_[i].key != kEmptyKey) i = (i + 1) & mask;
    slots_[i] = Slot{key, delta};
    ++size_;
  }

  // Hints the CPU to fetch the slot where probing for `key` starts (no effect on contents).
  void Prefetch(uint32_t key) const {
    if (capacity_ > 0) __builtin_prefetch(&slots_[Home(key)]);
  }

  // The value of `key`, or nullptr when absent. Valid until the next Add.
  const float* Find(uint32_t key) const {
    if (capacity_ == 0) return nullptr;
    const uint32_t mask = capacity_ - 1;
    for (uint32_t i = Home(key);; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.value;
      if (slot.key == kEmptyKey) return nullptr;
    }
  }

  // The value of `key`, 0 when absent.
  float Get(uint32_t key) const {
    const float* value = Find(key);
    return value == nullptr ? 0.0f : *value;
  }

  // All capacity() slots, for branch-free scans: an empty slot has key kEmptyKey and value 0.
  std::span<const Slot> slots() const { return {slots_.get(), capacity_}; }

  // Calls fn(key, value) for every entry, in slot order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (uint32_t i = 0; i < capacity_; ++i) {
      const Slot& slot = slots_[i];
      if (slot.key != kEmptyKey) fn(slot.key, slot.value);
    }
  }

  // Multiplies every value by `factor`.
  void Scale(float factor) {
    for (uint32_t i = 0; i < capacity_; ++i) slots_[i].value *= factor;
  }

  // Sets every value below `threshold` to 0 (the entries stay).
  void FlushBelow(float threshold) {
    for (uint32_t i = 0; i < capacity_; ++i) {
      if (slots_[i].value < threshold) slots_[i].value = 0;
    }
  }

  // Keeps only the `n` entries with the largest values (ties: the lower key), in a table of
  // CapacityFor(n) slots. The new layout is a function of the old one (deterministic), not of
  // the order of earlier inserts alone. No-op when size() <= n.
  void KeepLargest(size_t n) {
    if (size_ <= n) return;
    thread_local std::vector<Slot> entries;
    entries.clear();
    ForEach([&](uint32_t key, float value) { entries.push_back(Slot{key, value}); });
    const auto stronger = [](const Slot& a, const Slot& b) {
      return a.value != b.value ? a.value > b.value : a.key < b.key;
    };
    std::nth_element(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(n), entries.end(),
                     stronger);
    entries.resize(n);
    Allocate(CapacityFor(n));
    const uint32_t mask = capacity_ - 1;
    for (const Slot& entry : entries) {
      uint32_t i = Home(entry.key);
      while (slots_[i].key != kEmptyKey) i = (i + 1) & mask;
      slots_[i] = entry;
    }
    size_ = static_cast<uint32_t>(n);
  }

  // Removes every entry whose key `erase(key)` accepts and returns how many went. When any
  // did, the rest move into a table of CapacityFor(size()) slots, in their old slot order (the
  // new layout a function of the old one, as in KeepLargest); otherwise nothing moves.
  template <typename Pred>
  size_t EraseIf(Pred&& erase) {
    size_t erased = 0;
    for (uint32_t i = 0; i < capacity_; ++i) {
      if (slots_[i].key != kEmptyKey && erase(slots_[i].key)) ++erased;
    }
    if (erased == 0) return 0;
    std::unique_ptr<Slot[]> old = std::move(slots_);
    const uint32_t old_capacity = capacity_;
    Allocate(CapacityFor(size_ - erased));
    const uint32_t mask = capacity_ - 1;
    for (uint32_t i = 0; i < old_capacity; ++i) {
      if (old[i].key == kEmptyKey || erase(old[i].key)) continue;
      uint32_t j = Home(old[i].key);
      while (slots_[j].key != kEmptyKey) j = (j + 1) & mask;
      slots_[j] = old[i];
      ++size_;
    }
    return erased;
  }
  size_t MemoryBytes() const { return size_t{capacity_} * sizeof(Slot); }

  // Writes capacity, size, then (slot index, key, value) for each entry in slot order: the
  // exact layout, so a loaded map probes, iterates and saves exactly like the saved one.
  void Save(BinaryWriter* out) const {
    out->Put<uint32_t>(capacity_);
    out->Put<uint32_t>(size_);
    for (uint32_t i = 0; i < capacity_; ++i) {
      if (slots_[i].key == kEmptyKey) continue;
      out->Put<uint32_t>(i);
      out->Put<uint32_t>(slots_[i].key);
      out->Put<float>(slots_[i].value);
    }
  }

  // Replaces the contents with what Save wrote. Corruption on truncated bytes, a capacity that
  // growth would not have produced for the size, keys >= key_limit, values that are negative or
  // not finite, or a layout in which some key is not where probing finds it. On error the map
  // is unchanged.
  Status Load(BinaryReader* in, uint32_t key_limit) {
    constexpr size_t kEntryBytes = 3 * sizeof(uint32_t);
    uint32_t capacity = 0;
    uint32_t size = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&capacity));
    LIVEREC_RETURN_IF_ERROR(in->Get(&size));
    // Checked before allocating, so corrupt sizes cannot ask for more memory than the input
    // could describe.
    if (size > in->remaining() / kEntryBytes || capacity != CapacityFor(size)) {
      return Corruption("neighbour map: capacity " + std::to_string(capacity) + " for " +
                        std::to_string(size) + " entries with " + std::to_string(in->remaining()) +
                        " bytes left");
    }
    FlatMap loaded;
    loaded.Allocate(capacity);
    for (uint32_t n = 0; n < size; ++n) {
      uint32_t slot = 0;
      Slot entry{};
      LIVEREC_RETURN_IF_ERROR(in->Get(&slot));
      LIVEREC_RETURN_IF_ERROR(in->Get(&entry.key));
      LIVEREC_RETURN_IF_ERROR(in->Get(&entry.value));
      if (slot >= capacity || loaded.slots_[slot].key != kEmptyKey || entry.key >= key_limit ||
          !std::isfinite(entry.value) || entry.value < 0) {
        return Corruption("neighbour map: entry " + std::to_string(n) + " has slot " +
                          std::to_string(slot) + " of " + std::to_string(capacity) + ", key " +
                          std::to_string(entry.key) + " of " + std::to_string(key_limit) +
                          ", value " + std::to_string(entry.value));
      }
      loaded.slots_[slot] = entry;
    }
    loaded.size_ = size;
    for (uint32_t i = 0; i < capacity; ++i) {
      const Slot& slot = loaded.slots_[i];
      if (slot.key != kEmptyKey && loaded.Find(slot.key) != &slot.value) {
        return Corruption("neighbour map: key " + std::to_string(slot.key) +
                          " is not where probing looks for it");
      }
    }
    *this = std::move(loaded);
    return Status::Ok();
  }

 private:
  uint32_t Home(uint32_t key) const {
    constexpr uint32_t kGoldenRatio32 = 0x9e3779b9u;  // 2^32 / phi
    return (key * kGoldenRatio32) >> (32 - std::countr_zero(capacity_));
  }

  void Allocate(uint32_t capacity) {
    capacity_ = capacity;
    size_ = 0;
    slots_.reset(capacity == 0 ? nullptr : new Slot[capacity]);
    for (uint32_t i = 0; i < capacity; ++i) slots_[i] = Slot{kEmptyKey, 0.0f};
  }

  void Grow() {
    std::unique_ptr<Slot[]> old = std::move(slots_);
    const uint32_t old_capacity = capacity_;
    const uint32_t old_size = size_;
    Allocate(old_capacity == 0 ? kMinCapacity : old_capacity * 2);
    const uint32_t mask = capacity_ - 1;
    for (uint32_t i = 0; i < old_capacity; ++i) {
      if (old[i].key == kEmptyKey) continue;
      uint32_t j = Home(old[i].key);
      while (slots_[j].key != kEmptyKey) j = (j + 1) & mask;
      slots_[j] = old[i];
    }
    size_ = old_size;
  }

  void CopyFrom(const FlatMap& other) {
    Allocate(other.capacity_);
    if (capacity_ > 0) std::memcpy(slots_.get(), other.slots_.get(), MemoryBytes());
    size_ = other.size_;
  }

  std::unique_ptr<Slot[]> slots_;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_ITEM_KNN_FLAT_MAP_H_
