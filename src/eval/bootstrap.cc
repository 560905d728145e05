#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/random.h"
#include "train/metrics.h"

namespace liverec {
namespace {

// The q-quantile of sorted `values` (q in [0, 1]), interpolating linearly between the order
// statistics around position q (n - 1): the usual definition, exact at the ends.
double Quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

MetricInterval PercentileInterval(std::vector<double>* figures, double level) {
  std::sort(figures->begin(), figures->end());
  return {Quantile(*figures, (1 - level) / 2), Quantile(*figures, (1 + level) / 2)};
}

// "BOOT".
constexpr uint64_t kBootstrapSalt = 0x424f4f54;

}  // namespace

uint64_t BootstrapSeed(uint64_t root_seed) { return DeriveSeed(root_seed, kBootstrapSalt); }

UserBootstrap::UserBootstrap(uint32_t k) : k_(k) { LIVEREC_CHECK(k >= 1); }

void UserBootstrap::Add(UserId user, uint64_t rank) {
  LIVEREC_CHECK(user != kInvalidId);
  if (user >= slot_of_user_.size()) slot_of_user_.resize(size_t{user} + 1, 0);
  uint32_t& slot = slot_of_user_[user];
  if (slot == 0) {
    sums_.emplace_back();
    slot = static_cast<uint32_t>(sums_.size());
  }
  UserSums& sums = sums_[slot - 1];
  sums.events += 1;
  sums.hits += rank >= 1 && rank <= k_ ? 1 : 0;
  sums.ndcg += NdcgAt(rank, k_);
  sums.rr += ReciprocalRank(rank);
}

MetricIntervals UserBootstrap::Intervals(uint32_t resamples, double level, uint64_t seed) const {
  LIVEREC_CHECK(resamples >= 1 && level > 0 && level < 1);
  MetricIntervals intervals;
  if (sums_.empty()) return intervals;
  intervals.resamples = resamples;
  intervals.level = level;
  intervals.users = sums_.size();
  std::vector<double> recall(resamples);
  std::vector<double> ndcg(resamples);
  std::vector<double> mrr(resamples);
  Random random(seed);
  const uint32_t num_users = static_cast<uint32_t>(sums_.size());
  for (uint32_t r = 0; r < resamples; ++r) {
    UserSums total;
    for (uint32_t n = 0; n < num_users; ++n) {
      const UserSums& drawn = sums_[random.Uniform(num_users)];
      total.events += drawn.events;
      total.hits += drawn.hits;
      total.ndcg += drawn.ndcg;
      total.rr += drawn.rr;
    }
    // Every user in sums_ has at least one event, so total.events >= 1.
    recall[r] = total.hits / total.events;
    ndcg[r] = total.ndcg / total.events;
    mrr[r] = total.rr / total.events;
  }
  intervals.recall = PercentileInterval(&recall, level);
  intervals.ndcg = PercentileInterval(&ndcg, level);
  intervals.mrr = PercentileInterval(&mrr, level);
  return intervals;
}

}  // namespace liverec
