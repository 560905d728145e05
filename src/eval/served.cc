#include "eval/served.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine_state.h"
#include "engine/log_entry.h"
#include "engine/recommender.h"
#include "eval/bootstrap.h"
#include "liverec/event.h"
#include "rank/diversity.h"
#include "train/candidates.h"
#include "train/metrics.h"

namespace liverec {
namespace {

constexpr uint64_t kProgressStride = 4096;  // events between progress counter updates

// The item metadata of the data set as the PUT /v1/items body it stands for: its categories,
// tags, and its text (the tokens, which tokenize back to themselves).
ItemMetadata MetadataOf(const ItemMetadataRecord& record) {
  ItemMetadata metadata;
  metadata.categories = record.categories;
  metadata.tags = record.tags;
  for (const std::string& token : record.tokens) {
    if (!metadata.text.empty()) metadata.text += ' ';
    metadata.text += token;
  }
  return metadata;
}

// The engine options of a served run: the replay's options with the run's model live and
// default. The fallback model joins when `with_fallback`.
StatusOr<Options> ServedOptions(const ReplayOptions& options, const ModelSpec& spec,
                                bool with_fallback) {
  Options served = options.options;
  std::string models = spec.name == spec.type ? spec.name : spec.name + ":" + spec.type;
  if (with_fallback) models += "," + served.GetString("", "engine", "fallback_model");
  LIVEREC_RETURN_IF_ERROR(served.Set("engine.models", models));
  LIVEREC_RETURN_IF_ERROR(served.Set("engine.default_model", spec.name));
  return served;
}

// A state whose live models serve `spec` and the fallback model.
StatusOr<std::unique_ptr<EngineState>> ServedState(const ReplayOptions& options,
                                                   const ModelSpec& spec, Options* served) {
  LIVEREC_ASSIGN_OR_RETURN(*served, ServedOptions(options, spec, false));
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<EngineState> state,
                           EngineState::Create(*served, options.context));
  if (state->FindModel(served->GetString("", "engine", "fallback_model"))) return state;
  LIVEREC_ASSIGN_OR_RETURN(*served, ServedOptions(options, spec, true));
  return EngineState::Create(*served, options.context);
}

// The log entry of data set event `e`, as the HTTP edge would have made it. Datasets weigh every
// event 1, so the record is untyped (the engine's weight of "" is 1).
StatusOr<LogEntry> EntryOf(const Dataset& dataset, const Event& e) {
  EventRecord record;
  record.user = dataset.users.Key(e.user);
  record.item = dataset.items.Key(e.item);
  record.value = e.value;
  record.time_ms = e.time_ms;
  for (const ContextPair& pair : dataset.ContextOf(e)) {
    record.context.emplace_back(dataset.context_keys.Key(pair.key),
                                dataset.context_values.Key(pair.value));
  }
  if (e.id != kInvalidId) record.id = dataset.event_ids.Key(e.id);
  FieldError error;
  std::optional<ValidEventRecord> valid = ValidEventRecord::Make(std::move(record), &error);
  if (!valid) return InvalidArgument("event " + error.field + ": " + error.reason);
  LogEntry entry;
  entry.kind = LogEntryKind::kEvent;
  entry.event = std::move(*valid).Release();
  return entry;
}
}  // namespace

