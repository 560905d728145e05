// liverec-retrieval-bench: the recommend path of an inner-product model (mf) at catalogue
// scale, in process: its recall@10 against the exact answer and its latency.
//
// Learns --items items with --events-per-item events each (users drawn uniformly from
// --users) through an EngineState serving mf alone (engine.models=mf), as the server applies
// them (learning in runs of 512 events), with the default candidate stage
// (rank.retrieval=auto) unless --set says otherwise. Item i belongs to category "pN" for every
// N in kPassRates with i % N == 0, so a request for category pN admits 1/N of the catalogue.
// Then:
//   - --reps times, --queries Recommender::Recommend calls (k 10, consumed items excluded) of
//     random users, each timed; the first --recall-queries compared with the full scan (every
//     admitted item scored by the model's Score, top 10): recall@10 = the share of the scan's
//     items the served list holds;
//   - the same for requests of category pN (a filter admitting 1/N), with the index's search
//     alone and its exact twin's search under the same filter timed beside them: where the
//     graph is slower than the exact scan, the index should have answered exactly.
// One line per part: medians over the repetitions of the median and p99 latency.
//
//   liverec-retrieval-bench [--items 1000000] [--events-per-item 2] [--users 100000]
//                           [--queries 2000] [--filtered-queries 2000]
//                           [--recall-queries 200] [--reps 3]
//                           [--set key=value ...] [--learn-without-index]
//
// Maintaining an HNSW graph while mf learns costs an insertion per new item and a relink per
// large move (a few hundred microseconds each); --learn-without-index learns without the index
// and measures the one a restart builds over the learned vectors.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/random.h"
#include "engine/engine_state.h"
#include "engine/recommender.h"
#include "kernels/kernels.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "retrieval/hnsw_index.h"

