// Replay: test-then-train evaluation of models on a recorded stream, under four protocols that
// answer "does learning online pay?" on the same events:
//
//   online    learns from every event from the start, and is tested on each event before it
//             learns from it;
//   static    batch-trained (train/batch_trainer.h) on the first part of the stream, then frozen:
//             it no longer learns, but still observes each event (HistoryObserver::Observe), as a
//             deployed model reads the user's latest history at serving time;
//   periodic  batch-trained like static, then rebuilt from scratch on all history every
//             `period_ms` of stream time, frozen in between;
//   warm      batch-trained like static, then learning online from every later event.
//
// A fifth protocol, loo (leave-last-out, full ranking: eval/loo.h), is not test-then-train:
// it holds out each user's last two events and ranks the last against all items. Its rows share
// the RunResult shape (metrics.recall is HR@k, metrics.events counts users) but none of the
// notes below.
//
// A sixth, served (eval/served.h), measures the list the server would serve: the engine's own
// Recommender, over an engine state that learns the stream as the server does, answers each
// scored event with k items (Recommender::Recommend, the call behind GET /v1/recommendations),
// and the event's item counts at its place in that list. It shares the events, repeats and
// cold users of the test-then-train protocols; AUC and --active-window do not apply.
//
// All protocols are scored on the same events: those after the first part (train_fraction of
// the events, by count). Each evaluated event ranks its true item among the candidates
// (train/candidates.h) with the user's consumed items excluded (train/ranker.h), then the model
// learns (per protocol). An event whose item the user had consumed before is a repeat: with
// exclude_seen it is not scored (the same events for every protocol) but is still learned.
//
// Ranking stage (rank/rerank.h), for the four test-then-train protocols (not loo): with
// rank.diversity > 0 or rank.category_cap > 0, each evaluated event's list is re-ranked from
// the model's rank.pool best candidates (seen and unscored items excluded) before it is scored, and
// the true item's rank is the re-ranked list's (train/ranker.h RankInList: its place when listed,
// else past K). Recall, NDCG, MRR, AUC and coverage all read that rank and list. rank.similarity
// names what "alike" means: category (Jaccard of item categories; needs item_metadata),
// embedding (cosine of mf item vectors; mf models only), knn (item_knn's similarity; item_knn
// models only). With both knobs at 0 nothing is re-ranked and results are those without it.
//
// Diversity metric: the mean intra-list diversity (rank/diversity.h) of the evaluated top-K
// lists of at least two items, measured with category similarity whenever item categories are
// given (so figures compare across models and re-ranking settings), otherwise with
// rank.similarity when the model has it, otherwise not at all (RunResult::ild_similarity
// empty); and the mean number of distinct categories per list.
//
// Exactness note on periodic: for count-based models (Model::iterative() == false) a batch fit
// is one pass in time order, so a rebuild from scratch on history [0, t) is bit-identical to an
// online model that has learned [0, t). Replay therefore keeps such a model learning in the
// background and publishes a copy of it at each rebuild, instead of refitting from scratch. For
// iterative models every rebuild is a full batch fit from scratch, with the epoch count chosen
// by early stopping at the first fit.
#ifndef LIVEREC_EVAL_REPLAY_H_
#define LIVEREC_EVAL_REPLAY_H_

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "eval/bootstrap.h"
#include "event/dataset.h"
#include "event/item_metadata.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "model/features.h"
#include "train/batch_trainer.h"
#include "train/metrics.h"

