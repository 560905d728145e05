// MfModel: matrix factorization learned online, one SGD step per event (plus sampled negatives).
//
// Two modes (option mf.mode):
//   implicit  s(u, i) = <p_u, q_i>, plus b_i when mf.item_bias is on. Every event is a positive;
//             its value is ignored.
//             loss=squared (ISGD, Vinagre et al. 2014): one step toward 1 on (u, i), then
//             `negatives` steps toward 0 on (u, j). loss=bpr (Rendle et al. 2009): per negative
//             j one pairwise logistic step on x = s(u, i) - s(u, j) (no negatives, no step).
//             j is uniform over the items with a row, minus i; no negatives are drawn while
//             fewer than two items have rows. With mf.exclude_consumed, j is also drawn again
//             (up to 8 draws in all) while it is an item the user consumed before: the model
//             keeps each user's positives as a sorted list of item ids (the user row's; it is
//             cleared when the row starts over, and a forgotten item leaves every list).
//   rating    s(u, i) = mu + b_u + b_i + <p_u, q_i>, mu the running mean of every value learned
//             (this event's included); one squared-loss step toward the event's value.
// Each step applies L2 regularization to the rows and biases it touches.
//
// Rows (embed/row_admission.h, one RowAdmission for users and one for items): with the default
// mf.min_count 1 and mf.idle_ttl 0, row = id and the tables grow to cover every id learned (ids
// below it get rows too, initialized but not learned). Otherwise memory stays bounded on
// endless id streams: an id gets a row on its min_count-th event (earlier events are only
// counted, and an event is learned only when both its user and its item have rows), and a row
// not touched by an event for longer than idle_ttl of stream time (Event::time_ms) is evicted
// and later reused. A row given to an id starts as that id's row in a fresh model would
// (factors initialized from (seed, id), biases and counts zero).
//
// Scoring: a user never learned from (or without a row) scores b_i (+ mu in rating mode), the
// model's best guess without personal data; an item without a row scores kUnscored.
//
// Determinism: negatives of the n-th learned event come from a Random seeded by
// DeriveSeed(negative seed, n); the seed and n are saved, so save -> load -> continue equals an
// uninterrupted run bit for bit, given the same options.
//
// Retrieval (EmbeddingRetrieval): query(u) = [p_u, 1] ([0, 1] for a user it does not know) and
// vector(i) = [q_i, b_i], so Score = offset + b_u + <query, vector>. Learning notes each item
// row it moves (one byte per row) for TakeChangedItems.
//
// Thread safety: as Model.
#ifndef LIVEREC_MODEL_MF_MF_H_
#define LIVEREC_MODEL_MF_MF_H_

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "embed/embedding_table.h"
#include "embed/row_admission.h"
#include "embed/row_journal.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/model.h"

