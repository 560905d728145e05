// Off-policy evaluation of ranked lists: what a target policy's lists would have earned, from
// lists another policy served with recorded probabilities (exploration, experiment/explore.h)
// and the clicks they got.
//
// Each logged list i shows items S_i1..S_ik, S_ij placed with probability p_ij given the items
// above it, and c_ij = 1 when S_ij was clicked. The target's list for the same user and moment
// is T_i1..T_ik (deterministic). The estimators assume the cascade model of clicks: a click at
// position j depends on the items at positions 1..j only (which the position-based model, and
// a user who reads down the list, satisfy). With the prefix weight
//   w_ij = prod_{l <= j} 1[S_il = T_il] / p_il      (w_i0 = 1)
// the value of the target (expected clicks per list) is estimated by
//   IPS    mean_i sum_j w_ij c_ij                        (unbiased; McInerney et al.,
//   "Counterfactual
//                                                          evaluation of slate recommendations with
//                                                          sequential reward interactions", KDD
//                                                          2020)
//   SNIPS  sum_j (sum_i w_ij c_ij) / (sum_i w_ij)        (self-normalized per position: biased,
//                                                          lower variance)
//   DR     mean_i sum_j [w_ij (c_ij - q(S_ij, j)) + w_i(j-1) q(T_ij, j)]
//                                                         (Kiyohara et al., "Doubly robust off-
//                                                          policy evaluation for ranking policies
//                                                          under the cascade behavior model",
//                                                          WSDM 2022)
// where q(item, j), the click model, is the item's click rate at position j in the log, shrunk
// toward the position's rate, fitted on the other half of the lists (two-fold cross-fitting, so
// q never sees the list it corrects). DR is unbiased whatever q is; a good q narrows it.
//
// Intervals are normal approximations at the asked level over the lists' terms (for SNIPS, its
// linearization). A target whose lists the logging policy never shows (no exploration, or
// different first items) leaves every weight 0: the estimates say nothing then, which
// `matched` (lists whose first item agrees) tells.
//
// Thread safety: a pure function of its arguments.
#ifndef LIVEREC_EXPERIMENT_OFF_POLICY_H_
#define LIVEREC_EXPERIMENT_OFF_POLICY_H_

#include <cstdint>
#include <span>
#include <vector>

namespace liverec {

struct LoggedList {
  std::vector<uint32_t> shown;      // item ids, top first
  std::vector<double> probability;  // of each shown item given those above, in (0, 1]
  std::vector<uint8_t> clicked;     // 1: clicked
  std::vector<uint32_t> target;     // the target policy's list, top first
};

struct PolicyEstimate {
  double value = 0;  // expected clicks per list
  double lo = 0;     // the interval at the asked level
  double hi = 0;
};

struct OffPolicyReport {
  uint64_t lists = 0;
  uint64_t matched = 0;        // lists whose first shown item is the target's first
  double logged_value = 0;     // clicks per list the logging policy earned
  double effective_lists = 0;  // (sum w_i1)^2 / sum w_i1^2: lists the first position is worth
  PolicyEstimate ips;
  PolicyEstimate snips;
  PolicyEstimate dr;
};

// Estimates the target's value from `lists` at the interval level `level` in (0, 1). Positions
// past either list's end count neither clicks nor weight.
OffPolicyReport EstimateOffPolicy(std::span<const LoggedList> lists, double level);

}  // namespace liverec

#endif  // LIVEREC_EXPERIMENT_OFF_POLICY_H_
