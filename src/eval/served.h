// The served protocol: replay measuring the list the server would serve.
//
// The four test-then-train protocols measure a model: the rank of the event's item among every
// candidate, ties broken by a seeded share (train/ranker.h). A deployment serves something
// more: the model's candidate source or vector index, the fallback model for a user without
// events, backfill of a short list, unavailable items left out, re-ranking. `served` measures
// that list. An EngineState (engine/) learns the stream as the server's apply thread learns its
// log (one entry per event, item metadata PUT before the first event), and before each scored
// event the engine's own Recommender serves the user k items through Recommender::Recommend,
// the call behind GET /v1/recommendations. The event's item counts at its place in that list
// (a miss when absent), so Recall@k here is the hit rate of served lists, and MRR counts a miss
// as 0 (the rank metric's MRR reads the item's rank past k too); AUC is not defined.
//
// Same events as the other protocols: events after train_fraction, repeats skipped with
// exclude_seen, cold users as in replay.h. The model learns online from the first event (as a
// server started empty); engine.default_model is the run's model and engine.fallback_model
// (popularity unless set) joins the live models when the run's model does not provide it.
// Candidates are the server's: every item with an event, so --active-window does not apply.
#ifndef LIVEREC_EVAL_SERVED_H_
#define LIVEREC_EVAL_SERVED_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "eval/replay.h"
#include "event/dataset.h"
#include "liverec/status.h"
#include "rank/similarity.h"

namespace liverec {

// Runs `spec` under the served protocol on `dataset` (in stream order). Scoring starts at
// event `split`; windows of `series_window_ms` form the series. `categories` (null = none)
// measures diversity as replay does. Adds the events processed to *progress.
StatusOr<RunResult> RunServed(const Dataset& dataset, const ModelSpec& spec,
                              const ReplayOptions& options, size_t split, int64_t series_window_ms,
                              const ItemCategoryTable* categories, std::atomic<uint64_t>* progress);

}  // namespace liverec

#endif  // LIVEREC_EVAL_SERVED_H_
