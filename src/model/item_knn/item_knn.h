// ItemKnnModel: item-item similarity from decayed co-occurrence within each user's recent
// window, learned one event at a time ("because you watched X", similar items).
//
// State:
//   window(u)  the user's last `window` distinct items, oldest first, each with the
//              forward-decay weight w_j of its latest event. A repeat of an item already there
//              moves it to the newest end; beyond `window` the oldest leaves.
//   n(i)       decayed number of events of item i.
//   c(i, j)    decayed number of co-occurrences: symmetric, one FlatMap of neighbours per item,
//              no self-pairs.
// Learn(u, i, t) with forward-decay weight w = w(t) (see ForwardDecay):
//   n(i) += w; for each j != i in window(u): c(i, j) += min(w, w_j), c(j, i) += the same;
//   then i enters window(u) with weight w.
// A pair is as old as its older event: min(w, w_j) is the weight of j's event (events arrive in
// time order). Without decay every weight is 1 and this is the plain co-occurrence count. With
// decay, weighting the pair by the newer event instead lets a user who returns after many
// half-lives pair a fresh event with a window item whose n has decayed away, and c / sqrt(n n)
// explodes (on Globo news with a 1 h half-life, top similarities reached 5e6 and Recall@10 fell
// from 0.33 to 0.01; with the older event's weight it rose to 0.39).
// A repeat counts again (consuming an item twice is signal), so c(i, j) can pass n(i).
// Bounded lists: with max_neighbours m > 0, when an item's list fills the table that 2m entries
// need (PruneSize(): 716 entries in 1,024 slots for m = 200) only its m strongest stay (largest
// decayed c, ties by lower id). Pruning then, rather than at 2m, costs no memory (the table of
// 2m entries has those slots anyway) and prunes 2.6 times less often on m = 200, which matters
// where every item co-occurs with most others (MovieLens). A dropped pair that co-occurs again
// starts from 0 in that list; the lists stop being symmetric. This bounds memory, snapshots and
// restart time, and costs little quality, since a user's top items come from each window
// item's strongest neighbours (docs/quality.md measures it).
// similarity: cosine  sim(i, j) = c(i, j) / sqrt(n(i) n(j))
//             jaccard sim(i, j) = c(i, j) / (n(i) + n(j) - c(i, j))
// Both are ratios of counts carrying the same forward-decay factor, so they need no decay work
// at query time. Counts that fall below 2^-100 of a fresh event are dropped to 0 when the decay
// renormalizes.
// Score(u, c) = sum over j in window(u) of sim(j, c): 0 for items that never co-occurred with
// the window and for users without history; kUnscored for items never learned.
// Every event counts 1 whatever its value or type: the engine decides which events reach it.
//
// Options: item_knn.window, item_knn.half_life, item_knn.similarity, item_knn.max_neighbours.
// Cost: Learn O(window) map updates. Score scatters the window's neighbour lists into a dense
// per-thread array (or, for few candidates, probes each (window item, candidate) pair), then
// gathers the candidates.
// Thread safety: as Model: const methods (Score, Similar, RecentItems, ...) may run concurrently
// with each other, never with Learn/Load. Spans and pointers returned stay valid until the next
// Learn/Load.
#ifndef LIVEREC_MODEL_ITEM_KNN_ITEM_KNN_H_
#define LIVEREC_MODEL_ITEM_KNN_ITEM_KNN_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
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

enum class KnnSimilarity : uint8_t { kCosine = 0, kJaccard = 1 };

// "cosine" / "jaccard"; InvalidArgument otherwise.
StatusOr<KnnSimilarity> ParseKnnSimilarity(std::string_view name);