namespace liverec {

// The loss of one training pair and its gradient, L2 terms included. Learn takes exactly
// these steps (parameter -= learning_rate * gradient); tests check them against finite
// differences.
struct PairGradient {
  // dLoss/dScore for the squared loss, dLoss/dx for BPR; without the L2 terms.
  float slope = 0;
  std::vector<float> p;    // dL/dp_u
  std::vector<float> q_i;  // dL/dq_i
  std::vector<float> q_j;  // dL/dq_j (BPR only; empty otherwise)
  float b_u = 0;
  float b_i = 0;
  float b_j = 0;  // BPR only
};

// The squared loss of one pair:
//   L = (s - target)^2 / 2 + reg / 2 * (|p|^2 + |q|^2 + b_u^2 + b_i^2),
//   s = offset + b_u + b_i + <p, q>.
// Rating mode: offset = mu. Implicit mode: offset = 0, b_u = 0 (and its gradient unused).
// p and q have the same size. Evaluated in double precision.
double SquaredPairLoss(std::span<const float> p, std::span<const float> q, float b_u, float b_i,
                       float offset, float target, float reg);
PairGradient SquaredPairGradient(std::span<const float> p, std::span<const float> q, float b_u,
                                 float b_i, float offset, float target, float reg);

// The BPR loss of a positive i and a negative j:
//   L = log(1 + exp(-x)) + reg / 2 * (|p|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2),
//   x = b_i - b_j + <p, q_i> - <p, q_j>.
// Evaluated in double precision.
double BprPairLoss(std::span<const float> p, std::span<const float> q_i, std::span<const float> q_j,
                   float b_i, float b_j, float reg);
PairGradient BprPairGradient(std::span<const float> p, std::span<const float> q_i,
                             std::span<const float> q_j, float b_i, float b_j, float reg);

// dLoss/dScore of the squared loss.
inline float SquaredSlope(float score, float target) { return score - target; }
// dLoss/dx of the BPR loss: -sigmoid(-x). Finite for every x (exp overflow gives 0).
inline float BprSlope(float x) { return -1.0f / (1.0f + std::exp(x)); }

class MfModel final : public Model,
                      public UserForgetting,
                      public ItemForgetting,
                      public UnitItemSimilarity,
                      public EmbeddingRetrieval,
                      public RoundLearner {
 public:
  // Reads mf.dim, mf.mode, mf.loss, mf.learning_rate, mf.regularization, mf.negatives,
  // mf.item_bias, mf.exclude_consumed, mf.init_std, mf.min_count and mf.idle_ttl through
  // `options`; seeds every table and
  // generator from context.seed.
  MfModel(const OptionView& options, const Context& context);

  std::string_view type() const override { return "mf"; }
  // Requires event.user and event.item to be valid ids (not kInvalidId) and, in rating mode, a
  // finite event.value (the edge validates values).
  void Learn(const Event& event) override;
  void ForgetUser(UserId user) override;
  // The item's row goes back to its initial value and its bias to 0 (row = id without
  // admission: a row a new id of that number would have), or, with admission, the row is
  // freed as by an eviction.
  void ForgetItems(std::span<const ItemId> items) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  bool iterative() const override { return true; }
  std::unique_ptr<Model> Clone() const override;
  void Save(BinaryWriter* out) const override;
  // Corruption on foreign, truncated or inconsistent bytes; InvalidArgument when the saved
  // dim or mode differs from this model's options, or when admission was on (min_count > 1 or
  // an idle TTL) in one and off in the other. Reads format version 1 (before admission) as
  // admission off, and versions 1 and 2 (before mf.exclude_consumed) with empty consumed
  // lists. On error the model is unchanged.
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // Factor tables: row user_row(u) of user_factors() is p_u, row item_row(i) of
  // item_factors() is q_i (row = id with admission off). Rows of evicted ids hold stale values.
  const EmbeddingTable& user_factors() const { return users_; }
  const EmbeddingTable& item_factors() const { return items_; }
  // The row of an id, or RowAdmission::kNoRow when it has none.
  uint32_t user_row(UserId user) const { return user_rows_.Find(user); }
  uint32_t item_row(ItemId item) const { return item_rows_.Find(item); }
  // The similarity of two items for the ranking stage: max(0, cosine of their rows), 0 when
  // either has no row (embed/embedding_table.h EmbeddingCosine).
  float ItemCosine(ItemId a, ItemId b) const;
  // ItemCosine: the ranking stage's embedding similarity.
  SimilarityBasis similarity_basis() const override { return SimilarityBasis::kEmbedding; }
  float UnitSimilarity(ItemId a, ItemId b) const override { return ItemCosine(a, b); }
  // EmbeddingRetrieval: dim + 1 floats, [p_u, 1] and [q_i, b_i].
  size_t retrieval_dim() const override { return dim_ + 1; }
  void RetrievalQuery(UserId user, float* query) const override;
  bool RetrievalVector(ItemId item, float* vector) const override;
  void RetrievalItems(std::vector<ItemId>* out) const override;
  bool TakeChangedItems(std::vector<ItemId>* out) override;
  // Rounds (RoundLearner): the shared parameters are the item rows and biases, and a row several
  // partitions moved in a round takes the mean of their changes (mf.cc says why); user rows,
  // the rating mean and the negatives' counter stay with the partition. Needs row = id
  // (mf.min_count 1, mf.idle_ttl 0), so that a row names the same item in every copy; a row a
  // delta names that this copy lacks is created as learning would create it, from its initial
  // value. The round's base is not saved: Save, Clone and Load carry no round, and a loaded copy
  // begins again with BeginRound at a round boundary.
  // A delta may name rows up to this many past this copy's table: the items other partitions
  // learned first in the round. Corruption beyond, so that a corrupt delta cannot make the
  // table grow without bound.
  static constexpr size_t kMaxNewRowsPerRound = size_t{1} << 20;
  Status CheckRounds() const override;
  void BeginRound() override;
  void SaveRoundDelta(BinaryWriter* out) const override;
  Status CheckRoundDelta(std::string_view delta) const override;
  // `others` are not read: nothing of mf is kept whole.
  Status EndRound(std::span<const std::string_view> deltas, std::span<const Event> others) override;
  // Which ids own which rows.
  const RowAdmission& user_rows() const { return user_rows_; }
  const RowAdmission& item_rows() const { return item_rows_; }
  // b_i; requires item to have a row.
  float item_bias(ItemId item) const;
  // b_u (always 0 in implicit mode); requires user to have a row.
  float user_bias(UserId user) const;
  // mu: the mean of every value learned in rating mode (0 before the first, and in implicit
  // mode).
  double global_mean() const { return rating_mean_; }
  // True when `user` has a row and has been learned from since it got it.
  bool knows_user(UserId user) const;

 private:
  enum class Mode : uint8_t { kImplicit = 0, kRating = 1 };
  enum class Loss : uint8_t { kSquared = 0, kBpr = 1 };

  // Touches the id in its RowAdmission at `time_ms` and, if it has a row, readies it: the
  // factor table and per-row arrays grow to the admission's rows, and a fresh row is reset to
  // the id's initial values. Returns the row or RowAdmission::kNoRow.
  uint32_t TouchUser(UserId user, int64_t time_ms);
  uint32_t TouchItem(ItemId item, int64_t time_ms);
  // mu in rating mode, 0 in implicit mode: the first term of every score.
  float offset() const;
  // One squared-loss step on p_u (the row `p`), the item row `item_row`, and the biases toward
  // `target`; b_u is null in implicit mode (no user bias).
  void SquaredStep(float* p, float* b_u, uint32_t item_row, float target);
  // One BPR step on p_u, the positive and negative item rows and (when learned) their biases.
  void BprStep(float* p, uint32_t positive_row, uint32_t negative_row);
  // Writes the scores of item rows[0, n) into out (kUnscored for rows >= the item table's,
  // kNoRow included); p is p_u, or null for a user the model does not know.
  void ScoreRows(const float* p, float base, const uint32_t* rows, size_t n, float* out) const;
  // Notes that item row `row` moved, for TakeChangedItems.
  // Called before each change of the row; records it in the round's journal too.
  void MarkItemChanged(uint32_t row) {
    if (round_.active() && !round_.Contains(row)) GatherItem(row, round_.Add(row));
    if (item_changed_[row] != 0) return;
    item_changed_[row] = 1;
    changed_item_rows_.push_back(row);
  }
  // The round journal's view of item row `row`: q_i, then b_i (dim + 1 floats).
  void GatherItem(uint32_t row, float* out) const;
  void ScatterItem(uint32_t row, const float* values);
  // Whether the user row learned `item` as a positive (mf.exclude_consumed), and noting it.
  bool Consumed(uint32_t user_row, ItemId item) const;
  void NoteConsumed(uint32_t user_row, ItemId item);
  size_t ConsumedBytes() const;
  // Whether steps move the item biases: always in rating mode, by option in implicit mode.
  bool learns_item_bias() const { return mode_ == Mode::kRating || item_bias_in_implicit_; }

  // Options.
  size_t dim_;
  Mode mode_;
  Loss loss_;
  float learning_rate_;
  float regularization_;
  uint32_t negatives_;
  bool item_bias_in_implicit_;
  bool exclude_consumed_;

  // State (all of it saved). The tables and vectors are indexed by row.
  RowAdmission user_rows_;
  RowAdmission item_rows_;
  EmbeddingTable users_;
  EmbeddingTable items_;
  std::vector<float> user_bias_;
  std::vector<float> item_bias_;
  std::vector<uint32_t> user_events_;  // events learned per user row, saturating
  // Per user row, the ids of the items it learned as positives, ascending; kept only with
  // mf.exclude_consumed (may be shorter than the user table: missing lists are empty).
  std::vector<std::vector<ItemId>> consumed_;
  double rating_mean_ = 0;
  uint64_t rating_count_ = 0;
  uint64_t negative_seed_;
  uint64_t num_learned_ = 0;  // events learned; picks the negatives' generator

  // Scratch for BPR (the old p_u); not state.
  std::vector<float> scratch_;
  // Item rows moved since the last TakeChangedItems (not state): a flag per row and the list.
  // all_items_changed_ stands for every row (nothing listed yet, a Load, an eviction).
  std::vector<uint8_t> item_changed_;
  std::vector<uint32_t> changed_item_rows_;
  // Ids whose row ForgetItems freed (admission on), listed by TakeChangedItems: their rows may
  // have no owner, or another one, by then.
  std::vector<ItemId> forgotten_items_;
  bool all_items_changed_ = true;
  // The item rows moved in the current round, with their values at its start (not state).
  RowJournal round_{dim_ + 1};
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_MF_MF_H_
