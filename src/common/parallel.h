// RunEach: fan a few independent tasks out to threads of their own (the models of a learning
// run, the members of an ensemble) and wait for all of them.
#ifndef LIVEREC_COMMON_PARALLEL_H_
#define LIVEREC_COMMON_PARALLEL_H_

#include <cstddef>
#include <thread>
#include <vector>

namespace liverec {

// Calls fn(i) for every i in [0, n) and returns once all calls have. With `parallel`, fn(0) runs
// on the calling thread and every other call on a new thread of its own; without, they run one
// after another on the calling thread, in order. fn must be safe to call concurrently for
// different i.
template <typename Fn>
void RunEach(size_t n, bool parallel, const Fn& fn) {
  if (!parallel || n < 2) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (size_t i = 1; i < n; ++i) threads.emplace_back([&fn, i] { fn(i); });
  fn(0);
  for (std::thread& thread : threads) thread.join();
}

}  // namespace liverec

#endif  // LIVEREC_COMMON_PARALLEL_H_
