#include "eval/replay.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/check.h"
#include "common/strings.h"
#include "eval/loo.h"
#include "eval/served.h"
#include "model/capabilities.h"
#include "model/partitioned.h"
#include "model/registry.h"
#include "rank/diversity.h"
#include "rank/rerank.h"
#include "train/named_similarity.h"
#include "train/ranker.h"

namespace liverec {
namespace {

constexpr uint64_t kRankerSalt = 0x52414e4b;  // "RANK": tie shares, the same for every run
constexpr int kTargetSeriesWindows = 40;
constexpr double kSeriesBulkQuantile = 0.995;
constexpr uint64_t kProgressStride = 4096;  // events between progress counter updates

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A round window length near span / kTargetSeriesWindows: whole minutes, hours or days.
int64_t AutoSeriesWindow(int64_t span_ms) {
  const int64_t raw = std::max<int64_t>(span_ms / kTargetSeriesWindows, 1);
  for (int64_t unit : {86'400'000LL, 3'600'000LL, 60'000LL, 1'000LL}) {
    if (raw >= unit) return raw / unit * unit;
  }
  return raw;
}

// How many other candidates an evaluated event's item, a candidate, is ranked against: all but
// the item itself and, with exclude_seen, the user's consumed items (the item is not among
// them, since a repeat is not evaluated then). The count AUC divides by.
uint64_t OtherCandidates(const CandidateSet& candidates, const UserHistory& history, UserId user,
                         bool exclude_seen) {
  uint64_t others = candidates.size() - 1;
  if (exclude_seen) {
    for (ItemId seen : history.Items(user)) others -= candidates.Position(seen) >= 0 ? 1 : 0;
  }
  return others;
}

struct RunTask {
  ModelSpec spec;
  Protocol protocol;
};

// An ItemCategoryTable of the metadata's categories, interned in order of first appearance.
ItemCategoryTable CategoryTableOf(const ItemMetadataTable& metadata) {
  std::map<std::string, uint32_t, std::less<>> ids;
  std::vector<std::vector<uint32_t>> categories(metadata.items.size());
  for (size_t item = 0; item < metadata.items.size(); ++item) {
    for (const std::string& name : metadata.items[item].categories) {
      auto [it, inserted] = ids.try_emplace(name, static_cast<uint32_t>(ids.size()));
      categories[item].push_back(it->second);
    }
  }
  return ItemCategoryTable(categories);
}

class RunContext {
 public:
  RunContext(const Dataset& dataset, const ReplayOptions& options, size_t split,
             int64_t series_window_ms, const RankSettings& rank,
             const ItemCategoryTable* categories, std::atomic<uint64_t>* progress)
      : dataset_(dataset),
        options_(options),
        split_(split),
        series_window_ms_(series_window_ms),
        rank_(rank),
        categories_(categories),
        progress_(progress) {}

  StatusOr<RunResult> Run(const RunTask& task);

 private:
  StatusOr<std::unique_ptr<Model>> Fresh(const ModelSpec& spec) const {
    LIVEREC_ASSIGN_OR_RETURN(
        std::unique_ptr<Model> model,
        CreateModel(OptionView(&options_.options, spec.name, spec.type), options_.context));
    if (FeatureAware* aware = DiscoverCapabilities(*model).features) {
      aware->SetFeatureSource(options_.features);
    }
    if (options_.partitions == 0) return model;
    const IdMap& users = dataset_.users;
    const uint32_t partitions = options_.partitions;
    LIVEREC_ASSIGN_OR_RETURN(
        std::unique_ptr<PartitionedModel> partitioned,
        PartitionedModel::Create(std::move(model), partitions, options_.round_ms,
                                 [&users, partitions](UserId user) {
                                   return UserPartition(users.Key(user), partitions);
                                 }));
    return std::unique_ptr<Model>(std::move(partitioned));
  }

