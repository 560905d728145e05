// EnsembleModel: several member models fused into one score, with member weights learned online
// from each member's prequential reward.
//
// Members. The ensemble owns its members, created through CreateModel from the option
// ensemble.members ("popularity,item_knn,mf,fm": instance names NAME or NAME:TYPE as replay's
// --models spells them); each member reads its own options (<name>.<field> over <type>.<field>)
// and gets the ensemble's Context, so a member learns exactly what a standalone model of the same
// instance would. Learn goes to every member; Observe, ForgetUser, SetFeatureSource and
// ForgetHistory to every member that offers them (model/capabilities.h); iterative() and
// ordered_epochs() are true when any member's is. Members cannot be ensembles.
// Background learning (train/online_trainer.h) does not reach the members: a judgement scores
// a member caught up with every event before it, so members learn inline, on the ensemble's
// threads (LearnBatch).
//
// Reward. An event is judged test-then-train: each member is scored on it before that member
// learns it. The judgement estimates where each member would rank the event's item in a full
// ranking, from S sampled negatives (ensemble.reward_samples), at O(members x S) scores per
// judged event instead of a catalogue ranking. Only a fraction of the eligible events is
// judged (ensemble.judge_rate, drawn from the event's own generator), since judging costs more
// than the members' learning together. The universe is the distinct items of the last P
// positive events (ensemble.reward_pool, a ring): what replay and the server rank against. Each
// negative is drawn, with probability 1/2 each, from the ring's events (by recent popularity:
// the items that compete for the top on news) or uniformly from its distinct items (so that a
// member that ranks stale items high is caught), i.e. with probability
//   q(j) = c(j) / 2P + 1 / 2N,   c(j) = copies of j in the ring, N = distinct items,
// and the full rank is estimated without bias (Horvitz-Thompson) as
//   rank_m = sum over negatives j of [s_m(j) > s_m(item)] / (S q(j)), ties counting 1/2;
//   reward_m = 1 when rank_m < K (ensemble.reward_k), else 0: an estimated top-K hit.
// Both halves matter. Drawn by popularity alone, the negatives miss the stale items a member
// ranks high, and on Globo news item_knn, the weakest member in full ranking, won (Recall@10
// 0.39); drawn uniformly, they are mostly easy, and fm won where popularity ranks better.
// Negatives equal to the item or among the user's last H distinct items (ensemble.
// reward_history) are redrawn, as replay and the server never rank an item the user consumed.
//
// Batches. A member's reward depends only on its own state and the judgement's items, and the
// weights feed serving, not learning, so LearnBatch lets each member run through the batch on a
// thread of its own (judging, then learning, event by event), and applies the weight updates
// in event order afterwards: the state equals that of Learn on each event, bit for bit.
//
// Weights (Hedge, Freund & Schapire 1997). Users fall into segments by how many distinct items
// they consumed before (ensemble.segments: "5" = users with 1-4 items, users with 5 or more),
// each segment with weights of its own, since the best mix differs: on news the trend serves
// users with little history, personal signals the others. A judged event moves its user's
// segment: w_m *= exp(eta * reward_m) (ensemble.learning_rate), normalized to sum 1, raised to at
// least the floor phi / members (ensemble.weight_floor = phi) and normalized again. Hedge tracks
// the best single member: over a long stream the weights concentrate on whichever member leads,
// and the floor is what keeps the others in the mix, which is where fusion gains (measured:
// MovieLens-100K and a Globo prefix both gain most at phi 0.4 to 0.8). It also lets a member
// that fell behind come back within a few hundred events when the stream drifts its way.
// Judged are events with weight > 0 whose item the user has not consumed before and whose user
// had an earlier positive event (a known user). A first-time user is not judged: every
// personalized member falls back to its user-free default for them, so the event only measures
// ranking without history; first-time users are scored with the first segment's weights, those
// of the users closest to them. Events with weight < 0 are learned but never judged.
//
// Fusion (Score), ensemble.fusion, with the weights of the user's segment:
//   weighted  sum_m w_m z_m(i), z_m the member's scores standardized over the request's items:
//             (s - mean) / std over its finite (not kUnscored) scores; a kUnscored item takes
//             the member's minimum; a member with constant scores adds 0.
//   rrf       sum_m w_m / (ensemble.rrf_k + rank_m(i)) (Cormack et al. 2009), rank_m(i) =
//             1 + #{items member m scores strictly higher} among the request's items, counted
//             only for the member's top ensemble.rrf_depth ranks (ties at the cut included);
//             items below them get 0 from that member. O(n + depth log depth) per member.
// An item that every member scores kUnscored scores kUnscored. With ensemble.learn_weights off
// no reward is computed and every member weighs 1 / members.
//
// Candidates: the union of the members' candidates, taken round-robin from each member's list
// (members by the user's weights, heaviest first) up to n. Members without candidates (mf, fm)
// only rerank; no member with candidates means none.
//
// Determinism: the negatives of the n-th learned event come from a Random seeded by
// DeriveSeed(reward seed, n), the reward seed derived from context.seed. Save writes the weights,
// the reward state (seed, counts, ring, histories) and each member's own bytes (their type tags
// and versions inside), so save -> load -> continue equals an uninterrupted run bit for bit.
//
// Cost: Learn = the members' Learn + judge_rate x members x (S + 1) item scores. Score = the
// members' Score + O(members x items). Thread safety: as Model. Score keeps its scratch in
// thread_local buffers.
#ifndef LIVEREC_MODEL_ENSEMBLE_ENSEMBLE_H_
#define LIVEREC_MODEL_ENSEMBLE_ENSEMBLE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/random.h"
#include "common/serialize.h"
#include "event/event.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "liverec/status.h"
#include "model/capabilities.h"
#include "model/model.h"

