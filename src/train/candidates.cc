#include "train/candidates.h"

namespace liverec {

void CandidateSet::Observe(ItemId item, int64_t time_ms) {
  if (item >= position_.size()) {
    position_.resize(item + 1, -1);
    last_seen_.resize(item + 1, INT64_MIN);
  }
  last_seen_[item] = time_ms;
  if (position_[item] < 0) {
    position_[item] = static_cast<int64_t>(items_.size());
    items_.push_back(item);
  }
  if (window_ms_ > 0) occurrences_.push_back({time_ms, item});
}

void CandidateSet::Forget(ItemId item) {
  if (item >= position_.size() || position_[item] < 0) return;
  const int64_t pos = position_[item];
  const ItemId last = items_.back();
  items_[pos] = last;
  position_[last] = pos;
  items_.pop_back();
  position_[item] = -1;
  last_seen_[item] = INT64_MIN;  // stale occurrences in the window no longer match
}

void CandidateSet::Advance(int64_t now_ms) {
  if (window_ms_ <= 0) return;
  const int64_t oldest_kept = now_ms - window_ms_;
  while (!occurrences_.empty() && occurrences_.front().time_ms < oldest_kept) {
    Occurrence o = occurrences_.front();
    occurrences_.pop_front();
    // A later occurrence of the same item keeps it active.
    if (last_seen_[o.item] != o.time_ms || position_[o.item] < 0) continue;
    int64_t pos = position_[o.item];
    ItemId last = items_.back();
    items_[pos] = last;
    position_[last] = pos;
    items_.pop_back();
    position_[o.item] = -1;
  }
}

}  // namespace liverec
