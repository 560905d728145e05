// liverec-connect-bench: how fast a stream engine takes and gives back liverec's records
// through a Connector (src/connect/): durable appends in batches from several connections at
// once, then one reader reading everything back in order.
//
//   liverec-connect-bench --url redis://127.0.0.1:6379 [--batch 10000] [--bytes 120]
//                         [--batches 40] [--appenders 2] [--rounds 3]
//
// Each round appends `batches` batches of `batch` records of `bytes` bytes, split over
// `appenders` threads (a connector each, all on one stream, as nodes accepting POST
// /v1/events for one partition would), then reads them back. One line per round and a median
// line: records/s appended, the batch latency median and p99, records/s read.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "connect/connector.h"

namespace {

using liverec::connect::Connector;
using liverec::connect::ConnectorOptions;
using liverec::connect::Position;
using liverec::connect::Record;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(q * values.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"liverec-connect-bench: durable appends and reads through a stream engine"};
  std::string url;
  size_t batch = 10000;
  size_t bytes = 120;
  size_t batches = 40;
  size_t appenders = 2;
  int rounds = 3;
  app.add_option("--url", url, "redis://HOST:PORT or nats://HOST:PORT")->required();
  app.add_option("--batch", batch, "records per append");
  app.add_option("--bytes", bytes, "bytes per record");
  app.add_option("--batches", batches, "batches per round, over all appenders");
  app.add_option("--appenders", appenders, "threads appending at once, a connection each");
  app.add_option("--rounds", rounds, "rounds (a fresh stream each)");
  CLI11_PARSE(app, argc, argv);

  ConnectorOptions options;
  options.timeout = std::chrono::milliseconds(60000);
  const std::vector<std::string> payloads(batch, std::string(bytes, 'x'));
  std::vector<double> append_rates, read_rates, medians, p99s;
  for (int round = 0; round < rounds; ++round) {
    const std::string stream = "bench." + std::to_string(Clock::now().time_since_epoch().count());
    std::vector<std::vector<double>> latencies(appenders);
    std::vector<std::string> errors(appenders);
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> threads;
    for (size_t a = 0; a < appenders; ++a) {
      threads.emplace_back([&, a] {
        auto connector = Connector::Open(url, options);
        if (!connector.ok()) {
          errors[a] = connector.status().ToString();
          return;
        }
        std::vector<Position> positions;
        for (size_t b = a; b < batches; b += appenders) {
          const Clock::time_point t0 = Clock::now();
          const std::string id = "bench-" + std::to_string(a) + "-" + std::to_string(b);
          const liverec::Status status = (*connector)->Append(stream, id, payloads, &positions);
          if (!status.ok()) {
            errors[a] = status.ToString();
            return;
          }
          latencies[a].push_back(Seconds(Clock::now() - t0) * 1e3);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    const double append_seconds = Seconds(Clock::now() - start);
    for (const std::string& e : errors) {
      if (!e.empty()) {
        std::fprintf(stderr, "liverec-connect-bench: %s\n", e.c_str());
        return 1;
      }
    }
    std::vector<double> all;
    for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());

    auto reader = Connector::Open(url, options);
    if (!reader.ok()) {
      std::fprintf(stderr, "liverec-connect-bench: %s\n", reader.status().ToString().c_str());
      return 1;
    }
    const Clock::time_point read_start = Clock::now();
    std::vector<Record> records;
    Position after = 0;
    size_t read = 0;
    while (read < batch * batches) {
      records.clear();
      const liverec::Status status =
          (*reader)->Read(stream, after, batch, std::chrono::milliseconds(0), &records);
      if (!status.ok() || records.empty()) {
        std::fprintf(stderr, "liverec-connect-bench: read stopped at %zu of %zu: %s\n", read,
                     batch * batches, status.ToString().c_str());
        return 1;
      }
      read += records.size();
      after = records.back().position;
    }
    const double read_seconds = Seconds(Clock::now() - read_start);
    // Leaves the engine as it was: a consumer that has everything lets Trim drop it all.
    if (!(*reader)->Commit(stream, "bench", after).ok() || !(*reader)->Trim(stream).ok()) {
      std::fprintf(stderr, "liverec-connect-bench: could not trim %s\n", stream.c_str());
    }

    const double records_total = static_cast<double>(batch * batches);
    append_rates.push_back(records_total / append_seconds);
    read_rates.push_back(records_total / read_seconds);
    medians.push_back(Quantile(all, 0.5));
    p99s.push_back(Quantile(all, 0.99));
    std::printf(
        "round %d: appended %.0f records/s (batch of %zu: median %.1f ms, p99 %.1f ms), "
        "read %.0f records/s\n",
        round + 1, append_rates.back(), batch, medians.back(), p99s.back(), read_rates.back());
  }
  std::printf(
      "median of %d rounds (%s, %zu appenders, %zu-byte records): appended %.0f records/s, "
      "batch median %.1f ms, p99 %.1f ms; read %.0f records/s\n",
      rounds, url.substr(0, url.find(':')).c_str(), appenders, bytes, Quantile(append_rates, 0.5),
      Quantile(medians, 0.5), Quantile(p99s, 0.5), Quantile(read_rates, 0.5));
  return 0;
}
