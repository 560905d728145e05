// liverec-http-load: an open-loop HTTP load generator for GET requests at a fixed rate.
//
// Each of --connections threads owns one keep-alive connection and sends its share of the
// requests on a fixed schedule (rate / connections per second). Latency is measured from the
// moment a request was due, not from when it was sent, so a slow answer that delays the next
// request is charged to that request too (no coordinated omission, unlike closed-loop tools).
//
//   liverec-http-load --port 8080 --rate 2000 --seconds 15
//       --path '/v1/recommendations?user=u{rand:50000}&k=10'
// `{rand:N}` in the path becomes a uniform random integer in [0, N) per request.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string Expand(const std::string& pattern, std::mt19937_64& rng) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t open = pattern.find("{rand:", pos);
    if (open == std::string::npos) break;
    const size_t close = pattern.find('}', open);
    out += pattern.substr(pos, open - pos);
    const uint64_t n = std::stoull(pattern.substr(open + 6, close - open - 6));
    out += std::to_string(rng() % n);
    pos = close + 1;
  }
  return out + pattern.substr(pos);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Open-loop HTTP GET load at a fixed rate; latency percentiles"};
  std::string host = "127.0.0.1";
  int port = 8080;
  double rate = 1000;
  double seconds = 10;
  int connections = 8;
  std::string path = "/healthz";
  app.add_option("--host", host);
  app.add_option("--port", port);
  app.add_option("--rate", rate, "Requests per second, all connections together");
  app.add_option("--seconds", seconds);
  app.add_option("--connections", connections);
  app.add_option("--path", path, "Path and query; {rand:N} is replaced per request");
  std::string bearer;
  app.add_option("--bearer", bearer, "Send 'Authorization: Bearer <this>' (an API key or token)");
  CLI11_PARSE(app, argc, argv);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  const auto interval = std::chrono::duration<double>(connections / rate);
  const auto total = static_cast<size_t>(rate * seconds / connections);
  std::vector<std::vector<double>> latencies(connections);
  std::vector<size_t> errors(connections, 0);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client(host, port);
      client.set_tcp_nodelay(true);
      client.set_keep_alive(true);
      if (!bearer.empty()) client.set_bearer_token_auth(bearer);
      std::mt19937_64 rng(c + 1);
      // Connections start staggered across one interval.
      const auto offset = std::chrono::duration<double>(interval * c / connections);
      for (size_t i = 0; i < total; ++i) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(offset + interval * i);
        std::this_thread::sleep_until(due);
        httplib::Result res = client.Get(Expand(path, rng));
        const auto done = Clock::now();
        if (!res || res->status != 200) ++errors[c];
        latencies[c].push_back(std::chrono::duration<double, std::milli>(done - due).count());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  size_t failed = 0;
  for (int c = 0; c < connections; ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    failed += errors[c];
  }
  std::sort(all.begin(), all.end());
  auto at = [&](double q) {
    return all[std::min(all.size() - 1, static_cast<size_t>(q * static_cast<double>(all.size())))];
  };
  std::printf(
      "load requests=%zu achieved_rate=%.0f median_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
      "max_ms=%.3f errors=%zu\n",
      all.size(), static_cast<double>(all.size()) / elapsed, at(0.5), at(0.99), at(0.999),
      all.back(), failed);
  return failed == 0 ? 0 : 1;
}
