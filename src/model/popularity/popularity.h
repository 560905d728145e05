// PopularityModel: how often each item was consumed, with exponential time decay in stream time.
// Also ForwardDecay, the decayed-count clock that the count-based models (popularity, item_knn)
// share.
#ifndef LIVEREC_MODEL_POPULARITY_POPULARITY_H_
#define LIVEREC_MODEL_POPULARITY_POPULARITY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/serialize.h"
#include "event/event.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "liverec/status.h"
#include "model/capabilities.h"
#include "model/model.h"

namespace liverec {

// Exponential decay of counts with half-life h in stream time (event.time_ms), done forward
// (Cormode, Shkapenyuk, Srivastava, Xu: "Forward Decay", ICDE 2009).
//
// An event at time t adds the weight g(t) = 2^((t - t_ref) / h) to the counts it touches, where
// t_ref is a reference time. A stored count C = sum_e g(t_e) is then the decayed count as of any
// time T, sum_e 2^(-(T - t_e) / h), times the common factor 2^((T - t_ref) / h): comparisons and
// ratios of counts need no decay work at query time, and C * ScaleTo(T) is the decayed count.
//
// Weights grow with t. When an event's exponent (t - t_ref) / h passes kMaxExponent, Observe
// moves t_ref forward by a whole number k of half-lives and asks the owner to multiply every
// stored count by 2^-k (a power of two: exact in floating point unless it underflows), so
// nothing overflows however long the stream runs, and when that happens does not change any
// count. The first event sets t_ref to its own time. Half-life 0 means no decay: every weight
// is 1 and no rescale is ever asked for.
//
// Thread safety: a value; const methods may run concurrently, Observe/Load need exclusivity.
class ForwardDecay {
 public:
  // Weights stay below 2^kMaxExponent relative to t_ref, so float counts of up to ~2^90 unit
  // events stay inside the float range. Renormalizing costs a pass over all counts, here once
  // every 32 half-lives of stream time.
  static constexpr double kMaxExponent = 32;

  // half_life_s >= 0 (0 = no decay).
  explicit ForwardDecay(double half_life_s);

  // What the owner does for one event.
  struct Step {
    double rescale = 1;  // first multiply every stored count by this (a power of two; 1 = none)
    double weight = 1;   // then add this to every count the event touches
  };

  // Takes an event at time_ms. Time may go backwards (a late event weighs less); now_ms()
  // is the latest time seen.
  Step Observe(int64_t time_ms);

  // The factor that turns stored counts into decayed counts as of time_ms: 2^(-(time_ms -
  // t_ref) / h), or 1 without decay.
  double ScaleTo(int64_t time_ms) const;
  // ScaleTo(now_ms()), cached.
  double scale_now() const { return scale_now_; }

  bool enabled() const { return half_life_ms_ > 0; }
  double half_life_s() const;
  // The latest event time observed; 0 before any event.
  int64_t now_ms() const { return now_ms_; }

  // Writes the half-life, the reference and the latest time.
  void Save(BinaryWriter* out) const;
  // Reads what Save wrote: Corruption on truncated bytes, FailedPrecondition when the bytes were
  // written with another half-life than this object's (the stored counts would mean something
  // else).
  Status Load(BinaryReader* in);

 private:
  // (time_ms - t_ref) / h.
  double Exponent(int64_t time_ms) const;
  void UpdateScaleNow();

  double half_life_ms_;    // 0 = no decay
  bool started_ = false;   // an event has been observed
  int64_t origin_ms_ = 0;  // time of the first event
  int64_t shift_ = 0;      // t_ref = origin + shift * h, in whole half-lives
  int64_t now_ms_ = 0;     // latest event time
  double scale_now_ = 1;   // ScaleTo(now_ms_)
};

// Scores every item by its decayed count as of the latest learned event: sum over its events of
// 2^(-(now - t_e) / h), or the plain number of events without decay. The score is the same for
// every user (unknown users included); items never learned score kUnscored. Every event counts
// 1 whatever its value or type: the engine decides which events reach a model.
// Candidates(user, n) is the top n of that score (ties by lower id), read off an ordered index
// of the best kDefaultHeadSize items that Learn keeps exact in O(log head) per event (an item
// outside it costs one comparison), or off a scan of every count for a larger n. The list is
// the same for every user, so the first request after learning copies the top of the index
// into an array that the requests until the next Learn copy from: walking a tree of a thousand
// nodes per request and per popularity member was a fifth of the server's time with four of
// them, and keeping every item in the tree a seventh of the time spent learning (docs/perf.md).
//
// Options: popularity.half_life (duration; 0 = all-time counts).
// Thread safety: as Model (const methods concurrently, never with Learn/Load).
class PopularityModel final : public Model, public CandidateSource, public ItemForgetting {
 public:
  PopularityModel(const OptionView& options, const Context& context);
  // The items the ordered index holds: four times the candidates a request asks for by default
  // (rank.candidates, 1,000).
  static constexpr size_t kDefaultHeadSize = 4096;