namespace liverec {
namespace {

using WallClock = std::chrono::steady_clock;

constexpr int64_t kStreamStartMs = 1'700'000'000'000;
constexpr uint64_t kLearnRun = 512;  // engine.apply_batch's default
constexpr size_t kK = 10;
// The served list's margin over k in the index search (recommender.cc's kRetrievalMargin).
constexpr size_t kRetrievalMargin = 16;
// Category pN admits every N-th item.
constexpr uint32_t kPassRates[] = {2, 5, 10, 20, 50, 100};
// Candidate lists of the index-alone sweep.
constexpr size_t kSweepEfs[] = {100, 200, 400, 800};
constexpr double kBytesPerMiB = 1024.0 * 1024.0;

double Seconds(WallClock::time_point start) {
  return std::chrono::duration<double>(WallClock::now() - start).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// The value at quantile q of `values` (sorted in place).
double Quantile(std::vector<double>* values, double q) {
  std::sort(values->begin(), values->end());
  return (*values)[static_cast<size_t>(q * static_cast<double>(values->size() - 1))];
}

// The list the recommender gave before it had a candidate stage: every admitted item scored
// by the model, best first, ties by lower id, unscored items dropped.
std::vector<std::string> FullScan(const EngineState& state, const ServingModel& model,
                                  const RecommendRequest& request) {
  const UserId user = state.users().Find(request.user);
  const uint32_t category =
      request.categories.empty() ? kInvalidId : state.FindCategory(request.categories[0]);
  std::vector<uint8_t> consumed(state.items().size(), 0);
  if (user != kInvalidId) {
    for (ItemId item : state.history().Items(user)) consumed[item] = 1;
  }
  std::vector<ItemId> items;
  for (ItemId item = 0; item < state.items().size(); ++item) {
    if (consumed[item] != 0 || !state.Recommendable(item)) continue;
    if (category != kInvalidId && !state.InCategory(item, category)) continue;
    items.push_back(item);
  }
  std::vector<float> scores(items.size());
  model.model->Score(user, items, scores.data());
  std::vector<uint32_t> top(std::min(request.k, items.size()));
  top.resize(TopK(scores.data(), scores.size(), top.size(), top.data()));
  std::vector<std::string> out;
  for (uint32_t pos : top) {
    if (scores[pos] == kUnscored) break;
    out.push_back(state.items().Key(items[pos]));
  }
  return out;
}

struct Args {
  uint32_t items = 1'000'000;
  uint32_t events_per_item = 2;
  uint32_t users = 100'000;
  size_t queries = 2000;
  size_t recall_queries = 200;
  size_t filtered_queries = 2000;  // per repetition and filter
  int reps = 3;
  std::vector<std::string> sets;
  // Learn with rank.retrieval=scan (no index to maintain) and measure only after the restart.
  bool learn_without_index = false;
};

// Latency and recall of one kind of request, over the repetitions.
struct PartResult {
  std::vector<double> median_us;
  std::vector<double> p99_us;
  double recall = 0;
  // The index alone and its exact twin, for filtered requests.
  std::vector<double> index_median_us;
  std::vector<double> twin_median_us;
  double exact_share = 0;  // searches the index answered exactly
};

// Recall and latency of the recommend path over `state`, unfiltered and under each filter;
// `label` names the index's history.
void Measure(const Args& args, const Options& options, const EngineState& state,
             const std::string& label, Random& rng) {
  const ServingModel mf = state.FindModel("mf");
  const VectorIndex* index = state.retrieval().Find(mf.model);
  const auto* hnsw = dynamic_cast<const HnswIndex*>(index);
  std::printf("index %s kind=%s graph=%s index_mib=%.0f\n", label.c_str(),
              index == nullptr ? "none" : (hnsw != nullptr ? "hnsw" : "exact"),
              hnsw != nullptr && hnsw->graph_built() ? "built" : "none",
              hnsw != nullptr ? static_cast<double>(hnsw->MemoryBytes()) / kBytesPerMiB : 0.0);
  std::fflush(stdout);

  const Recommender recommender(RecommenderOptions::FromOptions(options, 1), state);
  std::vector<uint32_t> query_users(args.queries);
  for (uint32_t& u : query_users) u = rng.Uniform(args.users);
  std::vector<float> query(index != nullptr ? index->dim() : 0);
  std::vector<VectorIndex::ScoredId> found;

  auto run_part = [&](const std::string& category) {
    PartResult result;
    const uint32_t category_id = category.empty() ? kInvalidId : state.FindCategory(category);
    const VectorIndex::Filter in_category = [&](uint32_t item) {
      return state.Recommendable(item) && state.InCategory(item, category_id);
    };
    size_t hits = 0;
    size_t wanted = 0;
    size_t exact_searches = 0;
    for (int rep = 0; rep < args.reps; ++rep) {
      std::vector<double> latency_us;
      const size_t num_queries = category.empty() ? args.queries : args.filtered_queries;
      for (size_t q = 0; q < num_queries; ++q) {
        RecommendRequest request;
        request.user = "u" + std::to_string(query_users[q]);
        request.k = kK;
        if (!category.empty()) request.categories = {category};
        const auto start = WallClock::now();
        StatusOr<Recommendations> got = recommender.Recommend(request);
        latency_us.push_back(1e6 * Seconds(start));
        if (!got.ok()) {
          std::fprintf(stderr, "%s\n", got.status().message().c_str());
          std::exit(1);
        }
        if (rep > 0 || q >= args.recall_queries) continue;
        const std::vector<std::string> want = FullScan(state, mf, request);
        for (const std::string& w : want) {
          for (const ScoredItem& g : got->items) hits += g.item == w;
        }
        wanted += want.size();
      }
      result.median_us.push_back(Median(latency_us));
      result.p99_us.push_back(Quantile(&latency_us, 0.99));
      if (category.empty() || index == nullptr) continue;
      std::vector<double> index_us;
      std::vector<double> twin_us;
      for (size_t q = 0; q < num_queries; ++q) {
        const UserId user = state.users().Find("u" + std::to_string(query_users[q]));
        mf.capabilities.retrieval->RetrievalQuery(user, query.data());
        HnswSearchStats stats;
        auto start = WallClock::now();
        if (hnsw != nullptr) {
          hnsw->Search(query.data(), kK + kRetrievalMargin, in_category, &found, &stats);
        } else {
          index->Search(query.data(), kK + kRetrievalMargin, in_category, &found);
        }
        index_us.push_back(1e6 * Seconds(start));
        exact_searches += stats.exact;
        if (hnsw == nullptr) continue;
        start = WallClock::now();
        hnsw->exact().Search(query.data(), kK + kRetrievalMargin, in_category, &found);
        twin_us.push_back(1e6 * Seconds(start));
      }
      result.index_median_us.push_back(Median(index_us));
      if (!twin_us.empty()) result.twin_median_us.push_back(Median(twin_us));
    }
    result.recall = wanted == 0 ? 1.0 : static_cast<double>(hits) / static_cast<double>(wanted);
    result.exact_share = static_cast<double>(exact_searches) /
                         static_cast<double>(std::min(args.filtered_queries, args.queries) *
                                             static_cast<size_t>(args.reps));
    std::printf("recommend %s items=%u filter=%s median_us=%.1f p99_us=%.1f recall@10=%.4f",
                label.c_str(), args.items, category.empty() ? "none" : category.c_str(),
                Median(result.median_us), Median(result.p99_us), result.recall);
    if (!result.index_median_us.empty()) {
      std::printf(" index_median_us=%.1f exact_share=%.2f", Median(result.index_median_us),
                  result.exact_share);
    }
    if (!result.twin_median_us.empty()) {
      std::printf(" twin_median_us=%.1f", Median(result.twin_median_us));
    }
    std::printf(" reps=%d queries=%zu\n", args.reps,
                category.empty() ? args.queries : args.filtered_queries);
    std::fflush(stdout);
  };
  run_part("");
  for (uint32_t n : kPassRates) run_part("p" + std::to_string(n));
  if (hnsw == nullptr || !hnsw->graph_built()) return;
  // The index alone at larger candidate lists (a search for k = ef items searches with that
  // ef; its best 10 are compared with the exact top 10), to choose rank.hnsw_ef.
  std::vector<VectorIndex::ScoredId> want;
  std::vector<double> exact_us;
  for (size_t q = 0; q < args.queries; ++q) {
    const UserId user = state.users().Find("u" + std::to_string(query_users[q]));
    mf.capabilities.retrieval->RetrievalQuery(user, query.data());
    const auto start = WallClock::now();
    hnsw->exact().Search(query.data(), kK + kRetrievalMargin, {}, &want);
    exact_us.push_back(1e6 * Seconds(start));
  }
  std::printf("index %s items=%u exact median_us=%.1f p99_us=%.1f\n", label.c_str(), args.items,
              Median(exact_us), Quantile(&exact_us, 0.99));
  for (size_t ef : kSweepEfs) {
    std::vector<double> latency_us;
    size_t hits = 0;
    size_t wanted = 0;
    for (size_t q = 0; q < args.queries; ++q) {
      const UserId user = state.users().Find("u" + std::to_string(query_users[q]));
      mf.capabilities.retrieval->RetrievalQuery(user, query.data());
      const auto start = WallClock::now();
      hnsw->Search(query.data(), ef, {}, &found);
      latency_us.push_back(1e6 * Seconds(start));
      if (q >= args.recall_queries) continue;
      hnsw->exact().Search(query.data(), kK, {}, &want);
      for (size_t i = 0; i < kK && i < found.size(); ++i) {
        for (const auto& w : want) hits += found[i].first == w.first;
      }
      wanted += want.size();
    }
    std::printf("index %s items=%u ef=%zu recall@10=%.4f median_us=%.1f p99_us=%.1f\n",
                label.c_str(), args.items, ef,
                static_cast<double>(hits) / static_cast<double>(std::max<size_t>(wanted, 1)),
                Median(latency_us), Quantile(&latency_us, 0.99));
    std::fflush(stdout);
  }
}

int Run(const Args& args) {
  Options options;
  for (const char* set :
       {"engine.models=mf", "engine.default_model=mf", "engine.fallback_model=mf"}) {
    if (!options.SetAssignment(set).ok()) return 2;
  }
  for (const std::string& set : args.sets) {
    const Status status = options.SetAssignment(set);
    if (!status.ok()) {
      std::fprintf(stderr, "--set %s: %s\n", set.c_str(), status.message().c_str());
      return 2;
    }
  }
  Context context;
  Options learn_options = options;
  if (args.learn_without_index && !learn_options.SetAssignment("rank.retrieval=scan").ok()) {
    return 2;
  }
  StatusOr<std::unique_ptr<EngineState>> created = EngineState::Create(learn_options, context);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().message().c_str());
    return 2;
  }
  EngineState& state = **created;
  uint64_t seq = 0;
  const auto put_start = WallClock::now();
  for (uint32_t i = 0; i < args.items; ++i) {
    LogEntry put;
    put.kind = LogEntryKind::kPutItem;
    put.key = "i" + std::to_string(i);
    for (uint32_t n : kPassRates) {
      if (i % n == 0) put.item.categories.push_back("p" + std::to_string(n));
    }
    state.Apply(++seq, put);
  }
  const double put_s = Seconds(put_start);

