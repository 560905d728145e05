// TransitionsModel: a first-order Markov chain over items, item -> next item, with counts that
// decay in stream time, learned one event at a time: the cheap sequential baseline.
//
// State:
//   last(u)    the user's last `window` distinct items, oldest first (a repeat moves an item to
//              the newest end; beyond `window` the oldest leaves).
//   t(j, i)    decayed number of times a user's next distinct item after j was i: one FlatMap
//              of successors per item, no self-pairs.
//   out(j)     decayed number of transitions out of j: sum over i of t(j, i).
//   n(i), N    decayed number of events of item i, and of all events.
// Learn(u, i, t) with forward-decay weight w = w(t) (see ForwardDecay in popularity.h):
// n(i) += w, N += w; when u has a last item j != i, t(j, i) += w and out(j) += w; then i enters
// last(u). A repeat of
// the user's newest item is no transition (a second click on the same article says nothing
// about what comes next). A transition is as old as its later event, the moment it happened.
// Score(u, c) = b n(c) / N + sum over the user's last items j_r (r = 0 for the newest) of
//   a^r t(j_r, c) / out(j_r)
// the estimated probability that c follows j_r, each step back weighing a = older_weight times
// as much: the newest item predicts best, older ones break its ties and speak for users whose
// newest item has no successors yet. The back-off b (transitions.backoff) adds the item's share
// of all events: it orders the items that never followed the user's last items (users without
// history included) by popularity instead of leaving them tied at 0. kUnscored for items never
// learned. Every event counts 1 whatever its value or type (weight
// > 0 only): the engine decides which events reach a model.
//
// Options: transitions.half_life, transitions.window, transitions.older_weight,
// transitions.backoff.
// Cost: Learn O(1) map updates (plus a pass over every count once every 32 half-lives, when
// the decay renormalizes). Score O(items x window) hash probes. Memory: one map entry per
// distinct pair that ever followed each other (bounded by the number of events); pairs whose
// count decays below 2^-100 of a fresh event keep their slot with value 0.
// Thread safety: as Model (const methods concurrently, never with Learn/Load).
#ifndef LIVEREC_MODEL_TRANSITIONS_TRANSITIONS_H_
#define LIVEREC_MODEL_TRANSITIONS_TRANSITIONS_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/serialize.h"
#include "event/event.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "liverec/status.h"
#include "model/capabilities.h"
#include "model/item_knn/flat_map.h"
#include "model/model.h"
#include "model/popularity/popularity.h"

namespace liverec {

class TransitionsModel final : public Model,
                               public CandidateSource,
                               public HistoryObserver,
                               public UserForgetting,
                               public ItemForgetting {
 public:
  TransitionsModel(const OptionView& options, const Context& context);
  // window >= 1; half_life_s >= 0 (0 = no decay); older_weight in [0, 1]; backoff >= 0.
  TransitionsModel(size_t window, double half_life_s, double older_weight, double backoff);

  std::string_view type() const override { return "transitions"; }
  void Learn(const Event& event) override;
  // Moves the event's item into the user's last items without counting a transition; items
  // never learned are skipped (they have no successors to score with).
  void Observe(const Event& event) override;
  void ForgetUser(UserId user) override;
  // n(i) (taken off N), t(i, .), every t(j, i) (taken off out(j)) and i in any user's last
  // items go. One pass over all successor lists and users per call.
  void ForgetItems(std::span<const ItemId> items) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  // The n best successors of the user's last items by Score, best first (ties by lower id).
  // Nothing for users without history.
  void Candidates(UserId user, size_t n, std::vector<ItemId>* out) const override;
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override;
  void Save(BinaryWriter* out) const override;
  // Corruption on foreign, truncated or inconsistent bytes; FailedPrecondition when saved with
  // another window or half-life. On error the model is unchanged.
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // Decayed t(from, to) and out(from) as of time_ms (>= the latest event; earlier times
  // extrapolate). 0 when unknown.
  double TransitionCount(ItemId from, ItemId to, int64_t time_ms) const;
  double OutCount(ItemId from, int64_t time_ms) const;
  // The user's last items, oldest first; empty for users never learned.
  std::span<const ItemId> LastItems(UserId user) const;

  size_t window() const { return window_; }
  const ForwardDecay& decay() const { return decay_; }
  // One more than the largest item / user id learned.
  size_t num_items() const { return out_counts_.size(); }
  size_t num_users() const { return last_.size(); }

 private:
  bool Known(ItemId item) const { return item < out_counts_.size() && out_counts_[item] >= 0; }
  void Rescale(double factor);
  // Makes the tables cover the event's user and item, and marks the item learned.
  void Grow(const Event& event);
  // Appends `item` to the user's last items (a repeat moves to the end), evicting the oldest.
  void PushLast(UserId user, ItemId item);

  size_t window_;
  float older_weight_;  // a: scoring only, not saved
  double backoff_;      // b: scoring only, not saved
  ForwardDecay decay_;
  // out(j), forward-decayed; negative for ids never learned (the owner assigns ids, so there
  // can be holes).
  std::vector<double> out_counts_;
  std::vector<double> in_counts_;          // n(i), forward-decayed; 0 for ids never learned
  double total_count_ = 0;                 // N
  std::vector<FlatMap> successors_;        // t(j, .) per item
  std::vector<std::vector<ItemId>> last_;  // last(u) per user, oldest first
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_TRANSITIONS_TRANSITIONS_H_
