#include "eval/loo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <utility>

#include "common/check.h"
#include "kernels/kernels.h"
#include "model/capabilities.h"
#include "model/registry.h"

namespace liverec {
namespace {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

constexpr size_t kNoEvent = SIZE_MAX;

bool Contains(std::span<const ItemId> items, ItemId item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

bool IsHit(uint64_t rank, uint32_t k) { return rank >= 1 && rank <= k; }

}  // namespace

std::span<const ItemId> LooSplit::TrainItems(UserId user) const {
  if (size_t{user} + 1 >= train_offsets.size()) return {};
  return std::span<const ItemId>(train_items)
      .subspan(train_offsets[user], train_offsets[user + 1] - train_offsets[user]);
}

LooSplit SplitLeaveLastOut(std::span<const Event> events, size_t num_items) {
  LooSplit split;
  split.num_items = num_items;
  // Per user: the number of events and the stream positions of the last two.
  std::vector<uint64_t> count;
  std::vector<size_t> last;
  std::vector<size_t> second_last;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    LIVEREC_CHECK(e.user != kInvalidId && e.item < num_items);
    if (e.user >= count.size()) {
      count.resize(size_t{e.user} + 1, 0);
      last.resize(count.size(), kNoEvent);
      second_last.resize(count.size(), kNoEvent);
    }
    ++count[e.user];
    second_last[e.user] = last[e.user];
    last[e.user] = i;
  }

  const size_t num_users = count.size();
  std::vector<bool> evaluated(num_users, false);
  split.train_offsets.assign(num_users + 1, 0);
  for (size_t u = 0; u < num_users; ++u) {
    if (count[u] == 0) continue;
    if (count[u] < kLooMinEvents) {
      ++split.short_users;
      split.train_offsets[u + 1] = count[u];
    } else {
      evaluated[u] = true;
      split.train_offsets[u + 1] = count[u] - 2;
    }
  }
  std::partial_sum(split.train_offsets.begin(), split.train_offsets.end(),
                   split.train_offsets.begin());
  split.train_items.resize(split.train_offsets.back());
  split.train.reserve(split.train_offsets.back());
  std::vector<uint64_t> fill(split.train_offsets.begin(), split.train_offsets.end() - 1);
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (evaluated[e.user]) {
      if (i == second_last[e.user]) {
        split.users.push_back({e.user, e, events[last[e.user]]});
        continue;
      }
      if (i == last[e.user]) continue;
    }
    split.train.push_back(e);
    split.train_items[fill[e.user]++] = e.item;
  }
  return split;
}

FullRanker::FullRanker(size_t num_items, uint32_t k)
    : k_(k), all_items_(num_items), scores_(num_items), top_positions_(k) {
  std::iota(all_items_.begin(), all_items_.end(), ItemId{0});
}

uint64_t FullRanker::Rank(const Model& model, UserId user, ItemId target,
                          std::span<const ItemId> seen, std::vector<ItemId>* top_k) {
  LIVEREC_CHECK(target < all_items_.size());
  model.Score(user, all_items_, scores_.data());
  const float target_score = scores_[target];
  // -inf sits below every score a model may give (kUnscored is finite), so removed items
  // neither outrank the target nor enter the top-k list.
  for (ItemId item : seen) {
    LIVEREC_DCHECK(item < scores_.size());
    scores_[item] = -INFINITY;
  }
  scores_[target] = target_score;

  uint64_t rank = 0;
  if (!std::isnan(target_score) && target_score != kUnscored) {
    size_t above = 0;
    size_t equal = 0;
    CountAboveEqual(scores_.data(), scores_.size(), target_score, &above, &equal);
    rank = 1 + above;  // ties go to the target: the protocol's rule (loo.h)
  }
  if (top_k != nullptr) {
    const size_t n = TopK(scores_.data(), scores_.size(), k_, top_positions_.data());
    top_k->clear();
    for (size_t r = 0; r < n; ++r) {
      if (scores_[top_positions_[r]] == -INFINITY) break;
      top_k->push_back(all_items_[top_positions_[r]]);
    }
  }
  return rank;
}

double LooValidationHitRate(const Model& model, const LooSplit& split, const LooOptions& options) {
  if (split.users.empty()) return 0;
  FullRanker ranker(split.num_items, options.k);
  const size_t cap = std::max<size_t>(options.validation_users, 1);
  const size_t stride = (split.users.size() + cap - 1) / cap;
  uint64_t ranked = 0;
  uint64_t hits = 0;
  for (size_t i = 0; i < split.users.size(); i += stride) {
    const LooUser& u = split.users[i];
    std::span<const ItemId> seen = split.TrainItems(u.user);
    if (!options.exclude_seen) {
      seen = {};
    } else if (Contains(seen, u.validation.item)) {
      continue;  // a repeat, skipped as in the test ranking
    }
    ++ranked;
    hits += IsHit(ranker.Rank(model, u.user, u.validation.item, seen, nullptr), options.k);
  }
  return ranked == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(ranked);
}

