// Context: what a computation may take from its surroundings, passed explicitly.
//
// No liverec code reads a global random generator, the wall clock or a thread count from the
// environment; it takes them from a Context, so tests inject a ManualClock and a fixed seed and
// every run is reproducible bit for bit.
//
// Thread safety: a Context is read-only after construction; Clock implementations are
// thread-safe.
#ifndef LIVEREC_CONTEXT_H_
#define LIVEREC_CONTEXT_H_

#include <atomic>
#include <cstdint>

namespace liverec {

// A source of wall time in Unix milliseconds.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override;
  // A process-wide instance; never destroyed.
  static SystemClock* Default();
};

// A clock that moves only when told to (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 0) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(std::memory_order_relaxed); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms, std::memory_order_relaxed); }
  void Advance(int64_t delta_ms) { now_ms_.fetch_add(delta_ms, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_ms_;
};

struct Context {
  int num_threads = 1;  // worker threads a computation may use (>= 1)
  uint64_t seed = 42;   // root of every random stream; children derive their own seeds
  const Clock* clock = SystemClock::Default();
};

}  // namespace liverec

#endif  // LIVEREC_CONTEXT_H_
