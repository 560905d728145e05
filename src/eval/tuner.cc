// Successive halving over model settings (Jamieson & Talwalkar 2016, the inner loop of
// Hyperband, Li et al. 2017), with prefixes of the stream as the resource: a setting that is
// poor on the first tenth of a stream is rarely the best on all of it, and a short prefix costs
// a tenth of the time. Prefixes rather than random samples of events, because the models learn
// online and the order of events (drift, new items) is what the knobs are tuned to.
#include "eval/tuner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "common/check.h"
#include "common/random.h"
#include "common/strings.h"

namespace liverec {
namespace {

// Salt of the seed the settings are drawn with, so that they do not follow the replays' draws.
constexpr uint64_t kSettingSeedSalt = 0x7475'6e65;  // "tune"
// Draws per wanted setting before a search space counts as exhausted (duplicates are redrawn).
constexpr uint32_t kDrawsPerSetting = 50;

// A model's search: its space and every setting drawn so far, the defaults first.
struct Candidates {
  ModelSpec spec;
  std::vector<TuneKnob> space;
  std::vector<TuneSetting> settings;  // settings[0] is empty: the defaults
  TuneSetting defaults;               // the effective value of every knob under the defaults
  std::set<std::string> seen;         // SettingKey of every setting drawn, the defaults' included
  bool whole_grid = false;            // the grid fits in one bracket: all of it is in settings
  Random random{0};
};

// The value `name.field` (instance `name` of `type`) has under `options` with no setting: the
// instance's override, the type's, or the table's default.
std::string EffectiveValue(const Options& options, const ModelSpec& spec,
                           const std::string& field) {
  const auto& overrides = options.overrides();
  if (auto it = overrides.find(spec.name + "." + field); it != overrides.end()) return it->second;
  if (auto it = overrides.find(spec.type + "." + field); it != overrides.end()) return it->second;
  return std::string(FindOption(spec.type + "." + field)->default_value);
}

std::string SettingKey(const TuneSetting& setting) {
  std::string key;
  for (const auto& [field, value] : setting) key += field + "=" + value + " ";
  return key;
}

double GridSize(const std::vector<TuneKnob>& space) {
  double size = 1;
  for (const TuneKnob& knob : space) size *= static_cast<double>(knob.values.size());
  return size;
}

// The grid point with mixed-radix index `index`, the first knob varying slowest.
TuneSetting GridPoint(const std::vector<TuneKnob>& space, uint64_t index) {
  TuneSetting setting(space.size());
  for (size_t k = space.size(); k-- > 0;) {
    const uint64_t n = space[k].values.size();
    setting[k] = {space[k].field, space[k].values[index % n]};
    index /= n;
  }
  return setting;
}

StatusOr<Candidates> MakeCandidates(const ModelSpec& spec, const TuneOptions& options) {
  Candidates c;
  c.spec = spec;
  if (auto it = options.spaces.find(spec.type); it != options.spaces.end()) {
    c.space = it->second;
  } else {
    c.space = DefaultSearchSpace(spec.type);
  }
  if (c.space.empty()) {
    return InvalidArgument("model '" + spec.name + "': no search space for type '" + spec.type +
                           "'");
  }
  for (const TuneKnob& knob : c.space) {
    const std::string name = spec.type + "." + knob.field;
    if (FindOption(name) == nullptr) {
      return InvalidArgument("search space of '" + spec.type + "': unknown option " + name);
    }
    if (knob.values.empty()) {
      return InvalidArgument("search space of '" + spec.type + "': no values for " + name);
    }
    for (const std::string& value : knob.values) {
      Options probe;
      LIVEREC_RETURN_IF_ERROR(
          probe.Set(name, value).WithPrefix("search space of '" + spec.type + "'"));
    }
    c.defaults.emplace_back(knob.field, EffectiveValue(options.replay.options, spec, knob.field));
  }

  c.settings.push_back({});
  c.seen.insert(SettingKey(c.defaults));
  // std::hash of a string is fixed within a standard library (libstdc++: a seeded Murmur
  // hash), so draws repeat for a given seed and toolchain.
  c.random.Seed(DeriveSeed(options.replay.context.seed,
                           kSettingSeedSalt ^ std::hash<std::string>{}(spec.name)));
  return c;
}

// Adds up to `count` settings never drawn before to `c` (the rest of the grid at once when at
// most `count` points of it are untried) and returns their indices; empty when the space is
// exhausted.
std::vector<uint32_t> DrawSettings(Candidates* c, uint32_t count) {
  std::vector<uint32_t> drawn;
  auto add = [&](TuneSetting point) {
    if (!c->seen.insert(SettingKey(point)).second) return;
    drawn.push_back(static_cast<uint32_t>(c->settings.size()));
    c->settings.push_back(std::move(point));
  };
  if (c->whole_grid) return drawn;
  const double grid = GridSize(c->space);
  // Points not tried yet (the defaults may lie off the grid: at least this many).
  const double untried = grid - static_cast<double>(c->settings.size() - 1);
  if (untried <= count) {
    // The rest of the grid fits: every untried point, in grid order. (Drawing would have to
    // find the last few untried points by chance.)
    c->whole_grid = true;
    for (uint64_t i = 0; i < static_cast<uint64_t>(grid); ++i) add(GridPoint(c->space, i));
    return drawn;
  }
  for (uint32_t draw = 0; drawn.size() < count && draw < kDrawsPerSetting * count; ++draw) {
    TuneSetting point(c->space.size());
    for (size_t k = 0; k < c->space.size(); ++k) {
      const auto n = static_cast<uint32_t>(c->space[k].values.size());
      point[k] = {c->space[k].field, c->space[k].values[c->random.Uniform(n)]};
    }
    add(std::move(point));
  }
  return drawn;
}

std::string TrialInstance(const ModelSpec& spec, uint32_t config) {
  return fmt::format("{}_t{:02d}", spec.name, config);
}

double MetricOf(const RunResult& result, TuneMetric metric, MetricInterval* interval) {
  switch (metric) {
    case TuneMetric::kRecall:
      *interval = result.intervals.recall;
      return result.metrics.recall;
    case TuneMetric::kNdcg:
      *interval = result.intervals.ndcg;
      return result.metrics.ndcg;
    case TuneMetric::kMrr:
      *interval = result.intervals.mrr;
      return result.metrics.mrr;
  }
  return 0;
}

bool Better(const TuneTrial& a, const TuneTrial& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.config < b.config;
}

std::string SettingText(const TuneSetting& setting) {
  if (setting.empty()) return "(defaults)";
  std::string text;
  for (const auto& [field, value] : setting) {
    text += (text.empty() ? "" : " ") + field + "=" + value;
  }
  return text;
}

std::string Figure(double score, const MetricInterval& interval) {
  if (interval.low == 0 && interval.high == 0) return fmt::format("{:.4f}", score);
  return fmt::format("{:.4f} [{:.4f}, {:.4f}]", score, interval.low, interval.high);
}

}  // namespace

std::vector<TuneKnob> DefaultSearchSpace(std::string_view type) {
  // Half-lives from a quarter hour (news) to a month (films), and 0 = no decay.
  if (type == "popularity") {
    return {{"half_life", {"0", "15m", "30m", "1h", "2h", "6h", "1d", "7d", "30d"}}};
  }
  if (type == "item_knn") {
    return {{"window", {"5", "10", "20", "40"}},
            {"half_life", {"0", "1h", "6h", "1d", "7d", "30d"}},
            {"similarity", {"cosine", "jaccard"}}};
  }
  if (type == "transitions") {
    return {{"half_life", {"0", "15m", "1h", "6h", "1d", "7d"}},
            {"window", {"1", "3", "5", "10"}},
            {"older_weight", {"0.5", "0.75", "1"}},
            {"backoff", {"0.01", "0.1", "1"}}};
  }
  if (type == "mf") {
    return {{"dim", {"16", "32", "64", "128"}},
            {"learning_rate", {"0.05", "0.1", "0.2", "0.4"}},
            {"regularization", {"0.001", "0.01", "0.05"}},
            {"negatives", {"4", "8", "16", "32"}},
            {"loss", {"squared", "bpr"}},
            {"item_bias", {"false", "true"}},
            {"min_count", {"1", "2"}}};
  }
  if (type == "fm") {
    return {{"dim", {"16", "32", "64"}},
            {"learning_rate", {"0.1", "0.3", "0.6"}},
            {"regularization", {"0.0001", "0.001", "0.01"}},
            {"negatives", {"8", "16", "32"}}};
  }
  if (type == "seq") {
    return {{"dim", {"32", "64"}},
            {"learning_rate", {"0.0003", "0.001", "0.003"}},
            {"dropout", {"0.1", "0.2", "0.4"}},
            {"max_len", {"20", "50"}}};
  }
  if (type == "ensemble") {
    return {{"weight_floor", {"0.3", "0.45", "0.6", "0.8"}},
            {"learning_rate", {"0.02", "0.05", "0.1", "0.2"}},
            {"fusion", {"weighted", "rrf"}}};
  }
  return {};
}

std::string_view TuneMetricName(TuneMetric metric) {
  switch (metric) {
    case TuneMetric::kRecall:
      return "recall";
    case TuneMetric::kNdcg:
      return "ndcg";
    case TuneMetric::kMrr:
      return "mrr";
  }
  return "?";
}

StatusOr<TuneMetric> ParseTuneMetric(std::string_view name) {
  for (TuneMetric metric : {TuneMetric::kRecall, TuneMetric::kNdcg, TuneMetric::kMrr}) {
    if (TuneMetricName(metric) == name) return metric;
  }
  return InvalidArgument("metric: expected recall, ndcg or mrr, got '" + std::string(name) + "'");
}

StatusOr<TuneReport> RunTune(const Dataset& dataset, const TuneOptions& options) {
  if (options.models.empty()) return InvalidArgument("models: none to tune");
  if (!(options.tune_fraction > 0 && options.tune_fraction <= 1)) {
    return InvalidArgument("tune_fraction: must be in (0, 1]");
  }
  if (!(options.score_fraction > 0 && options.score_fraction <= 1)) {
    return InvalidArgument("score_fraction: must be in (0, 1]");
  }
  if (options.configs < 1) return InvalidArgument("configs: must be at least 1");
  if (options.eta < 2) return InvalidArgument("eta: must be at least 2");
  if (!(options.budget_seconds > 0)) return InvalidArgument("budget: must be positive");
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  std::vector<Candidates> candidates;
  std::set<std::string> names;
  for (const ModelSpec& spec : options.models) {
    if (!names.insert(spec.name).second) {
      return InvalidArgument("models: '" + spec.name + "' given twice");
    }
    LIVEREC_ASSIGN_OR_RETURN(Candidates c, MakeCandidates(spec, options));
    candidates.push_back(std::move(c));
  }

  TuneReport report;
  report.tune_events =
      static_cast<size_t>(static_cast<double>(dataset.events.size()) * options.tune_fraction);
  if (report.tune_events == 0) return InvalidArgument("data: no events to tune on");
  // Copied once: each rung replays a prefix of the slice's events (`events`).
  Dataset slice = dataset;
  slice.events.resize(report.tune_events);
  const std::vector<Event> events = slice.events;

  double last_bracket_seconds = 0;
  for (uint32_t bracket = 0;; ++bracket) {
    if (options.brackets > 0 && bracket >= options.brackets) break;
    if (bracket > 0 && elapsed() + last_bracket_seconds > options.budget_seconds) {
      report.budget_reached = true;
      break;
    }
    const double bracket_start = elapsed();
    // survivors[m]: indices into candidates[m].settings still in this bracket's race.
    std::vector<std::vector<uint32_t>> survivors(candidates.size());
    size_t max_settings = 0;
    for (size_t m = 0; m < candidates.size(); ++m) {
      if (bracket == 0) survivors[m].push_back(0);
      const uint32_t wanted = options.configs - (bracket == 0 ? 1 : 0);
      for (uint32_t i : DrawSettings(&candidates[m], wanted)) survivors[m].push_back(i);
      max_settings = std::max(max_settings, survivors[m].size());
    }
    if (max_settings == 0) break;  // every space exhausted

    // Enough rungs that the last one holds a single setting of the largest model, fewer if the
    // shortest prefix would fall under min_prefix_events.
    int rungs = 1;
    for (size_t n = max_settings; n >= options.eta; n /= options.eta) ++rungs;
    auto prefix_of = [&](int rung) {
      double prefix = static_cast<double>(report.tune_events);
      for (int r = rung; r + 1 < rungs; ++r) prefix /= options.eta;
      return std::max<size_t>(1, static_cast<size_t>(prefix));
    };
    while (rungs > 1 && prefix_of(0) < options.min_prefix_events) --rungs;

    std::vector<TuneTrial> last_rung;
    for (int rung = 0; rung < rungs; ++rung) {
      const size_t prefix = prefix_of(rung);
      if (rung > 0) {
        const double growth =
            static_cast<double>(prefix) / static_cast<double>(prefix_of(rung - 1));
        double work_seconds = 0;
        for (const TuneTrial& trial : last_rung) {
          const std::vector<uint32_t>& alive = survivors[trial.model_index];
          if (std::find(alive.begin(), alive.end(), trial.config) != alive.end()) {
            work_seconds += trial.seconds * growth;
          }
        }
        const double threads = std::max(1, options.replay.context.num_threads);
        if (elapsed() + work_seconds / threads > options.budget_seconds) {
          report.budget_reached = true;
          break;
        }
      }

      slice.events.assign(events.begin(), events.begin() + static_cast<ptrdiff_t>(prefix));
      ReplayOptions replay = options.replay;
      replay.models.clear();
      replay.protocols = {Protocol::kOnline};
      replay.train_fraction = 1 - options.score_fraction;
      replay.on_progress = nullptr;
      for (size_t m = 0; m < candidates.size(); ++m) {
        const Candidates& c = candidates[m];
        for (uint32_t config : survivors[m]) {
          const std::string instance = TrialInstance(c.spec, config);
          replay.models.push_back({instance, c.spec.type});
          // The instance's own overrides carry over to its trials; the setting comes on top.
          for (const TuneKnob& knob : c.space) {
            const auto& overrides = options.replay.options.overrides();
            if (auto it = overrides.find(c.spec.name + "." + knob.field); it != overrides.end()) {
              LIVEREC_RETURN_IF_ERROR(replay.options.Set(instance + "." + knob.field, it->second));
            }
          }
          for (const auto& [field, value] : c.settings[config]) {
            LIVEREC_RETURN_IF_ERROR(replay.options.Set(instance + "." + field, value));
          }
        }
      }
      LIVEREC_ASSIGN_OR_RETURN(const ReplayReport run, RunReplay(slice, replay));

      last_rung.clear();
      size_t next_result = 0;
      for (size_t m = 0; m < candidates.size(); ++m) {
        const Candidates& c = candidates[m];
        std::vector<TuneTrial> model_trials;
        for (uint32_t config : survivors[m]) {
          const RunResult& result = run.results[next_result++];
          TuneTrial trial;
          trial.model = c.spec.name;
          trial.type = c.spec.type;
          trial.model_index = m;
          trial.config = config;
          trial.setting = c.settings[config];
          trial.bracket = bracket;
          trial.rung = rung;
          trial.prefix_events = prefix;
          trial.scored_events = result.metrics.events;
          trial.score = MetricOf(result, options.metric, &trial.interval);
          trial.seconds = result.seconds;
          model_trials.push_back(trial);
        }
        if (model_trials.empty()) continue;
        std::sort(model_trials.begin(), model_trials.end(), Better);
        const size_t keep =
            std::max<size_t>(1, (model_trials.size() + options.eta - 1) / options.eta);
        survivors[m].clear();
        for (size_t i = 0; i < keep; ++i) survivors[m].push_back(model_trials[i].config);
        // The table lists settings in their order, not by score.
        std::sort(model_trials.begin(), model_trials.end(),
                  [](const TuneTrial& a, const TuneTrial& b) { return a.config < b.config; });
        last_rung.insert(last_rung.end(), model_trials.begin(), model_trials.end());
      }
      report.trials.insert(report.trials.end(), last_rung.begin(), last_rung.end());
      if (options.on_rung) options.on_rung(static_cast<int>(bracket), rung, prefix, elapsed());
    }
    ++report.brackets_run;
    last_bracket_seconds = elapsed() - bracket_start;
    if (report.budget_reached) break;
  }

  for (const Candidates& c : candidates) {
    // Only figures on the same prefix compare: the longest one the model's settings reached.
    size_t longest = 0;
    for (const TuneTrial& trial : report.trials) {
      if (trial.model == c.spec.name) longest = std::max(longest, trial.prefix_events);
    }
    const TuneTrial* best = nullptr;
    const TuneTrial* defaults = nullptr;
    for (const TuneTrial& trial : report.trials) {
      if (trial.model != c.spec.name || trial.prefix_events != longest) continue;
      if (best == nullptr || Better(trial, *best)) best = &trial;
      if (trial.config == 0) defaults = &trial;
    }
    LIVEREC_CHECK(best != nullptr);
    TuneChoice choice;
    choice.model = c.spec.name;
    choice.type = c.spec.type;
    choice.config = best->config;
    choice.setting = best->config == 0 ? c.defaults : best->setting;
    choice.score = best->score;
    choice.prefix_events = best->prefix_events;
    choice.interval = best->interval;
    if (defaults != nullptr) {
      choice.default_reached = true;
      choice.default_score = defaults->score;
    }
    report.choices.push_back(std::move(choice));
  }
  report.seconds = elapsed();
  return report;
}

std::string TuneTable(const TuneReport& report, TuneMetric metric) {
  std::string out = fmt::format(
      "| bracket | rung | prefix events | scored | model | setting | {} | seconds |\n"
      "|---|---|---|---|---|---|---|---|\n",
      TuneMetricName(metric));
  for (const TuneTrial& t : report.trials) {
    out += fmt::format("| {} | {} | {} | {} | {} | #{} {} | {} | {:.1f} |\n", t.bracket, t.rung,
                       t.prefix_events, t.scored_events, t.model, t.config, SettingText(t.setting),
                       Figure(t.score, t.interval), t.seconds);
  }
  out += fmt::format("\n{} bracket{} on the first {} events in {:.1f} s{}\n", report.brackets_run,
                     report.brackets_run == 1 ? "" : "s", report.tune_events, report.seconds,
                     report.budget_reached ? " (the budget ended the search)" : "");
  for (const TuneChoice& c : report.choices) {
    out += fmt::format("{}: #{} {}: {} {} on {} events", c.model, c.config, SettingText(c.setting),
                       TuneMetricName(metric), Figure(c.score, c.interval), c.prefix_events);
    if (c.default_reached && c.config != 0) {
      out += fmt::format(" (defaults {:.4f})", c.default_score);
    }
    out += "\n";
  }
  return out;
}

std::string TuneConfigFile(const TuneReport& report, TuneMetric metric, std::string_view header) {
  std::string out;
  for (std::string_view line : Split(header, '\n')) out += "# " + std::string(line) + "\n";
  for (const TuneChoice& c : report.choices) {
    out += fmt::format("\n# {} ({}): setting #{}{}, validation {} {}", c.model, c.type, c.config,
                       c.config == 0 ? " (the defaults)" : "", TuneMetricName(metric),
                       Figure(c.score, c.interval));
    if (c.default_reached && c.config != 0) {
      out += fmt::format(", defaults {:.4f}", c.default_score);
    }
    out += "\n";
    for (const auto& [field, value] : c.setting) {
      out += c.model + "." + field + " = " + value + "\n";
    }
  }
  return out;
}

}  // namespace liverec