class ItemKnnModel final : public Model,
                           public CandidateSource,
                           public HistoryObserver,
                           public UserForgetting,
                           public ItemForgetting,
                           public UnitItemSimilarity,
                           public RawItemSimilarity,
                           public NearestItems {
 public:
  ItemKnnModel(const OptionView& options, const Context& context);
  // window >= 1; half_life_s >= 0 (0 = no decay); max_neighbours 0 = unbounded lists.
  ItemKnnModel(size_t window, double half_life_s, KnnSimilarity similarity,
               size_t max_neighbours = 0);

  std::string_view type() const override { return "item_knn"; }
  void Learn(const Event& event) override;
  // Moves the event's item into the user's window without touching counts or similarities.
  void Observe(const Event& event) override;
  void ForgetUser(UserId user) override;
  // n(i), i's neighbour list and every other list's entry c(j, i) go, and i leaves every
  // user's window. One pass over all lists and windows per call: the lists are not symmetric
  // once pruned, so i's own list does not name every list that names i.
  void ForgetItems(std::span<const ItemId> items) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override;
  void Save(BinaryWriter* out) const override;
  // Corruption on foreign, truncated or inconsistent bytes; FailedPrecondition when saved with
  // another window, half-life, similarity or max_neighbours. On error the model is unchanged.
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // Replaces *out with the top k neighbours of `item` and their similarity, by similarity
  // descending, ties by lower id. Empty for items never learned or without neighbours.
  void Similar(ItemId item, size_t k, std::vector<std::pair<ItemId, float>>* out) const override;

  // Appends to *out, unordered and without repeats, every item that co-occurred with an item
  // of the user's window: the only items whose score for the user can be above zero. Serving
  // ranks these instead of the whole catalogue.
  void CandidatesFor(UserId user, std::vector<ItemId>* out) const;
  // The n best of CandidatesFor by Score, best first (ties by lower id): scores them once.
  // Nothing for users without history (every item scores 0 for them).
  void Candidates(UserId user, size_t n, std::vector<ItemId>* out) const override;

  // The user's window, oldest first; empty for users never learned.
  std::span<const ItemId> RecentItems(UserId user) const;

  // sim(a, b) as defined above; 0 when they never co-occurred or either is unknown.
  float Similarity(ItemId a, ItemId b) const override;
  // Similarity clamped to [0, 1], as the ranking stage wants it: decayed counts make the ratio
  // a little loose.
  SimilarityBasis similarity_basis() const override { return SimilarityBasis::kCoOccurrence; }
  float UnitSimilarity(ItemId a, ItemId b) const override {
    return std::clamp(Similarity(a, b), 0.0f, 1.0f);
  }

  // Decayed n(item) and c(a, b) as of time_ms (>= the latest event; earlier times
  // extrapolate): sums over the counted events e of 2^(-(time_ms - t_e) / h). 0 when unknown.
  double ItemCount(ItemId item, int64_t time_ms) const;
  double CoCount(ItemId a, ItemId b, int64_t time_ms) const;

  size_t window() const { return window_; }
  size_t max_neighbours() const { return max_neighbours_; }
  KnnSimilarity similarity() const { return similarity_; }
  const ForwardDecay& decay() const { return decay_; }
  // One more than the largest item / user id learned.
  size_t num_items() const { return counts_.size(); }
  size_t num_users() const { return windows_.size(); }
  // Total entries of all neighbour maps (each co-occurring pair counts twice).
  size_t num_pairs() const;

 private:
  template <KnnSimilarity kSim>
  void ScoreWith(std::span<const ItemId> window, std::span<const ItemId> items, float* out) const;
  template <KnnSimilarity kSim>
  float Contribution(ItemId j, ItemId c, float co) const;
  bool Known(ItemId item) const { return item < counts_.size() && counts_[item] >= 0; }
  void Rescale(double factor);
  void SetInvSqrt(ItemId item);

  size_t window_;
  KnnSimilarity similarity_;
  size_t max_neighbours_;
  ForwardDecay decay_;
  // n(i), forward-decayed; negative for ids never learned (the owner assigns ids, so there can
  // be holes).
  std::vector<double> counts_;
  // 1 / sqrt(n(i)) (0 when n(i) <= 0): derived from counts_, kept so cosine scoring does no
  // square roots. Not saved; recomputed on Load.
  std::vector<float> inv_sqrt_counts_;
  std::vector<FlatMap> neighbours_;  // c(i, .) per item
  // window(u) per user, oldest first, with the forward-decay weight of the event that put each
  // item there (its latest one).
  struct UserWindow {
    std::vector<ItemId> items;
    std::vector<float> weights;
  };
  std::vector<UserWindow> windows_;

  // Makes the tables cover the event's user and item.
  void Grow(const Event& event);
  // Entries at which a bounded list is pruned to max_neighbours (see the header).
  size_t PruneSize() const;
  // c(item, other) += weight, then bounds item's list (see max_neighbours).
  void AddPair(ItemId item, ItemId other, float weight);
  // Appends `item` to the window (a repeat moves to the end), evicting the oldest when full.
  void PushToWindow(UserWindow* window, ItemId item, float weight) const;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_ITEM_KNN_ITEM_KNN_H_
