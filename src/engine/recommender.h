// Recommender: the read side of the engine — candidates, ranking, filters, re-ranking,
// explanations, similar items and user lookups — over a read view of the published state.
//
// A plain object: no threads, no log, no locks. It reads `state` at each call, so the caller
// holds whatever keeps the state still meanwhile (the engine: its state's read lock). One
// recommendation is
//   1. the model: the request's, else engine.default_model; the fallback model
//      (engine.fallback_model) for a user without events;
//   2. candidates: the model's own proposals (Model::Candidates, rank.candidates of them) when
//      it has a candidate source, else its vector index's best (rank.retrieval, for a model
//      that scores by an inner product), else the whole catalogue, less consumed, unavailable
//      and other-category items;
//   3. ranking: the model's scores, top k; re-ranked (MMR diversity, category cap) when asked;
//   4. backfill: a short list continues with the fallback model's best items;
//   5. explanations (explain=true): recent items behind each item (item similarity), the
//      item's features the model weighs most (a feature explainer), an ensemble's member terms.
//
// A user in an interleave experiment gets both arms' lists (each as steps 1-5 make it for the
// arm's model and settings) merged by team draft (experiment/interleave.h), each item marked
// with its arm (ScoredItem::team) and its probability under the draft.
//
// Thread safety: const methods may run concurrently (per-thread scratch); the state must not
// change during a call.
#ifndef LIVEREC_ENGINE_RECOMMENDER_H_
#define LIVEREC_ENGINE_RECOMMENDER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine_state.h"
#include "liverec/engine.h"
#include "liverec/experiment.h"
#include "liverec/options.h"
#include "liverec/status.h"
#include "rank/rerank.h"
#include "rank/similarity.h"

namespace liverec {

// The serving options, from the option table (serve.*, engine.*, rank.*).
struct RecommenderOptions {
  size_t max_k = 0;               // serve.max_k
  std::string default_model;      // engine.default_model
  std::string fallback_model;     // engine.fallback_model
  size_t num_candidates = 0;      // rank.candidates
  RerankOptions rerank;           // rank.diversity (as lambda), rank.pool, rank.category_cap
  std::string rerank_similarity;  // rank.similarity: category | embedding | knn
  uint64_t id_nonce = 0;          // makes recommendation ids unique across runs

  static RecommenderOptions FromOptions(const Options& options, uint64_t id_nonce);
};

struct RerankPlan;

class Recommender {
 public:
  // `state` must outlive the recommender.
  Recommender(const RecommenderOptions& options, const EngineState& state)
      : options_(options), state_(state) {}

  // Checks that the configured models and similarity exist in the state: InvalidArgument for a
  // default or fallback model that is not live, FailedPrecondition for rank.similarity without
  // its model.
  Status Validate() const;

  // Top-k items for a user. InvalidArgument for k == 0 or k > serve.max_k; NotFound for an
  // unknown model name.
  StatusOr<Recommendations> Recommend(const RecommendRequest& request) const;
  // The k items most similar to `item`, recommendable ones only. NotFound for an unknown item,
  // FailedPrecondition without a model that has item neighbours.
  StatusOr<std::vector<ScoredItem>> Similar(const std::string& item, size_t k) const;
  // The user's events count, metadata and up to max_recent recent items, newest first.
  // NotFound for a user the state does not know.
  StatusOr<UserInfo> GetUser(const std::string& user, size_t max_recent) const;
  StatusOr<ItemInfo> GetItem(const std::string& item) const;

  const RecommenderOptions& options() const { return options_; }

 private:
  std::string NewRecommendationId() const;
  // The interleaved list of `spec`'s two arms for the request's user.
  StatusOr<Recommendations> Interleave(const RecommendRequest& request,
                                       const ExperimentSpec& spec) const;
  // Fills `scored`'s because (the user's recent items most similar to it) and features (its
  // metadata features that a feature-explaining model weighs highest for the user).
  void Explain(UserId user, ItemId item, ScoredItem* scored) const;
  // Sets plan->similarity to what rank.similarity names, over the live state (NamedSimilarity
  // over the first live model or member offering it, kept in *plan); FailedPrecondition when no
  // such model is live. Valid while the state does not change and *plan does not move.
  Status ResolveRerankSimilarity(RerankPlan* plan) const;

  const RecommenderOptions options_;
  const EngineState& state_;
  mutable std::atomic<uint64_t> recommendation_counter_{0};
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_RECOMMENDER_H_
