// FmModel: a factorization machine (Rendle 2010) over hashed sparse features, learned online
// with logistic loss, one AdaGrad step per example.
//
// An example is one (user, item, context) with a label. Its features and their values x_f:
//   user side  the user id; when fm.use_context is on, the event's context pairs
//              (FeatureSource::EventFeatures), the hour of day and the day of week of time_ms
//              (UTC); all of value 1;
//   item side  the item id (value 1), and the item's n metadata features
//              (FeatureSource::ItemFeatures: categories, tags, text tokens) of value 1/n each,
//              so that the bag weighs as one feature, as much as the id. With value 1 a title's
//              tokens outweigh the id and the items sharing them move together: MovieLens-100K
//              online Recall@10 with u.item was 0.108 at value 1, 0.135 at 1/sqrt(n), 0.157
//              at 1/n.
// Every feature has a row of a table of 2^fm.hash_bits rows; row f holds w_f and v_f (fm.dim
// factors). Context and metadata features take the low bits of their FeatureHash, hours and
// weekdays of a hash of (kind tag, value). Ids are placed by kind rather than hashed: item i
// at row O + i and user u at row O - 1 - u (mod the table size, O a fixed origin), so user 7
// and item 7 differ, no two ids share a row until users + items exceed the table, and the
// candidates of a ranking sit in one run of rows, as in mf's item table, instead of one row
// per page (Globo, 200,000 events: 16.8 s with hashed ids, 9.7 s so). Rows are shared when
// hashes collide. The score
//   y = w0 + sum_f w_f x_f + sum_{f<g} <v_f, v_g> x_f x_g
// is computed in O(k n) with the square-of-sums identity sum_{f<g} = (|sum_f v_f x_f|^2 -
// sum_f |v_f x_f|^2) / 2, split into the user side U and the item side I:
//   y = w0 + lin(U) + pair(U) + lin(I) + pair(I) + <sum(U), sum(I)>,
// so scoring many items for one user computes the user side once. Feature occurrences count
// separately: a feature given twice (or two that collide in a row) interacts with itself.
//
// Learning. Loss: log(1 + exp(-y)) for label 1, log(1 + exp(y)) for label 0, plus
// reg / 2 * (w_f^2 + |v_f|^2) for each feature occurrence of the example (w0 is not
// regularized). An event with weight > 0 is a positive example, followed by fm.negatives items
// drawn uniformly from the items the model has learned (ids [0, max learned id], the positive
// excluded; none while fewer than two) as label-0 examples with the same user side; an event
// with weight < 0 (skip, dislike, an impression without a click) is one label-0 example of its
// own item and draws none; weight 0 only records the context. Every parameter of an example
// moves by AdaGrad from the gradient at the example's old values:
//   G += g^2,  theta -= learning_rate * g / sqrt(G),  G starting at kFmInitialAccumulator.
// AdaGrad rather than FTRL-proximal: FTRL's gain is L1 sparsity of a linear model's weights,
// which buys nothing in a preallocated hashed table and has no standard form for the factors;
// AdaGrad gives the same per-coordinate rates (rare features, such as a fresh article's id,
// take large steps; frequent ones small) with one accumulator per parameter and a plain step.
//
// Scoring. Score(user, items) has no request context, so the user side is the user's latest
// event (by time_ms, from Learn or Observe): its context pairs and time. A user never seen
// scores with no user side at all (w0 plus the item side), and a user seen only through
// Observe with context but no id feature. An item the model has learned gets its id and
// metadata features; an item never learned but with metadata gets a real score from its
// metadata alone (cold start); an item with neither scores kUnscored.
//
// Determinism: factor rows are initialized from N(0, init_std^2) seeded by (seed, row); the
// negatives of the n-th learned event come from a Random seeded by DeriveSeed(negative seed,
// n). Save writes every row a step has touched (the others are their initial values) and all
// per-user state, so save -> load -> continue equals an uninterrupted run bit for bit.
//
// Thread safety: as Model. The FeatureSource is read by Learn, Observe and Score.
#ifndef LIVEREC_MODEL_FM_FM_H_
#define LIVEREC_MODEL_FM_FM_H_

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "embed/embedding_table.h"
#include "embed/row_journal.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/features.h"
#include "model/model.h"

