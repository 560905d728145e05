#include "common/parallel.h"

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace liverec {
namespace {

// The workers of one thread: worker w runs task w + 1 of each RunEach call that has one.
class Team {
 public:
  Team() = default;
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;
  ~Team() {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  void Run(size_t n, const std::function<void(size_t)>& fn) {
    {
      MutexLock lock(&mu_);
      // A worker started now waits for the call below, whenever it gets to run.
      while (threads_.size() + 1 < n) {
        const size_t w = threads_.size();
        threads_.emplace_back([this, w, seen = generation_] { Loop(w, seen); });
      }
      fn_ = &fn;
      n_ = n;
      done_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    fn(0);
    MutexLock lock(&mu_);
    while (done_ + 1 < n_) lock.Wait(&finished_);
    fn_ = nullptr;
  }

 private:
  void Loop(size_t w, uint64_t seen) {
    MutexLock lock(&mu_);
    while (true) {
      while (!stop_ && generation_ == seen) lock.Wait(&wake_);
      if (stop_) return;
      seen = generation_;
      // A call needs the workers below its task count; it waits for each of them, so none of
      // those misses a call. The others look at the next call's count when it comes.
      if (w + 1 >= n_) continue;
      const std::function<void(size_t)>* fn = fn_;
      lock.Unlock();
      (*fn)(w + 1);
      lock.Lock();
      if (++done_ + 1 == n_) finished_.notify_one();
    }
  }

  Mutex mu_;
  std::condition_variable wake_;      // a call or the stop
  std::condition_variable finished_;  // the workers' tasks of the current call are done
  // Written by the owner only, under mu_ (read by it without the lock would also be safe).
  std::vector<std::thread> threads_ LIVEREC_GUARDED_BY(mu_);
  const std::function<void(size_t)>* fn_ LIVEREC_GUARDED_BY(mu_) = nullptr;
  size_t n_ LIVEREC_GUARDED_BY(mu_) = 0;
  size_t done_ LIVEREC_GUARDED_BY(mu_) = 0;  // tasks of the current call finished by workers
  uint64_t generation_ LIVEREC_GUARDED_BY(mu_) = 0;  // calls so far
  bool stop_ LIVEREC_GUARDED_BY(mu_) = false;
};

}  // namespace

void RunEach(size_t n, bool parallel, const std::function<void(size_t)>& fn) {
  if (!parallel || n < 2) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  // fn(0) runs here and may fan out again while this call's workers run: one team per depth.
  thread_local std::vector<std::unique_ptr<Team>> teams;
  thread_local size_t depth = 0;
  if (depth == teams.size()) teams.push_back(std::make_unique<Team>());
  Team& team = *teams[depth];
  ++depth;
  team.Run(n, fn);
  --depth;
}

}  // namespace liverec
