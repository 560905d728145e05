// Ranking metrics for test-then-train evaluation, one relevant item per event.
//
// For an evaluated event the true item has a 1-based rank among the candidates (0 = the item
// was not a candidate at all, a miss). With K the cut-off:
//   Recall@K (hit rate) = share of events with 1 <= rank <= K,
//   NDCG@K              = mean of 1 / log2(rank + 1) over hits (the ideal DCG is 1),
//   MRR                 = mean of 1 / rank (0 for a miss),
//   AUC                 = mean over ranked events of the share of the other candidates the true
//                         item scores above, ties counting half.
// AUC needs the number of other candidates the item was ranked against (`num_others`: the
// candidates minus the item itself and minus excluded ones). It is averaged over the events whose
// item was a candidate (rank >= 1) with at least one other candidate: a miss has no score among
// the candidates to compare, and Recall already counts it. From a rank whose ties were broken by a
// uniform random share (train/ranker.h), AUC = 1 - (rank - 1) / num_others counts ties half in
// expectation; 0.5 is a model that ranks at random, 1 one that puts the item first every time.
// Events are also split by whether the user was cold (fewer than `cold_user_events` earlier
// events) or warm at the time.
//
// Diversity of the evaluated top-K lists (rank/diversity.h) is averaged over the lists the
// caller adds: mean intra-list diversity (ILD, mean pairwise 1 - sim) and mean category coverage
// (distinct categories per list).
#ifndef LIVEREC_TRAIN_METRICS_H_
#define LIVEREC_TRAIN_METRICS_H_

#include <cstddef>
#include <cstdint>

namespace liverec {

// NDCG@k of one event whose item has 1-based `rank` (0 = miss).
double NdcgAt(uint64_t rank, uint32_t k);
// Reciprocal rank (0 for a miss).
double ReciprocalRank(uint64_t rank);
// AUC of one event: the share of `num_others` other candidates ranked below the item,
// 1 - (rank - 1) / num_others, clamped to [0, 1]. Requires rank >= 1 and num_others >= 1.
double AucOfRank(uint64_t rank, uint64_t num_others);

struct MetricSummary {
  uint64_t events = 0;
  double recall = 0;
  double ndcg = 0;
  double mrr = 0;
  uint64_t auc_events = 0;  // events that count toward AUC (ranked, with other candidates)
  double auc = 0;           // 0 when auc_events is 0
  uint64_t cold_events = 0;
  double cold_recall = 0;
  uint64_t warm_events = 0;
  double warm_recall = 0;
};

class MetricAccumulator {
 public:
  explicit MetricAccumulator(uint32_t k) : k_(k) {}

  // Adds one evaluated event whose item has 1-based `rank` (0 = miss), ranked against
  // `num_others` other candidates; with num_others = 0 (or a miss) the event does not count
  // toward AUC.
  void Add(uint64_t rank, bool cold_user, uint64_t num_others = 0);
  void Merge(const MetricAccumulator& other);
  MetricSummary Summary() const;
  uint64_t events() const { return events_; }

 private:
  uint32_t k_;
  uint64_t events_ = 0;
  uint64_t hits_ = 0;
  double ndcg_sum_ = 0;
  double rr_sum_ = 0;
  uint64_t auc_events_ = 0;
  double auc_sum_ = 0;
  uint64_t cold_events_ = 0;
  uint64_t cold_hits_ = 0;
};

struct DiversitySummary {
  uint64_t lists = 0;     // lists measured (0: diversity was not measured)
  double ild = 0;         // mean intra-list diversity
  double categories = 0;  // mean distinct categories per list (0 without item categories)
};

class DiversityAccumulator {
 public:
  // Adds one list's ILD and its number of distinct categories.
  void Add(double ild, size_t categories);
  void Merge(const DiversityAccumulator& other);
  DiversitySummary Summary() const;

 private:
  uint64_t lists_ = 0;
  double ild_sum_ = 0;
  double categories_sum_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_TRAIN_METRICS_H_
