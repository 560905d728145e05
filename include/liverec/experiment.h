// Experiments and the feedback loop, as the public API states them: what an operator asks for
// (ExperimentSpec) and what the engine reports (ExperimentReport, FeedbackStats).
//
// A recommendation the engine serves is a decision: it is recorded in the event log with the
// items shown, their scores and the probability each had under the serving policy. Later events
// that cite its recommendation_id join it: a positive event on a shown item is a click; the shown
// items without one when feedback.join_window of stream time has passed are impressions without
// a click (negatives for the models that learn them). An experiment splits users between arms by
// a published hash (experiment/assignment.h); each arm serves with its own model and ranking
// settings, and its decisions' clicks and impressions give its click-through rate with an
// always-valid interval (experiment/sequential_stats.h).
//
// Thread safety: plain values.
#ifndef LIVEREC_EXPERIMENT_H_
#define LIVEREC_EXPERIMENT_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace liverec {

struct ExperimentArm {
  std::string name;   // unique in the experiment; arms[0] is the control
  std::string model;  // a live instance or ensemble member
  double share = 0;   // of the experiment's users; the arms' shares sum to 1
  // Ranking settings for the arm's users (unset: the request's, else the server's).
  std::optional<double> diversity;
  std::optional<int64_t> category_cap;
  std::string explore;  // "" = the request's; else as ExploreSpec::Parse reads it

  bool operator==(const ExperimentArm&) const = default;
};

struct ExperimentSpec {
  std::string name;
  // "ab": each user is served by one arm. "interleave": exactly two arms, and every user of
  // the experiment gets one list merged from both arms' lists by team draft (Radlinski, Kurup
  // and Joachims, "How does clickthrough data reflect retrieval quality?", CIKM 2008): the
  // arm whose items get more of a list's clicks wins that list. Shares are ignored.
  std::string type = "ab";
  std::vector<ExperimentArm> arms;
  // An interleave experiment's arms may leave out their shares (both serve every user).
  // pooled: every arm's models learn all traffic; isolated: each arm serves with an instance of
  // its own, created empty, that learns only its users' events; warm_start: the same, started
  // as a copy of the live model.
  std::string learning = "pooled";
  std::string salt;  // of the assignment hash; "" = the experiment's name
  // Experiments in one layer share no user; "" = a layer of its own (its name).
  std::string layer;
  double traffic = 1;  // the share of the layer's users the experiment takes

  bool operator==(const ExperimentSpec&) const = default;
};

struct ArmReport {
  std::string name;
  std::string model;
  double share = 0;
  uint64_t users = 0;        // distinct users served by the arm
  uint64_t decisions = 0;    // lists served
  uint64_t impressions = 0;  // shown items of closed decisions
  uint64_t clicks = 0;       // of those, clicked within the join window
  double ctr = 0;            // clicks / impressions
  double ctr_lo = 0;         // the always-valid 95 % interval of the CTR
  double ctr_hi = 1;
  uint64_t evaluated = 0;      // decisions followed by a positive event of the user in the window
  double recall = 0;           // of those, the share whose event was on a shown item
  double ndcg = 0;             // its discounted gain, 1 / log2(1 + position)
  uint64_t errors = 0;         // requests that failed (no list)
  double error_rate = 0;       // errors / (decisions + errors)
  double latency_p50_ms = 0;   // the engine's time to answer, from a histogram (its buckets'
  double latency_p99_ms = 0;   // upper bounds, about 19 % apart); 0 with no lists
  double slow_share = 0;       // lists slower than the latency threshold, once it is set
  std::string stopped_reason;  // "" = serving; else why its users went back to the control
};

struct ExperimentReport {
  std::string name;
  std::string type = "ab";
  bool running = true;
  std::string learning;
  std::string salt;
  std::string layer;
  double traffic = 1;
  std::vector<ArmReport> arms;
  // The latency guardrail's threshold: the control's p99 over its first lists (0 until set).
  double latency_threshold_ms = 0;
  double srm_p = 1;               // chi-square p-value of users per arm against the shares
  double srm_always_valid_p = 1;  // the sequential test's (valid however often one looks)
  bool srm_alarm = false;         // both below 0.001
  // An ab arm whose CTR difference interval excludes 0; for interleave, the arm preferred
  // by the preference interval (which then excludes 1/2).
  std::optional<std::string> winner;
  // interleave: lists won by each arm (more of their clicks on its items), tied lists, and
  // the share of won lists that arms[1] won, with its always-valid 95 % interval.
  std::array<uint64_t, 2> wins = {0, 0};
  uint64_t ties = 0;
  double preference = 0.5;
  double preference_lo = 0;
  double preference_hi = 1;
  std::string stopped_reason;  // "" while running
  int64_t started_ms = 0;      // stream time
  int64_t stopped_ms = 0;
};

// Health of the join between decisions and feedback.
struct FeedbackStats {
  uint64_t decisions = 0;       // recorded
  uint64_t open_decisions = 0;  // within their join window
  uint64_t joined = 0;          // events that joined an open decision
  uint64_t late = 0;            // events citing a decision whose window had closed
  uint64_t unmatched = 0;       // events citing an id no recorded decision has
  uint64_t impressions = 0;     // of closed decisions
  uint64_t clicks = 0;
  // Time from a decision to the first click on it, stream time: counts per upper bound (ms),
  // the last bound infinite.
  std::vector<std::pair<double, uint64_t>> feedback_delay;
  double feedback_delay_sum_ms = 0;
  struct Model {
    std::string name;
    uint64_t decisions = 0;
    uint64_t impressions = 0;
    uint64_t clicks = 0;
    double ctr = 0;
    // Online AUC: of the (clicked, shown-not-clicked) pairs within a decision, the share where
    // the clicked item had the higher score (ties count a half); 0.5 without pairs.
    double auc = 0.5;
  };
  std::vector<Model> models;
};

}  // namespace liverec

#endif  // LIVEREC_EXPERIMENT_H_
