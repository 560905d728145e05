// CandidateSet: the items a ranking considers at a point of the stream.
//
// Two policies: every item seen so far (window 0), or only items that occurred within the last
// `active_window_ms` of stream time (what a news site would offer: yesterday's articles, not last
// month's). Items enter when observed and, with a window, leave when their last occurrence falls
// out of it. items() is an unordered dense array (swap-remove), and Position(item) is O(1), so a
// ranker scores items() into a parallel array and finds any item's score by its position.
//
// Thread safety: none; one CandidateSet per replay run.
#ifndef LIVEREC_TRAIN_CANDIDATES_H_
#define LIVEREC_TRAIN_CANDIDATES_H_

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "event/event.h"

namespace liverec {

class CandidateSet {
 public:
  // active_window_ms = 0 keeps every item ever observed.
  explicit CandidateSet(int64_t active_window_ms = 0) : window_ms_(active_window_ms) {}

  // Records an occurrence of `item` at time_ms (non-decreasing across calls).
  void Observe(ItemId item, int64_t time_ms);

  // Drops `item` now (its id is to be reused); no-op when it is not a candidate. A later
  // Observe adds it again.
  void Forget(ItemId item);

  // Drops items whose last occurrence is before now_ms - window. No-op without a window.
  void Advance(int64_t now_ms);

  std::span<const ItemId> items() const { return items_; }
  size_t size() const { return items_.size(); }

  // Index of `item` in items(), or -1 when it is not a candidate.
  int64_t Position(ItemId item) const { return item < position_.size() ? position_[item] : -1; }

 private:
  struct Occurrence {
    int64_t time_ms;
    ItemId item;
  };

  int64_t window_ms_;
  std::vector<ItemId> items_;
  std::vector<int64_t> position_;       // by item id; -1 = absent
  std::vector<int64_t> last_seen_;      // by item id
  std::deque<Occurrence> occurrences_;  // only with a window; in time order
};

}  // namespace liverec

#endif  // LIVEREC_TRAIN_CANDIDATES_H_
