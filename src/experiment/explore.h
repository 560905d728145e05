// Exploration: a stochastic re-ranking of a ranked candidate list, so that the items a model
// ranks just below the top are shown now and then and the feedback on them is learned, with
// the probability of every choice recorded for off-policy evaluation.
//
// A list of k items is drawn position by position from the candidates not yet placed (the
// pool: the model's best candidates, best first). At each position, with the remaining
// candidates' scores s and the best remaining candidate b:
//   epsilon:<e>      b with probability 1 - e, else one of the remaining uniformly (b too);
//   softmax:<t>      each with probability proportional to exp((s - max s) / t), t > 0;
//   squarecb:<g>     SquareCB (Foster and Rakhlin, "Beyond UCB: optimal and efficient
//                    contextual bandits with regression oracles", ICML 2020): each c != b with
//                    probability 1 / (K + g (s_b - s_c)), K the remaining count, and b the
//                    rest; scores are min-max normalized over the pool first, since the rule
//                    assumes rewards in [0, 1]. g >= 0; larger g explores less.
// Each shown item carries its probability given the items above it (`probability`); the
// product over a list's first j items is the probability of that prefix, which is what
// off-policy estimators weigh by. With e = 0, t -> 0 or g -> infinity the list is the greedy
// top k, with probability 1 at every position.
//
// The draw is seeded (Explore's `seed`, which serving derives from the recommendation id), so
// a replay of the log draws the same list.
//
// Thread safety: pure functions of their arguments.
#ifndef LIVEREC_EXPERIMENT_EXPLORE_H_
#define LIVEREC_EXPERIMENT_EXPLORE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "liverec/status.h"

namespace liverec {

enum class ExploreKind : uint8_t { kNone = 0, kEpsilon = 1, kSoftmax = 2, kSquareCb = 3 };

struct ExploreSpec {
  ExploreKind kind = ExploreKind::kNone;
  double parameter = 0;  // epsilon, temperature or gamma

  // "none", "epsilon:0.05", "softmax:0.5", "squarecb:10". InvalidArgument naming what is wrong
  // ("explore: expected epsilon:<e in [0, 1]>, softmax:<t > 0> or squarecb:<g >= 0>, got
  // 'epsilon:2'").
  static StatusOr<ExploreSpec> Parse(std::string_view text);
  // The text Parse reads back.
  std::string ToString() const;
  bool active() const { return kind != ExploreKind::kNone; }
  bool operator==(const ExploreSpec&) const = default;
};

struct PoolItem {
  ItemId item = kInvalidId;
  float score = 0;
};

struct ShownItem {
  ItemId item = kInvalidId;
  float score = 0;
  double probability = 1;  // of this item at this position, given the items above
};

// Replaces *out with min(k, pool.size()) items drawn from `pool` (best first) under `spec`,
// seeded by `seed`. Without exploration (kNone) the list is the pool's first k items, each with
// probability 1.
void Explore(const ExploreSpec& spec, std::span<const PoolItem> pool, size_t k, uint64_t seed,
             std::vector<ShownItem>* out);

}  // namespace liverec

#endif  // LIVEREC_EXPERIMENT_EXPLORE_H_
