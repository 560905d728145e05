#include "serve/request_latency.h"

#include <algorithm>
#include <cmath>

namespace liverec {

const char* LatencyRouteName(LatencyRoute route) {
  switch (route) {
    case LatencyRoute::kRecommendations:
      return "recommendations";
    case LatencyRoute::kSimilar:
      return "similar";
    case LatencyRoute::kEvents:
      return "events";
    case LatencyRoute::kUsers:
      return "users";
    case LatencyRoute::kNumRoutes:
      break;
  }
  return "unknown";
}

double NearestRank(std::vector<float>* values, double q) {
  if (values->empty()) return 0;
  const auto n = static_cast<double>(values->size());
  const size_t rank = static_cast<size_t>(std::max(1.0, std::ceil(q * n)));
  auto nth = values->begin() + static_cast<std::ptrdiff_t>(std::min(rank, values->size()) - 1);
  std::nth_element(values->begin(), nth, values->end());
  return *nth;
}

void RequestLatencies::Record(LatencyRoute route, double ms) {
  Ring& ring = rings_[static_cast<size_t>(route)];
  std::lock_guard lock(ring.mu);
  ring.ms[ring.count % ring.ms.size()] = static_cast<float>(ms);
  ++ring.count;
}

std::vector<LatencySummary> RequestLatencies::Snapshot() const {
  std::vector<LatencySummary> out;
  std::vector<float> values;
  for (size_t r = 0; r < rings_.size(); ++r) {
    LatencySummary summary;
    summary.route = LatencyRouteName(static_cast<LatencyRoute>(r));
    {
      const Ring& ring = rings_[r];
      std::lock_guard lock(ring.mu);
      summary.count = ring.count;
      const size_t n = std::min<uint64_t>(ring.count, ring.ms.size());
      values.assign(ring.ms.begin(), ring.ms.begin() + static_cast<std::ptrdiff_t>(n));
    }
    summary.max_ms = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
    summary.p99_ms = NearestRank(&values, 0.99);
    summary.p90_ms = NearestRank(&values, 0.90);
    summary.p50_ms = NearestRank(&values, 0.50);
    out.push_back(std::move(summary));
  }
  return out;
}

}  // namespace liverec