  const Dataset& dataset_;
  const ReplayOptions& options_;
  size_t split_;
  int64_t series_window_ms_;
  const RankSettings& rank_;
  const ItemCategoryTable* categories_;  // null without item metadata
  std::atomic<uint64_t>* progress_;
};

StatusOr<RunResult> RunContext::Run(const RunTask& task) {
  if (task.protocol == Protocol::kLoo) {
    return RunLeaveLastOut(dataset_, task.spec, options_, progress_);
  }
  if (task.protocol == Protocol::kServed) {
    return RunServed(dataset_, task.spec, options_, split_, series_window_ms_, categories_,
                     progress_);
  }
  const auto start = Clock::now();
  const std::vector<Event>& events = dataset_.events;
  RunResult result;
  result.model = task.spec.name;
  result.type = task.spec.type;
  result.protocol = task.protocol;
  result.k = options_.k;

  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Fresh(task.spec));
  // What `model` offers; rediscovered wherever `model` is replaced.
  ModelCapabilities capabilities = DiscoverCapabilities(*model);
  const bool iterative = model->iterative();
  // Periodic count models learn in the background and publish copies (see replay.h).
  std::unique_ptr<Model> shadow;
  if (task.protocol == Protocol::kPeriodic && !iterative) shadow = model->Clone();

  BatchTrainOptions train_options =
      BatchTrainOptions::FromOptions(options_.options, options_.context.seed);
  const Validator validator = MakeRecallValidator(
      options_.k, options_.exclude_seen, options_.active_window_ms,
      static_cast<uint32_t>(options_.options.GetInt("", "train", "validation_events")),
      options_.context.seed);
  auto batch_fit = [&](size_t end) -> Status {
    LIVEREC_ASSIGN_OR_RETURN(model, Fresh(task.spec));
    capabilities = DiscoverCapabilities(*model);
    BatchTrainResult fit =
        TrainBatch(model.get(), std::span(events).first(end), train_options, validator);
    result.train_seconds += fit.seconds;
    if (result.batch_epochs == 0) {
      result.batch_epochs = fit.epochs;
      result.validation_curve = fit.validation_curve;
      train_options.fixed_epochs = fit.epochs;  // later rebuilds refit with the chosen count
    }
    return Status::Ok();
  };

  CandidateSet candidates(options_.active_window_ms);
  UserHistory history;
  EventRanker ranker(options_.k, options_.exclude_seen,
                     DeriveSeed(options_.context.seed, kRankerSalt));
  MetricAccumulator total(options_.k);
  UserBootstrap bootstrap(options_.k);
  std::vector<ItemId> top_k;

  // The ranking stage and the diversity metric (see replay.h).
  const bool rerank = rank_.active();
  const RerankOptions rerank_options{
      .lambda = 1 - rank_.diversity, .pool = rank_.pool, .category_cap = rank_.category_cap};
  // Read through `capabilities`, which rebuilds rediscover.
  const ItemSimilarity by_category =
      categories_ != nullptr ? categories_->JaccardSimilarity() : nullptr;
  const ItemSimilarity rerank_sim =
      rerank && rank_.diversity > 0 ? NamedSimilarity(rank_.similarity, &capabilities, by_category)
                                    : nullptr;
  const ItemCategories category_of =
      categories_ != nullptr ? categories_->CategoriesAccessor() : nullptr;
  if (categories_ != nullptr) {
    result.ild_similarity = "category";
  } else if (HasNamedSimilarity(rank_.similarity, capabilities, false)) {
    result.ild_similarity = rank_.similarity;
  }
  const ItemSimilarity ild_sim =
      result.ild_similarity.empty()
          ? nullptr
          : NamedSimilarity(result.ild_similarity, &capabilities, by_category);
  Reranker reranker;
  std::vector<ScoredCandidate> scored;
  std::vector<ScoredCandidate> reranked;
  DiversityAccumulator diversity;
  std::vector<bool> covered(dataset_.num_items(), false);
  uint64_t num_covered = 0;

  const int64_t series_start = split_ < events.size() ? events[split_].time_ms : 0;
  int64_t window_start = series_start;
  MetricAccumulator window(options_.k);
  auto flush_window = [&](int64_t end_ms) {
    if (window.events() == 0) return;
    MetricSummary s = window.Summary();
    result.series.push_back({window_start, end_ms, s.events, s.recall, s.ndcg, s.mrr});
    window = MetricAccumulator(options_.k);
  };

