// liverec-bench: named end-to-end workloads, one fixed-format line each:
//   <workload> median=<value> <unit> min=<v> max=<v> reps=<n>
// Workloads run on seeded synthetic data shaped like the development sets, so the figures
// compare across machines and commits. Quote medians (these machines are noisy).
//
//   learn/<model>          learning throughput, one thread, events/s, ML-100K-sized tables
//                          already created (the second pass over the stream is timed)
//   replay/<model>         online test-then-train with full ranking over all seen items,
//                          ML-100K scale, one thread, evaluated events/s
//   topk/<model>/<items>   score every item for a user and select the top 10, µs per query
//   topk/hnsw/100000       HNSW top-10 over 100 K MF-shaped item vectors (dim 64), µs per
//                          query (median of 2,000 timed queries); the line adds the p99, the
//                          recall@10 against the exact scan, and the index build time
//   index/hnsw/update      upserts/s into that index of 2,000 vectors replaced by new ones
//                          (links re-chosen); the line adds the rate of 10% changes (written
//                          in place) and recall@10 afterwards
//   log/request_line       one request line of the server's log (log.format=json) formatted
//                          and appended to a file with one write(2), µs per line
//   privacy/pseudonym      one user id's pseudonym (privacy.pseudonymize: keyed BLAKE2b-128
//                          of a 10-byte id, as hex), ns per id
//   store/sealed_append    encryption at rest: 200,000 logged events (ML-100K-shaped log
//                          entries) appended to a log sealed with storage.key_file and to a
//                          plain one, alternately (which goes first alternates too), one
//                          flush at the end, no fsync; the figure is the ratio of sealed to
//                          plain appends/s, the line adds both medians
//
// Usage: liverec-bench [--filter SUBSTRING] [--reps N] [--data PATH (replay on a real file)]
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <string>

#include "common/log.h"
#include "common/random.h"
#include "engine/log_entry.h"
#include "engine/pseudonyms.h"
#include "eval/replay.h"
#include "event/readers.h"
#include "event/synthetic.h"
#include "kernels/kernels.h"
#include "model/registry.h"
#include "retrieval/exact_index.h"
#include "retrieval/hnsw_index.h"
#include "store/log_writer.h"
#include "store/sealing.h"

