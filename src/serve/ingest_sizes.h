// How large the events of POST /v1/events bodies are lately, so that a body the ingest queue has
// no room for is refused (429) from its Content-Length, before its bytes are read.
#ifndef LIVEREC_SERVE_INGEST_SIZES_H_
#define LIVEREC_SERVE_INGEST_SIZES_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace liverec {

// An exponential average of the bytes per event of the bodies observed (about the last 16),
// kept in 1/16 bytes. Lock-free and lossy by design: concurrent observations may overwrite one
// another, which only delays the average by a body.
class IngestBodySizes {
 public:
  // A body of `bytes` that held `events` (valid or not) was read.
  void Observe(size_t bytes, size_t events) {
    if (events == 0 || bytes == 0) return;
    const uint64_t sample = uint64_t{bytes} * 16 / events;
    const uint64_t old = per_event_x16_.load(std::memory_order_relaxed);
    const uint64_t next = old == 0 ? sample : old - old / 16 + sample / 16;
    per_event_x16_.store(next > 0 ? next : 1, std::memory_order_relaxed);
  }

  // The fewest events a body of `bytes` likely holds: as many as if each were twice the recent
  // average size, so that a body of ordinary events is never refused unread for room it would
  // have fit in. 0 before any body was observed (nothing is known).
  uint64_t LeastLikelyEvents(uint64_t bytes) const {
    const uint64_t per_event_x16 = per_event_x16_.load(std::memory_order_relaxed);
    if (per_event_x16 == 0) return 0;
    // Declared lengths are checked against serve.max_body_bytes first: bytes * 8 fits.
    return bytes * 8 / per_event_x16;
  }

 private:
  std::atomic<uint64_t> per_event_x16_{0};
};

}  // namespace liverec

#endif  // LIVEREC_SERVE_INGEST_SIZES_H_