  int64_t next_rebuild_ms = 0;
  uint64_t pending_progress = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (i == split_) {
      if (task.protocol == Protocol::kPeriodic && !iterative) {
        model = shadow->Clone();
        capabilities = DiscoverCapabilities(*model);
      } else if (task.protocol != Protocol::kOnline) {
        LIVEREC_RETURN_IF_ERROR(batch_fit(i));
      }
      next_rebuild_ms = e.time_ms + options_.period_ms;
    }
    const bool repeat = history.Contains(e.user, e.item);
    if (i >= split_) {
      if (task.protocol == Protocol::kPeriodic && e.time_ms >= next_rebuild_ms) {
        if (iterative) {
          LIVEREC_RETURN_IF_ERROR(batch_fit(i));
        } else {
          model = shadow->Clone();
          capabilities = DiscoverCapabilities(*model);
        }
        ++result.rebuilds;
        while (next_rebuild_ms <= e.time_ms) next_rebuild_ms += options_.period_ms;
      }
      while (e.time_ms >= window_start + series_window_ms_) {
        flush_window(window_start + series_window_ms_);
        window_start += series_window_ms_;
      }
      candidates.Advance(e.time_ms);
      const bool cold = history.NumEvents(e.user) < options_.cold_user_events;
      RankOutcome outcome =
          ranker.Rank(*model, e.user, e.item, repeat, candidates, history, &top_k);
      if (repeat && options_.exclude_seen) {
        ++result.repeats_skipped;
      } else {
        if (rerank) {
          ranker.ScoredCandidates(&scored);
          reranker.Rerank(scored, options_.k, rerank_options, rerank_sim, category_of, &reranked);
          top_k.clear();
          for (const ScoredCandidate& c : reranked) top_k.push_back(c.item);
          outcome.rank = RankInList(outcome.rank, e.item, top_k, options_.k);
        }
        if (ild_sim && top_k.size() >= 2) {
          diversity.Add(IntraListDiversity(top_k, ild_sim),
                        category_of ? CategoryCoverage(top_k, category_of) : 0);
        }
        const uint64_t others =
            outcome.rank >= 1 ? OtherCandidates(candidates, history, e.user, options_.exclude_seen)
                              : 0;
        total.Add(outcome.rank, cold, others);
        bootstrap.Add(e.user, outcome.rank);
        window.Add(outcome.rank, cold, others);
      }
      for (ItemId item : top_k) {
        if (!covered[item]) {
          covered[item] = true;
          ++num_covered;
        }
      }
    }
    // Learn (the train half), per protocol.
    const bool learn =
        task.protocol == Protocol::kOnline || (task.protocol == Protocol::kWarm && i >= split_);
    if (learn) {
      model->Learn(e);
    } else if (i >= split_ && capabilities.observer != nullptr) {
      capabilities.observer->Observe(e);  // a frozen model still sees what the user just did
    }
    if (shadow) shadow->Learn(e);
    history.Add(e.user, e.item, repeat);
    candidates.Observe(e.item, e.time_ms);
    if (++pending_progress == kProgressStride) {
      progress_->fetch_add(pending_progress, std::memory_order_relaxed);
      pending_progress = 0;
    }
  }
  progress_->fetch_add(pending_progress, std::memory_order_relaxed);
  flush_window(events.empty() ? 0 : events.back().time_ms + 1);

  FinishRunResult(total, bootstrap, diversity, num_covered, dataset_.num_items(), options_, start,
                  &result);
  return result;
}

}  // namespace

void FinishRunResult(const MetricAccumulator& total, const UserBootstrap& bootstrap,
                     const DiversityAccumulator& diversity, uint64_t covered, size_t num_items,
                     const ReplayOptions& options, std::chrono::steady_clock::time_point start,
                     RunResult* result) {
  result->metrics = total.Summary();
  if (options.bootstrap_resamples > 0) {
    result->intervals = bootstrap.Intervals(options.bootstrap_resamples, options.confidence_level,
                                            BootstrapSeed(options.context.seed));
  }
  result->diversity = diversity.Summary();
  result->coverage =
      num_items == 0 ? 0 : static_cast<double>(covered) / static_cast<double>(num_items);
  result->seconds = SecondsSince(start);
  result->events_per_second =
      result->seconds > 0 ? static_cast<double>(result->metrics.events) / result->seconds : 0;
}

std::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kOnline:
      return "online";
    case Protocol::kStatic:
      return "static";
    case Protocol::kPeriodic:
      return "periodic";
    case Protocol::kWarm:
      return "warm";
    case Protocol::kLoo:
      return "loo";
    case Protocol::kServed:
      return "served";
  }
  return "unknown";
}

StatusOr<Protocol> ParseProtocol(std::string_view name) {
  for (Protocol p : {Protocol::kOnline, Protocol::kStatic, Protocol::kPeriodic, Protocol::kWarm,
                     Protocol::kLoo, Protocol::kServed}) {
    if (ProtocolName(p) == name) return p;
  }
  return InvalidArgument("unknown protocol '" + std::string(name) +
                         "'; expected online, static, periodic, warm, loo or served");
}

