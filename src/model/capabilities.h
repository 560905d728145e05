// Capabilities: what only some models can do, as narrow interfaces beside Model (model.h).
//
// A model offers a capability by inheriting its interface (class MfModel final : public Model,
// public UserForgetting, public UnitItemSimilarity). What a model offers is discovered once,
// when its owner opens it (creates, clones or loads it into a new object): DiscoverCapabilities
// fills a ModelCapabilities of non-owning pointers into the model, which the owner keeps beside
// it (the engine's ModelSlot, an ensemble's members, a replay run). A null pointer means the
// model does not offer that capability: the caller skips the step or reports what is missing,
// and never reaches for the concrete type.
//
// Which model offers what:
//   popularity  CandidateSource, ItemForgetting
//   item_knn    CandidateSource, HistoryObserver, UserForgetting, ItemForgetting,
//               UnitItemSimilarity (knn), RawItemSimilarity, NearestItems
//   transitions CandidateSource, HistoryObserver, UserForgetting, ItemForgetting
//   mf          UserForgetting, ItemForgetting, UnitItemSimilarity (embedding),
//               EmbeddingRetrieval, RoundLearner
//   fm          HistoryObserver, UserForgetting, ItemForgetting, FeatureAware, FeatureExplainer,
//               RoundLearner
//   seq         HistoryObserver, UserForgetting, ItemForgetting, OrderedEpochs
//   ensemble    CandidateSource, HistoryObserver, UserForgetting, ItemForgetting, OrderedEpochs,
//               FeatureAware, MemberList, RoundLearner
//
// Thread safety: as Model. Const methods may run concurrently with Score; the others are part
// of learning (the engine calls them under its state's write lock).
#ifndef LIVEREC_MODEL_CAPABILITIES_H_
#define LIVEREC_MODEL_CAPABILITIES_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/serialize.h"
#include "event/event.h"
#include "liverec/status.h"
#include "model/model.h"

namespace liverec {

class FeatureSource;

// The first stage of two-stage serving.
class CandidateSource {
 public:
  // Appends to *out at most `n` items worth scoring for `user`, without repeats, best first
  // when the model can tell; every item appended is one the model has learned. The caller then
  // ranks these with Score instead of the whole catalogue, so they should hold the model's own
  // top n. Appending nothing means "no opinion: score everything" (an ensemble whose members
  // offer no candidates). Cost should stay well below scoring the catalogue.
  virtual void Candidates(UserId user, size_t n, std::vector<ItemId>* out) const = 0;

 protected:
  ~CandidateSource() = default;
};

// A model whose scores read the user's recent items.
class HistoryObserver {
 public:
  // Records an event as context for scoring without learning from it: what a frozen model
  // still sees at serving time. Updates the user's history and leaves the learned parameters
  // alone. Learn implies Observe.
  virtual void Observe(const Event& event) = 0;

 protected:
  ~HistoryObserver() = default;
};

// A model that holds something about each user (recent items, a row, counts).
class UserForgetting {
 public:
  // Forgets what the model holds about `user` alone, so that the id scores as a user never
  // seen, and learns as a new user from its next event: the engine hands the ids of users idle
  // past engine.user_idle_ttl to new users. What their events taught shared parameters (item
  // rows, co-occurrences, popularity, and fm's hashed user row, which a new owner shares as it
  // would a hash collision) stays. An id the model never saw is left alone.
  virtual void ForgetUser(UserId user) = 0;

 protected:
  ~UserForgetting() = default;
};

// A model that holds something about each item (counts, neighbour lists, rows).
class ItemForgetting {
 public:
  // Forgets what the model holds about each of `items` alone, so that the id scores as an item
  // never learned would (kUnscored where the model leaves those unscored; an embedding row
  // back at its initial value, optimizer state and bias included) and learns as a new item
  // from its next event: the engine hands the ids of items idle past engine.item_idle_ttl to
  // new items. Every mention of the ids goes too: other items' neighbour and successor
  // entries naming them, and the users' recent items (windows, sequences), so that nothing of
  // the old item reaches the id's next owner. What the items' events taught shared parameters
  // (user rows, other items' counts, hashed metadata rows) stays. Ids never learned, and
  // repeats, are left alone. One call per batch: each call may pass over every user and
  // every neighbour list once.
  virtual void ForgetItems(std::span<const ItemId> items) = 0;
  void ForgetItem(ItemId item) { ForgetItems(std::span<const ItemId>(&item, 1)); }

 protected:
  ~ItemForgetting() = default;
};

// The ids of `items` as a membership table: out[i] != 0 for every i in items (resized to
// cover them; the entries of other ids 0). For ForgetItems implementations that pass over
// lists of ids.
void MarkItems(std::span<const ItemId> items, std::vector<uint8_t>* out);

// A model whose Learn reads each user's events in the order it has read them so far (seq).
class OrderedEpochs {
 public:
  // True when Learn must read each user's events in time order even during batch epochs,
  // because it learns from the sequence it has read so far. The batch trainer then feeds every
  // epoch in time order and calls ForgetHistory() before each epoch after the first; otherwise
  // iterative models get shuffled epochs. (An ensemble: true when any member's is.)
  virtual bool ordered_epochs() const = 0;
  // Clears the per-user history that Learn/Observe read (recent items), keeping every learned
  // parameter: the next epoch reads each user's sequence afresh.
  virtual void ForgetHistory() = 0;

