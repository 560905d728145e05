#include "eval/logged_decisions.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "engine/engine_state.h"
#include "engine/feedback.h"
#include "engine/log_entry.h"
#include "engine/recommender.h"
#include "engine/recovery.h"
#include "engine/snapshots.h"
#include "feature/id_map.h"
#include "store/log_reader.h"
#include "store/snapshot.h"

namespace liverec {
namespace {

// An open decision: its list's index and when it was served.
struct Pending {
  size_t list = 0;
  int64_t time_ms = 0;
};

}  // namespace

StatusOr<LoggedDecisions> ReadLoggedDecisions(const std::string& data_dir, const Options& options,
                                              const Context& context, const std::string& model,
                                              size_t positions) {
  LIVEREC_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keys, LoadStorageKeys(options));
  const DataDir dir(data_dir, keys);
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<EngineState> state,
                           EngineState::Create(options, context));
  const Recommender recommender(RecommenderOptions::FromOptions(options, 0), *state);
  if (!state->FindModel(model)) {
    return NotFound("--model: no live model '" + model +
                    "' under these options (engine.models and the ensembles' members)");
  }
  const int64_t join_window_ms = FeedbackOptions::FromOptions(options).join_window_ms;

  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader,
                           LogReader::Open(dir.log(), 0, dir.keys()));
  LoggedDecisions out;
  IdMap items;  // item keys of the lists, for LoggedList's ids
  std::unordered_map<std::string, Pending> pending;
  LogRecord record;
  LogEntry entry;
  bool first = true;
  // Learning between decisions is deferred and flushed before each one is ranked: the target
  // ranks on models that have learned every record before the decision.
  state->SetDeferredLearning(true);
  while (true) {
    LIVEREC_ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more) break;
    if (first && record.seq != 1) {
      // Older segments were pruned: start from the snapshot this log continues.
      LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotEntry> snapshots, ListSnapshotEntries(dir));
      auto it = std::find_if(snapshots.begin(), snapshots.end(),
                             [&](const SnapshotEntry& s) { return s.seq + 1 == record.seq; });
      if (it == snapshots.end()) {
        return Corruption("the log starts at record " + std::to_string(record.seq) +
                          " and no snapshot ends at record " + std::to_string(record.seq - 1));
      }
      LIVEREC_ASSIGN_OR_RETURN(Snapshot snapshot,
                               ReadSnapshot(dir.snapshot_file(it->seq), dir.keys().get()));
      LIVEREC_RETURN_IF_ERROR(state->Load(snapshot, nullptr));
    }
    if (first) out.first_seq = record.seq;
    first = false;
    LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(record.payload, &entry)
                                .WithPrefix("log record " + std::to_string(record.seq)));
    if (entry.kind == LogEntryKind::kDecision && !entry.decision.items.empty()) {
      const DecisionRecord& d = entry.decision;
      state->FlushLearning();
      RecommendRequest request;
      request.user = d.user;
      request.k = d.items.size();
      request.model = model;
      LIVEREC_ASSIGN_OR_RETURN(Recommendations target, recommender.Recommend(request));
      LoggedList& list = out.lists.emplace_back();
      const size_t k = std::min(positions, d.items.size());
      for (size_t j = 0; j < k; ++j) {
        list.shown.push_back(items.GetOrAdd(d.items[j].item));
        list.probability.push_back(d.items[j].probability);
        list.clicked.push_back(0);
      }
      for (size_t j = 0; j < std::min(k, target.items.size()); ++j) {
        list.target.push_back(items.GetOrAdd(target.items[j].item));
      }
      pending[d.recommendation_id] = Pending{out.lists.size() - 1, d.time_ms};
    } else if (entry.kind == LogEntryKind::kEvent && !entry.event.recommendation_id.empty() &&
               entry.event.type != kImpressionEventType) {
      const EventRecord& e = entry.event;
      auto it = pending.find(e.recommendation_id);
      StatusOr<float> weight = state->event_types().Weight(e.type);
      if (it != pending.end() && weight.ok() && *weight > 0 &&
          e.time_ms <= it->second.time_ms + join_window_ms) {
        LoggedList& list = out.lists[it->second.list];
        const uint32_t item = items.Find(e.item);
        for (size_t j = 0; j < list.shown.size(); ++j) {
          if (list.shown[j] != item || list.clicked[j] != 0) continue;
          list.clicked[j] = 1;
          ++out.clicks;
        }
      }
    }
    LIVEREC_RETURN_IF_ERROR(ApplyLogEntry(dir, record.seq, entry, state.get()));
    ++out.records;
  }
  state->SetDeferredLearning(false);
  return out;
}

}  // namespace liverec
