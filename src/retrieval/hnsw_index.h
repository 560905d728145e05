// HnswIndex: approximate maximum-inner-product search with a hierarchical navigable small
// world graph (Malkov & Yashunin, 2018), kept up to date as item vectors change online.
//
// It wraps hnswlib's HierarchicalNSW<float> over InnerProductSpace (graph "distance"
// 1 - <a, b>), with the hnswlib label = our id, next to an ExactIndex twin that holds the same
// vectors. The twin is the source of truth for which ids are live, gives returned scores bit for
// bit equal to ExactIndex's, and answers searches the graph cannot answer well (tiny indexes,
// very selective filters).
//
// Memory layout: hnswlib's level-0 block has one record per graph node (a node per id ever
// upserted; removal only marks it), in insertion order:
//   [u16 link count, u8 flags (bit 0 = removed), u8 unused][2*m u32 links][dim floats][u64 id]
// = 4 + 8 * m + 4 * dim + 8 bytes (396 bytes at m = 16, dim = 64); nodes on upper layers
// (1 in m) own a separately allocated array of m links per layer. The node capacity doubles
// when full (hnswlib's resizeIndex). The twin adds 4 * round_up(dim, 16) + 1 bytes per id and
// the drift sums (see Upsert) 4 more: 75 MB in all for 100 K ids of dim 64.
//
// Small indexes: below min_graph_items live ids the graph is not built and every search is
// answered by the twin (exact); the graph is built from the twin's live rows, in ascending id
// order, when the live count first reaches min_graph_items, and maintained from then on. So a
// catalogue that stays small pays nothing for the graph, and one that grows gets a graph over
// vectors already learned (a graph maintained from the first, near-random vectors of a model
// learning from scratch recalls less: 0.80 against 0.996 on the engine's candidate-stage test).
//
// Search: the graph is searched with a candidate list of ef = max(ef_search, k) (passed
// per call, so concurrent searches share no mutable setting), candidates are filtered, the
// best k are rescored exactly and returned best first. With a filter, the k best allowed ids
// lie deeper in the graph's ranking (depth k / pass rate), so the search wants as many allowed
// candidates as an unfiltered search has candidates: when fewer than 3/4 of that (or fewer than
// k) pass, it is retried once with ef scaled by the observed pass rate; when that ef would
// exceed max(max_filtered_ef, size / scan_items_per_ef), the allowed set is scored exactly
// instead (at 100 K items that happens below a ~20% pass rate, at 1 M below ~3%, where the
// exact scan is the cheaper of the two). A search
// never returns a removed or disallowed id.
//
// Upsert of an existing id writes the new vector in place. Its links were chosen for the vector
// it had when they were last chosen; while the accumulated relative change since then,
// sum |new - old| / |old| over its upserts, stays below repair_drift, the graph is left alone
// (online learning moves vectors by small steps); beyond, the node's links are chosen again
// (hnswlib's updatePoint) and the sum restarts. An unchanged vector only revives a removed id.
// Removed ids stay in the graph as waypoints, so a graph with many removals searches more
// slowly: rebuild when removals dominate.
//
// Thread safety: as VectorIndex. Concurrent Search calls only read the graph; hnswlib hands
// each one a visited-list from a mutex-guarded pool. Upsert/Remove need exclusive access.
#ifndef LIVEREC_RETRIEVAL_HNSW_INDEX_H_
#define LIVEREC_RETRIEVAL_HNSW_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "retrieval/exact_index.h"
#include "retrieval/vector_index.h"