 protected:
  ~OrderedEpochs() = default;
};

// A model that reads event context and item metadata features (fm).
class FeatureAware {
 public:
  // Gives the model the source of event context and item metadata features (model/
  // features.h). The caller keeps `source` alive while the model may use it and mutates it
  // only where it could also call Learn.
  virtual void SetFeatureSource(const FeatureSource* source) = 0;

 protected:
  ~FeatureAware() = default;
};

// What an item similarity is computed from. rank.similarity names them (SimilarityBasisName).
enum class SimilarityBasis : uint8_t {
  kEmbedding = 0,     // "embedding": the cosine of learned item vectors (mf)
  kCoOccurrence = 1,  // "knn": how often the items are consumed together (item_knn)
};

// The rank.similarity value that asks for `basis`: "embedding" or "knn".
std::string_view SimilarityBasisName(SimilarityBasis basis);

// A similarity of two items in [0, 1], for diversity re-ranking and the diversity metric.
class UnitItemSimilarity {
 public:
  virtual SimilarityBasis similarity_basis() const = 0;
  // Symmetric or not as the model's similarity is; 0 when either item is unknown.
  virtual float UnitSimilarity(ItemId a, ItemId b) const = 0;

 protected:
  ~UnitItemSimilarity() = default;
};

// The model's own similarity of two items, unbounded, for explanations ("because you watched
// X"): above 0 means related, and larger means more related.
class RawItemSimilarity {
 public:
  // 0 when the items are unrelated or either is unknown.
  virtual float Similarity(ItemId a, ItemId b) const = 0;

 protected:
  ~RawItemSimilarity() = default;
};

// The nearest items of an item (the similar-items endpoint).
class NearestItems {
 public:
  // Replaces *out with the top k neighbours of `item` and their similarity, by similarity
  // descending, ties by lower id. Empty for items never learned or without neighbours.
  virtual void Similar(ItemId item, size_t k, std::vector<std::pair<ItemId, float>>* out) const = 0;

 protected:
  ~NearestItems() = default;
};

// A feature-aware model that can say what each metadata feature adds to a score (fm).
class FeatureExplainer {
 public:
  // What `item`'s metadata adds to `user`'s score, feature by feature: out[j] (resized to the
  // number of features FeatureSource::ItemFeatures gives for the item, in its order) is the
  // j-th feature's term. Explanations name the largest. Empty when the model reads no features.
  virtual void ItemFeatureContributions(UserId user, ItemId item,
                                        std::vector<float>* out) const = 0;

 protected:
  ~FeatureExplainer() = default;
};

// A model whose score is an inner product (mf): for every user u and item i with a vector,
//   Score(u, i) = <query(u), vector(i)> + c(u)
// up to float rounding, c(u) a constant per user. A vector index (retrieval/) over the item
// vectors then finds a user's best items without scoring the catalogue: the recommender's
// candidate stage for such a model (which still ranks the candidates with Score).
class EmbeddingRetrieval {
 public:
  // Floats in a query and in an item vector.
  virtual size_t retrieval_dim() const = 0;
  // Writes the query of `user` (retrieval_dim() floats); for a user the model does not know,
  // the query that orders items as Score does for such a user.
  virtual void RetrievalQuery(UserId user, float* query) const = 0;
  // Writes the vector of `item` (retrieval_dim() floats) and returns true; false, writing
  // nothing, when Score gives the item kUnscored.
  virtual bool RetrievalVector(ItemId item, float* vector) const = 0;
  // Replaces *out with every item that has a vector now.
  virtual void RetrievalItems(std::vector<ItemId>* out) const = 0;
  // Part of learning (call it where Learn could be called). Replaces *out with the items whose
  // vector may have changed, gained or lost since the previous call, each once, and starts
  // the next list; returns false instead when the model cannot list them (the first call,
  // after Load, after rows changed owners): the caller then re-reads every item.
  virtual bool TakeChangedItems(std::vector<ItemId>* out) = 0;

