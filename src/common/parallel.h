// RunEach: fan a few independent tasks out to threads (the models of a learning run, the
// members of an ensemble) and wait for all of them.
//
// The threads are kept: each thread that calls RunEach owns a team of workers it started (so
// they share its scheduling priority: the apply thread's learners run below the serving
// threads), grown to the most tasks it ever fanned out and joined when it exits. Starting and
// joining a thread per task cost more than the tasks of a short learning run: eleven ensemble
// members learning 128 events spent a fifth of the server's time creating threads and
// unmapping their stacks (docs/perf.md). A task may call RunEach itself: the worker running it
// has a team of its own, and the calling thread one per depth of nesting.
#ifndef LIVEREC_COMMON_PARALLEL_H_
#define LIVEREC_COMMON_PARALLEL_H_

#include <cstddef>
#include <functional>

namespace liverec {

// Calls fn(i) for every i in [0, n) and returns once all calls have. With `parallel`, fn(0) runs
// on the calling thread and every other call on one of the thread's workers; without, they run
// one after another on the calling thread, in order. fn must be safe to call concurrently for
// different i.
void RunEach(size_t n, bool parallel, const std::function<void(size_t)>& fn);

}  // namespace liverec

#endif  // LIVEREC_COMMON_PARALLEL_H_