LooFit FitLeaveLastOut(std::unique_ptr<Model> fresh, const LooSplit& split,
                       const LooOptions& options) {
  const auto start = SteadyClock::now();
  LooFit fit;
  if (!fresh->iterative()) {
    for (const Event& e : split.train) fresh->Learn(e);
    fit.model = std::move(fresh);
  } else if (options.train.fixed_epochs > 0 || split.users.empty()) {
    // Nothing to pick the epoch count with: the fixed count, else the most epochs allowed.
    const int epochs =
        options.train.fixed_epochs > 0 ? options.train.fixed_epochs : options.train.max_epochs;
    std::vector<uint32_t> scratch;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      RunBatchEpoch(fresh.get(), split.train, options.train.seed, epoch, &scratch);
    }
    fit.epochs = epochs;
    fit.model = std::move(fresh);
  } else {
    // Keep a copy of the best epoch's model instead of refitting as TrainBatch does: the
    // validation events are one per user, so a refit could only add those, and they are
    // observed before the test ranking anyway.
    std::unique_ptr<Model> best;
    EarlyStoppingResult search = TrainWithEarlyStopping(
        fresh.get(), split.train, options.train,
        [&](const Model& model) { return LooValidationHitRate(model, split, options); },
        [&](const Model& model, int) { best = model.Clone(); });
    fit.epochs = search.best_epoch;
    fit.validation_curve = std::move(search.validation_curve);
    fit.model = std::move(best);
  }
  fit.seconds = SecondsSince(start);
  return fit;
}

LooScores ScoreLeaveLastOut(Model* model, const LooSplit& split, const LooOptions& options) {
  // Observe keeps per-user history only (model/capabilities.h), so observing every validation
  // event before ranking any test item is the same as doing both user by user. A model without
  // history has nothing to observe.
  if (HistoryObserver* observer = DiscoverCapabilities(*model).observer) {
    for (const LooUser& u : split.users) observer->Observe(u.validation);
  }

  LooScores scores;
  FullRanker ranker(split.num_items, options.k);
  MetricAccumulator total(options.k);
  UserBootstrap bootstrap(options.k);
  std::vector<ItemId> seen;
  std::vector<ItemId> top_k;
  std::vector<bool> covered(split.num_items, false);
  uint64_t num_covered = 0;
  for (const LooUser& u : split.users) {
    const std::span<const ItemId> train_items = split.TrainItems(u.user);
    seen.clear();
    if (options.exclude_seen) {
      seen.assign(train_items.begin(), train_items.end());
      seen.push_back(u.validation.item);
      if (Contains(seen, u.test.item)) {
        ++scores.repeats_skipped;
        continue;
      }
    }
    const uint64_t rank = ranker.Rank(*model, u.user, u.test.item, seen, &top_k);
    total.Add(rank, train_items.size() + 1 < options.cold_user_events);
    bootstrap.Add(u.user, rank);
    for (ItemId item : top_k) {
      if (!covered[item]) {
        covered[item] = true;
        ++num_covered;
      }
    }
  }
  scores.metrics = total.Summary();
  if (options.bootstrap_resamples > 0) {
    scores.intervals = bootstrap.Intervals(options.bootstrap_resamples, options.confidence_level,
                                           options.bootstrap_seed);
  }
  scores.coverage = split.num_items == 0
                        ? 0
                        : static_cast<double>(num_covered) / static_cast<double>(split.num_items);
  return scores;
}

StatusOr<RunResult> RunLeaveLastOut(const Dataset& dataset, const ModelSpec& spec,
                                    const ReplayOptions& options, std::atomic<uint64_t>* progress) {
  const auto start = SteadyClock::now();
  RunResult result;
  result.model = spec.name;
  result.type = spec.type;
  result.protocol = Protocol::kLoo;
  result.k = options.k;
  LIVEREC_ASSIGN_OR_RETURN(
      std::unique_ptr<Model> model,
      CreateModel(OptionView(&options.options, spec.name, spec.type), options.context));
  if (FeatureAware* aware = DiscoverCapabilities(*model).features) {
    aware->SetFeatureSource(options.features);
  }

  LooOptions loo;
  loo.k = options.k;
  loo.exclude_seen = options.exclude_seen;
  loo.cold_user_events = options.cold_user_events;
  loo.train = BatchTrainOptions::FromOptions(options.options, options.context.seed);
  loo.validation_users =
      static_cast<uint32_t>(options.options.GetInt("", "train", "validation_events"));
  loo.bootstrap_resamples = options.bootstrap_resamples;
  loo.confidence_level = options.confidence_level;
  loo.bootstrap_seed = BootstrapSeed(options.context.seed);

  const LooSplit split = SplitLeaveLastOut(dataset.events, dataset.num_items());
  LooFit fit = FitLeaveLastOut(std::move(model), split, loo);
  // Progress counts events: the training events once fit, the held-out ones once scored.
  if (progress != nullptr) progress->fetch_add(split.train.size(), std::memory_order_relaxed);
  result.train_seconds = fit.seconds;
  result.batch_epochs = fit.epochs;
  result.validation_curve = fit.validation_curve;

  const LooScores scores = ScoreLeaveLastOut(fit.model.get(), split, loo);
  if (progress != nullptr) {
    progress->fetch_add(dataset.events.size() - split.train.size(), std::memory_order_relaxed);
  }
  result.metrics = scores.metrics;
  result.intervals = scores.intervals;
  result.coverage = scores.coverage;
  result.repeats_skipped = scores.repeats_skipped;
  result.seconds = SecondsSince(start);
  result.events_per_second =
      result.seconds > 0 ? static_cast<double>(result.metrics.events) / result.seconds : 0;
  return result;
}

}  // namespace liverec