namespace liverec {
namespace {

using WallClock = std::chrono::steady_clock;

// ML-100K shape: 943 users, 1,682 items, 100,000 events.
Dataset Ml100kShaped(uint64_t seed) {
  SyntheticOptions o;
  o.seed = seed;
  o.num_users = 943;
  o.num_initial_items = 1682;
  o.num_events = 100'000;
  o.new_items_per_day = 0;
  StatusOr<Dataset> d = GenerateSynthetic(o);
  if (!d.ok()) {
    std::fprintf(stderr, "%s\n", d.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(d).value();
}

std::unique_ptr<Model> MakeModel(const std::string& type, const Options& options) {
  StatusOr<std::unique_ptr<Model>> m = CreateModel(OptionView(&options, type, type), Context());
  if (!m.ok()) std::exit(1);
  return std::move(m).value();
}

struct Workload {
  std::string name;
  std::string unit;
  std::function<double()> run;  // returns the figure of one repetition
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  double median = values[values.size() / 2];
  if (values.size() % 2 == 0) median = 0.5 * (values[values.size() / 2 - 1] + median);
  return median;
}

// `details`: extra "key=value ..." fields for the end of the line, or empty.
void Report(const Workload& w, std::vector<double> values, const std::string& details) {
  std::sort(values.begin(), values.end());
  std::printf("%-28s median=%.4g %s min=%.4g max=%.4g reps=%zu", w.name.c_str(), Median(values),
              w.unit.c_str(), values.front(), values.back(), values.size());
  if (!details.empty()) std::printf(" %s", details.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

// HNSW over item vectors shaped like learned MF factors: N(0, 1) coordinates, each vector
// scaled by a lognormal factor (sigma 0.5) so norms vary as popularity makes them vary. Queries
// (user vectors) are N(0, 1). Built on first use and shared by the hnsw workloads, with an
// exact twin for recall.
class HnswBench {
 public:
  static constexpr uint32_t kNumItems = 100'000;
  static constexpr size_t kDim = 64;
  static constexpr size_t kNumQueries = 2000;
  static constexpr size_t kNumRecallQueries = 200;  // exact scans cost ~2 ms each
  static constexpr size_t kTopK = 10;
  static constexpr double kNormSigma = 0.5;
  static constexpr uint32_t kNumUpdates = 2000;
  static constexpr double kDrift = 0.1;  // relative size of an update's change

  void EnsureBuilt() {
    if (hnsw_ != nullptr) return;
    Random rng(11);
    std::vector<float> vectors(kNumItems * kDim);
    for (uint32_t i = 0; i < kNumItems; ++i) {
      const double scale = std::exp(kNormSigma * rng.Normal());
      for (size_t d = 0; d < kDim; ++d)
        vectors[i * kDim + d] = static_cast<float>(scale * rng.Normal());
    }
    std::vector<uint32_t> ids(kNumItems);
    std::iota(ids.begin(), ids.end(), 0u);
    hnsw_ = std::make_unique<HnswIndex>(kDim, HnswIndexOptions());
    exact_ = std::make_unique<ExactIndex>(kDim);
    auto start = WallClock::now();
    hnsw_->UpsertBatch(ids.data(), ids.size(), vectors.data(), kDim);
    build_s_ = std::chrono::duration<double>(WallClock::now() - start).count();
    exact_->UpsertBatch(ids.data(), ids.size(), vectors.data(), kDim);
    queries_.resize(kNumQueries * kDim);
    for (float& x : queries_) x = static_cast<float>(rng.Normal());
  }

  // One repetition of topk/hnsw/100000: median µs per query; records p99 and recall.
  double RunQueries() {
    EnsureBuilt();
    std::vector<double> latency_us(kNumQueries);
    std::vector<VectorIndex::ScoredId> out;
    for (size_t q = 0; q < kNumQueries; ++q) {
      auto start = WallClock::now();
      hnsw_->Search(&queries_[q * kDim], kTopK, {}, &out);
      latency_us[q] = 1e6 * std::chrono::duration<double>(WallClock::now() - start).count();
    }
    std::sort(latency_us.begin(), latency_us.end());
    p99_us_.push_back(latency_us[kNumQueries * 99 / 100]);
    recall_.push_back(Recall());
    return Median(latency_us);
  }

  // One repetition of index/hnsw/update: upserts/s of vectors replaced by new ones (each
  // re-chooses its links: the slow path); records the rate of small changes (10% drifts,
  // written in place: the online-learning path) and the recall afterwards.
  double RunUpdates() {
    EnsureBuilt();
    Random rng(12 + static_cast<uint64_t>(small_change_rate_.size()));
    std::vector<uint32_t> ids(kNumUpdates);
    std::vector<float> replaced(kNumUpdates * kDim);
    std::vector<float> drifted(kNumUpdates * kDim);
    for (uint32_t i = 0; i < kNumUpdates; ++i) {
      ids[i] = rng.Uniform(kNumItems);
      const double scale = std::exp(kNormSigma * rng.Normal());
      for (size_t d = 0; d < kDim; ++d) {
        replaced[i * kDim + d] = static_cast<float>(scale * rng.Normal());
      }
    }
    // Drifts of the replaced vectors, so that every drift starts from a fresh relink.
    for (uint32_t i = 0; i < kNumUpdates; ++i) {
      const float* old = &replaced[i * kDim];
      const double step = kDrift * std::sqrt(Dot(old, old, kDim) / kDim);
      for (size_t d = 0; d < kDim; ++d) {
        drifted[i * kDim + d] = old[d] + static_cast<float>(step * rng.Normal());
      }
    }
    auto timed_upserts = [&](const std::vector<float>& vectors) {
      auto start = WallClock::now();
      for (uint32_t i = 0; i < kNumUpdates; ++i) hnsw_->Upsert(ids[i], &vectors[i * kDim]);
      const double s = std::chrono::duration<double>(WallClock::now() - start).count();
      for (uint32_t i = 0; i < kNumUpdates; ++i) exact_->Upsert(ids[i], &vectors[i * kDim]);
      return kNumUpdates / s;
    };
    const double replace_rate = timed_upserts(replaced);
    small_change_rate_.push_back(timed_upserts(drifted));
    recall_after_update_.push_back(Recall());
    return replace_rate;
  }

  std::string QueryDetails() const {
    return fmt::format("p99={:.4g} us recall@10={:.4f} build_s={:.3g} ef_search={}",
                       Median(p99_us_), Median(recall_), build_s_, HnswIndexOptions().ef_search);
  }
  std::string UpdateDetails() const {
    return fmt::format("small_change={:.4g} upserts/s recall@10_after={:.4f} per_rep={}",
                       Median(small_change_rate_), Median(recall_after_update_), kNumUpdates);
  }

 private:
  // Mean recall@10 of the HNSW answers against the exact scan, over the first queries.
  double Recall() const {
    std::vector<VectorIndex::ScoredId> want;
    std::vector<VectorIndex::ScoredId> got;
    size_t hits = 0;
    for (size_t q = 0; q < kNumRecallQueries; ++q) {
      exact_->Search(&queries_[q * kDim], kTopK, {}, &want);
      hnsw_->Search(&queries_[q * kDim], kTopK, {}, &got);
      for (const auto& g : got) {
        for (const auto& w : want) hits += g.first == w.first;
      }
    }
    return static_cast<double>(hits) / (kNumRecallQueries * kTopK);
  }

  std::unique_ptr<HnswIndex> hnsw_;
  std::unique_ptr<ExactIndex> exact_;
  std::vector<float> queries_;
  double build_s_ = 0;
  std::vector<double> p99_us_;
  std::vector<double> recall_;
  std::vector<double> small_change_rate_;
  std::vector<double> recall_after_update_;
};

}  // namespace
}  // namespace liverec

int main(int argc, char** argv) {
  using namespace liverec;
  CLI::App app{"liverec-bench: named performance workloads"};
  std::string filter;
  int reps = 5;
  std::string data_path;
  app.add_option("--filter", filter, "Run only workloads whose name contains this");
  app.add_option("--reps", reps, "Repetitions per workload")->capture_default_str();
  app.add_option("--data", data_path, "Also replay this data set (replay/<model>/file)");
  CLI11_PARSE(app, argc, argv);

  std::fprintf(stderr, "kernels: %s\n", KernelIsa());
  const Dataset ml = Ml100kShaped(1);
  Dataset file_data;
  if (!data_path.empty()) {
    StatusOr<Dataset> d = ReadDataset(data_path, ReadOptions());
    if (!d.ok()) {
      std::fprintf(stderr, "%s\n", d.status().ToString().c_str());
      return 1;
    }
    file_data = std::move(d).value();
  }
  // The budgets' configuration: mf with k = 64 and 4 negatives per event.
  Options options;
  if (!options.Set("mf.dim", "64").ok() || !options.Set("mf.negatives", "4").ok()) return 1;

  std::vector<Workload> workloads;
  for (std::string type : {"popularity", "item_knn", "transitions", "mf", "fm", "ensemble"}) {
    workloads.push_back({"learn/" + type, "events/s", [&, type] {
                           // One untimed pass creates every row: the figure is learning
                           // with the tables in place, not their first-touch initialization.
                           auto model = MakeModel(type, options);
                           for (const Event& e : ml.events) model->Learn(e);
                           auto start = WallClock::now();
                           for (const Event& e : ml.events) model->Learn(e);
                           double s =
                               std::chrono::duration<double>(WallClock::now() - start).count();
                           return static_cast<double>(ml.events.size()) / s;
                         }});
  }
  // The engine's path: batches of engine.apply_batch events (LearnBatch), an ensemble's members
  // on threads of their own.
  workloads.push_back({"learn/ensemble/batch512", "events/s", [&] {
                         auto model = MakeModel("ensemble", options);
                         const std::span<const Event> events(ml.events);
                         auto learn = [&] {
                           for (size_t b = 0; b < events.size(); b += 512) {
                             model->LearnBatch(
                                 events.subspan(b, std::min<size_t>(512, events.size() - b)));
                           }
                         };
                         learn();
                         auto start = WallClock::now();
                         learn();
                         double s = std::chrono::duration<double>(WallClock::now() - start).count();
                         return static_cast<double>(ml.events.size()) / s;
                       }});
  auto replay_workload = [&](const std::string& type, const Dataset* data, std::string name) {
    return Workload{name, "evaluated_events/s", [&, type, data] {
                      ReplayOptions o;
                      o.models = {{type, type}};
                      o.protocols = {Protocol::kOnline};
                      o.train_fraction = 0;
                      o.context.num_threads = 1;
                      StatusOr<ReplayReport> r = RunReplay(*data, o);
                      if (!r.ok()) std::exit(1);
                      return r->results[0].events_per_second;
                    }};
  };
  for (std::string type : {"popularity", "item_knn", "mf"}) {
    workloads.push_back(replay_workload(type, &ml, "replay/" + type));
    if (!data_path.empty()) {
      workloads.push_back(replay_workload(type, &file_data, "replay/" + type + "/file"));
    }
  }
  for (std::string type : {"popularity", "item_knn", "mf"}) {
    for (uint32_t num_items : {1682u, 10'000u, 100'000u}) {
      workloads.push_back(
          {fmt::format("topk/{}/{}", type, num_items), "us/query", [&, type, num_items] {
             // Learn a stream over num_items items so every row exists, then time queries.
             auto model = MakeModel(type, options);
             Random rng(7);
             Event e;
             for (uint32_t i = 0; i < num_items; ++i) {
               e.user = rng.Uniform(1000);
               e.item = i;
               e.time_ms = i;
               model->Learn(e);
             }
             std::vector<ItemId> items(num_items);
             std::iota(items.begin(), items.end(), 0u);
             std::vector<float> scores(num_items);
             std::vector<uint32_t> top(10);
             constexpr int kQueries = 200;
             auto start = WallClock::now();
             for (int q = 0; q < kQueries; ++q) {
               model->Score(static_cast<UserId>(q % 1000), items, scores.data());
               TopK(scores.data(), scores.size(), top.size(), top.data());
             }
             return 1e6 * std::chrono::duration<double>(WallClock::now() - start).count() /
                    kQueries;
           }});
    }
  }

  // One request line as the server logs it (log.format=json, serve/request_log.cc's fields),
  // formatted and appended to a file with one write(2), as Log does to stderr.
  workloads.push_back({"log/request_line", "us/line", [] {
                         constexpr int kLines = 200000;
                         char path[] = "/tmp/liverec-bench-log-XXXXXX";
                         const int fd = ::mkstemp(path);
                         if (fd < 0) std::exit(1);
                         ::unlink(path);
                         const auto start = WallClock::now();
                         for (int i = 0; i < kLines; ++i) {
                           const std::string line = FormatLogLine(
                               LogFormat::kJson, 1'796'576'733'045 + i, LogLevel::kInfo, "request",
                               {{"method", "GET"},
                                {"path", "/v1/recommendations"},
                                {"status", 200},
                                {"duration_ms", 0.482 + i % 7},
                                {"bytes", uint64_t{1873}},
                                {"request_id", "415b2c40153a14f29d961c8ebd8951b4"},
                                {"key_id", "9f86d081884c7d65"}});
                           if (::write(fd, line.data(), line.size()) < 0) std::exit(1);
                         }
                         const double seconds =
                             std::chrono::duration<double>(WallClock::now() - start).count();
                         ::close(fd);
                         return 1e6 * seconds / kLines;
                       }});

  // The cost privacy.pseudonymize adds to each event and request: one keyed hash of the id.
  workloads.push_back({"privacy/pseudonym", "ns/id", [] {
                         constexpr int kIds = 1'000'000;
                         char dir[] = "/tmp/liverec-bench-privacy-XXXXXX";
                         if (::mkdtemp(dir) == nullptr) std::exit(1);
                         Options privacy;
                         if (!privacy.Set("privacy.pseudonymize", "true").ok()) std::exit(1);
                         StatusOr<Pseudonyms> pseudonyms = Pseudonyms::Open(privacy, dir);
                         if (!pseudonyms.ok()) std::exit(1);
                         std::vector<std::string> ids;
                         for (int i = 0; i < kIds; ++i) ids.push_back(fmt::format("u{:09d}", i));
                         size_t sink = 0;
                         const auto start = WallClock::now();
                         for (const std::string& id : ids) sink += pseudonyms->Of(id).size();
                         const double seconds =
                             std::chrono::duration<double>(WallClock::now() - start).count();
                         std::filesystem::remove_all(dir);
                         if (sink != size_t{kIds} * 33) std::exit(1);
                         return 1e9 * seconds / kIds;
                       }});

  // What storage.key_file costs the log thread: the same events appended sealed and plain.
  std::vector<double> plain_rates;
  std::vector<double> sealed_rates;
  workloads.push_back({"store/sealed_append", "ratio", [&] {
                         constexpr int kEvents = 200'000;
                         std::vector<std::string> payloads;
                         payloads.reserve(kEvents);
                         for (int e = 0; e < kEvents; ++e) {
                           LogEntry entry;
                           entry.event.user = fmt::format("u{}", e % 943);
                           entry.event.item = fmt::format("i{}", e % 1682);
                           entry.event.value = static_cast<float>(1 + e % 5);
                           entry.event.time_ms = 874'724'710'000 + e;
                           std::string payload;
                           EncodeLogEntry(entry, &payload);
                           payloads.push_back(std::move(payload));
                         }
                         Secret256 key;
                         key.fill(0x5a);
                         StatusOr<Keyring> ring = Keyring::FromKeys(key, {});
                         if (!ring.ok()) std::exit(1);
                         const auto keys = std::make_shared<const Keyring>(*ring);
                         // Appends/s into a fresh log, sealed or not.
                         auto append = [&](bool sealed) {
                           char dir[] = "/tmp/liverec-bench-sealing-XXXXXX";
                           if (::mkdtemp(dir) == nullptr) std::exit(1);
                           LogWriterOptions log_options;
                           log_options.sync = LogSyncPolicy::kNever;
                           if (sealed) log_options.keys = keys;
                           StatusOr<std::unique_ptr<LogWriter>> writer =
                               LogWriter::Open(std::string(dir) + "/log", log_options);
                           if (!writer.ok()) std::exit(1);
                           const auto start = WallClock::now();
                           for (const std::string& payload : payloads) {
                             if (!(*writer)->Append(payload).ok()) std::exit(1);
                           }
                           if (!(*writer)->Close().ok()) std::exit(1);
                           const double seconds =
                               std::chrono::duration<double>(WallClock::now() - start).count();
                           std::filesystem::remove_all(dir);
                           return kEvents / seconds;
                         };
                         const bool sealed_first = sealed_rates.size() % 2 == 1;
                         const double first = append(sealed_first);
                         const double second = append(!sealed_first);
                         sealed_rates.push_back(sealed_first ? first : second);
                         plain_rates.push_back(sealed_first ? second : first);
                         return sealed_rates.back() / plain_rates.back();
                       }});

  HnswBench hnsw_bench;
  workloads.push_back({"topk/hnsw/100000", "us/query", [&] { return hnsw_bench.RunQueries(); }});
  workloads.push_back({"index/hnsw/update", "upserts/s", [&] { return hnsw_bench.RunUpdates(); }});
  // Extra fields of a workload's line, by workload name, read after its repetitions.
  const std::map<std::string, std::function<std::string()>> details = {
      {"topk/hnsw/100000", [&] { return hnsw_bench.QueryDetails(); }},
      {"index/hnsw/update", [&] { return hnsw_bench.UpdateDetails(); }},
      {"store/sealed_append",
       [&] {
         return fmt::format("plain={:.0f}/s sealed={:.0f}/s", Median(plain_rates),
                            Median(sealed_rates));
       }},
  };

  for (const Workload& w : workloads) {
    if (!filter.empty() && w.name.find(filter) == std::string::npos) continue;
    std::vector<double> values;
    for (int r = 0; r < reps; ++r) values.push_back(w.run());
    const auto it = details.find(w.name);
    Report(w, values, it == details.end() ? std::string() : it->second());
  }
  return 0;
}