  // Each item's events at random places in the stream, so items are learned all along.
  Random rng(context.seed);
  std::vector<uint32_t> stream;
  stream.reserve(size_t{args.items} * args.events_per_item);
  for (uint32_t i = 0; i < args.items; ++i) {
    for (uint32_t e = 0; e < args.events_per_item; ++e) stream.push_back(i);
  }
  for (size_t e = stream.size(); e > 1; --e) std::swap(stream[e - 1], stream[rng.Uniform(e)]);
  LogEntry entry;
  entry.kind = LogEntryKind::kEvent;
  state.SetDeferredLearning(true);
  const auto learn_start = WallClock::now();
  for (size_t e = 0; e < stream.size(); ++e) {
    entry.event.time_ms = kStreamStartMs + static_cast<int64_t>(e);
    entry.event.user = "u" + std::to_string(rng.Uniform(args.users));
    entry.event.item = "i" + std::to_string(stream[e]);
    entry.event.id.clear();
    state.Apply(++seq, entry);
    if ((e + 1) % kLearnRun == 0) state.FlushLearning();
  }
  state.SetDeferredLearning(false);
  const double learn_s = Seconds(learn_start);

  std::printf("learned items=%u events=%zu users=%zu put_s=%.1f learn_s=%.1f events_per_s=%.0f\n",
              args.items, stream.size(), state.users().size(), put_s, learn_s,
              static_cast<double>(stream.size()) / learn_s);
  if (!args.learn_without_index) Measure(args, options, state, "maintained", rng);
  // A restart: the index is built afresh over the learned vectors.
  std::vector<SnapshotSection> sections;
  state.Save(&sections);
  created->reset();
  StatusOr<std::unique_ptr<EngineState>> loaded = EngineState::Create(options, context);
  if (!loaded.ok()) return 2;
  Snapshot snapshot;
  snapshot.sections = std::move(sections);
  const auto load_start = WallClock::now();
  const Status status = (*loaded)->Load(snapshot, nullptr);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.message().c_str());
    return 2;
  }
  std::printf("restart load_s=%.1f (index built over the learned vectors)\n", Seconds(load_start));
  Measure(args, options, **loaded, "rebuilt", rng);
  return 0;
}

}  // namespace
}  // namespace liverec

