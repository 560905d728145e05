// Ranking metrics for test-then-train evaluation, one relevant item per event.
//
// For an evaluated event the true item has a 1-based rank among the candidates (0 = the item
// was not a candidate at all, a miss). With K the cut-off:
//   Recall@K (hit rate) = share of events with 1 <= rank <= K,
//   NDCG@K              = mean of 1 / log2(rank + 1) over hits (the ideal DCG is 1),
//   MRR                 = mean of 1 / rank (0 for a miss).
// Events are also split by whether the user was cold (fewer than `cold_user_events` earlier
// events) or warm at the time.
#ifndef LIVEREC_EVAL_METRICS_H_
#define LIVEREC_EVAL_METRICS_H_

#include <cstddef>
#include <cstdint>

namespace liverec {

// NDCG@k of one event whose item has 1-based `rank` (0 = miss).
double NdcgAt(uint64_t rank, uint32_t k);
// Reciprocal rank (0 for a miss).
double ReciprocalRank(uint64_t rank);

struct MetricSummary {
  uint64_t events = 0;
  double recall = 0;
  double ndcg = 0;
  double mrr = 0;
  uint64_t cold_events = 0;
  double cold_recall = 0;
  uint64_t warm_events = 0;
  double warm_recall = 0;
};

class MetricAccumulator {
 public:
  explicit MetricAccumulator(uint32_t k) : k_(k) {}

  void Add(uint64_t rank, bool cold_user);
  void Merge(const MetricAccumulator& other);
  MetricSummary Summary() const;
  uint64_t events() const { return events_; }

 private:
  uint32_t k_;
  uint64_t events_ = 0;
  uint64_t hits_ = 0;
  double ndcg_sum_ = 0;
  double rr_sum_ = 0;
  uint64_t cold_events_ = 0;
  uint64_t cold_hits_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_EVAL_METRICS_H_