StatusOr<RunResult> RunServed(const Dataset& dataset, const ModelSpec& spec,
                              const ReplayOptions& options, size_t split, int64_t series_window_ms,
                              const ItemCategoryTable* categories,
                              std::atomic<uint64_t>* progress) {
  const auto start = std::chrono::steady_clock::now();
  RunResult result;
  result.model = spec.name;
  result.type = spec.type;
  result.protocol = Protocol::kServed;
  result.k = options.k;

  Options served;
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<EngineState> state, ServedState(options, spec, &served));
  const Recommender recommender(RecommenderOptions::FromOptions(served, 0), *state);
  uint64_t seq = 0;

  // The catalogue's metadata first, as a shop PUTs its items before traffic arrives.
  if (options.item_metadata != nullptr) {
    for (size_t item = 0; item < options.item_metadata->items.size(); ++item) {
      const ItemMetadataRecord& record = options.item_metadata->items[item];
      if (record.empty()) continue;
      LogEntry entry;
      entry.kind = LogEntryKind::kPutItem;
      entry.key = dataset.items.Key(static_cast<ItemId>(item));
      entry.item = MetadataOf(record);
      LIVEREC_RETURN_IF_ERROR(ValidateItemMetadata(entry.item).WithPrefix("item " + entry.key));
      state->Apply(++seq, entry);
    }
  }
  LIVEREC_RETURN_IF_ERROR(recommender.Validate());

  UserHistory history;  // by the data set's ids: repeats and cold users as replay counts them
  MetricAccumulator total(options.k);
  UserBootstrap bootstrap(options.k);
  MetricAccumulator window(options.k);
  DiversityAccumulator diversity;
  const ItemSimilarity by_category = categories ? categories->JaccardSimilarity() : nullptr;
  const ItemCategories category_of = categories ? categories->CategoriesAccessor() : nullptr;
  if (categories != nullptr) result.ild_similarity = "category";
  std::vector<bool> covered(dataset.num_items(), false);
  uint64_t num_covered = 0;
  std::vector<ItemId> list;

  const std::vector<Event>& events = dataset.events;
  int64_t window_start = split < events.size() ? events[split].time_ms : 0;
  auto flush_window = [&](int64_t end_ms) {
    if (window.events() == 0) return;
    const MetricSummary s = window.Summary();
    result.series.push_back({window_start, end_ms, s.events, s.recall, s.ndcg, s.mrr});
    window = MetricAccumulator(options.k);
  };

  // The part before scoring is learned in one deferred run, as recovery replays a log.
  state->SetDeferredLearning(split > 0);
  uint64_t pending_progress = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (i == split) state->SetDeferredLearning(false);
    const bool repeat = history.Contains(e.user, e.item);
    if (i >= split) {
      while (e.time_ms >= window_start + series_window_ms) {
        flush_window(window_start + series_window_ms);
        window_start += series_window_ms;
      }
      if (repeat && options.exclude_seen) {
        ++result.repeats_skipped;
      } else {
        RecommendRequest request;
        request.user = dataset.users.Key(e.user);
        request.k = options.k;
        request.exclude_seen = options.exclude_seen;
        LIVEREC_ASSIGN_OR_RETURN(Recommendations served_list, recommender.Recommend(request));
        list.clear();
        uint64_t rank = 0;
        for (const ScoredItem& scored : served_list.items) {
          const ItemId item = dataset.items.Find(scored.item);
          if (item == kInvalidId) continue;  // only data set items are ever learned
          list.push_back(item);
          if (item == e.item && rank == 0) rank = list.size();
          if (!covered[item]) {
            covered[item] = true;
            ++num_covered;
          }
        }
        if (by_category && list.size() >= 2) {
          diversity.Add(IntraListDiversity(list, by_category), CategoryCoverage(list, category_of));
        }
        const bool cold = history.NumEvents(e.user) < options.cold_user_events;
        total.Add(rank, cold);
        bootstrap.Add(e.user, rank);
        window.Add(rank, cold);
      }
    }
    LIVEREC_ASSIGN_OR_RETURN(LogEntry entry, EntryOf(dataset, e));
    state->Apply(++seq, entry);
    history.Add(e.user, e.item, repeat);
    if (++pending_progress == kProgressStride) {
      progress->fetch_add(pending_progress, std::memory_order_relaxed);
      pending_progress = 0;
    }
  }
  state->SetDeferredLearning(false);
  progress->fetch_add(pending_progress, std::memory_order_relaxed);
  flush_window(events.empty() ? 0 : events.back().time_ms + 1);

  FinishRunResult(total, bootstrap, diversity, num_covered, dataset.num_items(), options, start,
                  &result);
  return result;
}

}  // namespace liverec
