// Rerank: the diversity stage of ranking. From scored candidates it builds the top-k list by
// maximal marginal relevance (MMR, Carbonell & Goldstein 1998), one item at a time:
//
//   next = argmax over unlisted i of  lambda * rel(i) - (1 - lambda) * max_{j listed} sim(i, j)
//   rel(i) = (score_i - min score) / (max score - min score) over the pool (1 for every
//            candidate when all scores are equal); the max over an empty list is 0,
//
// so the first item is always the best-scored one, and each later pick trades its relevance
// against its closeness to what is already listed. Order of candidates ("score order"): score
// descending, ties by item id ascending; ties of the MMR value go to the earlier one in it.
//
// The pool is the `pool` best candidates in score order; min and max of rel are taken over it,
// so a larger pool lowers the bar below which an item is "irrelevant". Candidates may come in
// any order. Cost: selecting the pool is linear in the candidates; the list then takes at most
// (k - 1) * pool similarity calls and usually far fewer: candidates are visited in score order
// (drawn one by one from a heap, so the pool is never sorted whole), the visit stops once
// lambda * rel(i) cannot beat the best value found (and, without a cap, candidates that could
// never be reached before it stops are left out of the heap), and a candidate's max similarity
// is brought up to date only when it is visited. Similarities above 1 count as 1.
//
// Category cap: with category_cap = c > 0 an item is eligible only while every one of its
// categories has fewer than c listed items (items without categories are never capped). The cap
// is a hard rule: the list comes out shorter than k when the pool runs out of eligible items,
// and the caller may backfill.
//
// Continuing a list: options.continues names items already listed above this list (a backfill
// from another source after a model's own items). They count toward every category's cap and
// toward max_sim as listed items do, are not output, and must not be among the candidates.
//
// lambda = 1 and no cap is plain ranking, taken on a fast path that calls nothing: the k best
// candidates in score order. lambda = 1 with a cap walks score order, skipping capped items.
//
// Candidates and output are plain (item, score) pairs; similarity and categories are callables
// (rank/similarity.h), so the engine, replay and tests can each bring their own.
//
// Thread safety: a Reranker owns scratch buffers reused across calls (no allocation once warm);
// one per thread. ref::Rerank is stateless.
#ifndef LIVEREC_RANK_RERANK_H_
#define LIVEREC_RANK_RERANK_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "common/types.h"
#include "rank/similarity.h"

namespace liverec {

struct ScoredCandidate {
  ItemId item = kInvalidId;
  float score = 0;
  friend bool operator==(const ScoredCandidate&, const ScoredCandidate&) = default;
};

// Sorts into score order: score descending, ties by item id ascending.
void SortCandidates(std::span<ScoredCandidate> candidates);

struct RerankOptions {
  // Weight of relevance against novelty, in [0, 1]: 1 = plain ranking, 0 = novelty only (the
  // best-scored item, then each next one the least like those listed).
  double lambda = 1;
  // Candidates considered: the best `pool` in score order (>= 1).
  size_t pool = 5000;
  // At most this many listed items per category; 0 = no cap.
  uint32_t category_cap = 0;
  // Items listed above this list, which it continues (see the header comment); may be empty.
  std::span<const ItemId> continues = {};
};

class Reranker {
 public:
  // Replaces *out with the re-ranked list, best first: at most k of the pool's candidates, each
  // with its score (-0 comes out as +0). Requires finite scores and distinct items; `sim`
  // callable when lambda < 1; `categories` callable when category_cap > 0.
  void Rerank(std::span<const ScoredCandidate> candidates, size_t k, const RerankOptions& options,
              const ItemSimilarity& sim, const ItemCategories& categories,
              std::vector<ScoredCandidate>* out);

  // Calls of `sim` during the last Rerank: the cost the visit order saves is measured in these.
  uint64_t last_similarity_calls() const { return similarity_calls_; }
  // Pool candidates the last Rerank put in score order (visited or passed over).
  size_t last_ordered() const { return order_.size(); }

 private:
  enum class State : uint8_t { kOpen, kListed, kCapped };

  // Extends order_ (the pool's candidates in score order, as keys) by one from the heap.
  void OrderNext();
  // Whether one of `item`'s categories already holds `cap` listed items.
  bool Capped(ItemId item, uint32_t cap, const ItemCategories& categories) const;
  void CountCategories(ItemId item, const ItemCategories& categories);

  // A candidate as one integer whose ascending order is score order: the score's bits mapped
  // to an order-preserving unsigned value, inverted, above the item id: selection and the heap
  // compare plain integers.
  std::vector<uint64_t> keys_;  // scratch; [0, heap_size_) a min-heap of pool keys not in order_
  size_t heap_size_ = 0;
  std::vector<uint64_t> order_;  // the pool's best candidates in score order, best first
  std::vector<float> max_sim_;   // by score-order position: max sim to the first compared_ listed
  std::vector<uint32_t> compared_;  // by score-order position: listed_ items max_sim_ covers
  std::vector<ItemId> listed_;      // options.continues, then the items output so far
  std::vector<State> state_;
  std::vector<std::pair<uint32_t, uint32_t>> category_counts_;  // (category, listed items)
  uint64_t similarity_calls_ = 0;
};

namespace ref {
// The definition as a plain loop (every round recomputes every max similarity): the oracle
// Reranker::Rerank is tested against. Same contract and output.
void Rerank(std::span<const ScoredCandidate> candidates, size_t k, const RerankOptions& options,
            const ItemSimilarity& sim, const ItemCategories& categories,
            std::vector<ScoredCandidate>* out);
}  // namespace ref

}  // namespace liverec

#endif  // LIVEREC_RANK_RERANK_H_
