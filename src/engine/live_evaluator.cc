#include "engine/live_evaluator.h"

#include "train/metrics.h"

namespace liverec {

LiveEvaluator::LiveEvaluator(uint32_t k, double sample_rate, size_t num_models, uint64_t seed)
    : k_(k),
      sample_rate_(sample_rate),
      ranker_(k, /*exclude_seen=*/true, DeriveSeed(seed, 1)),
      rng_(DeriveSeed(seed, 2)),
      counters_(num_models) {}

void LiveEvaluator::Evaluate(const EngineState& state, const EventRecord& record) {
  // Ranked on the state that learned every event before it, as replay ranks it.
  state.WaitForLearning(0);
  const Event event = state.Resolve(record);
  if (event.weight <= 0) return;  // negative feedback is not a hit to predict
  const bool repeat = event.user != kInvalidId && event.item != kInvalidId &&
                      state.history().Contains(event.user, event.item);
  if (repeat) return;  // a re-consumption is not a recommendation to make
  const std::vector<ModelSlot>& models = state.models();
  std::vector<LiveCounters> delta(models.size());
  for (size_t m = 0; m < models.size(); ++m) {
    uint64_t rank = 0;  // an unknown item is a miss
    if (event.item != kInvalidId) {
      rank = ranker_
                 .Rank(*models[m].model, event.user, event.item, false, state.candidates(),
                       state.history(), nullptr)
                 .rank;
    }
    delta[m].evaluated = 1;
    if (rank >= 1 && rank <= k_) delta[m].hits = 1;
    delta[m].ndcg = NdcgAt(rank, k_);
  }
  MutexLock lock(&mu_);
  for (size_t m = 0; m < models.size(); ++m) {
    counters_[m].evaluated += delta[m].evaluated;
    counters_[m].hits += delta[m].hits;
    counters_[m].ndcg += delta[m].ndcg;
  }
}

std::vector<LiveCounters> LiveEvaluator::counters() const {
  MutexLock lock(&mu_);
  return counters_;
}

}  // namespace liverec
