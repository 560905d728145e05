// UserBootstrap: confidence intervals of replay's ranking metrics by a bootstrap over users.
//
// A figure such as Recall@10 = hits / events is a ratio of sums over the evaluated events. Events
// of one user are not independent (a user who is easy to predict is easy all day), so the
// resampling unit is the user: each resample draws as many users as were evaluated, uniformly
// with replacement, and recomputes the ratio of sums over the drawn users' events (a cluster
// bootstrap; Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13). The interval
// at level L is the percentile interval: the (1 - L) / 2 and (1 + L) / 2 quantiles of the
// resampled figures (linear interpolation between order statistics). With few users the
// interval is wide, as it should be; with one user it collapses to the figure.
//
// Determinism: the draws come from Random(seed) alone, in a fixed order (resample by resample,
// user by user, users in order of first evaluation), so the same events and seed give the same
// interval bit for bit.
//
// Cost: Add O(1) amortized; Intervals O(resamples x users). Memory: 4 doubles per user.
// Thread safety: a value; const methods may run concurrently, Add needs exclusivity.
#ifndef LIVEREC_EVAL_BOOTSTRAP_H_
#define LIVEREC_EVAL_BOOTSTRAP_H_

#include <cstdint>
#include <vector>

#include "common/types.h"

namespace liverec {

// A two-sided interval [low, high] around a figure.
struct MetricInterval {
  double low = 0;
  double high = 0;
};

// Intervals of the figures MetricSummary reports as Recall@K, NDCG@K and MRR.
struct MetricIntervals {
  uint32_t resamples = 0;  // 0: not computed (the intervals are empty)
  double level = 0;        // e.g. 0.95
  uint64_t users = 0;      // users resampled (those with an evaluated event)
  MetricInterval recall;
  MetricInterval ndcg;
  MetricInterval mrr;
};

// The seed replay's runs draw their resamples with, from the replay's root seed: the same for
// every run, so that two models' intervals resample the same users.
uint64_t BootstrapSeed(uint64_t root_seed);

class UserBootstrap {
 public:
  // k: the cut-off of Recall@K and NDCG@K (>= 1).
  explicit UserBootstrap(uint32_t k);

  // Adds one evaluated event of `user` whose item has 1-based `rank` (0 = miss), the same
  // event MetricAccumulator::Add counts.
  void Add(UserId user, uint64_t rank);

  // The percentile intervals at `level` (in (0, 1)) from `resamples` (>= 1) resamples drawn
  // with Random(seed). Empty intervals (resamples = 0) when no event was added.
  MetricIntervals Intervals(uint32_t resamples, double level, uint64_t seed) const;

  uint64_t users() const { return sums_.size(); }

 private:
  // One user's sums over their evaluated events.
  struct UserSums {
    double events = 0;
    double hits = 0;
    double ndcg = 0;
    double rr = 0;
  };
  uint32_t k_;
  std::vector<uint32_t> slot_of_user_;  // by UserId: index into sums_ + 1, 0 = none yet
  std::vector<UserSums> sums_;          // users in order of first evaluated event
};

}  // namespace liverec

#endif  // LIVEREC_EVAL_BOOTSTRAP_H_