 protected:
  ~EmbeddingRetrieval() = default;
};

// A model that can learn in rounds, partitioned (docs/cluster.md; model/partitioned.h is the
// one-process simulation). Each partition holds a copy and learns the events of its own users.
// At the end of a round, every copy's shared parameters (item rows, hashed feature rows, global
// terms, and the optimizer sums that add up) become their values at the round's start plus the
// partitions' changes over the round, added in partition order (or, where the model says so,
// mf, their mean over the partitions that moved a row), so every copy holds the same shared
// parameters again, bit for bit. What a partition keeps for itself and never exchanges: its
// users' rows, its generators and counters, what does not add up.
// Parts that learn cheaply and not by gradients (an ensemble's count members) are kept whole
// on every copy instead: they learn their own partition's events as they come, and at the
// round's end every other partition's events of the round, in partition order.
class RoundLearner {
 public:
  // Whether the model's settings allow rounds (mf: not with row admission; an ensemble: not
  // with a member that learns by gradients and offers no rounds); InvalidArgument naming what
  // stands in the way otherwise.
  virtual Status CheckRounds() const = 0;
  // Starts the first round: the shared parameters as they are now are its base.
  virtual void BeginRound() = 0;
  // Writes the change of the shared parameters since the round began.
  virtual void SaveRoundDelta(BinaryWriter* out) const = 0;
  // Ok when `delta` holds bytes SaveRoundDelta could write on a copy of this model; Corruption
  // naming what is wrong otherwise.
  virtual Status CheckRoundDelta(std::string_view delta) const = 0;
  // Ends the round and begins the next: the shared parameters become the round's base plus
  // deltas[0], deltas[1], ... in turn (each scaled as the model says), each what
  // SaveRoundDelta wrote on a copy in this round (this copy's own among them), and the parts
  // kept whole learn `others`, every other
  // partition's events of the round, in partition order. Corruption on bytes SaveRoundDelta
  // would not write, leaving the model as it was.
  virtual Status EndRound(std::span<const std::string_view> deltas,
                          std::span<const Event> others) = 0;
  // Ends the round as EndRound(deltas, others) would, given `ended`: another copy of the same
  // model (the same settings, another partition's) that has just ended this very round by
  // EndRound on the same `deltas`. The shared parameters are the same on every copy after a
  // round's end, so a model may take them from `ended` rather than add every delta again: a
  // node holding several copies then adds each round's deltas once. The result is EndRound's,
  // bit for bit; the deltas are not checked again. By default, EndRound.
  virtual Status EndRoundFrom(const RoundLearner& ended, std::span<const std::string_view> deltas,
                              std::span<const Event> others) {
    (void)ended;
    return EndRound(deltas, others);
  }

 protected:
  ~RoundLearner() = default;
};

class MemberList;
class StepLearner;

// What a model offers beyond Model: one non-owning pointer per capability, null when the model
// does not offer it. Valid while the model lives and is not replaced; a model's Load keeps its
// own capabilities, but a composite's Load replaces its members (MemberList). The mutating
// capabilities (observer, forgetting, epochs, features) are for the model's owner, who calls
// them where it could call Learn.
struct ModelCapabilities {
  const CandidateSource* candidates = nullptr;
  HistoryObserver* observer = nullptr;
  UserForgetting* forgetting = nullptr;
  ItemForgetting* item_forgetting = nullptr;
  OrderedEpochs* epochs = nullptr;
  FeatureAware* features = nullptr;
  const UnitItemSimilarity* unit_similarity = nullptr;
  const RawItemSimilarity* raw_similarity = nullptr;
  const NearestItems* nearest_items = nullptr;
  const FeatureExplainer* feature_explainer = nullptr;
  const MemberList* members = nullptr;
  StepLearner* step_learner = nullptr;      // model/step_learner.h: learning split into steps
  EmbeddingRetrieval* retrieval = nullptr;  // mutating only in TakeChangedItems
  RoundLearner* rounds = nullptr;
};

// What `model` offers. Call once per model object, where it is opened, and keep the result.
ModelCapabilities DiscoverCapabilities(Model& model);

// One member of a composite model: its instance name, its type, the model and what it offers
// (discovered when the member was created, cloned or loaded).
struct ModelMember {
  std::string name;
  std::string type;
  std::unique_ptr<Model> model;
  ModelCapabilities capabilities = {};
};

// What the server reads about a member.
struct MemberInfo {
  std::string_view name;
  std::string_view type;
  const Model* model;
  std::vector<double> weights;       // per segment: its weight in Score now
  std::vector<double> mean_rewards;  // per segment: over the judged events (0 before any)
};

// A model made of member models whose scores it fuses (the ensemble). Its members serve as
// models of their own too (model=item_knn, the popularity fallback).
class MemberList {
 public:
  // The members in configuration order, with their capabilities; valid until the next Load.
  virtual std::span<const ModelMember> members() const = 0;
  // The members with their current weights and rewards; pointers valid until the next Load.
  virtual std::vector<MemberInfo> Members() const = 0;
  // Score, and why it gave what it gave: writes the scores to out[i] as Score does and
  // parts[m * items.size() + i] = member m's term in the score of items[i] (0 where it adds
  // nothing). out[i] is the sum of the terms in member order, bit for bit, except for items
  // every member leaves kUnscored. `parts` may be null (Score).
  virtual void ScoreWithContributions(UserId user, std::span<const ItemId> items, float* out,
                                      float* parts) const = 0;
  // Events judged so far (on which the member weights learned), in all segments.
  virtual uint64_t judged_events() const = 0;

 protected:
  ~MemberList() = default;
};

// Whether a model offering `capabilities` has the item similarity rank.similarity=`name` asks
// for ("embedding" or "knn"; "category" is no model's). The one lookup of that option, for the
// engine's recommender and for replay alike.
bool OffersSimilarity(const ModelCapabilities& capabilities, std::string_view name);

}  // namespace liverec

#endif  // LIVEREC_MODEL_CAPABILITIES_H_