namespace liverec {

enum class EnsembleFusion : uint8_t { kWeighted = 0, kRrf = 1 };

// The knobs of an ensemble (one per ensemble.* option but the member list).
struct EnsembleSettings {
  EnsembleFusion fusion = EnsembleFusion::kWeighted;
  bool learn_weights = true;
  double learning_rate = 0.05;     // eta > 0
  double weight_floor = 0.6;       // phi in [0, 1): each member keeps >= phi / members
  uint32_t reward_samples = 100;   // >= 1
  double judge_rate = 0.1;         // in (0, 1]: the fraction of eligible events judged
  double reward_k = 10;            // > 0
  uint32_t reward_pool = 100000;   // >= 1
  uint32_t reward_history = 100;   // >= 1
  std::vector<uint32_t> segments;  // increasing bounds in (1, reward_history]; empty = one
  double rrf_k = 60;               // >= 0
  uint32_t rrf_depth = 100;        // >= 1

  // Reads every ensemble.* option but ensemble.members through `options`; InvalidArgument when
  // ensemble.segments does not parse or breaks the bounds above.
  static StatusOr<EnsembleSettings> FromOptions(const OptionView& options);
};

// One member of ensemble.members: its instance name, its type and the options written beside it.
struct EnsembleMemberSpec {
  std::string name;
  std::string type;
  std::vector<std::pair<std::string, std::string>> settings;  // (field, value), as written
};

// Parses ensemble.members: comma-separated NAME, NAME:TYPE or NAME:TYPE(field=value, ...), at
// least one; names of letters, digits and '_' and distinct, types known to the registry and not
// "ensemble"; each field an option of the type ("half_life" of popularity) with a valid value.
// A member's written options are its defaults: `--set NAME.field` still overrides them, and
// they override `--set TYPE.field` (pop_1h:popularity(half_life=1h) keeps its hour whatever
// popularity.half_life says). InvalidArgument (naming the member and, for a misspelt type, the
// closest known one) otherwise.
StatusOr<std::vector<EnsembleMemberSpec>> ParseEnsembleMembers(std::string_view text);

class EnsembleModel final : public Model,
                            public CandidateSource,
                            public HistoryObserver,
                            public UserForgetting,
                            public ItemForgetting,
                            public OrderedEpochs,
                            public FeatureAware,
                            public MemberList,
                            public RoundLearner {
 public:
  // Creates the members named by ensemble.members through CreateModel, each with
  // OptionView(options.options(), name, type) and `context`. InvalidArgument for a bad member
  // list or settings, or the error of a member's creation.
  static StatusOr<std::unique_ptr<EnsembleModel>> Create(const OptionView& options,
                                                         const Context& context);
  // Owns `members` (at least one; distinct names; no ensembles) and discovers what each
  // offers (their capabilities as given are ignored). The reward seed derives from `seed`.
  // Aborts on settings that Create would refuse.
  EnsembleModel(std::vector<ModelMember> members, const EnsembleSettings& settings, uint64_t seed);

  std::string_view type() const override { return "ensemble"; }
  // Judges the members on the event (see the header comment), then every member learns it.
  void Learn(const Event& event) override;
  // As Learn on each event; members learn on threads of their own when the batch is long.
  void LearnBatch(std::span<const Event> events) override;
  void Observe(const Event& event) override;
  void ForgetUser(UserId user) override;
  // Every member that offers ItemForgetting forgets the items; they leave the users' histories
  // and the reward pool (the rest of the ring keeps its order, so later draws do not depend on
  // which ids went).
  void ForgetItems(std::span<const ItemId> items) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  void Candidates(UserId user, size_t n, std::vector<ItemId>* out) const override;
  bool iterative() const override;
  bool ordered_epochs() const override;
  void ForgetHistory() override;
  void SetFeatureSource(const FeatureSource* source) override;
  std::unique_ptr<Model> Clone() const override;
  void Save(BinaryWriter* out) const override;
  // All or nothing: Corruption on foreign, truncated or inconsistent bytes (a member's included);
  // FailedPrecondition when saved with other members (names or types), another reward_pool,
  // reward_history or segments, or a member's own FailedPrecondition. On error the model is
  // unchanged.
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // The members in ensemble.members order. Pointers stay valid until the next Load.
  std::vector<MemberInfo> Members() const override;
  // The members themselves, in ensemble.members order; valid until the next Load.
  std::span<const ModelMember> members() const override { return members_; }
  // The member named `name`, or nullptr.
  const Model* FindMember(std::string_view name) const;
  size_t num_members() const { return members_.size(); }
  size_t num_segments() const { return settings_.segments.size() + 1; }
  // The segment whose weights score `user` (0 for users never seen).
  size_t SegmentOf(UserId user) const;
  // The weight of member m in segment s in Score now (1 / members without learn_weights).
  double weight(size_t segment, size_t m) const;
  // Events judged so far, in all segments.
  uint64_t judged_events() const override;
  const EnsembleSettings& settings() const { return settings_; }

  // Score, and why it gave what it gave: writes the scores to out[i] as Score does and
  // parts[m * items.size() + i] = member m's term in the score of items[i] (its weighted z-score
  // or reciprocal rank; 0 where it adds nothing). out[i] is the sum of the terms in member order,
  // bit for bit, except for items every member leaves kUnscored. `parts` may be null (Score).
  void ScoreWithContributions(UserId user, std::span<const ItemId> items, float* out,
                              float* parts) const override;

  // Rounds (RoundLearner): members that offer rounds (mf, fm) exchange their shared
  // parameters; count members are kept whole: they learn the partition's events as they come
  // and the other partitions' at each round's end. The weights, rewards, the ring of recent
  // items and the users' histories stay with the partition.
  Status CheckRounds() const override;
  void BeginRound() override;
  void SaveRoundDelta(BinaryWriter* out) const override;
  Status CheckRoundDelta(std::string_view delta) const override;
  Status EndRound(std::span<const std::string_view> deltas, std::span<const Event> others) override;
  // Each member ends it from its counterpart in `ended` (an EnsembleModel of the same members).
  Status EndRoundFrom(const RoundLearner& ended, std::span<const std::string_view> deltas,
                      std::span<const Event> others) override;

 private:
  // Deep copies (Clone) and whole-state moves (Load).
  EnsembleModel(const EnsembleModel& other);
  EnsembleModel& operator=(EnsembleModel&& other) = default;

  // One judged event of a batch: its ranked items (the event's item, then the negatives) are
  // judge_items_[first, first + count), and judge_weights_ holds each negative's weight at the
  // same position.
  struct Judgement {
    size_t event;      // position in the batch
    uint32_t segment;  // the user's segment before the event
    size_t first;
    size_t count;
  };
  // The sequential part of learning `event`, the batch's index-th: decides whether it is
  // judged and if so appends its Judgement (with its items and weights), then records the
  // event in the ring and the user's history.
  void Prepare(const Event& event, size_t index);
  // Member m's reward on a judgement of `user`'s event (1 for an estimated top-K hit), with
  // `scores` as scratch.
  double Reward(size_t m, UserId user, const Judgement& judgement,
                std::vector<float>* scores) const;
  // Moves the weights of the judgement's segment by the members' rewards (Hedge).
  void UpdateWeights(const Judgement& judgement, const double* rewards);
  // Appends the judgement's negatives to judge_items_ (after the event's item, at `first`) and
  // their weights 1 / (S q(j)) to judge_weights_; seen_ holds the user's sorted history.
  void DrawNegatives(const Event& event, size_t first, Random* random);
  // EndRound, and with `ended` (its members checked to match) EndRoundFrom: each member with
  // rounds ends it (from its counterpart in `ended`), the others learn `others`.
  Status EndMembersRound(const EnsembleModel* ended, std::span<const std::string_view> deltas,
                         std::span<const Event> others);
  // Checks a round delta and, when by_member is not null, appends each member's part of it to
  // (*by_member)[m] (members with rounds only).
  Status SplitRoundDelta(std::string_view delta,
                         std::vector<std::vector<std::string_view>>* by_member) const;
  // Records a positive item of `user` in the user's recent distinct items.
  void RecordHistory(UserId user, ItemId item);
  // Appends `item` to the ring, evicting the oldest when full; keeps distinct_ in step.
  void PushToPool(ItemId item);
  // Derives pool_slots_ from pool_ and distinct_; false when they disagree.
  bool IndexPool();

  std::vector<ModelMember> members_;  // each with its capabilities
  EnsembleSettings settings_;

  // Reward state (all of it saved).
  uint64_t reward_seed_;
  uint64_t num_learned_ = 0;  // Learn calls; picks the negatives' generator
  // Per segment s and member m, at s * members + m: the weights (summing to 1 per segment) and
  // the rewards summed over the segment's judged events.
  std::vector<double> weights_;
  std::vector<double> reward_sums_;
  std::vector<uint64_t> judged_;  // events judged per segment
  std::vector<ItemId> pool_;      // items of the last reward_pool positive events (a ring)
  uint64_t pool_next_ = 0;        // where the next item goes once the ring is full
  // The distinct items of pool_, in the order uniform draws index them. Saved rather than
  // derived: its order follows the ring's history, and draws depend on it.
  std::vector<ItemId> distinct_;
  // Per user, the last reward_history distinct positive items, oldest first.
  std::vector<std::vector<ItemId>> histories_;

  // Derived from pool_ and distinct_ (not saved): per item id, its copies in the ring and, when
  // it has any, its position in distinct_.
  struct PoolSlot {
    uint32_t count = 0;
    uint32_t index = 0;
  };
  std::vector<PoolSlot> pool_slots_;  // by item id

  // Scratch of a batch (not state): its judgements, their items and weights, the history of
  // the user being judged (sorted), and the rewards at [judgement * members + m].
  std::vector<Judgement> pending_;
  std::vector<ItemId> judge_items_;
  std::vector<double> judge_weights_;
  std::vector<ItemId> seen_;
  std::vector<double> rewards_;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_ENSEMBLE_ENSEMBLE_H_
