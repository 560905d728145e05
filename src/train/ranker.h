// EventRanker: the test half of test-then-train. Given a model and an event, it scores every
// candidate for the event's user, removes the items the user already consumed (switchable), and
// returns the 1-based rank of the true item:
//   rank = 1 + #{candidates scoring strictly higher} + a uniform random share of the ties,
// so a model that scores everything alike ranks the item uniformly at random. rank 0 means the
// item was not a candidate (new, or outside the active window): a miss.
//
// For a re-ranking stage (rank/rerank.h), ScoredCandidates hands out the scored candidates of
// the last ranked event, and RankInList turns the model's rank into the rank the re-ranked list
// shows.
//
// UserHistory keeps, per user, the distinct items consumed so far and the number of events.
//
// Thread safety: none; one ranker per thread (it owns reusable scratch buffers).
#ifndef LIVEREC_TRAIN_RANKER_H_
#define LIVEREC_TRAIN_RANKER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/random.h"
#include "model/model.h"
#include "rank/rerank.h"
#include "train/candidates.h"

namespace liverec {

class UserHistory {
 public:
  // Records an event of `user` on `item`; `repeat` tells whether the user had the item already.
  void Add(UserId user, ItemId item, bool repeat);
  std::span<const ItemId> Items(UserId user) const;
  uint64_t NumEvents(UserId user) const { return user < events_.size() ? events_[user] : 0; }
  // Whether `user` consumed `item` before (linear in the user's history).
  bool Contains(UserId user, ItemId item) const;
  // Empties the user's history (the id's next owner starts without one).
  void Forget(UserId user);
  // Removes the items marked in `forgotten` (indexed by item id) from every user's history;
  // the users' event counts stay.
  void ForgetItems(const std::vector<uint8_t>& forgotten);
  size_t num_users() const { return events_.size(); }

  void Save(BinaryWriter* out) const;
  // Replaces the history with what Save wrote; Corruption on truncated bytes.
  Status Load(BinaryReader* in);

 private:
  std::vector<std::vector<ItemId>> items_;
  std::vector<uint64_t> events_;
};

struct RankOutcome {
  uint64_t rank = 0;    // 1-based; 0 = not a candidate
  bool repeat = false;  // the user had consumed the item before (not ranked when excluding seen)
};

class EventRanker {
 public:
  EventRanker(uint32_t k, bool exclude_seen, uint64_t seed)
      : k_(k), exclude_seen_(exclude_seen), rng_(seed) {}

  // Ranks `item` for `user`; `repeat` tells whether the user consumed the item before (with
  // exclude_seen a repeat is not ranked). When `top_k` is not null it receives the model's
  // top-K candidate items (seen items excluded).
  RankOutcome Rank(const Model& model, UserId user, ItemId item, bool repeat,
                   const CandidateSet& candidates, const UserHistory& history,
                   std::vector<ItemId>* top_k);

  // Replaces *out with the candidates of the last Rank call that scored (one given a top_k
  // list, or whose item was a candidate) and their scores, in candidate order, without excluded
  // items and items the model cannot score (kUnscored, NaN): the input of a re-ranking stage.
  // Call it before the CandidateSet of that Rank call changes.
  void ScoredCandidates(std::vector<ScoredCandidate>* out) const;

 private:
  uint32_t k_;
  bool exclude_seen_;
  Random rng_;
  std::span<const ItemId> scored_items_;  // the candidates scores_ belongs to
  std::vector<float> scores_;
  std::vector<uint32_t> top_positions_;
};

// The rank a re-ranked top-K `list` gives an item the model ranked `model_rank` (0 = not a
// candidate): its 1-based place when listed; otherwise the model's rank, but past the list
// (at least k + 1), since a list that does not show the item misses it.
uint64_t RankInList(uint64_t model_rank, ItemId item, std::span<const ItemId> list, uint32_t k);

}  // namespace liverec

#endif  // LIVEREC_TRAIN_RANKER_H_