StatusOr<ModelSpec> ParseModelSpec(std::string_view text) {
  text = Trim(text);
  ModelSpec spec;
  size_t colon = text.find(':');
  spec.name = std::string(Trim(text.substr(0, colon)));
  spec.type =
      colon == std::string_view::npos ? spec.name : std::string(Trim(text.substr(colon + 1)));
  if (spec.name.empty() || spec.type.empty()) {
    return InvalidArgument("model '" + std::string(text) + "': expected NAME or NAME:TYPE");
  }
  for (char c : spec.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return InvalidArgument("model name '" + spec.name + "': use letters, digits and '_' only");
    }
  }
  for (std::string_view type : ModelTypes()) {
    if (type == spec.type) return spec;
  }
  std::string known;
  for (std::string_view type : ModelTypes())
    known += (known.empty() ? "" : ", ") + std::string(type);
  return InvalidArgument("model '" + spec.name + "': unknown type '" + spec.type +
                         "'; known types: " + known);
}

Validator MakeRecallValidator(uint32_t k, bool exclude_seen, int64_t active_window_ms,
                              uint32_t max_events, uint64_t seed) {
  return [=](const Model& model, std::span<const Event> train, std::span<const Event> validation) {
    CandidateSet candidates(active_window_ms);
    UserHistory history;
    for (const Event& e : train) {
      history.Add(e.user, e.item, history.Contains(e.user, e.item));
      candidates.Observe(e.item, e.time_ms);
    }
    EventRanker ranker(k, exclude_seen, DeriveSeed(seed, kRankerSalt));
    MetricAccumulator acc(k);
    const size_t stride =
        std::max<size_t>(1, validation.size() / std::max<uint32_t>(max_events, 1));
    for (size_t i = 0; i < validation.size(); ++i) {
      const Event& e = validation[i];
      candidates.Advance(e.time_ms);
      const bool repeat = history.Contains(e.user, e.item);
      if (i % stride == 0 && !(repeat && exclude_seen)) {
        acc.Add(ranker.Rank(model, e.user, e.item, repeat, candidates, history, nullptr).rank,
                false);
      }
      history.Add(e.user, e.item, repeat);
      candidates.Observe(e.item, e.time_ms);
    }
    return acc.Summary().recall;
  };
}