int main(int argc, char** argv) {
  CLI::App app{"liverec-retrieval-bench: recall and latency of the recommend path at scale"};
  liverec::Args args;
  app.add_option("--items", args.items, "Items learned")->capture_default_str();
  app.add_option("--events-per-item", args.events_per_item, "Events per item")
      ->capture_default_str();
  app.add_option("--users", args.users, "Users the events are drawn from")->capture_default_str();
  app.add_option("--queries", args.queries, "Timed requests per repetition and part")
      ->capture_default_str();
  app.add_option("--filtered-queries", args.filtered_queries,
                 "Timed requests per repetition and filter (at most --queries)")
      ->capture_default_str();
  app.add_option("--recall-queries", args.recall_queries,
                 "Requests compared with the full scan per part")
      ->capture_default_str();
  app.add_option("--reps", args.reps, "Repetitions")->capture_default_str();
  app.add_option("--set", args.sets, "Option key=value (repeatable)");
  app.add_flag("--learn-without-index", args.learn_without_index,
               "Learn with rank.retrieval=scan; measure only the index built at the restart");
  CLI11_PARSE(app, argc, argv);
  args.filtered_queries = std::min(args.filtered_queries, args.queries);
  if (args.queries == 0 || args.reps < 1 || args.items == 0 || args.users == 0) {
    std::fprintf(stderr, "--items, --users, --queries and --reps must be positive\n");
    return 2;
  }
  return liverec::Run(args);
}