  // half_life_s >= 0; 0 = no decay. head_size >= 1 (tests use small ones).
  explicit PopularityModel(double half_life_s, size_t head_size = kDefaultHeadSize);

  std::string_view type() const override { return "popularity"; }
  void Learn(const Event& event) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  // The n learned items of highest score, best first (ties by lower id); the same for every
  // user. O(n).
  void Candidates(UserId user, size_t n, std::vector<ItemId>* out) const override;
  // Each item's count goes: it scores kUnscored and leaves the candidates until learned again.
  void ForgetItems(std::span<const ItemId> items) override;
  bool iterative() const override { return false; }
  std::unique_ptr<Model> Clone() const override;
  void Save(BinaryWriter* out) const override;
  // Corruption on foreign or truncated bytes; FailedPrecondition when saved with another
  // half-life. On error the model is unchanged.
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // The decayed count of `item` as of time_ms: sum over its events of 2^(-(time_ms - t_e) / h)
  // (meant for time_ms >= the latest event; earlier times extrapolate). 0 for items never
  // learned.
  double Count(ItemId item, int64_t time_ms) const;

  // One more than the largest item id learned (0 when empty).
  size_t num_items() const { return counts_.size(); }
  const ForwardDecay& decay() const { return decay_; }

 private:
  // Best first: count descending, then id ascending.
  struct RankOrder {
    bool operator()(const std::pair<double, ItemId>& a, const std::pair<double, ItemId>& b) const {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    }
  };
  using Ranked = std::pair<double, ItemId>;  // (count, item)

  // The first items of head_, best first, copied by the first Candidates call after the
  // model changed and read by the calls until the next change. A copy of the model starts with
  // none. Readers build it under `mu`; `fresh` (set with release order after the build) lets
  // the later ones read it without the lock, and only Learn, ForgetItems and Load (never
  // concurrent with readers) clear it.
  struct TopCache {
    TopCache() = default;
    TopCache(const TopCache&) {}
    TopCache& operator=(const TopCache&) {
      fresh.store(false, std::memory_order_relaxed);
      return *this;
    }
    Mutex mu;
    std::atomic<bool> fresh{false};
    std::vector<ItemId> items;  // written under mu while !fresh; read-only while fresh
    // The most candidates any call asked for: a rebuild copies that many.
    std::atomic<size_t> largest_request{0};
  };

  // Rebuilds head_ from counts_.
  void RebuildRanking();
  // Admits a learned item that is not in head_ if it ranks above head_'s last.
  void Offer(Ranked entry);
  // Whether the learned `entry` (its count as head_ knows it) is in head_.
  bool InHead(const Ranked& entry) const {
    return !head_.empty() && !RankOrder()(*head_.rbegin(), entry);
  }
  // (counts_[i], i) for every learned item i, in id order.
  std::vector<Ranked> Learned() const;
  // Appends the best n learned items, best first: off head_ when it holds them, else from a
  // scan of counts_.
  void AppendTop(size_t n, std::vector<ItemId>* out) const;
  // The model changed: the next Candidates call copies the top of head_ again.
  void Changed() { top_.fresh.store(false, std::memory_order_relaxed); }

  ForwardDecay decay_;
  // Forward-decayed counts indexed by item id; kNotLearned for ids never learned (ids are
  // assigned by the owner, so the table can have holes).
  std::vector<double> counts_;
  size_t num_learned_ = 0;  // ids with counts_ >= 0
  // (counts_[i], i) for the best min(head_size_, num_learned_) learned items i, best first;
  // every other learned item ranks below the last of them. Derived from counts_ (not saved).
  // Stored counts order items as decayed counts do, since every count shares the decay factor.
  size_t head_size_;
  std::set<Ranked, RankOrder> head_;
  mutable TopCache top_;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_POPULARITY_POPULARITY_H_
