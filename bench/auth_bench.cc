// liverec-auth-bench: what the credential check adds to every request, in process (Google
// Benchmark): Authenticator::Check on a server without a key file (a stat), with a read key (a
// stat, a lookup, a SHA-256 and a constant-time compare), and with a user token (an
// HMAC-SHA256); the key file and token secret are real files in a temporary directory.
//   liverec-auth-bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "common/check.h"
#include "serve/auth.h"

namespace liverec {
namespace {

// A data directory that lives as long as the process.
const std::string& DataDir() {
  static const std::string dir = [] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "liverec_auth_bench_XXXXXX").string();
    LIVEREC_CHECK(::mkdtemp(pattern.data()) != nullptr);
    std::atexit([] { std::filesystem::remove_all(DataDir()); });
    return pattern;
  }();
  return dir;
}

Options BenchOptions(const std::string& dir) {
  Options options;
  LIVEREC_CHECK(options.Set("serve.data_dir", dir).ok());
  return options;
}

void BM_CheckWithoutKeyFile(benchmark::State& state) {
  const std::string dir = DataDir() + "/open";
  std::filesystem::create_directories(dir);
  Authenticator auth(BenchOptions(dir));
  LIVEREC_CHECK(auth.Start().ok());
  for (auto _ : state) {
    benchmark::DoNotOptimize(auth.Check(Access::kReadUserToken, "", "u1"));
  }
}
BENCHMARK(BM_CheckWithoutKeyFile);

void BM_CheckReadKey(benchmark::State& state) {
  const std::string dir = DataDir() + "/keys";
  const int64_t now_s = 1'700'000'000;
  std::string key;
  for (int i = 0; i < 10; ++i) {  // a few keys, as with rotation
    StatusOr<std::string> added = AddKey(dir, Role::kRead, "", now_s, nullptr);
    LIVEREC_CHECK(added.ok());
    key = *added;
  }
  Authenticator auth(BenchOptions(dir));
  LIVEREC_CHECK(auth.Start().ok());
  const std::string header = "Bearer " + key;
  for (auto _ : state) {
    const AuthDecision d = auth.Check(Access::kReadUserToken, header, "u1");
    LIVEREC_CHECK(d.http_status == 200);
  }
}
BENCHMARK(BM_CheckReadKey);

void BM_CheckUserToken(benchmark::State& state) {
  const std::string dir = DataDir() + "/keys";
  Authenticator auth(BenchOptions(dir));
  LIVEREC_CHECK(auth.Start().ok());
  int64_t expires_ms = 0;
  const std::string header = "Bearer " + auth.MintToken("u1", 3600, &expires_ms);
  for (auto _ : state) {
    const AuthDecision d = auth.Check(Access::kReadUserToken, header, "u1");
    LIVEREC_CHECK(d.http_status == 200);
  }
}
BENCHMARK(BM_CheckUserToken);

}  // namespace
}  // namespace liverec

BENCHMARK_MAIN();
