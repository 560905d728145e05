// ExperimentSet: the engine's experiments — their specs as put, the assignment of users to
// arms, and each arm's figures (users, decisions, impressions, clicks, CTR with its always-valid
// interval, recall and NDCG of the lists) — as part of the learned state: experiments are log
// records, their figures come from the decisions and events the log holds, so a restart or a
// replay recreates them exactly.
//
// Assignment. Each experiment belongs to a layer (its own by default). A user's layer bucket,
// AssignmentBucket("layer:" + layer, user), picks the layer's experiment (or none: the layer's
// allocation gives each experiment `traffic` of the buckets and keeps the rest free); the
// user's experiment bucket, AssignmentBucket(salt, user), picks the arm. Both allocations ramp
// by moving the fewest buckets (experiment/assignment.h), so a ramp never re-buckets users it
// need not move, and experiments of one layer never share a user.
//
// Statistics (experiment/sequential_stats.h), read at any time:
// - each arm's CTR interval is the 95 % confidence sequence of its impressions' outcomes;
// - a treatment (an arm after the first, the control) is the winner when the sequence of its
//   difference from the control, at level 0.05 / (number of treatments), lies above 0; the
//   control is, when every serving treatment's lies below 0;
// - guardrails: a treatment is stopped, its share returned to the control so that its users
//   are served by the control from then on, when it is significantly worse than the control
//   on one of
//     CTR: the difference sequence of the CTRs lies below 0;
//     error rate: the sequence of the difference of the arms' shares of failed requests
//       (DecisionRecord::error) lies above 0;
//     p99 latency: the sequence of the difference of the arms' shares of lists slower than a
//       threshold lies above 0. The threshold is the control's p99 over its first
//       kLatencyCalibrationDecisions lists (then fixed): with equal latency distributions both
//       arms exceed it equally often (about 1 %), and a treatment whose p99 is higher exceeds
//       it more often. Fixing it first keeps the later outcomes independent of it.
//   Each test runs at level 0.05 / (number of treatments), as the winner's does;
// - the sample-ratio-mismatch alarm reads the users each arm served against the arms' shares
//   since the last ramp.
//
// Interleaving (type "interleave", two arms): every user of the experiment gets one list merged
// from both arms' lists by team draft (the recommender's job); each shown item belongs to the
// arm that placed it. A closed list whose items of one arm drew more clicks is a win for that
// arm; the preference is the share of won lists that arms[1] won, with its always-valid 95 %
// interval, and the winner is the arm the interval favours once it excludes 1/2. Each arm's
// CTR counts its own items. No shares, SRM test or guardrail apply (both arms serve every
// list, so a list's failure or latency is not one arm's).
//
// Thread safety: none inside; the engine's state lock covers it (Assign and the reports are
// const, for readers).
#ifndef LIVEREC_ENGINE_EXPERIMENTS_H_
#define LIVEREC_ENGINE_EXPERIMENTS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/serialize.h"
#include "experiment/assignment.h"
#include "experiment/explore.h"
#include "experiment/sequential_stats.h"
#include "liverec/experiment.h"
#include "liverec/status.h"

namespace liverec {

// The level of every interval and test of an experiment.
inline constexpr double kExperimentAlpha = 0.05;
// The confidence sequences are tightest around this many outcomes per arm.
inline constexpr double kExperimentTightestAt = 10000;
// The SRM alarm's threshold, for both tests.
inline constexpr double kSrmAlarmP = 0.001;
// The latency guardrail's threshold is the control's p99 over this many of its first lists.
inline constexpr size_t kLatencyCalibrationDecisions = 1000;
// Each arm's latency histogram: kLatencyBucketsPerOctave log-spaced buckets per doubling from
// 1 us, kLatencyBuckets in all (the last takes everything above 2^15.75 us, about 55 ms).
inline constexpr int kLatencyBucketsPerOctave = 4;
inline constexpr size_t kLatencyBuckets = 64;
// ExperimentSpec::learning: every arm's models learn all traffic; each arm learns its own
// instance from its own users' events only, fresh or started as a copy of the live one.
inline constexpr std::string_view kPooledLearning = "pooled";
inline constexpr std::string_view kIsolatedLearning = "isolated";
inline constexpr std::string_view kWarmStartLearning = "warm_start";
// ExperimentSpec::type of team-draft interleaving.
inline constexpr std::string_view kInterleave = "interleave";
// The preference sequence of an interleave experiment is tightest around this many won lists.
inline constexpr double kInterleaveTightestAt = 1000;

class ExperimentSet {
 public:
  // Checks `spec` as a new experiment, or as a ramp of the running experiment of its name:
  // InvalidArgument naming the field ("arms[1].model: no live model 'knn2'", "arms: shares
  // sum to 0.9, expected 1", "learning: expected pooled, isolated or warm_start", "arms: an
  // experiment's arms are never removed or renamed (had control, treatment)"), and
  // FailedPrecondition when the layer has no room for its traffic. `model_exists` tells
  // whether a model name is live.
  Status Check(const ExperimentSpec& spec,
               const std::function<bool(std::string_view)>& model_exists) const;
  // Starts or ramps (spec passed Check) at stream time `time_ms`. A stopped experiment of the
  // same name is replaced by a new one.
  void Put(const ExperimentSpec& spec, int64_t time_ms);
  // Stops the running experiment `name`: its users go back to no experiment; its figures stay.
  // NotFound when no running experiment has the name.
  Status Stop(std::string_view name, int64_t time_ms);
  Status CheckStop(std::string_view name) const;