namespace liverec {

struct HnswIndexOptions {
  // Links per node on upper layers (2 * m on the base layer). 16 is hnswlib's recommended
  // middle ground; 32 gains ~0.03 recall@10 at equal ef but doubles query time and build time.
  size_t m = 16;
  // Candidate list size while inserting: larger builds a better graph, more slowly. 100 gives
  // the same recall@10 as hnswlib's default 200 (within 0.002, measured at 20 K x 32 and
  // 100 K x 64) and builds 2-2.5x faster, which bounds restart time.
  size_t ef_construction = 100;
  // Candidate list size while searching (raised to k when k is larger): the recall/latency
  // knob. 100 gives recall@10 0.97 on 100 K MF-shaped vectors of dim 64 (0.94 at 64) at
  // ~130 us per query (liverec-bench topk/hnsw/100000), and 0.98 on 20 K N(0, 1) vectors of
  // dim 32 (0.94 at 64).
  size_t ef_search = 100;
  // Largest candidate list a filtered search tries before scoring the allowed set exactly:
  // max(max_filtered_ef, size() / scan_items_per_ef). Around 512 a graph search of 100 K x 64
  // costs about what the exact scan of a 20% allowed set costs (~0.6 ms). The scan grows with
  // the index and the graph search with ef: measured on mf's vectors (dim 65), a graph search
  // costs ~1.3 us per unit of ef and the filtered scan 3 ns per id plus 25 ns per allowed one,
  // so at 1 M ids a 5% filter (ef ~2,000: 2.6 ms) still beats the scan (4 ms) and 1% does not.
  size_t max_filtered_ef = 512;
  size_t scan_items_per_ef = 200;
  // Accumulated relative change of a vector (see Upsert above) that triggers re-choosing its
  // links. Measured: writing 20 K vectors of dim 64 in place after 8 rounds of 30% changes
  // keeps recall@10 within 0.005; full replacements in place lose 0.04 per round.
  float repair_drift = 0.25f;
  // When links are re-chosen, the probability that each neighbor's links are re-chosen too
  // (hnswlib's updateNeighborProbability). Measured at 0 and 1 on 20 K x 64 and 100 K x 64:
  // the same recall after replacing 10-30% of the vectors, 1.5-3x the update rate at 0.
  float update_neighbor_probability = 0.0f;
  // Live ids below which the graph is not built and searches are exact (see above); 0 builds
  // it from the first upsert.
  size_t min_graph_items = 0;
  // Seeds the level generator, so the same upserts in the same order build the same graph.
  uint64_t seed = 100;
};

// Counters of one search, for tests and benchmarks.
struct HnswSearchStats {
  size_t graph_searches = 0;  // graph searches run (retries included)
  size_t last_ef = 0;         // ef of the last graph search
  bool exact = false;         // answered by exact scoring (small index or selective filter)
};

class HnswIndex final : public VectorIndex {
 public:
  // Requires dim >= 1, options.m >= 2, options.ef_search >= 1, options.scan_items_per_ef >= 1.
  HnswIndex(size_t dim, const HnswIndexOptions& options);
  ~HnswIndex() override;
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  void Upsert(uint32_t id, const float* vector) override;
  void UpsertBatch(const uint32_t* ids, size_t num_ids, const float* vectors,
                   size_t stride) override;
  void Remove(uint32_t id) override;
  void Search(const float* query, size_t k, const Filter& allow,
              std::vector<ScoredId>* out) const override;
  size_t size() const override { return exact_.size(); }
  size_t dim() const override { return exact_.dim(); }

  // Search that also reports what it did; stats may be null.
  void Search(const float* query, size_t k, const Filter& allow, std::vector<ScoredId>* out,
              HnswSearchStats* stats) const;

  const HnswIndexOptions& options() const { return options_; }
  // The exact twin holding the same vectors.
  const ExactIndex& exact() const { return exact_; }
  // Graph nodes, removed ones included; 0 before the graph is built.
  size_t num_nodes() const;
  // True once the graph exists (size() reached min_graph_items).
  bool graph_built() const { return graph_built_; }
  // Upserts of existing ids that re-chose links (the rest wrote the vector in place).
  size_t num_relinks() const { return num_relinks_; }
  size_t MemoryBytes() const;

 private:
  struct Graph;  // the hnswlib objects; hnswlib.h is included by hnsw_index.cc only

  // Makes room in the graph for `n` more nodes.
  void ReserveNodes(size_t n);
  // Inserts every live id of the twin into the (empty) graph, ascending.
  void BuildGraph();

  HnswIndexOptions options_;
  ExactIndex exact_;
  std::unique_ptr<Graph> graph_;
  // drift_[id]: accumulated relative change of id's vector since its links were chosen.
  std::vector<float> drift_;
  size_t num_relinks_ = 0;
  bool graph_built_ = false;
};

}  // namespace liverec

#endif  // LIVEREC_RETRIEVAL_HNSW_INDEX_H_
