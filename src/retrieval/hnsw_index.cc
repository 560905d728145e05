#include "retrieval/hnsw_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/check.h"

namespace liverec {
namespace {

// Initial graph capacity in nodes; it doubles when full.
constexpr size_t kInitialNodes = 1024;
// A filtered search wants as many allowed candidates as an unfiltered one has candidates
// (max(ef_search, k)): the k best allowed ids sit at depth k / pass rate of the unfiltered
// ranking, and only a candidate list that much longer keeps the unfiltered recall there.
// It accepts this fraction of that target without a retry (a 90% filter costs nothing extra;
// at 50%, recall@10 would drop from 0.97 to 0.94 without the retry).
constexpr double kEnoughAllowedFraction = 0.75;
// Pass count assumed when no candidate passed: the rate is below 1 / ef, not zero.
constexpr double kMinPassCount = 0.5;
// Results rescored per kernel call (stack arrays).
constexpr size_t kRescoreBlock = 64;
// Rough bytes per entry of the label -> node hash map (node, key, bucket pointer).
constexpr size_t kLabelMapBytesPerEntry = 32;

bool Better(const VectorIndex::ScoredId& a, const VectorIndex::ScoredId& b) {
  return a.second > b.second || (a.second == b.second && a.first < b.first);
}

}  // namespace

#if defined(__SANITIZE_THREAD__)
// hnswlib's addPoint takes its global lock and a node lock in either order (the global lock is
// held through the insertion of a node that raises the top level). ThreadSanitizer reports a
// potential deadlock even with one writer; no second writer can exist here (Upsert is
// exclusive), and concurrent searches take no such locks. Every binary linking HnswIndex gets
// this suppression.
extern "C" const char* __tsan_default_suppressions() {
  return "deadlock:hnswlib::HierarchicalNSW<float>::addPoint\n";
}
#endif

struct HnswIndex::Graph {
  Graph(size_t dim, const HnswIndexOptions& options)
      : space(dim), hnsw(&space, kInitialNodes, options.m, options.ef_construction, options.seed) {
    // searchKnn uses ef = max(ef_, k); with ef_ = 1 the k of each call is its ef, so
    // concurrent searches choose their own ef without writing shared state.
    hnsw.setEf(1);
  }