  struct Assignment {
    const ExperimentSpec* spec = nullptr;
    uint32_t arm = 0;
    const ExperimentArm& arm_spec() const { return spec->arms[arm]; }
  };
  // The running experiments' arms serving `user`, one per layer (the first layer by name when
  // several have one: a request is served by one arm).
  std::optional<Assignment> Assign(std::string_view user) const;

  // Feedback, in log order (the apply thread).
  // A decision served by `arm` of `experiment` to `user` (an interleaved one: arm "", both)
  // at stream time `time_ms`, in `latency_us` (0: not measured); `failed`: the request failed
  // (no list).
  void OnDecision(std::string_view experiment, std::string_view arm, std::string_view user,
                  uint32_t latency_us, bool failed, int64_t time_ms);
  // A closed decision's impressions: `clicked` of `impressions` were clicked.
  void OnClosed(std::string_view experiment, std::string_view arm, uint64_t impressions,
                uint64_t clicked, int64_t time_ms);
  // A closed interleaved decision: per arm (0, 1), its items shown and clicked.
  void OnInterleavedClosed(std::string_view experiment, const std::array<uint64_t, 2>& impressions,
                           const std::array<uint64_t, 2>& clicks);
  // The index of `arm` in `experiment`'s arms; -1 when either is unknown.
  int ArmIndex(std::string_view experiment, std::string_view arm) const;
  // A decision followed by a positive event of its user: on the list at `position` (1-based),
  // or not on it (0).
  void OnEvaluated(std::string_view experiment, std::string_view arm, uint32_t position);

  std::optional<ExperimentReport> Report(std::string_view name) const;
  // The spec of the experiment `name` as put (null when there is none).
  const ExperimentSpec* FindSpec(std::string_view name) const;
  std::vector<ExperimentReport> Reports() const;  // by name
  bool empty() const { return experiments_.empty(); }

  void Save(BinaryWriter* out) const;
  Status Load(BinaryReader* in);

 private:
  struct Arm {
    uint64_t decisions = 0;
    uint64_t impressions = 0;
    uint64_t clicks = 0;
    uint64_t evaluated = 0;
    uint64_t hits = 0;
    double gain = 0;
    OutcomeStats ctr;
    uint64_t errors = 0;  // failed requests
    OutcomeStats failed;  // per request: 1 = failed, 0 = a list served
    OutcomeStats slow;    // per measured list once the threshold is set: 1 = slower than it
    std::vector<uint64_t> latency_counts = std::vector<uint64_t>(kLatencyBuckets, 0);
    std::unordered_set<uint64_t> users;      // hashes of the user keys served
    std::unordered_set<uint64_t> srm_users;  // the same, since the last ramp (the SRM's)
    std::string stopped_reason;
  };
  struct Experiment {
    ExperimentSpec spec;
    bool running = true;
    std::string stopped_reason;
    int64_t started_ms = 0;
    int64_t stopped_ms = 0;
    BucketAllocation allocation;
    std::vector<Arm> arms;
    // Users per arm since the last ramp (its counts feed the chi-square test too).
    std::unique_ptr<SequentialSrm> srm;
    // Interleaving: lists won by each arm, tied lists, and the won lists' outcomes (1: arms[1]).
    std::array<uint64_t, 2> wins = {0, 0};
    uint64_t ties = 0;
    OutcomeStats preference;
    // The latency guardrail's threshold (0 until set) and the control's latencies until then.
    uint32_t latency_threshold_us = 0;
    std::vector<uint32_t> calibration;
  };
  struct Layer {
    std::vector<std::string> slots;  // experiment names; slot 0 is free traffic ("")
    BucketAllocation allocation;
  };

  const Experiment* Find(std::string_view name) const;
  Experiment* Find(std::string_view name);
  Arm* FindArm(std::string_view experiment, std::string_view arm, Experiment** owner);
  std::string LayerOf(const ExperimentSpec& spec) const;
  // The shares of `layer`'s slots with `experiment` given `traffic` (0 = leaving).
  std::vector<double> LayerShares(const Layer& layer, std::string_view experiment,
                                  double traffic) const;
  // The arms' shares, stopped arms' given to the control.
  static std::vector<double> ServingShares(const Experiment& e);
  // Starts the SRM tests afresh on the current serving shares (after a ramp or a stop).
  static void RestartSrm(Experiment* e);
  // Stops the treatments significantly worse than the control on a guardrail.
  void CheckGuardrails(Experiment* e, int64_t time_ms);
  // Counts a list served in `latency_us` by arm `index` (the latency guardrail's outcomes).
  static void AddLatency(Experiment* e, size_t index, uint32_t latency_us);
  ExperimentReport MakeReport(const Experiment& e) const;

  std::map<std::string, Experiment, std::less<>> experiments_;
  std::map<std::string, Layer, std::less<>> layers_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_EXPERIMENTS_H_