namespace liverec {

enum class Protocol { kOnline, kStatic, kPeriodic, kWarm, kLoo, kServed };

std::string_view ProtocolName(Protocol protocol);
StatusOr<Protocol> ParseProtocol(std::string_view name);

// A named model instance: "mf" (type mf), or "mf_wide:mf" (instance mf_wide of type mf).
struct ModelSpec {
  std::string name;
  std::string type;
};
StatusOr<ModelSpec> ParseModelSpec(std::string_view text);

struct ReplayOptions {
  std::vector<ModelSpec> models;
  std::vector<Protocol> protocols;
  uint32_t k = 10;
  bool exclude_seen = true;
  int64_t active_window_ms = 0;    // 0 = every item seen so far is a candidate
  double train_fraction = 0.5;     // share of events (by count) before scoring starts
  int64_t period_ms = 86'400'000;  // periodic rebuild interval, stream time
  uint32_t cold_user_events = 5;   // a user with fewer earlier events is cold
  int64_t series_window_ms = 0;    // windowed metrics; 0 = about 40 windows over the scored span
  Options options;                 // model knobs (mf.dim, ...) and train.* (batch trainer)
  // Event context and item metadata features, given to every model instance a run creates
  // (FeatureAware::SetFeatureSource); null = none. Must outlive RunReplay.
  const FeatureSource* features = nullptr;
  // Item categories for the ranking stage and the diversity metric (indexed by the data set's
  // ItemId); null = none. Must outlive RunReplay.
  const ItemMetadataTable* item_metadata = nullptr;
  // Confidence intervals beside each figure (eval/bootstrap.h): resamples of the evaluated users
  // (0 = none) and the interval's level.
  uint32_t bootstrap_resamples = 200;
  double confidence_level = 0.95;
  // The one-process simulation of a cluster (model/partitioned.h), online protocol only: each
  // model learns as `partitions` copies, users split by UserPartition of their name, that
  // exchange their shared parameters every round_ms of stream time. 0 = one model.
  uint32_t partitions = 0;
  int64_t round_ms = 1000;
  Context context;  // threads run (model, protocol) pairs in parallel
  // Called from the calling thread a few times a second with the fraction of work done.
  std::function<void(double fraction)> on_progress;
};

// Metrics of one window of stream time.
struct WindowPoint {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  uint64_t events = 0;
  double recall = 0;
  double ndcg = 0;
  double mrr = 0;
};

struct RunResult {
  std::string model;  // instance name
  std::string type;
  Protocol protocol = Protocol::kOnline;
  uint32_t k = 10;
  MetricSummary metrics;
  // Bootstrap intervals of metrics.recall, ndcg and mrr over users (resamples = 0: none), drawn
  // with BootstrapSeed(context.seed).
  MetricIntervals intervals;
  double coverage = 0;           // distinct items in any top-K list / items in the data set
  uint64_t repeats_skipped = 0;  // scored-range events whose item the user had already
  double seconds = 0;            // wall time of the whole run, training included
  double train_seconds = 0;      // of which batch fits
  double events_per_second = 0;  // evaluated events / seconds
  int batch_epochs = 0;          // epochs of the (first) batch fit; 0 for count models
  // The validation score (Recall@k, or HR@k for loo) after each epoch of the (first) batch
  // fit's early stopping; empty for count models and fixed epochs.
  std::vector<double> validation_curve;
  uint64_t rebuilds = 0;  // periodic rebuilds after the first fit
  std::vector<WindowPoint> series;
  DiversitySummary diversity;  // of the evaluated top-K lists; lists = 0 when not measured
  std::string ild_similarity;  // what ILD was measured with ("category", ...); empty = not
};

// The ranking stage's settings of a replay (the rank.* options).
struct RankSettings {
  double diversity = 0;  // rank.diversity; the MMR lambda is 1 - diversity
  std::string similarity;
  size_t pool = 0;
  uint32_t category_cap = 0;
  bool active() const { return diversity > 0 || category_cap > 0; }
};

struct ReplayReport {
  uint64_t num_events = 0;
  uint64_t num_users = 0;
  uint64_t num_items = 0;
  int64_t scored_from_ms = 0;  // time of the first scored event
  uint64_t scored_events = 0;  // events in the scored range (repeats included)
  RankSettings rank;
  std::vector<RunResult> results;
};

// Completes a run's `result` from its accumulators: the metrics, their bootstrap intervals (as
// `options` asks), the diversity, the coverage (`covered` of `num_items` items listed), the
// seconds since `start` and the evaluated events per second.
void FinishRunResult(const MetricAccumulator& total, const UserBootstrap& bootstrap,
                     const DiversityAccumulator& diversity, uint64_t covered, size_t num_items,
                     const ReplayOptions& options, std::chrono::steady_clock::time_point start,
                     RunResult* result);

// Runs every model x protocol on `dataset` (in stream order, see Dataset::SortByTime).
StatusOr<ReplayReport> RunReplay(const Dataset& dataset, const ReplayOptions& options);

// The validator replay gives the batch trainer: Recall@k of a frozen model on (an evenly spaced
// sample of at most `max_events` of) the validation events, candidates and exclusions as in
// replay.
Validator MakeRecallValidator(uint32_t k, bool exclude_seen, int64_t active_window_ms,
                              uint32_t max_events, uint64_t seed);

}  // namespace liverec

#endif  // LIVEREC_EVAL_REPLAY_H_