  hnswlib::InnerProductSpace space;  // must outlive hnsw, which points into it
  hnswlib::HierarchicalNSW<float> hnsw;
};

HnswIndex::HnswIndex(size_t dim, const HnswIndexOptions& options) : options_(options), exact_(dim) {
  LIVEREC_CHECK(options.m >= 2) << "hnsw m = " << options.m;
  LIVEREC_CHECK(options.ef_search >= 1) << "hnsw ef_search = " << options.ef_search;
  LIVEREC_CHECK(options.scan_items_per_ef >= 1)
      << "hnsw scan_items_per_ef = " << options.scan_items_per_ef;
  graph_ = std::make_unique<Graph>(dim, options);
  graph_built_ = options.min_graph_items == 0;
}

HnswIndex::~HnswIndex() = default;

void HnswIndex::ReserveNodes(size_t n) {
  auto& hnsw = graph_->hnsw;
  const size_t needed = hnsw.cur_element_count + n;
  if (needed <= hnsw.max_elements_) return;
  hnsw.resizeIndex(std::max(needed, 2 * hnsw.max_elements_));
}

void HnswIndex::BuildGraph() {
  graph_built_ = true;
  ReserveNodes(exact_.size());
  for (size_t id = 0; id < exact_.num_ids(); ++id) {
    const auto label = static_cast<uint32_t>(id);
    if (exact_.contains(label)) graph_->hnsw.addPoint(exact_.row(label), label);
  }
}

void HnswIndex::Upsert(uint32_t id, const float* vector) {
  if (!graph_built_) {
    exact_.Upsert(id, vector);
    if (drift_.size() < exact_.num_ids()) drift_.resize(exact_.num_ids(), 0.0f);
    if (exact_.size() >= options_.min_graph_items) BuildGraph();
    return;
  }
  auto& hnsw = graph_->hnsw;
  const auto it = hnsw.label_lookup_.find(id);
  if (it == hnsw.label_lookup_.end()) {
    exact_.Upsert(id, vector);
    if (drift_.size() < exact_.num_ids()) drift_.resize(exact_.num_ids(), 0.0f);
    ReserveNodes(1);
    hnsw.addPoint(vector, id);
    return;
  }
  // A removed id keeps its row in the twin and its node in the graph, both holding its last
  // vector, so the twin's row is the graph's current vector.
  const hnswlib::tableint node = it->second;
  const float* old = exact_.row(id);
  double change_sq = 0;
  double old_sq = 0;
  for (size_t d = 0; d < dim(); ++d) {
    const double diff = static_cast<double>(vector[d]) - old[d];
    change_sq += diff * diff;
    old_sq += static_cast<double>(old[d]) * old[d];
  }
  if (hnsw.isMarkedDeleted(node)) hnsw.unmarkDeletedInternal(node);
  if (change_sq == 0) {
    exact_.Upsert(id, vector);
    return;
  }
  // Any change of a zero vector is infinitely large: its links are re-chosen.
  drift_[id] += old_sq > 0 ? static_cast<float>(std::sqrt(change_sq / old_sq))
                           : std::numeric_limits<float>::infinity();
  if (drift_[id] < options_.repair_drift) {
    exact_.Upsert(id, vector);
    std::memcpy(hnsw.getDataByInternalId(node), vector, dim() * sizeof(float));
    return;
  }
  drift_[id] = 0;
  ++num_relinks_;
  exact_.Upsert(id, vector);
  hnsw.updatePoint(vector, node, options_.update_neighbor_probability);
}

void HnswIndex::UpsertBatch(const uint32_t* ids, size_t num_ids, const float* vectors,
                            size_t stride) {
  LIVEREC_CHECK(stride >= dim()) << "stride " << stride << " < dim " << dim();
  if (num_ids == 0) return;
  exact_.Reserve(size_t{*std::max_element(ids, ids + num_ids)} + 1);
  // An upper bound (duplicates and known ids count too): one reallocation at most. Before the
  // graph exists its build reserves what it needs.
  if (graph_built_) ReserveNodes(num_ids);
  for (size_t i = 0; i < num_ids; ++i) Upsert(ids[i], vectors + i * stride);
}

void HnswIndex::Remove(uint32_t id) {
  if (!exact_.contains(id)) return;
  exact_.Remove(id);
  if (!graph_built_) return;
  auto& hnsw = graph_->hnsw;
  hnsw.markDeletedInternal(hnsw.label_lookup_.at(id));
}

void HnswIndex::Search(const float* query, size_t k, const Filter& allow,
                       std::vector<ScoredId>* out) const {
  Search(query, k, allow, out, nullptr);
}

void HnswIndex::Search(const float* query, size_t k, const Filter& allow,
                       std::vector<ScoredId>* out, HnswSearchStats* stats) const {
  HnswSearchStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  *stats = HnswSearchStats();
  out->clear();
  if (k == 0 || size() == 0) return;

  size_t ef = std::max(options_.ef_search, k);
  auto exact_search = [&] {
    stats->exact = true;
    exact_.Search(query, k, allow, out);
  };
  // When one candidate list would hold every live id, the graph cannot beat the scan.
  if (!graph_built_ || size() <= ef) return exact_search();

  const auto& hnsw = graph_->hnsw;
  const double target = static_cast<double>(ef);
  for (;;) {
    // Worst candidate on top of the heap; drained into *out best first.
    auto heap = hnsw.searchKnn(query, ef);
    ++stats->graph_searches;
    stats->last_ef = ef;
    out->resize(heap.size());
    for (size_t i = heap.size(); i-- > 0; heap.pop()) {
      (*out)[i] = {static_cast<uint32_t>(heap.top().second), 0.0f};
    }
    if (allow) {
      out->erase(std::remove_if(out->begin(), out->end(),
                                [&](const ScoredId& c) { return !allow(c.first); }),
                 out->end());
    }
    const double num_allowed = static_cast<double>(out->size());
    if (out->size() >= k && num_allowed >= kEnoughAllowedFraction * target) break;
    // The ef expected to yield `target` allowed candidates at the observed pass rate.
    const double next_ef =
        std::ceil(static_cast<double>(ef) * target / std::max(num_allowed, kMinPassCount));
    const size_t max_ef = std::max(options_.max_filtered_ef, size() / options_.scan_items_per_ef);
    if (next_ef > static_cast<double>(max_ef) || next_ef >= static_cast<double>(size())) {
      return exact_search();
    }
    ef = static_cast<size_t>(next_ef);  // > 4/3 ef: the loop ends
  }

  // The graph ranked the candidates by its own float arithmetic; the k kept are rescored by
  // the twin so that scores equal ExactIndex's bit for bit, then re-sorted by those scores.
  out->resize(k);
  uint32_t ids[kRescoreBlock];
  float scores[kRescoreBlock];
  for (size_t begin = 0; begin < k; begin += kRescoreBlock) {
    const size_t n = std::min(kRescoreBlock, k - begin);
    for (size_t i = 0; i < n; ++i) ids[i] = (*out)[begin + i].first;
    exact_.ScoreIds(query, ids, n, scores);
    for (size_t i = 0; i < n; ++i) (*out)[begin + i].second = scores[i];
  }
  std::sort(out->begin(), out->end(), Better);
}

size_t HnswIndex::num_nodes() const { return graph_->hnsw.cur_element_count; }

size_t HnswIndex::MemoryBytes() const {
  const auto& hnsw = graph_->hnsw;
  size_t upper_links_bytes = 0;
  for (size_t node = 0; node < hnsw.cur_element_count; ++node) {
    upper_links_bytes +=
        hnsw.size_links_per_element_ * static_cast<size_t>(hnsw.element_levels_[node]);
  }
  // Per node of capacity: the level-0 record, an upper-links pointer, a level, a lock and an
  // entry of the one pooled visited list.
  const size_t per_node_bytes = hnsw.size_data_per_element_ + sizeof(void*) + sizeof(int) +
                                sizeof(std::mutex) + sizeof(hnswlib::vl_type);
  return hnsw.max_elements_ * per_node_bytes + upper_links_bytes +
         hnsw.label_lookup_.size() * kLabelMapBytesPerEntry + exact_.MemoryBytes() +
         drift_.capacity() * sizeof(float);
}

}  // namespace liverec
