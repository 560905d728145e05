#include "train/ranker.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace liverec {

void UserHistory::Add(UserId user, ItemId item, bool repeat) {
  if (user >= events_.size()) {
    events_.resize(user + 1, 0);
    items_.resize(user + 1);
  }
  ++events_[user];
  if (!repeat) items_[user].push_back(item);
}

void UserHistory::Forget(UserId user) {
  if (user >= events_.size()) return;
  events_[user] = 0;
  items_[user] = std::vector<ItemId>();
}

void UserHistory::ForgetItems(const std::vector<uint8_t>& forgotten) {
  for (std::vector<ItemId>& items : items_) {
    std::erase_if(items, [&](ItemId item) { return item < forgotten.size() && forgotten[item]; });
  }
}

std::span<const ItemId> UserHistory::Items(UserId user) const {
  if (user >= items_.size()) return {};
  return items_[user];
}

bool UserHistory::Contains(UserId user, ItemId item) const {
  for (ItemId seen : Items(user)) {
    if (seen == item) return true;
  }
  return false;
}

void UserHistory::Save(BinaryWriter* out) const {
  out->PutVector(events_);
  for (const std::vector<ItemId>& items : items_) out->PutVector(items);
}

Status UserHistory::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&events_));
  items_.assign(events_.size(), {});
  for (std::vector<ItemId>& items : items_) LIVEREC_RETURN_IF_ERROR(in->GetVector(&items));
  return Status::Ok();
}

RankOutcome EventRanker::Rank(const Model& model, UserId user, ItemId item, bool repeat,
                              const CandidateSet& candidates, const UserHistory& history,
                              std::vector<ItemId>* top_k) {
  RankOutcome outcome;
  outcome.repeat = repeat;
  if (exclude_seen_ && repeat) return outcome;
  std::span<const ItemId> items = candidates.items();
  const int64_t target_pos = candidates.Position(item);
  // The ranking is only needed for the top-K list when the item is not a candidate.
  if (target_pos < 0 && top_k == nullptr) return outcome;

  scores_.resize(items.size());
  scored_items_ = items;
  model.Score(user, items, scores_.data());
  if (exclude_seen_) {
    // -inf sits below every score a model may give (kUnscored is finite), so consumed items
    // neither outrank the true item nor enter the top-K list.
    for (ItemId seen : history.Items(user)) {
      int64_t pos = candidates.Position(seen);
      if (pos >= 0) scores_[pos] = -INFINITY;
    }
  }
  if (target_pos >= 0) {
    float target_score = scores_[target_pos];
    size_t above = 0;
    size_t equal = 0;
    if (std::isnan(target_score)) {
      above = items.size() - 1;  // a NaN score ranks last
    } else {
      CountAboveEqual(scores_.data(), scores_.size(), target_score, &above, &equal);
      --equal;  // the item itself
    }
    outcome.rank = 1 + above + rng_.Uniform(static_cast<uint32_t>(equal + 1));
  }
  if (top_k != nullptr) {
    top_positions_.resize(k_);
    size_t n = TopK(scores_.data(), scores_.size(), k_, top_positions_.data());
    top_k->clear();
    for (size_t r = 0; r < n; ++r) {
      if (scores_[top_positions_[r]] == -INFINITY) break;
      top_k->push_back(items[top_positions_[r]]);
    }
  }
  return outcome;
}

void EventRanker::ScoredCandidates(std::vector<ScoredCandidate>* out) const {
  out->clear();
  for (size_t pos = 0; pos < scores_.size(); ++pos) {
    // Excluded (-inf), unscored and NaN scores all fail this.
    if (scores_[pos] > kUnscored) out->push_back({scored_items_[pos], scores_[pos]});
  }
}

uint64_t RankInList(uint64_t model_rank, ItemId item, std::span<const ItemId> list, uint32_t k) {
  if (model_rank == 0) return 0;
  const auto it = std::find(list.begin(), list.end(), item);
  if (it != list.end()) return static_cast<uint64_t>(it - list.begin()) + 1;
  return std::max<uint64_t>(model_rank, uint64_t{k} + 1);
}

}  // namespace liverec
