// Micro-benchmarks of src/kernels: each kernel's AVX2 path (when the CPU has it) beside its
// plain-loop reference, at the sizes liverec uses (k = 64 factors; ML-100K's 1682 items; a
// 100 K item catalogue). Names read "<Kernel>/<path>/<size>".
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/random.h"
#include "kernels/kernels.h"
#include "kernels/kernels_avx2.h"

namespace liverec {
namespace {

constexpr size_t kDim = 64;
constexpr uint64_t kSeed = 1;

std::vector<float> RandomVector(size_t n, uint64_t seed) {
  Random rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.Normal());
  return v;
}

// One implementation of the kernels under test.
struct Path {
  const char* name;
  float (*dot)(const float*, const float*, size_t);
  void (*sgd_pair_step)(float*, float*, float, float, float, size_t);
  void (*adagrad_step)(const float*, float, float*, float*, size_t);
  void (*dot_rows)(const float*, const float*, size_t, const uint32_t*, size_t, size_t, float*);
  size_t (*top_k)(const float*, size_t, size_t, uint32_t*);
  void (*count_above_equal)(const float*, size_t, float, size_t*, size_t*);
};

void BenchDot(benchmark::State& state, const Path& path) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<float> a = RandomVector(n, kSeed);
  const std::vector<float> b = RandomVector(n, kSeed + 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(path.dot(a.data(), b.data(), n));
  }
  state.SetItemsProcessed(state.iterations());
}

void BenchSgdPairStep(benchmark::State& state, const Path& path) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<float> p = RandomVector(n, kSeed);
  std::vector<float> q = RandomVector(n, kSeed + 1);
  // g = reg = 0 keeps p and q fixed over millions of steps (no drift into denormals) while
  // doing the full arithmetic.
  for (auto _ : state) {
    path.sgd_pair_step(p.data(), q.data(), 0.0f, 0.05f, 0.0f, n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BenchAdagradStep(benchmark::State& state, const Path& path) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<float> g(n, 0.0f);
  std::vector<float> theta = RandomVector(n, kSeed);
  std::vector<float> sum(n, 1.0f);
  // g = 0 keeps theta and the sums fixed while doing the full arithmetic (root and division).
  for (auto _ : state) {
    path.adagrad_step(g.data(), 0.3f, theta.data(), sum.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BenchDotRows(benchmark::State& state, const Path& path) {
  const size_t num_rows = static_cast<size_t>(state.range(0));
  const std::vector<float> table = RandomVector(num_rows * kDim, kSeed);
  const std::vector<float> query = RandomVector(kDim, kSeed + 1);
  std::vector<uint32_t> rows(num_rows);
  for (size_t r = 0; r < num_rows; ++r) rows[r] = static_cast<uint32_t>(r);
  std::vector<float> out(num_rows);
  for (auto _ : state) {
    path.dot_rows(query.data(), table.data(), kDim, rows.data(), num_rows, kDim, out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(num_rows));
}

void BenchTopK(benchmark::State& state, const Path& path) {
  constexpr size_t kK = 10;
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<float> scores = RandomVector(n, kSeed);
  uint32_t out[kK];
  for (auto _ : state) {
    benchmark::DoNotOptimize(path.top_k(scores.data(), n, kK, out));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

void BenchCountAboveEqual(benchmark::State& state, const Path& path) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<float> scores = RandomVector(n, kSeed);
  size_t above = 0;
  size_t equal = 0;
  for (auto _ : state) {
    path.count_above_equal(scores.data(), n, 0.5f, &above, &equal);
    benchmark::DoNotOptimize(above);
    benchmark::DoNotOptimize(equal);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

// Registers every kernel for every path, the paths of one kernel next to each other.
void RegisterAll(const std::vector<Path>& paths) {
  for (const Path& path : paths) {
    benchmark::RegisterBenchmark((std::string("Dot/") + path.name).c_str(), BenchDot, path)
        ->Arg(kDim);
  }
  for (const Path& path : paths) {
    benchmark::RegisterBenchmark((std::string("SgdPairStep/") + path.name).c_str(),
                                 BenchSgdPairStep, path)
        ->Arg(kDim);
  }
  for (const Path& path : paths) {
    benchmark::RegisterBenchmark((std::string("AdagradStep/") + path.name).c_str(),
                                 BenchAdagradStep, path)
        ->Arg(32);  // fm.dim
  }
  for (size_t num_rows : {1682, 100000}) {
    for (const Path& path : paths) {
      benchmark::RegisterBenchmark((std::string("DotRows/") + path.name).c_str(), BenchDotRows,
                                   path)
          ->Arg(static_cast<int64_t>(num_rows));
    }
  }
  for (size_t n : {1682, 100000}) {
    for (const Path& path : paths) {
      benchmark::RegisterBenchmark((std::string("TopK/") + path.name).c_str(), BenchTopK, path)
          ->Arg(static_cast<int64_t>(n));
    }
  }
  for (const Path& path : paths) {
    benchmark::RegisterBenchmark((std::string("CountAboveEqual/") + path.name).c_str(),
                                 BenchCountAboveEqual, path)
        ->Arg(100000);
  }
}

}  // namespace
}  // namespace liverec

int main(int argc, char** argv) {
  using namespace liverec;  // NOLINT(build/namespaces): main only wires the paths
  std::vector<Path> paths = {{"ref", ref::Dot, ref::SgdPairStep, ref::AdagradStep, ref::DotRows,
                              ref::TopK, ref::CountAboveEqual}};
  if (Avx2Supported()) {
    paths.push_back({"avx2", avx2::Dot, avx2::SgdPairStep, avx2::AdagradStep, avx2::DotRows,
                     avx2::TopK, avx2::CountAboveEqual});
  }
  RegisterAll(paths);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return EXIT_FAILURE;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return EXIT_SUCCESS;
}
