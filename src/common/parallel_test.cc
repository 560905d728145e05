#include "common/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace liverec {
namespace {

// Calls of every size from the same thread, one after another (the workers are kept between
// them), each task run once; tasks that fan out themselves (TSan runs this).
TEST(ParallelTest, ConcurrentRunEachRunsEveryTaskOnceAlsoNested) {
  for (int round = 0; round < 200; ++round) {
    const size_t n = 1 + round % 12;
    std::vector<std::atomic<int>> runs(n * n);
    RunEach(n, /*parallel=*/true, [&](size_t i) {
      RunEach(n, /*parallel=*/round % 2 == 0, [&](size_t j) { runs[i * n + j].fetch_add(1); });
    });
    for (size_t k = 0; k < runs.size(); ++k) {
      ASSERT_EQ(runs[k].load(), 1) << "round " << round << " task " << k;
    }
  }
}

TEST(ParallelTest, TasksRunOnOtherThreadsOnlyWhenParallel) {
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<std::thread::id> ran(4);
  RunEach(4, /*parallel=*/false, [&](size_t i) { ran[i] = std::this_thread::get_id(); });
  for (const std::thread::id id : ran) EXPECT_EQ(id, caller);
  RunEach(4, /*parallel=*/true, [&](size_t i) { ran[i] = std::this_thread::get_id(); });
  EXPECT_EQ(ran[0], caller);
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_NE(ran[i], caller);
    for (size_t j = 1; j < i; ++j) EXPECT_NE(ran[i], ran[j]);
  }
  // The same workers the next time.
  std::vector<std::thread::id> again(4);
  RunEach(4, /*parallel=*/true, [&](size_t i) { again[i] = std::this_thread::get_id(); });
  EXPECT_EQ(again, ran);
}

// Threads that each fan out have teams of their own.
TEST(ParallelTest, ConcurrentCallersEachGetTheirTasksRun) {
  std::vector<std::thread> callers;
  std::atomic<int> total{0};
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&total] {
      for (int round = 0; round < 50; ++round) {
        RunEach(5, /*parallel=*/true, [&total](size_t) { total.fetch_add(1); });
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(total.load(), 3 * 50 * 5);
}

}  // namespace
}  // namespace liverec