StatusOr<ReplayReport> RunReplay(const Dataset& dataset, const ReplayOptions& options) {
  if (options.models.empty()) return InvalidArgument("no models to replay");
  if (options.protocols.empty()) return InvalidArgument("no protocols to replay");
  if (options.k == 0) return InvalidArgument("k must be at least 1");
  if (!(options.train_fraction >= 0 && options.train_fraction < 1)) {
    return InvalidArgument("train fraction must be in [0, 1)");
  }
  if (options.period_ms <= 0) return InvalidArgument("period must be positive");
  if (options.partitions > 0) {
    for (const Protocol protocol : options.protocols) {
      if (protocol != Protocol::kOnline) {
        return InvalidArgument("partitions: the " + std::string(ProtocolName(protocol)) +
                               " protocol does not learn partitioned; only online does");
      }
    }
    if (options.round_ms <= 0) return InvalidArgument("round must be positive");
  }
  if (!(options.confidence_level > 0 && options.confidence_level < 1)) {
    return InvalidArgument("confidence level must be in (0, 1)");
  }
  std::map<std::string, std::string> instances;
  for (const ModelSpec& spec : options.models) {
    if (!instances.emplace(spec.name, spec.type).second) {
      return InvalidArgument("model name '" + spec.name + "' given twice");
    }
  }
  LIVEREC_RETURN_IF_ERROR(options.options.Validate(instances));

  RankSettings rank;
  rank.diversity = options.options.GetFloat("", "rank", "diversity");
  rank.similarity = options.options.GetString("", "rank", "similarity");
  rank.pool = static_cast<size_t>(options.options.GetInt("", "rank", "pool"));
  rank.category_cap = static_cast<uint32_t>(options.options.GetInt("", "rank", "category_cap"));
  std::optional<ItemCategoryTable> categories;
  if (options.item_metadata != nullptr) categories = CategoryTableOf(*options.item_metadata);
  const bool have_categories = categories && categories->num_categories() > 0;
  if (rank.category_cap > 0 && !have_categories) {
    return InvalidArgument("rank.category_cap needs item categories (replay --items)");
  }
  if (rank.diversity > 0) {
    for (const ModelSpec& spec : options.models) {
      // What a model offers is known once one is opened: a fresh one answers for its runs'.
      std::unique_ptr<Model> fresh;
      ModelCapabilities capabilities;
      if (rank.similarity != "category") {
        StatusOr<std::unique_ptr<Model>> model =
            CreateModel(OptionView(&options.options, spec.name, spec.type), options.context);
        if (!model.ok()) continue;  // its runs report why, as without diversity
        fresh = std::move(model).value();
        capabilities = DiscoverCapabilities(*fresh);
      }
      if (HasNamedSimilarity(rank.similarity, capabilities, have_categories)) continue;
      return InvalidArgument(
          "rank.similarity=" + rank.similarity + " is not available for model '" + spec.name +
          "' (type " + spec.type +
          "): category needs item categories (replay --items), embedding an mf model, knn an "
          "item_knn model");
    }
  }

  const std::vector<Event>& events = dataset.events;
  ReplayReport report;
  report.num_events = events.size();
  report.num_users = dataset.num_users();
  report.num_items = dataset.num_items();
  const size_t split =
      static_cast<size_t>(static_cast<double>(events.size()) * options.train_fraction);
  report.scored_events = events.size() - split;
  report.rank = rank;
  if (split < events.size()) report.scored_from_ms = events[split].time_ms;
  // The automatic window spans the bulk of the scored events: a few stragglers far in the future
  // (late events of long sessions) must not stretch every window.
  int64_t bulk_end_ms = report.scored_from_ms;
  if (split < events.size()) {
    const size_t bulk_index =
        split +
        static_cast<size_t>(static_cast<double>(events.size() - split - 1) * kSeriesBulkQuantile);
    bulk_end_ms = events[bulk_index].time_ms;
  }
  const int64_t series_window_ms = options.series_window_ms > 0
                                       ? options.series_window_ms
                                       : AutoSeriesWindow(bulk_end_ms - report.scored_from_ms + 1);

  std::vector<RunTask> tasks;
  for (const ModelSpec& spec : options.models) {
    for (Protocol protocol : options.protocols) tasks.push_back({spec, protocol});
  }
  // Periodic runs of iterative models are the longest: start them first.
  std::stable_sort(tasks.begin(), tasks.end(), [](const RunTask& a, const RunTask& b) {
    return (a.protocol == Protocol::kPeriodic) > (b.protocol == Protocol::kPeriodic);
  });

  std::vector<StatusOr<RunResult>> results(tasks.size(), Status(StatusCode::kInternal, "not run"));
  std::atomic<uint64_t> progress{0};
  std::atomic<size_t> next_task{0};
  std::mutex mu;
  std::condition_variable done_cv;
  size_t workers_done = 0;
  RunContext run_context(dataset, options, split, series_window_ms, report.rank,
                         have_categories ? &*categories : nullptr, &progress);

  const size_t num_workers =
      std::clamp<size_t>(static_cast<size_t>(options.context.num_threads), 1, tasks.size());
  std::vector<std::thread> workers;
  for (size_t w = 0; w < num_workers; ++w) {
    workers.emplace_back([&] {
      for (size_t t = next_task++; t < tasks.size(); t = next_task++) {
        results[t] = run_context.Run(tasks[t]);
      }
      std::lock_guard<std::mutex> lock(mu);
      ++workers_done;
      done_cv.notify_all();
    });
  }
  {
    const double total_work =
        static_cast<double>(tasks.size() * std::max<size_t>(events.size(), 1));
    std::unique_lock<std::mutex> lock(mu);
    while (workers_done < num_workers) {
      done_cv.wait_for(lock, std::chrono::milliseconds(200));
      if (options.on_progress) {
        options.on_progress(static_cast<double>(progress.load()) / total_work);
      }
    }
  }
  for (std::thread& t : workers) t.join();

  // Results in the order asked: models as listed, protocols as listed.
  for (const ModelSpec& spec : options.models) {
    for (Protocol protocol : options.protocols) {
      for (size_t t = 0; t < tasks.size(); ++t) {
        if (tasks[t].spec.name != spec.name || tasks[t].protocol != protocol) continue;
        if (!results[t].ok()) {
          return results[t].status().WithPrefix(spec.name + "/" +
                                                std::string(ProtocolName(protocol)));
        }
        report.results.push_back(std::move(results[t]).value());
      }
    }
  }
  return report;
}

}  // namespace liverec