namespace liverec {

// The value an AdaGrad accumulator starts at: the first steps of a feature scale with its
// gradient (a step of learning_rate * g / 0.32) instead of being learning_rate * sign(g), which
// would throw a rare feature's factors around on the tiny gradients of an already-right example.
inline constexpr float kFmInitialAccumulator = 0.1f;

// One feature occurrence of an example: its table row and its value x_f.
struct FmFeature {
  uint32_t row = 0;
  float value = 1.0f;
  friend bool operator==(const FmFeature&, const FmFeature&) = default;
};

// The terms of one example, copied out of a model: what the loss and its gradient read.
struct FmTerms {
  float w0 = 0;
  std::vector<float> x;               // x_f per feature occurrence
  std::vector<float> w;               // w_f per occurrence
  std::vector<std::vector<float>> v;  // v_f per occurrence, all of the same size
};

// The gradient of FmLogLoss, L2 terms included.
struct FmGradient {
  float slope = 0;  // dLoss/dy without the L2 terms: sigmoid(y) - label
  float w0 = 0;
  std::vector<float> w;
  std::vector<std::vector<float>> v;
};

// y = w0 + sum_f w_f x_f + sum_{f<g} <v_f, v_g> x_f x_g, by the pairwise definition (not the
// square-of-sums identity), in double precision: the tests' oracle.
double FmScore(const FmTerms& terms);
// The logistic loss of `terms` for label 0 or 1 plus reg / 2 * sum_f (w_f^2 + |v_f|^2), in
// double precision.
double FmLogLoss(const FmTerms& terms, float label, float reg);
// Its gradient: dL/dw0 = slope, dL/dw_f = slope x_f + reg w_f,
// dL/dv_f = slope x_f (sum_g v_g x_g - v_f x_f) + reg v_f.
FmGradient FmLogLossGradient(const FmTerms& terms, float label, float reg);

// dLoss/dy of the logistic loss: sigmoid(y) - label. Finite for every y.
inline float LogisticSlope(float y, float label) { return 1.0f / (1.0f + std::exp(-y)) - label; }

class FmModel final : public Model,
                      public HistoryObserver,
                      public UserForgetting,
                      public ItemForgetting,
                      public FeatureAware,
                      public FeatureExplainer,
                      public RoundLearner {
 public:
  // Reads fm.dim, fm.hash_bits, fm.learning_rate, fm.regularization, fm.negatives,
  // fm.init_std and fm.use_context through `options`; seeds the table and the negatives from
  // context.seed. Allocates and initializes the whole table (2^hash_bits rows).
  FmModel(const OptionView& options, const Context& context);

  std::string_view type() const override { return "fm"; }
  // Requires event.user and event.item to be valid ids (not kInvalidId).
  void Learn(const Event& event) override;
  // Records the event's context and time as the user's latest (when not older than it).
  void Observe(const Event& event) override;
  void ForgetUser(UserId user) override;
  // The row of the item's id feature goes back to its initial factors, weight 0 and fresh
  // AdaGrad accumulators, as a row no step has touched. Metadata rows are shared and stay. A
  // row that the id shares with another id (users + items past the table) is reset for both,
  // as a collision shares what it learns.
  void ForgetItems(std::span<const ItemId> items) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  bool iterative() const override { return true; }
  void SetFeatureSource(const FeatureSource* source) override { features_ = source; }
  std::unique_ptr<Model> Clone() const override;
  void Save(BinaryWriter* out) const override;
  // Corruption on foreign, truncated or inconsistent bytes; InvalidArgument when the saved
  // dim, hash_bits or use_context differ from this model's options. On error the model is
  // unchanged.
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // The row a feature hash lands in.
  uint32_t Row(uint64_t hash) const { return static_cast<uint32_t>(hash & row_mask_); }
  size_t num_rows() const { return weights_.size(); }
  size_t dim() const { return dim_; }
  float bias() const { return bias_; }
  // w_f and v_f of a row; require row < num_rows().
  float weight(uint32_t row) const;
  std::span<const float> factors(uint32_t row) const;
  // The features of the training example (event's user side, `item`'s item side), user side
  // first: what Learn steps on for the event's own item and for a negative `item`.
  void ExampleFeatures(const Event& event, ItemId item, std::vector<FmFeature>* out) const;
  // Whether `user` has been learned from.
  bool knows_user(UserId user) const;
  // What `item`'s metadata adds to `user`'s score, feature by feature: out[j] (resized to the
  // number of features FeatureSource::ItemFeatures gives for the item, in its order) is
  // x_f (w_f + <v_f, sum of the user side's v_g x_g>), the feature's linear term and its
  // interaction with the user (the user side as Score builds it). Explanations name the
  // largest; the interactions among the item's own features are left out, being the same
  // for every user.
  void ItemFeatureContributions(UserId user, ItemId item, std::vector<float>* out) const override;

  // Rounds (RoundLearner): every row of the hashed table (v_f and w_f) and w0 are shared, users'
  // rows included, since a row may hold several users' and items' features, and each
  // partition's change is added whole; so are their AdaGrad accumulators, which are sums of squared
  // gradients and add up like the parameters: with them kept per partition, each partition's steps
  // stayed as large as a lone model's and the partitions' steps together overshot (MovieLens-100K
  // online, 16 partitions, rounds of a minute: Recall@10 0.126 against 0.158 for one model). The
  // users' times, counts and contexts and the negatives' counter stay with the partition. The items
  // learned become the most any partition learned. The round's base is not saved (as mf's).
  Status CheckRounds() const override { return Status::Ok(); }
  void BeginRound() override;
  void SaveRoundDelta(BinaryWriter* out) const override;
  Status CheckRoundDelta(std::string_view delta) const override;
  // `others` are not read: nothing of fm is kept whole.
  Status EndRound(std::span<const std::string_view> deltas, std::span<const Event> others) override;
  // Copies the shared parameters, whole tables at once, from `ended` (an FmModel).
  Status EndRoundFrom(const RoundLearner& ended, std::span<const std::string_view> deltas,
                      std::span<const Event> others) override;

 private:
  // The part of a score one feature set contributes on its own: lin = sum_f w_f x_f,
  // pair = sum_{f<g} <v_f, v_g> x_f x_g; sum = sum_f v_f x_f is written to a dim-sized buffer.
  struct Side {
    float lin = 0;
    float pair = 0;
  };

  // Appends the user side of an example from its parts: the id row when `with_id`, then the
  // context rows and the time rows of time_ms when use_context.
  void AppendUserSide(UserId user, bool with_id, std::span<const uint32_t> context_rows,
                      int64_t time_ms, std::vector<FmFeature>* out) const;
  // The metadata feature hashes of `item` (none without a source) into *hashes.
  void ItemMetadata(ItemId item, std::vector<uint64_t>* hashes) const;
  // Appends the item side: the id row when `with_id`, then the rows of `metadata` (the item's
  // ItemMetadata).
  void AppendItemSide(ItemId item, bool with_id, std::span<const uint64_t> metadata,
                      std::vector<FmFeature>* out) const;
  // The context rows of `event` (none without a source or with use_context off).
  void ContextRows(const Event& event, std::vector<uint32_t>* rows);
  Side SumSide(std::span<const FmFeature> features, float* sum) const;
  // Records the event's context as the user's latest when it is not older.
  void RecordContext(const Event& event, std::span<const uint32_t> context_rows);
  // The rows of the id features.
  uint32_t ItemRow(ItemId item) const;
  uint32_t UserRow(UserId user) const;
  // Prefetches the table row of `item`'s id feature.
  void PrefetchItemRow(ItemId item) const;
  // One AdaGrad step on the example (user side `user_side` + item side `item_side`).
  void Step(std::span<const FmFeature> user_side, std::span<const FmFeature> item_side,
            float label);

  // Options.
  size_t dim_;
  uint32_t hash_bits_;
  uint64_t row_mask_;
  float learning_rate_;
  float regularization_;
  uint32_t negatives_;
  bool use_context_;

  // State (all of it saved).
  uint64_t factor_seed_;
  float init_std_;
  EmbeddingTable factors_;          // v_f, one row per table row
  std::vector<float> weights_;      // w_f
  std::vector<float> factor_sums_;  // AdaGrad accumulators of v: row * dim + k
  std::vector<float> weight_sums_;  // AdaGrad accumulators of w
  std::vector<uint8_t> touched_;    // 1 for rows a step has moved (Save writes only those)
  float bias_ = 0;                  // w0
  float bias_sum_ = kFmInitialAccumulator;
  uint32_t num_items_ = 0;             // items learned: ids below it
  std::vector<int64_t> user_time_ms_;  // time of the user's latest event; kNeverMs if none
  std::vector<uint32_t> user_events_;  // events learned per user, saturating
  std::vector<std::vector<uint32_t>> user_context_;  // context rows of the latest event
  uint64_t negative_seed_;
  uint64_t num_learned_ = 0;  // events learned; picks the negatives' generator

  const FeatureSource* features_ = nullptr;  // not owned, not state

  // Before a change of table row `row` (or of w0: row num_rows()): records it in the round.
  void JournalRow(uint32_t row) {
    if (round_.active() && !round_.Contains(row)) GatherRow(row, round_.Add(row));
  }
  // The journal's view of a row: v_f, w_f, then their accumulators; of row num_rows(): w0 and
  // its accumulator, then zeros.
  void GatherRow(uint32_t row, float* out) const;
  void ScatterRow(uint32_t row, const float* values);
  // The rows moved in the current round, with their values at its start (not state).
  RowJournal round_{2 * (dim_ + 1)};

  // Scratch of Learn (not state).
  std::vector<uint64_t> hashes_;
  std::vector<uint32_t> context_rows_;
  std::vector<FmFeature> user_side_;
  std::vector<FmFeature> item_side_;
  std::vector<float> user_sum_;
  std::vector<float> item_sum_;
  std::vector<float> grads_;
  std::vector<ItemId> negatives_drawn_;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_FM_FM_H_
