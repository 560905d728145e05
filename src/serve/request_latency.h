// RequestLatencies: the server's recent request latencies per route, for /v1/stats and the
// dashboard's live chart (GET /v1/stats/stream).
//
// Each tracked route keeps the handling times of its last kLatencySamples requests in a ring
// (time in the handler: parsing, the engine's work and rendering, not the network). Percentiles
// are taken over that ring when rendered, so they describe recent traffic whatever its rate,
// and stay fixed while the route gets no requests (a test can compare two reads).
//
// Thread safety: Record and Snapshot may be called from any thread at once (a mutex per route,
// held for one store or one copy of the ring).
#ifndef LIVEREC_SERVE_REQUEST_LATENCY_H_
#define LIVEREC_SERVE_REQUEST_LATENCY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace liverec {

// Samples kept per route: enough for a stable p99 (ten samples above it), small enough that a
// render copies and partially sorts it in microseconds.
inline constexpr size_t kLatencySamples = 1024;

// The routes whose latency is kept, in the order they are rendered.
enum class LatencyRoute : size_t { kRecommendations, kSimilar, kEvents, kUsers, kNumRoutes };

// The figures of one route: requests handled since the server started, and the percentiles of
// the last min(count, kLatencySamples) in milliseconds (0 when count is 0).
struct LatencySummary {
  std::string route;
  uint64_t count = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

class RequestLatencies {
 public:
  void Record(LatencyRoute route, double ms);

  // One summary per route, in LatencyRoute order.
  std::vector<LatencySummary> Snapshot() const;

 private:
  struct Ring {
    mutable std::mutex mu;
    std::array<float, kLatencySamples> ms{};  // guarded by mu
    uint64_t count = 0;                       // guarded by mu; next slot is count % size
  };
  std::array<Ring, static_cast<size_t>(LatencyRoute::kNumRoutes)> rings_;
};

// The route's name in JSON ("recommendations", "similar", "events", "users").
const char* LatencyRouteName(LatencyRoute route);

// The value at quantile q (0..1) of `values` by the nearest-rank rule (the ceil(q * n)-th
// smallest); reorders `values`. 0 for an empty vector.
double NearestRank(std::vector<float>* values, double q);

}  // namespace liverec

#endif  // LIVEREC_SERVE_REQUEST_LATENCY_H_
