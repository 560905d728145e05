// Leave-last-out evaluation with full ranking (`liverec replay --protocols loo`), the protocol of
// the public sequential-recommendation literature (SASRec and its successors), so liverec's
// figures sit beside theirs (docs/quality.md):
//
//   split   per user, events in stream order (stable by time, then file order: the Dataset's
//           order): the last event is the test event, the second-to-last the validation event,
//           the rest are training events. A user with fewer than kLooMinEvents events is not
//           evaluated; all of their events are training events (as the public SASRec code does).
//   fit     a fresh model learns the training events (every user's, in stream order) through
//           the batch trainer: count models in one pass; iterative models epoch by epoch, the
//           number of epochs picked by early stopping on the validation events' HR@k, keeping
//           a copy of the best epoch's model (no refit: the validation events are per user, and
//           training already saw every other event).
//   score   the model Observes every user's validation event (history-reading models see the
//           user's latest item, without learning from it), then each user's test item is ranked
//           against every item of the data set with the user's training and validation items
//           removed. Validation items are ranked the same way, before any Observe, with the
//           training items removed.
//
// Tie rule: rank = 1 + the number of candidates scoring strictly higher (ties favour the
// target), so HR@k = share of users with fewer than k candidates scoring strictly higher and
// NDCG@k = 1/log2(rank + 1) for rank <= k (= 1/log2(r + 2) for the 0-based rank r). A target
// the model cannot score (kUnscored: never learned; or NaN) is a miss, so a model that knows
// nothing scores 0 rather than a tie-won hit.
// Repeats: with exclude_seen (the default) a user whose target item is one of their earlier
// items is skipped (counted in repeats_skipped), as replay skips repeat events; without it
// nothing is removed from the candidates.
#ifndef LIVEREC_EVAL_LOO_H_
#define LIVEREC_EVAL_LOO_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "eval/bootstrap.h"
#include "eval/replay.h"
#include "event/dataset.h"
#include "model/model.h"
#include "train/batch_trainer.h"
#include "train/metrics.h"

namespace liverec {

// Fewest events of an evaluated user: one training, one validation and one test event.
inline constexpr size_t kLooMinEvents = 3;

// One evaluated user's held-out events.
struct LooUser {
  UserId user = kInvalidId;
  Event validation;  // the user's second-to-last event
  Event test;        // the user's last event
};

// The leave-last-out split of a stream.
struct LooSplit {
  size_t num_items = 0;      // candidates are item ids [0, num_items)
  std::vector<Event> train;  // every event not held out, in stream order
  // The evaluated users, in stream order of their validation events.
  std::vector<LooUser> users;
  uint64_t short_users = 0;  // users with events but fewer than kLooMinEvents of them
  // CSR by user id: TrainItems(u) = train_items[train_offsets[u], train_offsets[u + 1]).
  std::vector<uint64_t> train_offsets;
  std::vector<ItemId> train_items;

  // The items of `user`'s training events, in stream order (repeats kept); empty for unknown
  // users.
  std::span<const ItemId> TrainItems(UserId user) const;
};

// Splits `events` (in stream order) per user; item ids must be below num_items.
LooSplit SplitLeaveLastOut(std::span<const Event> events, size_t num_items);

// Ranks one user's target item against every item id in [0, num_items) with the protocol's tie
// rule (see the top of this file).
// Thread safety: none; one ranker per thread (it owns reusable scratch).
class FullRanker {
 public:
  FullRanker(size_t num_items, uint32_t k);

  // The 1-based rank of `target` for `user`: 1 + the number of candidates that `model` scores
  // strictly higher; 0 (a miss) when the model gives the target kUnscored or NaN. Items in
  // `seen` are not candidates, except `target` itself, which always stays one (the caller
  // decides what a repeat means). When `top_k` is not null it receives the model's best min(k,
  // candidates) items, best first, ties by the lower id. Requires target < num_items, and so for
  // every seen item.
  uint64_t Rank(const Model& model, UserId user, ItemId target, std::span<const ItemId> seen,
                std::vector<ItemId>* top_k);

 private:
  uint32_t k_;
  std::vector<ItemId> all_items_;  // 0 .. num_items - 1
  std::vector<float> scores_;
  std::vector<uint32_t> top_positions_;
};

struct LooOptions {
  uint32_t k = 10;
  bool exclude_seen = true;
  uint32_t cold_user_events = 5;  // a user with fewer training + validation events is cold
  // Epoch search of iterative models: max_epochs, patience, fixed_epochs (> 0 skips the
  // search), seed; validation_fraction is unused (the validation events are per user).
  BatchTrainOptions train;
  // At most this many evaluated users (evenly spaced) score each validation epoch.
  uint32_t validation_users = 5000;
  // Bootstrap intervals of the test figures (eval/bootstrap.h): resamples (0 = none), level,
  // seed.
  uint32_t bootstrap_resamples = 0;
  double confidence_level = 0.95;
  uint64_t bootstrap_seed = 0;
};

// A model fit on a split's training events.
struct LooFit {
  std::unique_ptr<Model> model;
  int epochs = 0;                        // of the kept model; 0 for count models
  std::vector<double> validation_curve;  // validation HR@k after each epoch (iterative only)
  double seconds = 0;
};

// Fits `fresh` (a model that has never learned) on split.train as described at the top.
LooFit FitLeaveLastOut(std::unique_ptr<Model> fresh, const LooSplit& split,
                       const LooOptions& options);

// HR@k of the (first options.validation_users, evenly spaced) users' validation items ranked
// by `model` with their training items removed, as the epoch search scores it. 0 without users.
double LooValidationHitRate(const Model& model, const LooSplit& split, const LooOptions& options);

struct LooScores {
  MetricSummary metrics;      // over the ranked users: recall is HR@k; events counts users
  MetricIntervals intervals;  // resamples = 0 unless LooOptions asked for them
  uint64_t repeats_skipped = 0;
  double coverage = 0;  // distinct items in any top-k list / split.num_items
};

// Observes every user's validation event on `model`, then ranks every user's test item.
LooScores ScoreLeaveLastOut(Model* model, const LooSplit& split, const LooOptions& options);

// One `replay` run of `spec` under the loo protocol on `dataset`: split, fit, score. Options
// come from `options` (k, exclude_seen, cold_user_events, options.train.*, context.seed); the
// run adds dataset.events.size() to `progress` in all, when it is not null.
StatusOr<RunResult> RunLeaveLastOut(const Dataset& dataset, const ModelSpec& spec,
                                    const ReplayOptions& options, std::atomic<uint64_t>* progress);

}  // namespace liverec

#endif  // LIVEREC_EVAL_LOO_H_
