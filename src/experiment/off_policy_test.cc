#include "experiment/off_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <vector>

#include "common/random.h"
#include "experiment/explore.h"

namespace liverec {
namespace {

constexpr size_t kItems = 30;
constexpr size_t kUserTypes = 5;
constexpr size_t kListLength = 5;
// The logging policy explores among its best kPool items (serving draws from 3k).
constexpr size_t kPool = 3 * kListLength;
constexpr int kRuns = 200;  // worlds per coverage measurement

double Examine(size_t position) { return 1.0 / (1.0 + static_cast<double>(position)); }

// The items ordered by `scores`, best first.
std::vector<uint32_t> Ranked(const std::vector<double>& scores) {
  std::vector<uint32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
  return order;
}

struct World {
  std::vector<std::vector<double>> appeal;     // [user type][item]: click probability when examined
  std::vector<std::vector<uint32_t>> logging;  // the logging policy's ranking per user type
  std::vector<std::vector<double>> logging_score;  // its scores, by item
  std::vector<std::vector<uint32_t>> target;       // the target's list per user type
  double truth = 0;                                // the target's expected clicks per list
};

// Users of a few types, items of type-dependent appeal; the logging and the target policies
// rank by the appeal plus their own noise (so their lists differ), and clicks follow the
// position-based model: examined with 1 / (1 + position), clicked with the item's appeal.
World MakeWorld(Random* rng, double noise, size_t depth) {
  World w;
  w.appeal.assign(kUserTypes, std::vector<double>(kItems));
  for (auto& row : w.appeal) {
    for (double& a : row) a = 0.02 + 0.4 * rng->UniformDouble() * rng->UniformDouble();
  }
  for (size_t u = 0; u < kUserTypes; ++u) {
    std::vector<double> noisy(kItems), other(kItems);
    for (size_t i = 0; i < kItems; ++i) {
      noisy[i] = w.appeal[u][i] + noise * rng->UniformDouble();
      other[i] = w.appeal[u][i] + noise * rng->UniformDouble();
    }
    w.logging.push_back(Ranked(noisy));
    w.logging_score.push_back(noisy);
    // The target reorders the logging policy's pool: off-policy estimates can only speak for
    // items the logging policy could show.
    std::vector<uint32_t> target;
    for (uint32_t item : Ranked(other)) {
      const auto& pool = w.logging.back();
      if (std::find(pool.begin(), pool.begin() + kPool, item) != pool.begin() + kPool) {
        target.push_back(item);
      }
    }
    target.resize(depth);
    for (size_t j = 0; j < depth; ++j) w.truth += Examine(j) * w.appeal[u][target[j]];
    w.target.push_back(std::move(target));
  }
  w.truth /= kUserTypes;
  return w;
}

// `n` lists the logging policy served with epsilon-greedy exploration (explore.h), clicked.
std::vector<LoggedList> Log(const World& w, size_t n, double epsilon, Random* rng) {
  const ExploreSpec spec{ExploreKind::kEpsilon, epsilon};
  std::vector<LoggedList> lists(n);
  std::vector<PoolItem> pool;
  std::vector<ShownItem> shown;
  for (LoggedList& list : lists) {
    const size_t u = rng->Uniform(kUserTypes);
    pool.clear();
    for (size_t r = 0; r < kPool; ++r) {
      pool.push_back(
          PoolItem{w.logging[u][r], static_cast<float>(w.logging_score[u][w.logging[u][r]])});
    }
    Explore(spec, pool, kListLength, rng->Next(), &shown);
    for (size_t j = 0; j < shown.size(); ++j) {
      list.shown.push_back(shown[j].item);
      list.probability.push_back(shown[j].probability);
      list.clicked.push_back(rng->UniformDouble() < Examine(j) * w.appeal[u][shown[j].item]);
    }
    list.target = w.target[u];
  }
  return lists;
}

struct Coverage {
  int ips = 0, snips = 0, dr = 0;      // worlds whose interval held the truth
  double width_ips = 0, width_dr = 0;  // mean interval widths
};

// kRuns worlds of `n` lists each, the target's value on its first `depth` positions.
Coverage MeasureCoverage(double noise, size_t depth, size_t n, uint64_t seed) {
  Random rng(seed);
  Coverage c;
  for (int run = 0; run < kRuns; ++run) {
    const World w = MakeWorld(&rng, noise, depth);
    const OffPolicyReport r = EstimateOffPolicy(Log(w, n, 0.2, &rng), 0.95);
    c.ips += r.ips.lo <= w.truth && w.truth <= r.ips.hi;
    c.snips += r.snips.lo <= w.truth && w.truth <= r.snips.hi;
    c.dr += r.dr.lo <= w.truth && w.truth <= r.dr.hi;
    c.width_ips += (r.ips.hi - r.ips.lo) / kRuns;
    c.width_dr += (r.dr.hi - r.dr.lo) / kRuns;
  }
  return c;
}

// The first position: the estimators' 95 % intervals cover the target's true value in about
// 95 % of worlds, for a target close to the logging policy and for one further from it (its
// first item differs from the logging policy's in about a third and half of the lists), and
// the doubly robust interval is the narrowest.
TEST(OffPolicyTest, FirstPositionIntervalsCoverTheTruth) {
  for (const double noise : {0.03, 0.1}) {
    const Coverage c = MeasureCoverage(noise, 1, 5000, 11);
    // 200 worlds: a true 95 % coverage shows as 0.92 or more with probability above 0.98.
    EXPECT_GE(c.ips, 0.92 * kRuns) << noise;
    EXPECT_GE(c.snips, 0.92 * kRuns) << noise;
    EXPECT_GE(c.dr, 0.92 * kRuns) << noise;
    EXPECT_LT(c.width_dr, c.width_ips) << noise;
    std::printf("noise %.2f depth 1: covered ips %d snips %d dr %d of %d\n", noise, c.ips, c.snips,
                c.dr, kRuns);
  }
}

// Deeper, the prefix weights multiply: the intervals widen with every position, which is why
// liverec ope reads the first position unless asked for more (docs/quality.md has the figures).
TEST(OffPolicyTest, DeeperCascadesWiden) {
  const Coverage one = MeasureCoverage(0.03, 1, 5000, 12);
  const Coverage three = MeasureCoverage(0.03, 3, 5000, 12);
  EXPECT_GT(three.width_ips, 1.5 * one.width_ips);
  std::printf("noise 0.03 depth 3: covered ips %d snips %d dr %d of %d\n", three.ips, three.snips,
              three.dr, kRuns);
}

// On-policy (the target is what was served, no exploration) every weight is 1 and the
// estimates are the logged clicks per list.
TEST(OffPolicyTest, OnPolicyTheEstimateIsTheLoggedValue) {
  Random rng(3);
  World w = MakeWorld(&rng, 0.03, kListLength);
  for (size_t u = 0; u < kUserTypes; ++u) {
    w.target[u].assign(w.logging[u].begin(), w.logging[u].begin() + kListLength);
  }
  const std::vector<LoggedList> lists = Log(w, 2000, 0, &rng);
  const OffPolicyReport r = EstimateOffPolicy(lists, 0.95);
  EXPECT_EQ(r.matched, 2000u);
  EXPECT_NEAR(r.ips.value, r.logged_value, 1e-12);
  EXPECT_NEAR(r.snips.value, r.logged_value, 1e-12);
  EXPECT_NEAR(r.dr.value, r.logged_value, 1e-12);
  EXPECT_NEAR(r.effective_lists, 2000, 1e-9);
}

TEST(OffPolicyTest, ATargetNeverShownHasNoWeight) {
  LoggedList list;
  list.shown = {1, 2};
  list.probability = {1, 1};
  list.clicked = {1, 0};
  list.target = {7, 8};
  const std::vector<LoggedList> lists(10, list);
  const OffPolicyReport r = EstimateOffPolicy(lists, 0.95);
  EXPECT_EQ(r.matched, 0u);
  EXPECT_EQ(r.ips.value, 0);
  EXPECT_EQ(r.effective_lists, 0);
  EXPECT_EQ(r.logged_value, 1);
  EXPECT_EQ(EstimateOffPolicy({}, 0.95).lists, 0u);
}

}  // namespace
}  // namespace liverec
