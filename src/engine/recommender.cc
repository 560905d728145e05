#include "engine/recommender.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <span>
#include <utility>

#include "common/check.h"
#include "common/random.h"
#include "engine/experiments.h"
#include "engine/feedback.h"
#include "event/item_metadata.h"
#include "experiment/explore.h"
#include "experiment/interleave.h"
#include "kernels/kernels.h"
#include "model/capabilities.h"
#include "model/features.h"
#include "train/named_similarity.h"

namespace liverec {

// The re-ranking of one request; null members when the list is plain ranking.
struct RerankPlan {
  RerankOptions options;
  ItemSimilarity similarity;
  ItemCategories categories;
  ServingModel similarity_model;  // the model `similarity` reads (not for category)
};

namespace {

// Explanations name at most this many of the user's recent items per recommended item.
constexpr size_t kMaxBecause = 3;
// Explanations look at this many of the user's most recent distinct items.
constexpr size_t kExplainRecent = 20;
// Exploration draws a list of k from the model's best kExplorePoolFactor * k items.
constexpr size_t kExplorePoolFactor = 3;
// Salts the exploration seed derived from the recommendation id.
constexpr uint64_t kExploreSalt = 0x6578706c6f7265;  // "explore"
constexpr uint64_t kInterleaveSalt = 0x7465616d;     // "team": the draft's coin
// Similar items over-fetch neighbours so that items no longer recommendable can be dropped:
// twice the request and a margin for small k.
constexpr size_t kSimilarOverFetchFactor = 2;
constexpr size_t kSimilarOverFetchMargin = 16;
// Retrieval from a vector index asks for this many items beyond those the list needs: Score
// adds a per-user constant to <query, vector> and rounds differently, so an item just below
// the k-th by inner product may rank above it by Score. Ties and near-ties that wide do not
// occur in learned vectors (the candidate-stage tests compare every list with the scan's).
constexpr size_t kRetrievalMargin = 16;

}  // namespace

RecommenderOptions RecommenderOptions::FromOptions(const Options& options, uint64_t id_nonce) {
  RecommenderOptions out;
  out.max_k = static_cast<size_t>(options.GetInt("", "serve", "max_k"));
  out.default_model = options.GetString("", "engine", "default_model");
  out.fallback_model = options.GetString("", "engine", "fallback_model");
  out.num_candidates = static_cast<size_t>(options.GetInt("", "rank", "candidates"));
  out.rerank.lambda = 1 - options.GetFloat("", "rank", "diversity");
  out.rerank.pool = static_cast<size_t>(options.GetInt("", "rank", "pool"));
  out.rerank.category_cap = static_cast<uint32_t>(options.GetInt("", "rank", "category_cap"));
  out.rerank_similarity = options.GetString("", "rank", "similarity");
  out.id_nonce = id_nonce;
  return out;
}

Status Recommender::Validate() const {
  for (const std::string& name : {options_.default_model, options_.fallback_model}) {
    if (!state_.FindModel(name)) {
      return InvalidArgument("engine: model '" + name +
                             "' is neither in engine.models nor a member of an ensemble there");
    }
  }
  if (options_.rerank.lambda < 1) {
    RerankPlan plan;
    LIVEREC_RETURN_IF_ERROR(ResolveRerankSimilarity(&plan));
  }
  return Status::Ok();
}

namespace {

// Per-thread scratch of Recommend: no allocation per request once warm.
struct RecommendScratch {
  std::vector<ItemId> raw;
  std::vector<ItemId> candidates;
  std::vector<float> scores;
  std::vector<uint32_t> top;
  std::vector<ScoredCandidate> scored;
  std::vector<ScoredCandidate> reranked;
  Reranker reranker;
  std::vector<float> parts;           // an ensemble's member terms, for explanations
  std::vector<ItemId> listed;         // the model's own items, above a backfill
  std::vector<uint8_t> excluded;      // by item id: consumed, or already listed
  std::vector<PoolItem> pool;         // exploration's candidates, best first
  std::vector<ShownItem> shown;       // and its draw
  std::vector<double> probabilities;  // of the listed items
  std::vector<uint32_t> categories;   // the request's known categories
  std::vector<ItemId> unwanted;       // the request's excluded items
};

// Appends to *out (up to k items in all) the best items of `model` for `user` among
// `candidates`, dropping items the model cannot score; re-ranked by `rerank` when given. With
// `member_terms`, an ensemble's scoring also keeps each member's terms in scratch->parts.
void RankCandidates(const ServingModel& model, UserId user, size_t k, const RerankPlan* rerank,
                    bool member_terms, RecommendScratch* scratch,
                    std::vector<std::pair<ItemId, float>>* out) {
  if (out->size() >= k) return;
  const size_t want = k - out->size();
  scratch->scores.resize(scratch->candidates.size());
  const MemberList* composite = model.capabilities.members;
  if (member_terms && composite != nullptr) {
    scratch->parts.resize(composite->members().size() * scratch->candidates.size());
    composite->ScoreWithContributions(user, scratch->candidates, scratch->scores.data(),
                                      scratch->parts.data());
  } else {
    model.model->Score(user, scratch->candidates, scratch->scores.data());
  }
  if (rerank != nullptr) {
    scratch->scored.clear();
    for (size_t i = 0; i < scratch->candidates.size(); ++i) {
      if (scratch->scores[i] == kUnscored) continue;
      scratch->scored.push_back({scratch->candidates[i], scratch->scores[i]});
    }
    scratch->reranker.Rerank(scratch->scored, want, rerank->options, rerank->similarity,
                             rerank->categories, &scratch->reranked);
    for (const ScoredCandidate& c : scratch->reranked) out->emplace_back(c.item, c.score);
    return;
  }
  scratch->top.resize(std::min(want, scratch->candidates.size()));
  scratch->top.resize(TopK(scratch->scores.data(), scratch->scores.size(), scratch->top.size(),
                           scratch->top.data()));
  for (uint32_t pos : scratch->top) {
    if (scratch->scores[pos] == kUnscored) break;  // the model knows nothing of the rest
    out->emplace_back(scratch->candidates[pos], scratch->scores[pos]);
  }
}

// Sets each listed item's ScoredItem::models from the ensemble's member terms over the
// candidates it was ranked among (the terms depend on the whole list: z-scores, ranks), as
// RankCandidates kept them in scratch->parts.
void ExplainMembers(const ServingModel& model, const RecommendScratch& scratch,
                    std::span<const std::pair<ItemId, float>> listed, ScoredItem* items) {
  const std::span<const ModelMember> members = model.capabilities.members->members();
  const size_t n = scratch.candidates.size();
  for (size_t i = 0; i < listed.size(); ++i) {
    const auto it =
        std::find(scratch.candidates.begin(), scratch.candidates.end(), listed[i].first);
    if (it == scratch.candidates.end()) continue;
    const size_t pos = static_cast<size_t>(it - scratch.candidates.begin());
    auto& terms = items[i].models;
    for (size_t m = 0; m < members.size(); ++m) {
      terms.emplace_back(members[m].name, scratch.parts[m * n + pos]);
    }
    std::stable_sort(terms.begin(), terms.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
  }
}

}  // namespace

void Recommender::Explain(UserId user, ItemId item, ScoredItem* scored) const {
  const std::vector<RecentEvent>* recent = user != kInvalidId ? state_.Recent(user) : nullptr;
  const ServingModel related = state_.FindModelOffering(
      [](const ModelCapabilities& c) { return c.raw_similarity != nullptr; });
  if (related && recent != nullptr) {
    const RawItemSimilarity* similarity = related.capabilities.raw_similarity;
    std::vector<std::pair<float, ItemId>> because;
    size_t looked = 0;
    for (auto it = recent->rbegin(); it != recent->rend() && looked < kExplainRecent;
         ++it, ++looked) {
      const float sim = similarity->Similarity(it->item, item);
      const bool listed = std::any_of(because.begin(), because.end(),
                                      [&](const auto& b) { return b.second == it->item; });
      if (sim > 0 && !listed) because.emplace_back(sim, it->item);
    }
    std::sort(because.begin(), because.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (size_t b = 0; b < because.size() && b < kMaxBecause; ++b) {
      scored->because.push_back(state_.items().Key(because[b].second));
    }
  }
  const ServingModel explainer = state_.FindModelOffering(
      [](const ModelCapabilities& c) { return c.feature_explainer != nullptr; });
  const ItemMetadata* meta = state_.ItemMeta(item);
  if (!explainer || meta == nullptr) return;
  std::vector<float> contributions;
  explainer.capabilities.feature_explainer->ItemFeatureContributions(user, item, &contributions);
  std::vector<std::string> names;
  AppendItemFeatureNames(meta->categories, meta->tags, TextTokens(meta->text), &names);
  if (names.size() != contributions.size()) return;  // the model reads no features
  // Highest first, whatever the sign: under sampled negatives a feature every item shares
  // (a common token) learns a negative weight, so what sets an item apart for this user is
  // the order, not the sign.
  std::vector<size_t> order(names.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return contributions[a] != contributions[b] ? contributions[a] > contributions[b] : a < b;
  });
  for (size_t j = 0; j < order.size() && j < kMaxBecause; ++j) {
    scored->features.push_back(names[order[j]]);
  }
}

std::string Recommender::NewRecommendationId() const {
  const uint64_t n = recommendation_counter_.fetch_add(1, std::memory_order_relaxed);
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(SplitMix64(options_.id_nonce + n)));
  return buf;
}

Status Recommender::ResolveRerankSimilarity(RerankPlan* plan) const {
  const std::string& name = options_.rerank_similarity;
  const ItemSimilarity by_category = [this](ItemId a, ItemId b) {
    return SortedJaccard(state_.ItemCategoryIds(a), state_.ItemCategoryIds(b));
  };
  if (name != "category") {
    plan->similarity_model = state_.FindModelOffering(
        [&name](const ModelCapabilities& c) { return HasNamedSimilarity(name, c, false); });
    if (!plan->similarity_model) {
      return FailedPrecondition("rank.similarity=" + name + " needs a live " +
                                (name == "embedding" ? "mf" : "item_knn") +
                                " model (in engine.models or an ensemble's members)");
    }
  }
  plan->similarity = NamedSimilarity(name, &plan->similarity_model.capabilities, by_category);
  return Status::Ok();
}

StatusOr<Recommendations> Recommender::Recommend(const RecommendRequest& request) const {
  if (request.k == 0 || request.k > options_.max_k) {
    return InvalidArgument("k: expected 1.." + std::to_string(options_.max_k) + ", got " +
                           std::to_string(request.k));
  }
  if (request.offset > options_.max_k) {
    return InvalidArgument("offset: expected 0.." + std::to_string(options_.max_k) + ", got " +
                           std::to_string(request.offset));
  }
  // A page is the tail of the list of its end's length: ranked, re-ranked and backfilled as a
  // whole, then cut, so that consecutive pages never repeat or skip an item.
  const size_t list_k = request.offset + request.k;
  thread_local RecommendScratch scratch;
  Recommendations out;
  // A request that names no model is served by the user's experiment arm, if any.
  std::optional<ExperimentSet::Assignment> assignment;
  if (request.model.empty()) assignment = state_.feedback().experiments().Assign(request.user);
  if (assignment && assignment->spec->type == kInterleave) {
    return Interleave(request, *assignment->spec);
  }
  const ExperimentArm* arm = assignment ? &assignment->arm_spec() : nullptr;
  if (assignment) {
    out.experiment = assignment->spec->name;
    out.arm = arm->name;
  }
  ExploreSpec explore;
  const std::string& explore_text =
      arm != nullptr && !arm->explore.empty() ? arm->explore : request.explore;
  if (!explore_text.empty()) {
    LIVEREC_ASSIGN_OR_RETURN(explore, ExploreSpec::Parse(explore_text));
  }
  out.explore = explore.ToString();
  const std::string& model_name = arm != nullptr          ? arm->model
                                  : request.model.empty() ? options_.default_model
                                                          : request.model;
  // An arm that learns on its own (isolated, warm_start) serves with its own instance.
  ServingModel model = arm != nullptr && assignment->spec->learning != kPooledLearning
                           ? state_.FindArmModel(assignment->spec->name, arm->name)
                           : ServingModel{};
  if (!model) model = state_.FindModel(model_name);
  if (!model) {
    std::string names;
    for (const ModelSlot& s : state_.models()) names += (names.empty() ? "" : ", ") + s.name;
    return NotFound("model: no live model '" + model_name + "' (live: " + names +
                    ", and the members of an ensemble)");
  }
  const ServingModel fallback = state_.FindModel(options_.fallback_model);
  const UserId user = state_.users().Find(request.user);
  if (user == kInvalidId || state_.history().NumEvents(user) == 0) {
    model = fallback;
    out.fallback = true;
  }
  out.model = std::string(model.name);
  out.model_version = state_.last_applied_seq();
  out.recommendation_id = NewRecommendationId();

  RerankPlan plan;
  plan.options = options_.rerank;
  const double diversity = arm != nullptr && arm->diversity ? *arm->diversity : request.diversity;
  const int64_t category_cap =
      arm != nullptr && arm->category_cap ? *arm->category_cap : request.category_cap;
  if (diversity >= 0) plan.options.lambda = 1 - diversity;
  if (category_cap >= 0) plan.options.category_cap = static_cast<uint32_t>(category_cap);
  const bool rerank = plan.options.lambda < 1 || plan.options.category_cap > 0;
  if (plan.options.lambda < 1) {
    LIVEREC_RETURN_IF_ERROR(ResolveRerankSimilarity(&plan));
  }
  if (plan.options.category_cap > 0) {
    plan.categories = [this](ItemId item) { return state_.ItemCategoryIds(item); };
  }

  std::vector<uint32_t>& categories = scratch.categories;
  categories.clear();
  for (const std::string& name : request.categories) {
    const uint32_t category = state_.FindCategory(name);
    if (category != kInvalidId) categories.push_back(category);
  }
  if (!request.categories.empty() && categories.empty()) return out;  // no item has any of them
  auto in_categories = [&](ItemId item) {
    if (request.categories.empty()) return true;
    for (uint32_t category : categories) {
      if (state_.InCategory(item, category)) return true;
    }
    return false;
  };
  const size_t num_items = state_.items().size();
  std::vector<uint8_t>& excluded = scratch.excluded;
  if (excluded.size() < num_items) excluded.resize(num_items, 0);
  std::span<const ItemId> consumed;
  if (request.exclude_seen && user != kInvalidId) consumed = state_.history().Items(user);
  for (ItemId item : consumed) excluded[item] = 1;
  std::vector<ItemId>& unwanted = scratch.unwanted;
  unwanted.clear();
  for (const std::string& key : request.exclude) {
    const ItemId item = state_.items().Find(key);
    if (item != kInvalidId) unwanted.push_back(item);
  }
  for (ItemId item : unwanted) excluded[item] = 1;
  auto admit = [&](ItemId item) {
    return !excluded[item] && state_.Recommendable(item) && in_categories(item);
  };
  // Exploring draws the list from a pool of the model's best items (experiment/explore.h).
  const size_t want = explore.active() ? list_k * kExplorePoolFactor : list_k;
  const VectorIndex::Filter retrieval_admit = [&admit](uint32_t item) { return admit(item); };
  // Two-stage serving: the model proposes rank.candidates items (CandidateSource) and ranks
  // those; a model without a candidate source ranks the whole catalogue, and so does one whose
  // full list of proposals leaves fewer than k admissible (a user who consumed the top items,
  // a narrow category). A short list from a model that proposed all it had (item_knn: every
  // item that co-occurred with the user's window) stays short, for the fallback to fill.
  // A model that scores by an inner product (mf) proposes through its vector index: the k
  // items of highest <query, vector> among the admissible ones and kRetrievalMargin more,
  // which Score then ranks; fewer than k means too few admissible items, and the full scan
  // decides. Asking for no more than that keeps an HNSW search at its configured ef. A
  // re-ranked list reads the whole pool (its scores are normalized over it), so the pool comes
  // whole, with rank.candidates to spare for the rounding that separates <query, vector> from
  // Score.
  // `k`: the items the list needs; `num_ranked`: those RankCandidates will take (more when
  // exploring).
  auto gather = [&](const ServingModel& m, size_t k, size_t num_ranked) {
    scratch.raw.clear();
    const size_t num_retrieved =
        rerank ? options_.num_candidates + plan.options.pool : num_ranked + kRetrievalMargin;
    if (m.capabilities.candidates != nullptr) {
      m.capabilities.candidates->Candidates(user, options_.num_candidates, &scratch.raw);
    } else if (state_.retrieval().Retrieve(m.model, user, num_retrieved, retrieval_admit,
                                           &scratch.candidates) &&
               scratch.candidates.size() >= k) {
      return;
    }
    scratch.candidates.clear();
    for (ItemId item : scratch.raw) {
      if (admit(item)) scratch.candidates.push_back(item);
    }
    const bool exhausted = scratch.raw.size() < options_.num_candidates;
    if (scratch.raw.empty() || (scratch.candidates.size() < k && !exhausted)) {
      scratch.candidates.clear();
      for (ItemId item = 0; item < num_items; ++item) {
        if (admit(item)) scratch.candidates.push_back(item);
      }
    }
  };

  std::vector<std::pair<ItemId, float>> ranked;
  gather(model, list_k, want);
  RankCandidates(model, user, want, rerank ? &plan : nullptr, request.explain, &scratch, &ranked);
  // The probability of each listed item; 1 without exploration (scratch: no allocation per
  // request).
  std::vector<double>& probabilities = scratch.probabilities;
  probabilities.assign(ranked.size(), 1.0);
  if (explore.active()) {
    scratch.pool.clear();
    for (const auto& [item, score] : ranked) scratch.pool.push_back(PoolItem{item, score});
    uint64_t id = 0;
    LIVEREC_CHECK(ParseRecommendationId(out.recommendation_id, &id));
    Explore(explore, scratch.pool, list_k, DeriveSeed(id, kExploreSalt), &scratch.shown);
    ranked.clear();
    probabilities.clear();
    for (const ShownItem& shown : scratch.shown) {
      ranked.emplace_back(shown.item, shown.score);
      probabilities.push_back(shown.probability);
    }
  }
  const size_t own = ranked.size();
  for (size_t i = 0; i < own; ++i) {
    ScoredItem& scored = out.items.emplace_back();
    scored.item = state_.items().Key(ranked[i].first);
    scored.score = ranked[i].second;
    scored.probability = probabilities[i];
  }
  if (request.explain && model.capabilities.members != nullptr) {
    ExplainMembers(model, scratch, ranked, out.items.data());
  }
  // A short list (a user whose recent items have few neighbours) is filled up from the
  // fallback model, as a shop fills an empty shelf with best sellers. The fill continues the
  // re-ranked list: the items above it count toward the category cap and the diversity term.
  if (own < list_k && model.model != fallback.model) {
    for (const auto& [item, score] : ranked) excluded[item] = 1;
    scratch.listed.clear();
    for (const auto& [item, score] : ranked) scratch.listed.push_back(item);
    plan.options.continues = scratch.listed;
    gather(fallback, list_k - own, list_k - own);
    RankCandidates(fallback, user, list_k, rerank ? &plan : nullptr, false, &scratch, &ranked);
    for (size_t i = 0; i < own; ++i) excluded[ranked[i].first] = 0;
    for (size_t i = own; i < ranked.size(); ++i) {
      ScoredItem& scored = out.items.emplace_back();
      scored.item = state_.items().Key(ranked[i].first);
      scored.score = ranked[i].second;
      scored.backfill = true;
    }
  }
  for (ItemId item : consumed) excluded[item] = 0;
  for (ItemId item : unwanted) excluded[item] = 0;
  const size_t skipped = std::min(request.offset, out.items.size());
  if (request.explain) {
    for (size_t i = skipped; i < ranked.size(); ++i) {
      Explain(user, ranked[i].first, &out.items[i]);
    }
  }
  out.items.erase(out.items.begin(), out.items.begin() + static_cast<std::ptrdiff_t>(skipped));
  return out;
}

StatusOr<Recommendations> Recommender::Interleave(const RecommendRequest& request,
                                                  const ExperimentSpec& spec) const {
  // Each arm's own list, as the arm would serve it alone (naming a model skips assignment).
  std::array<Recommendations, 2> lists;
  std::array<std::vector<std::string>, 2> keys;
  for (size_t t = 0; t < 2; ++t) {
    const ExperimentArm& arm = spec.arms[t];
    RecommendRequest own = request;
    own.model = arm.model;
    own.explore.clear();  // the draft is the list's randomness
    if (arm.diversity) own.diversity = *arm.diversity;
    if (arm.category_cap) own.category_cap = *arm.category_cap;
    LIVEREC_ASSIGN_OR_RETURN(lists[t], Recommend(own));
    for (const ScoredItem& item : lists[t].items) keys[t].push_back(item.item);
  }
  Recommendations out;
  out.recommendation_id = NewRecommendationId();
  out.model = lists[0].model + "+" + lists[1].model;
  out.fallback = lists[0].fallback && lists[1].fallback;
  out.model_version = lists[0].model_version;
  out.experiment = spec.name;
  out.explore = std::string(kTeamDraftPolicy);
  uint64_t id = 0;
  LIVEREC_CHECK(ParseRecommendationId(out.recommendation_id, &id));
  for (const DraftedItem& drafted :
       TeamDraft({keys[0], keys[1]}, request.k, DeriveSeed(id, kInterleaveSalt))) {
    ScoredItem& item = out.items.emplace_back(std::move(lists[drafted.team].items[drafted.index]));
    item.probability = drafted.probability;
    item.team = spec.arms[drafted.team].name;
  }
  return out;
}

StatusOr<std::vector<ScoredItem>> Recommender::Similar(const std::string& item, size_t k) const {
  if (k == 0 || k > options_.max_k) {
    return InvalidArgument("k: expected 1.." + std::to_string(options_.max_k) + ", got " +
                           std::to_string(k));
  }
  const ServingModel nearest = state_.FindModelOffering(
      [](const ModelCapabilities& c) { return c.nearest_items != nullptr; });
  if (!nearest) return FailedPrecondition("similar items need an item_knn model");
  const ItemId id = state_.items().Find(item);
  if (id == kInvalidId) return NotFound("item '" + item + "' is unknown");
  std::vector<std::pair<ItemId, float>> neighbours;
  // Over-fetch so that items no longer recommendable can be dropped.
  nearest.capabilities.nearest_items->Similar(
      id, kSimilarOverFetchFactor * k + kSimilarOverFetchMargin, &neighbours);
  std::vector<ScoredItem> out;
  for (const auto& [other, sim] : neighbours) {
    if (out.size() == k) break;
    if (!state_.Recommendable(other)) continue;
    ScoredItem& scored = out.emplace_back();
    scored.item = state_.items().Key(other);
    scored.score = sim;
  }
  return out;
}

StatusOr<UserInfo> Recommender::GetUser(const std::string& user, size_t max_recent) const {
  const UserId id = state_.users().Find(user);
  if (id == kInvalidId) return NotFound("user '" + user + "' is unknown");
  UserInfo info;
  info.user = user;
  info.num_events = state_.history().NumEvents(id);
  if (const UserMetadata* meta = state_.UserMeta(id)) info.metadata = *meta;
  if (const std::vector<RecentEvent>* recent = state_.Recent(id)) {
    for (auto it = recent->rbegin(); it != recent->rend() && info.recent.size() < max_recent;
         ++it) {
      info.recent.emplace_back(state_.items().Key(it->item), it->time_ms);
    }
  }
  return info;
}

StatusOr<ItemInfo> Recommender::GetItem(const std::string& item) const {
  const ItemId id = state_.items().Find(item);
  if (id == kInvalidId) return NotFound("item '" + item + "' is unknown");
  ItemInfo info;
  info.item = item;
  if (const ItemMetadata* meta = state_.ItemMeta(id)) {
    info.has_metadata = true;
    info.metadata = *meta;
  }
  info.recommendable = state_.Recommendable(id);
  return info;
}

}  // namespace liverec
