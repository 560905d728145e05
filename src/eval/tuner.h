// Tuner: searches each model's knobs on a prequential validation slice of a stream, by
// successive halving, and returns the best setting of each model (`liverec tune`).
//
// Protocol. The search sees only the first `tune_fraction` of the events (by count); the rest
// is left for the caller to check the chosen settings on (`liverec replay --config`, with
// --train-fraction equal to tune_fraction, scores exactly the events the search never saw).
// Each trial is an online replay (eval/replay.h, Protocol::kOnline, the same candidates,
// exclusions and bootstrap intervals) of one setting on a prefix of that slice: the model learns
// from the prefix's start and is scored, test-then-train, on the prefix's last
// `score_fraction` of events.
//
// Search: brackets of successive halving (Hyperband's loop, at one halving rate). In each
// bracket every model draws `configs` settings it has not tried yet, uniformly from the grid of
// its search space (seeded; a grid of at most `configs` points is taken whole, in the first
// bracket); the first bracket's first setting is the model's defaults (no override: the table's
// defaults under ReplayOptions::options). Rung 0 scores every setting on the shortest prefix;
// each later rung keeps the best 1/eta of the previous rung's settings (at least one) and
// scores them on a prefix eta times longer, the last rung on the whole slice. All settings of
// one rung, of every model, run as instances of one RunReplay, in parallel on
// ReplayOptions::context.num_threads. A model's winner is its best setting on the longest
// prefix any of its settings reached (the whole slice unless the budget intervened), over all
// brackets; ties go to the earlier setting, so the defaults win a tie.
//
// Budget. Before each rung after a bracket's first, its wall time is estimated from the
// previous rung's (per setting, in proportion to the prefix length, divided among the threads),
// and before each bracket after the first from the last bracket's; what would end past
// `budget_seconds` is not started (TuneReport::budget_reached). With `brackets` = 0 the search
// runs brackets until the budget or every search space is spent, so how many it runs depends
// on the machine's speed; the report says how many, and `brackets` = that number repeats the
// search exactly: results are deterministic for a given seed, number of brackets and standard
// library (the draws are salted with std::hash of the model's name) as long as the budget does
// not cut a bracket short.
//
// Thread safety: RunTune is reentrant; it uses only its arguments.
#ifndef LIVEREC_EVAL_TUNER_H_
#define LIVEREC_EVAL_TUNER_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eval/bootstrap.h"
#include "eval/replay.h"
#include "event/dataset.h"
#include "liverec/status.h"

namespace liverec {

// One knob of a search space: a field of the model type's options ("dim" of mf) and the values
// tried, in the syntax of the option table ("32", "1h", "true").
struct TuneKnob {
  std::string field;
  std::vector<std::string> values;
};

// The knobs searched for `type` by default (learning rates, dimensions, negatives, half-lives,
// windows, regularization; ranges around the table's defaults, wide enough for films and
// news); empty for a type without one.
std::vector<TuneKnob> DefaultSearchSpace(std::string_view type);

// The metric a search maximizes.
enum class TuneMetric { kRecall, kNdcg, kMrr };
std::string_view TuneMetricName(TuneMetric metric);
StatusOr<TuneMetric> ParseTuneMetric(std::string_view name);

// A setting: (field, value) pairs of one model, in the order of its search space; empty = the
// defaults.
using TuneSetting = std::vector<std::pair<std::string, std::string>>;

struct TuneOptions {
  // The models tuned, each separately (a NAME:TYPE instance gets NAME.field overrides).
  std::vector<ModelSpec> models;
  TuneMetric metric = TuneMetric::kRecall;
  double tune_fraction = 0.5;       // share of the stream the search may see, in (0, 1]
  double score_fraction = 0.5;      // share of each prefix that is scored, in (0, 1]
  uint32_t configs = 27;            // settings per model, the defaults included; >= 1
  uint32_t eta = 3;                 // keep 1/eta per rung, prefixes grow eta-fold; >= 2
  size_t min_prefix_events = 2000;  // rungs are dropped until the shortest prefix has this many
  double budget_seconds = 600;
  uint32_t brackets = 0;  // 0 = as many as the budget allows; N = at most N
  // Search spaces by model type, replacing DefaultSearchSpace for the types present.
  std::map<std::string, std::vector<TuneKnob>> spaces;
  // k, exclude_seen, active_window_ms, cold_user_events, the base options (the defaults the
  // settings override), features, item metadata, bootstrap, threads and seed. Its models,
  // protocols and train_fraction are set by the tuner.
  ReplayOptions replay;
  // Called from the calling thread after each rung with its bracket, index, prefix length and
  // the seconds the search has taken so far.
  std::function<void(int bracket, int rung, size_t prefix_events, double seconds)> on_rung;
};

// One setting scored on one prefix.
struct TuneTrial {
  std::string model;
  std::string type;
  size_t model_index = 0;  // in TuneOptions::models
  uint32_t config = 0;     // index among the model's settings; 0 = the defaults
  TuneSetting setting;
  uint32_t bracket = 0;
  int rung = 0;
  size_t prefix_events = 0;
  uint64_t scored_events = 0;  // evaluated events (repeats and the first part excluded)
  double score = 0;            // the metric
  MetricInterval interval;     // its bootstrap interval (empty when resamples = 0)
  double seconds = 0;          // the run's wall time
};

// The winner of one model.
struct TuneChoice {
  std::string model;
  std::string type;
  uint32_t config = 0;
  TuneSetting setting;  // the winner's values of every knob of the space (defaults included)
  double score = 0;     // on the longest prefix reached
  MetricInterval interval;
  size_t prefix_events = 0;
  double default_score = 0;  // the defaults' score on the same prefix, if they reached it
  bool default_reached = false;
};

struct TuneReport {
  size_t tune_events = 0;  // events the search could see
  uint32_t brackets_run = 0;
  bool budget_reached = false;  // the budget stopped a rung or bracket from starting
  double seconds = 0;
  std::vector<TuneTrial> trials;    // in rung order, then model and setting order
  std::vector<TuneChoice> choices;  // one per model, in the order given
};

// Runs the search on `dataset` (in stream order). Errors: bad options (naming the field), an
// unknown knob in a search space, a model without a search space, or a failed replay.
StatusOr<TuneReport> RunTune(const Dataset& dataset, const TuneOptions& options);

// The table of what was tried: one line per trial (model, setting, prefix, scored events,
// metric with its interval, seconds), then the winners.
std::string TuneTable(const TuneReport& report, TuneMetric metric);

// The winners as a config file (`option = value` lines, Options::LoadConfigFile), every knob of
// each model's space as NAME.field, with '#' comments giving `header` and each model's
// validation figures.
std::string TuneConfigFile(const TuneReport& report, TuneMetric metric, std::string_view header);

}  // namespace liverec

#endif  // LIVEREC_EVAL_TUNER_H_
