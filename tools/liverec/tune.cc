// liverec tune: searches each model's knobs on the first part of a stream (eval/tuner.h),
// prints what it tried and writes the winners as a config file that replay, train and serve
// read (--config).
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "commands.h"
#include "common/strings.h"
#include "eval/dataset_features.h"
#include "eval/tuner.h"
#include "event/item_metadata.h"

namespace liverec::tools {
namespace {

struct TuneFlags {
  DataFlags data;
  std::string items_path;
  std::string context_keys;
  std::string models = "popularity,item_knn,transitions,mf";
  std::string metric = "recall";
  std::string budget = "10m";
  std::string out_path = "tuned.conf";
  uint32_t configs = 27;
  uint32_t eta = 3;
  uint32_t brackets = 0;
  double tune_fraction = 0.5;
  double score_fraction = 0.5;
  size_t min_prefix = 2000;
  uint32_t k = 10;
  std::string active_window = "0";
  bool exclude_seen = true;
  uint32_t cold_user_events = 5;
  uint32_t bootstrap = 200;
  double confidence = 0.95;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint64_t seed = 42;
  OptionFlags option_flags;
  bool quiet = false;
};

Status RunTuneCommand(const TuneFlags& flags) {
  TuneOptions options;
  for (std::string_view m : Split(flags.models, ',')) {
    LIVEREC_ASSIGN_OR_RETURN(ModelSpec spec, ParseModelSpec(m));
    options.models.push_back(spec);
  }
  LIVEREC_ASSIGN_OR_RETURN(options.metric, ParseTuneMetric(flags.metric));
  StatusOr<double> budget = ParseDurationSeconds(flags.budget);
  if (!budget.ok()) return budget.status().WithPrefix("--budget");
  options.budget_seconds = *budget;
  options.configs = flags.configs;
  options.eta = flags.eta;
  options.brackets = flags.brackets;
  options.tune_fraction = flags.tune_fraction;
  options.score_fraction = flags.score_fraction;
  options.min_prefix_events = flags.min_prefix;

  ReplayOptions& replay = options.replay;
  LIVEREC_ASSIGN_OR_RETURN(replay.options, flags.option_flags.Load({}));
  replay.k = flags.k;
  replay.exclude_seen = flags.exclude_seen;
  StatusOr<double> window = ParseDurationSeconds(flags.active_window);
  if (!window.ok()) return window.status().WithPrefix("--active-window");
  replay.active_window_ms = static_cast<int64_t>(*window * 1000);
  replay.cold_user_events = flags.cold_user_events;
  replay.bootstrap_resamples = flags.bootstrap;
  replay.confidence_level = flags.confidence;
  replay.context.num_threads = std::max(1, flags.threads);
  replay.context.seed = flags.seed;

  std::string source;
  LIVEREC_ASSIGN_OR_RETURN(Dataset dataset,
                           LoadReplayDataset(flags.data, flags.seed, flags.quiet, &source));
  std::optional<ItemMetadataTable> metadata;
  if (!flags.items_path.empty()) {
    LIVEREC_ASSIGN_OR_RETURN(metadata, ReadItemMetadata(flags.items_path, dataset.items));
  }
  std::vector<std::string> context_keys;
  for (std::string_view key : Split(flags.context_keys, ',')) {
    if (!Trim(key).empty()) context_keys.emplace_back(Trim(key));
  }
  const DatasetFeatures features(dataset, metadata ? &*metadata : nullptr, context_keys);
  replay.features = &features;
  replay.item_metadata = metadata ? &*metadata : nullptr;

  if (!flags.quiet) {
    options.on_rung = [](int bracket, int rung, size_t prefix_events, double seconds) {
      std::fprintf(stderr, "bracket %d rung %d on %zu events done at %.1fs\n", bracket, rung,
                   prefix_events, seconds);
    };
  }
  LIVEREC_ASSIGN_OR_RETURN(TuneReport report, RunTune(dataset, options));
  std::fputs(TuneTable(report, options.metric).c_str(), stdout);

  const std::string header = fmt::format(
      "Written by `liverec tune` from {}\n"
      "{}@{} on the first {} events ({} of the stream), the last {} of each prefix scored online;\n"
      "{} settings a bracket, {} bracket(s) (--brackets {} repeats the search), seed {}, {:.0f} "
      "s.\n"
      "Check it on the rest: liverec replay --config FILE --train-fraction {} --protocols online",
      source, TuneMetricName(options.metric), replay.k, report.tune_events, options.tune_fraction,
      options.score_fraction, options.configs, report.brackets_run, report.brackets_run, flags.seed,
      report.seconds, options.tune_fraction);
  LIVEREC_RETURN_IF_ERROR(
      WriteTextFile(flags.out_path, TuneConfigFile(report, options.metric, header)));
  if (!flags.quiet) std::fprintf(stderr, "wrote %s\n", flags.out_path.c_str());
  return Status::Ok();
}

}  // namespace

void AddTuneCommand(CLI::App& app) {
  auto flags = std::make_shared<TuneFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tune",
      "Search each model's knobs (learning rates, dimensions, negatives, half-lives, windows, "
      "regularization) by successive halving on online replays of the first part of the "
      "stream, within a time budget; print what was tried and write the best settings as a "
      "config file for replay, train and serve (--config).");
  cmd->add_option("--data", flags->data.path,
                  "Data set, as for replay: a file or folder (MovieLens u.data, CSV/TSV, JSON "
                  "Lines, optionally .gz); omitted or 'synthetic' = a generated drift stream");
  flags->data.AddTo(cmd);
  cmd->add_option("--items", flags->items_path, "Item metadata for feature models, as for replay");
  cmd->add_option("--context-keys", flags->context_keys,
                  "Context keys feature models (fm) read, comma-separated; empty = all");
  cmd->add_option("--models", flags->models,
                  "Comma-separated model instances NAME or NAME:TYPE, each tuned on its own "
                  "(types with a search space: popularity, item_knn, transitions, mf, fm, seq, "
                  "ensemble)")
      ->capture_default_str();
  cmd->add_option("--metric", flags->metric, "What the search maximizes: recall, ndcg or mrr (@K)")
      ->capture_default_str();
  cmd->add_option("--budget", flags->budget,
                  "Wall time the search may take (e.g. 10m); a rung that would end past it is "
                  "not started")
      ->capture_default_str();
  cmd->add_option("--out", flags->out_path, "Write the config file of the best settings here")
      ->capture_default_str();
  cmd->add_option("--configs", flags->configs,
                  "Settings per model in each bracket, the defaults included in the first "
                  "(fewer when its grid is smaller)")
      ->capture_default_str();
  cmd->add_option("--eta", flags->eta,
                  "Each rung keeps the best 1/eta of the settings on a prefix eta times longer")
      ->capture_default_str();
  cmd->add_option("--brackets", flags->brackets,
                  "Rounds of successive halving, each on settings not tried before; 0 = as many "
                  "as the budget allows (the table says how many ran: give that number to "
                  "repeat a search exactly)")
      ->capture_default_str();
  cmd->add_option("--tune-fraction", flags->tune_fraction,
                  "Share of the stream (by count) the search may see; the rest is left for "
                  "checking (replay --train-fraction with the same value)")
      ->capture_default_str();
  cmd->add_option("--score-fraction", flags->score_fraction,
                  "Share of each prefix that is scored (test-then-train, after learning the rest)")
      ->capture_default_str();
  cmd->add_option("--min-prefix", flags->min_prefix,
                  "Fewest events of the shortest prefix; rungs are dropped to respect it")
      ->capture_default_str();
  cmd->add_option("--k", flags->k, "Cut-off K of the metric")->capture_default_str();
  cmd->add_option("--active-window", flags->active_window,
                  "Candidates: items that occurred within this much stream time (e.g. 48h); 0 = "
                  "every item seen so far")
      ->capture_default_str();
  cmd->add_option("--exclude-seen", flags->exclude_seen,
                  "Exclude items the user already consumed from the candidates (true/false)")
      ->capture_default_str();
  cmd->add_option("--cold-user-events", flags->cold_user_events,
                  "A user with fewer earlier events counts as cold")
      ->capture_default_str();
  cmd->add_option("--bootstrap", flags->bootstrap,
                  "Resamples of the evaluated users behind each figure's interval (0 = none)")
      ->capture_default_str();
  cmd->add_option("--confidence", flags->confidence, "Level of the intervals, in (0, 1)")
      ->capture_default_str();
  cmd->add_option("--threads", flags->threads, "Replays in parallel")->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Root random seed (settings drawn, replays)")
      ->capture_default_str();
  flags->option_flags.AddTo(cmd);
  cmd->add_flag("--quiet", flags->quiet, "No load or progress messages on stderr");
  cmd->callback([flags] {
    Status status = RunTuneCommand(*flags);
    if (!status.ok()) throw CLI::RuntimeError(ReportError(status));
  });
}

}  // namespace liverec::tools
