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
//
// Usage: liverec-bench [--filter SUBSTRING] [--reps N] [--data PATH (replay on a real file)]
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <numeric>

#include "common/random.h"
#include "eval/replay.h"
#include "event/readers.h"
#include "event/synthetic.h"
#include "kernels/kernels.h"
#include "model/registry.h"

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

void Report(const Workload& w, std::vector<double> values) {
  std::sort(values.begin(), values.end());
  double median = values[values.size() / 2];
  if (values.size() % 2 == 0) median = 0.5 * (values[values.size() / 2 - 1] + median);
  std::printf("%-28s median=%.4g %s min=%.4g max=%.4g reps=%zu\n", w.name.c_str(), median,
              w.unit.c_str(), values.front(), values.back(), values.size());
  std::fflush(stdout);
}

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
  for (std::string type : {"popularity", "item_knn", "mf"}) {
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

  for (const Workload& w : workloads) {
    if (!filter.empty() && w.name.find(filter) == std::string::npos) continue;
    std::vector<double> values;
    for (int r = 0; r < reps; ++r) values.push_back(w.run());
    Report(w, values);
  }
  return 0;
}
