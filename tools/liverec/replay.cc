// liverec replay: test-then-train evaluation of models x protocols on a data set.
#include "eval/replay.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "commands.h"
#include "common/strings.h"
#include "eval/chart.h"
#include "eval/dataset_features.h"
#include "eval/report.h"
#include "event/item_metadata.h"
#include "event/synthetic.h"

namespace liverec::tools {
namespace {

struct ReplayFlags {
  DataFlags data;
  std::string items_path;    // item metadata file (u.item or JSON Lines); empty = none
  std::string context_keys;  // context keys feature models read, comma-separated; empty = all
  std::string models = "popularity,item_knn,mf";
  std::string protocols = "online,static,periodic,warm";
  uint32_t k = 10;
  std::string report_path, series_path, chart_path, title;
  std::string active_window = "0";
  bool exclude_seen = true;
  double train_fraction = 0.5;
  std::string period = "1d";
  uint32_t cold_user_events = 5;
  std::string series_window = "0";
  uint32_t bootstrap = 200;
  uint32_t partitions = 0;
  std::string round = "1s";
  double confidence = 0.95;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint64_t seed = 42;
  OptionFlags option_flags;
  bool progress = false;
  bool quiet = false;
};

// A one-line progress bar on stderr, redrawn in place.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled)
      : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  void Update(double fraction) {
    if (!enabled_) return;
    constexpr int kWidth = 40;
    int filled = static_cast<int>(fraction * kWidth);
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\rreplay [%s] %5.1f%%  %6.1fs", bar.c_str(), 100 * fraction, elapsed);
    std::fflush(stderr);
  }
  void Finish() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

StatusOr<int64_t> DurationMs(const std::string& flag, const std::string& text) {
  StatusOr<double> seconds = ParseDurationSeconds(text);
  if (!seconds.ok()) return seconds.status().WithPrefix(flag);
  return static_cast<int64_t>(*seconds * 1000);
}

Status RunReplayCommand(const ReplayFlags& flags) {
  ReplayOptions options;
  for (std::string_view m : Split(flags.models, ',')) {
    LIVEREC_ASSIGN_OR_RETURN(ModelSpec spec, ParseModelSpec(m));
    options.models.push_back(spec);
  }
  for (std::string_view p : Split(flags.protocols, ',')) {
    LIVEREC_ASSIGN_OR_RETURN(Protocol protocol, ParseProtocol(Trim(p)));
    options.protocols.push_back(protocol);
  }
  LIVEREC_ASSIGN_OR_RETURN(options.options, flags.option_flags.Load({}));
  options.k = flags.k;
  options.exclude_seen = flags.exclude_seen;
  LIVEREC_ASSIGN_OR_RETURN(options.active_window_ms,
                           DurationMs("--active-window", flags.active_window));
  LIVEREC_ASSIGN_OR_RETURN(options.period_ms, DurationMs("--period", flags.period));
  LIVEREC_ASSIGN_OR_RETURN(options.series_window_ms,
                           DurationMs("--series-window", flags.series_window));
  options.train_fraction = flags.train_fraction;
  options.cold_user_events = flags.cold_user_events;
  options.bootstrap_resamples = flags.bootstrap;
  options.partitions = flags.partitions;
  LIVEREC_ASSIGN_OR_RETURN(options.round_ms, DurationMs("--round", flags.round));
  options.confidence_level = flags.confidence;
  options.context.num_threads = std::max(1, flags.threads);
  options.context.seed = flags.seed;

  const auto load_start = std::chrono::steady_clock::now();
  std::string source;
  LIVEREC_ASSIGN_OR_RETURN(Dataset dataset,
                           LoadReplayDataset(flags.data, flags.seed, flags.quiet, &source));
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  // Features for feature-aware models (fm): the events' context and the items' metadata.
  std::optional<ItemMetadataTable> metadata;
  if (!flags.items_path.empty()) {
    LIVEREC_ASSIGN_OR_RETURN(metadata, ReadItemMetadata(flags.items_path, dataset.items));
    if (!flags.quiet) {
      std::fprintf(stderr, "item metadata %s: %zu entries, %zu of them items of the data set\n",
                   flags.items_path.c_str(), metadata->entries, metadata->matched);
    }
  }
  std::vector<std::string> context_keys;
  for (std::string_view key : Split(flags.context_keys, ',')) {
    if (!Trim(key).empty()) context_keys.emplace_back(Trim(key));
  }
  const DatasetFeatures features(dataset, metadata ? &*metadata : nullptr, context_keys);
  options.features = &features;
  options.item_metadata = metadata ? &*metadata : nullptr;

  ProgressBar bar(!flags.quiet && (flags.progress || isatty(STDERR_FILENO)));
  options.on_progress = [&bar](double fraction) { bar.Update(fraction); };
  LIVEREC_ASSIGN_OR_RETURN(ReplayReport report, RunReplay(dataset, options));
  bar.Update(1.0);
  bar.Finish();

  std::fputs(ReportTable(report).c_str(), stdout);
  std::fputs(("\n" + OnlineVerdict(report) + "\n").c_str(), stdout);

  if (!flags.report_path.empty()) {
    // Built as JSON, not formatted text: the source is a path and may hold quotes.
    const nlohmann::ordered_json settings = {{"source", source},
                                             {"settings",
                                              {{"k", options.k},
                                               {"exclude_seen", options.exclude_seen},
                                               {"active_window_ms", options.active_window_ms},
                                               {"train_fraction", options.train_fraction},
                                               {"period_ms", options.period_ms},
                                               {"cold_user_events", options.cold_user_events},
                                               {"partitions", options.partitions},
                                               {"round_ms", options.round_ms},
                                               {"bootstrap_resamples", options.bootstrap_resamples},
                                               {"confidence_level", options.confidence_level},
                                               {"threads", options.context.num_threads},
                                               {"seed", options.context.seed},
                                               {"load_seconds", load_seconds}}}};
    LIVEREC_RETURN_IF_ERROR(WriteTextFile(flags.report_path, ReportJson(report, settings.dump())));
  }
  if (!flags.series_path.empty()) {
    LIVEREC_RETURN_IF_ERROR(WriteTextFile(flags.series_path, SeriesCsv(report)));
  }
  if (!flags.chart_path.empty()) {
    std::string title = flags.title.empty() ? fmt::format("Test-then-train Recall@{} over time: {}",
                                                          options.k, source)
                                            : flags.title;
    LIVEREC_RETURN_IF_ERROR(WriteTextFile(flags.chart_path, RecallChartSvg(report, title)));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Dataset> LoadReplayDataset(const DataFlags& data, uint64_t seed, bool quiet,
                                    std::string* source) {
  const auto load_start = std::chrono::steady_clock::now();
  Dataset dataset;
  if (data.path.empty() || data.path == "synthetic") {
    SyntheticOptions synthetic;
    synthetic.seed = seed;
    synthetic.num_users = 2000;
    synthetic.num_initial_items = 1000;
    synthetic.num_events = 200'000;
    synthetic.drift_per_day = 0.1;
    synthetic.new_items_per_day = 30;
    synthetic.item_lifetime_days = 30;
    synthetic.popularity_wave_days = 5;
    LIVEREC_ASSIGN_OR_RETURN(dataset, GenerateSynthetic(synthetic));
    *source = "synthetic drift stream (seed " + std::to_string(seed) + ")";
  } else {
    LIVEREC_ASSIGN_OR_RETURN(ReadOptions read_options, data.ToReadOptions());
    ReadStats stats;
    LIVEREC_ASSIGN_OR_RETURN(dataset, ReadDataset(data.path, read_options, &stats));
    *source = data.path;
    if (stats.skipped > 0 && !quiet) {
      std::fprintf(stderr, "skipped %zu malformed lines; first: %s\n", stats.skipped,
                   stats.first_errors.empty() ? "" : stats.first_errors.front().c_str());
    }
  }
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  if (!quiet) {
    std::fprintf(stderr, "loaded %s: %zu events, %zu users, %zu items in %.2fs\n", source->c_str(),
                 dataset.events.size(), dataset.num_users(), dataset.num_items(), load_seconds);
  }
  return dataset;
}

void AddReplayCommand(CLI::App& app) {
  auto flags = std::make_shared<ReplayFlags>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Test-then-train evaluation: rank each event's item before learning from it, for every "
      "model x protocol (online, static, periodic, warm); or leave-last-out (loo): rank each "
      "user's last item against all items after training on the rest; or served: the list the "
      "server would serve each event's user, from the engine's own recommender.");
  cmd->add_option("--data", flags->data.path,
                  "Data set: a file or folder (MovieLens u.data / ratings.dat, CSV/TSV, JSON "
                  "Lines, optionally .gz); omitted or 'synthetic' = a generated drift stream");
  flags->data.AddTo(cmd);
  cmd->add_option("--items", flags->items_path,
                  "Item metadata for feature models (fm) and for diversity (rank.*: "
                  "categories): MovieLens u.item (genres, title; a "
                  "u.genre beside it names the genres) or JSON Lines {\"item\", "
                  "\"categories\", \"tags\", \"text\"}; items not in the data are ignored");
  cmd->add_option("--context-keys", flags->context_keys,
                  "Context keys whose key=value pairs feature models (fm) read, comma-separated; "
                  "empty = all");
  cmd->add_option("--models", flags->models,
                  "Comma-separated model instances NAME or NAME:TYPE (types: popularity, "
                  "item_knn, mf, seq, fm)")
      ->capture_default_str();
  cmd->add_option("--protocols", flags->protocols,
                  "Comma-separated: online,static,periodic,warm,loo,served (loo: per user, last "
                  "event = test, second-to-last = validation; HR@K and NDCG@K over users; "
                  "served: hit rate of the k items the server's recommender serves)")
      ->capture_default_str();
  cmd->add_option("--k", flags->k, "Cut-off K of Recall@K and NDCG@K")->capture_default_str();
  cmd->add_option("--report", flags->report_path, "Write the JSON report here");
  cmd->add_option("--series", flags->series_path, "Write windowed metrics (CSV) here");
  cmd->add_option("--chart", flags->chart_path, "Write an SVG chart of windowed Recall@K here");
  cmd->add_option("--title", flags->title, "Chart title");
  cmd->add_option("--active-window", flags->active_window,
                  "Candidates: items that occurred within this much stream time (e.g. 48h); 0 = "
                  "every item seen so far")
      ->capture_default_str();
  cmd->add_option("--exclude-seen", flags->exclude_seen,
                  "Exclude items the user already consumed from the candidates (true/false)")
      ->capture_default_str();
  cmd->add_option("--train-fraction", flags->train_fraction,
                  "Share of events (by count) before scoring starts; static/periodic/warm "
                  "batch-train on it")
      ->capture_default_str();
  cmd->add_option("--period", flags->period, "Periodic protocol rebuild interval (stream time)")
      ->capture_default_str();
  cmd->add_option("--cold-user-events", flags->cold_user_events,
                  "A user with fewer earlier events counts as cold")
      ->capture_default_str();
  cmd->add_option("--series-window", flags->series_window,
                  "Window of the series and chart (stream time); 0 = about 40 windows")
      ->capture_default_str();
  cmd->add_option("--partitions", flags->partitions,
                  "Learn as a cluster would, in one process: each model as this many partitions' "
                  "copies (users split by a hash of their id) that exchange their shared "
                  "parameters every --round; online protocol, mf and fm. 0 = one model")
      ->capture_default_str();
  cmd->add_option("--round", flags->round,
                  "Stream time between the partitions' exchanges (with --partitions)")
      ->capture_default_str();
  cmd->add_option("--bootstrap", flags->bootstrap,
                  "Resamples of the evaluated users behind each figure's confidence interval "
                  "(0 = none)")
      ->capture_default_str();
  cmd->add_option("--confidence", flags->confidence, "Level of the confidence intervals, in (0, 1)")
      ->capture_default_str();
  cmd->add_option("--threads", flags->threads, "Runs in parallel (model x protocol pairs)")
      ->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Root random seed")->capture_default_str();
  cmd->add_option("--config", flags->option_flags.config,
                  "Config file of `option = value` lines (model and trainer options; `liverec "
                  "tune` writes one); --set and LIVEREC_* variables override it");
  cmd->add_option("--set", flags->option_flags.sets,
                  "Model or trainer option NAME=VALUE, repeatable (see `liverec options`)");
  cmd->add_flag("--progress", flags->progress, "Show the progress bar even when not a terminal");
  cmd->add_flag("--quiet", flags->quiet, "No progress or load messages on stderr");
  cmd->callback([flags] {
    Status status = RunReplayCommand(*flags);
    if (!status.ok()) throw CLI::RuntimeError(ReportError(status));
  });
}

}  // namespace liverec::tools
