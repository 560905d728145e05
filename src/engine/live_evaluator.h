// LiveEvaluator: the test half of the server's test-then-train. A sample of the applied events
// (metrics.sample_rate) is ranked by every live model on the state that learned every event
// before it, exactly as `liverec replay` ranks it, and each model's Recall@K and NDCG@K
// accumulate for Stats.
//
// Thread safety: Sample and Evaluate on the apply thread only (Evaluate reads the state without
// its lock: nobody else writes it); counters() from any thread.
#ifndef LIVEREC_ENGINE_LIVE_EVALUATOR_H_
#define LIVEREC_ENGINE_LIVE_EVALUATOR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "common/mutex.h"
#include "common/random.h"
#include "common/thread_annotations.h"
#include "engine/engine_state.h"
#include "event/event_record.h"
#include "train/ranker.h"

namespace liverec {

// One model's live evaluation so far.
struct LiveCounters {
  uint64_t evaluated = 0;
  double hits = 0;
  double ndcg = 0;
};

class LiveEvaluator {
 public:
  // Ranks at cut-off k, for `num_models` live models, a share `sample_rate` of the events.
  LiveEvaluator(uint32_t k, double sample_rate, size_t num_models, uint64_t seed);

  // Whether to evaluate the next applied event (a seeded draw per event).
  bool Sample() { return sample_rate_ > 0 && rng_.UniformDouble() < sample_rate_; }
  bool enabled() const { return sample_rate_ > 0; }
  // Ranks `record` with every live model of `state` before it is learned. Negative feedback and
  // re-consumptions are not evaluated: they are no recommendation to make.
  void Evaluate(const EngineState& state, const EventRecord& record) LIVEREC_EXCLUDES(mu_);

  // Per live model, parallel to EngineState::models().
  std::vector<LiveCounters> counters() const LIVEREC_EXCLUDES(mu_);
  uint32_t k() const { return k_; }

 private:
  const uint32_t k_;
  const double sample_rate_;
  EventRanker ranker_;
  Random rng_;
  mutable Mutex mu_;
  std::vector<LiveCounters> counters_ LIVEREC_GUARDED_BY(mu_);
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_LIVE_EVALUATOR_H_
