#include "experiment/off_policy.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace liverec {
namespace {

// Prior strength of the click model: an item shown this many times at a position has a rate
// halfway between its own and the position's.
constexpr double kClickModelPrior = 10;

// The two-sided normal quantile of `level`: z with P(|N(0,1)| <= z) = level (bisection on erfc,
// exact to double precision well within 80 halvings of [0, 40]).
double NormalQuantile(double level) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 80; ++i) {
    const double mid = (lo + hi) / 2;
    if (std::erfc(mid / std::sqrt(2.0)) > 1 - level) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return (lo + hi) / 2;
}

// Mean and the normal interval of `terms`.
PolicyEstimate MeanInterval(const std::vector<double>& terms, double z) {
  PolicyEstimate e;
  if (terms.empty()) return e;
  const double n = static_cast<double>(terms.size());
  double sum = 0;
  for (double t : terms) sum += t;
  e.value = sum / n;
  double ss = 0;
  for (double t : terms) ss += (t - e.value) * (t - e.value);
  const double se = terms.size() > 1 ? std::sqrt(ss / (n - 1) / n) : 0;
  e.lo = e.value - z * se;
  e.hi = e.value + z * se;
  return e;
}

// q(item, position): the click rate of the item at the position in the fitted lists, shrunk
// toward the position's rate.
class ClickModel {
 public:
  void Fit(const LoggedList& list) {
    for (size_t j = 0; j < list.shown.size(); ++j) {
      if (j >= positions_.size()) positions_.resize(j + 1);
      positions_[j].shows += 1;
      positions_[j].clicks += list.clicked[j];
      Counts& c = items_[Key(list.shown[j], j)];
      c.shows += 1;
      c.clicks += list.clicked[j];
    }
  }
  double Predict(uint32_t item, size_t position) const {
    if (position >= positions_.size() || positions_[position].shows == 0) return 0;
    const double base = positions_[position].clicks / positions_[position].shows;
    auto it = items_.find(Key(item, position));
    if (it == items_.end()) return base;
    return (it->second.clicks + kClickModelPrior * base) / (it->second.shows + kClickModelPrior);
  }

 private:
  struct Counts {
    double shows = 0;
    double clicks = 0;
  };
  static uint64_t Key(uint32_t item, size_t position) {
    return (static_cast<uint64_t>(item) << 16) | (position & 0xffff);
  }
  std::vector<Counts> positions_;
  std::unordered_map<uint64_t, Counts> items_;
};

}  // namespace

OffPolicyReport EstimateOffPolicy(std::span<const LoggedList> lists, double level) {
  OffPolicyReport r;
  r.lists = lists.size();
  if (lists.empty()) return r;
  const double z = NormalQuantile(level);

  // Two-fold cross-fitting: the model of fold f is fitted on the other fold's lists.
  ClickModel models[2];
  for (size_t i = 0; i < lists.size(); ++i) models[1 - i % 2].Fit(lists[i]);

  std::vector<double> ips_terms(lists.size(), 0);
  std::vector<double> dr_terms(lists.size(), 0);
  // Per position: sum of w c and of w, for SNIPS; each list's (w, w c) per position for its
  // linearization.
  std::vector<double> weighted_clicks, weights;
  std::vector<std::vector<std::pair<double, double>>> per_list(lists.size());
  double logged = 0, w1_sum = 0, w1_sq = 0;
  for (size_t i = 0; i < lists.size(); ++i) {
    const LoggedList& list = lists[i];
    const ClickModel& q = models[i % 2];
    const size_t k = std::min(list.shown.size(), list.target.size());
    if (!list.shown.empty() && !list.target.empty() && list.shown[0] == list.target[0]) {
      ++r.matched;
    }
    for (uint8_t c : list.clicked) logged += c;
    double w = 1;
    for (size_t j = 0; j < k; ++j) {
      const double w_before = w;
      w = list.shown[j] == list.target[j] && list.probability[j] > 0 ? w / list.probability[j] : 0;
      const double c = list.clicked[j];
      ips_terms[i] += w * c;
      dr_terms[i] +=
          w * (c - q.Predict(list.shown[j], j)) + w_before * q.Predict(list.target[j], j);
      if (j >= weights.size()) {
        weights.resize(j + 1, 0);
        weighted_clicks.resize(j + 1, 0);
      }
      weights[j] += w;
      weighted_clicks[j] += w * c;
      per_list[i].emplace_back(w, w * c);
      if (j == 0) {
        w1_sum += w;
        w1_sq += w * w;
      }
    }
  }
  const double n = static_cast<double>(lists.size());
  r.logged_value = logged / n;
  r.effective_lists = w1_sq > 0 ? w1_sum * w1_sum / w1_sq : 0;
  r.ips = MeanInterval(ips_terms, z);
  r.dr = MeanInterval(dr_terms, z);

  // SNIPS: sum over positions of A_j / B_j; its linearization per list is
  // sum_j (w_ij c_ij - V_j w_ij) / (B_j / n), whose mean is 0 and whose spread gives the interval.
  std::vector<double> ratio(weights.size(), 0);
  for (size_t j = 0; j < weights.size(); ++j) {
    if (weights[j] > 0) ratio[j] = weighted_clicks[j] / weights[j];
    r.snips.value += ratio[j];
  }
  std::vector<double> influence(lists.size(), 0);
  for (size_t i = 0; i < lists.size(); ++i) {
    for (size_t j = 0; j < per_list[i].size(); ++j) {
      if (weights[j] <= 0) continue;
      const auto [w, wc] = per_list[i][j];
      influence[i] += (wc - ratio[j] * w) / (weights[j] / n);
    }
  }
  const PolicyEstimate spread = MeanInterval(influence, z);
  const double half = spread.hi - spread.value;
  r.snips.lo = r.snips.value - half;
  r.snips.hi = r.snips.value + half;
  return r;
}

}  // namespace liverec
