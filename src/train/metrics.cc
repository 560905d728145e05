#include "train/metrics.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace liverec {

double NdcgAt(uint64_t rank, uint32_t k) {
  if (rank == 0 || rank > k) return 0;
  return 1.0 / std::log2(static_cast<double>(rank) + 1.0);
}

double ReciprocalRank(uint64_t rank) { return rank == 0 ? 0 : 1.0 / static_cast<double>(rank); }

double AucOfRank(uint64_t rank, uint64_t num_others) {
  LIVEREC_CHECK(rank >= 1 && num_others >= 1) << "rank " << rank << ", others " << num_others;
  // A rank past the others (a NaN score ranks after every candidate, excluded ones included)
  // is below all of them: 0, not negative.
  const double below = static_cast<double>(num_others) - static_cast<double>(rank - 1);
  return std::clamp(below / static_cast<double>(num_others), 0.0, 1.0);
}

void MetricAccumulator::Add(uint64_t rank, bool cold_user, uint64_t num_others) {
  const bool hit = rank >= 1 && rank <= k_;
  ++events_;
  hits_ += hit;
  ndcg_sum_ += NdcgAt(rank, k_);
  rr_sum_ += ReciprocalRank(rank);
  if (rank >= 1 && num_others >= 1) {
    ++auc_events_;
    auc_sum_ += AucOfRank(rank, num_others);
  }
  if (cold_user) {
    ++cold_events_;
    cold_hits_ += hit;
  }
}

void MetricAccumulator::Merge(const MetricAccumulator& other) {
  events_ += other.events_;
  hits_ += other.hits_;
  ndcg_sum_ += other.ndcg_sum_;
  rr_sum_ += other.rr_sum_;
  auc_events_ += other.auc_events_;
  auc_sum_ += other.auc_sum_;
  cold_events_ += other.cold_events_;
  cold_hits_ += other.cold_hits_;
}

MetricSummary MetricAccumulator::Summary() const {
  MetricSummary s;
  s.events = events_;
  s.cold_events = cold_events_;
  s.warm_events = events_ - cold_events_;
  if (events_ > 0) {
    const double n = static_cast<double>(events_);
    s.recall = static_cast<double>(hits_) / n;
    s.ndcg = ndcg_sum_ / n;
    s.mrr = rr_sum_ / n;
  }
  s.auc_events = auc_events_;
  if (auc_events_ > 0) s.auc = auc_sum_ / static_cast<double>(auc_events_);
  if (s.cold_events > 0) {
    s.cold_recall = static_cast<double>(cold_hits_) / static_cast<double>(s.cold_events);
  }
  if (s.warm_events > 0) {
    s.warm_recall = static_cast<double>(hits_ - cold_hits_) / static_cast<double>(s.warm_events);
  }
  return s;
}

void DiversityAccumulator::Add(double ild, size_t categories) {
  ++lists_;
  ild_sum_ += ild;
  categories_sum_ += static_cast<double>(categories);
}

void DiversityAccumulator::Merge(const DiversityAccumulator& other) {
  lists_ += other.lists_;
  ild_sum_ += other.ild_sum_;
  categories_sum_ += other.categories_sum_;
}

DiversitySummary DiversityAccumulator::Summary() const {
  DiversitySummary s;
  s.lists = lists_;
  if (lists_ > 0) {
    s.ild = ild_sum_ / static_cast<double>(lists_);
    s.categories = categories_sum_ / static_cast<double>(lists_);
  }
  return s;
}

}  // namespace liverec
