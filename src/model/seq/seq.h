// SeqModel: a SASRec-style self-attention next-item model learned online (layers and formulas
// in model/seq/seq_layers.h).
//
// Each user has a history: their last seq.max_len positive items, oldest first. A user's score
// for item i is <h_u, E_i>, h_u the network's output at the newest item of the history.
//
// Learning: Learn(u, i) appends i to u's history; every seq.stride-th learned event of a user
// (counted from their second event) first turns (u's history before i -> i) into a training
// example. An example trains the last max(seq.train_positions, seq.stride) positions of its
// sequence, each predicting the next item (SASRec trains every position the same way), so each
// learned event is a target of at least one example. The stride is what keeps a pass cheap: an
// example costs a forward and backward pass over its whole history (up to seq.max_len items)
// however few positions it trains, so an example per event (stride 1) costs about max_len times
// more per trained target than SASRec's one example per sequence, and with
// train_positions = max_len re-trains each event max_len times per pass (overfitting in
// multi-epoch batch training). Examples wait in a micro-batch of seq.batch; when it is full, one
// Adam step (seq.learning_rate) runs on the mean loss of the batch (seq.loss, the same online
// and in batch epochs): the network runs example by example, the loss once over the trained
// positions of the whole batch stacked. The loss is a softmax cross-entropy over every item row
// (full), or over the target and seq.negatives negatives drawn uniformly from the item rows
// once per step and shared by every position of the batch (sampled softmax; uniform draws make
// the logQ correction a constant, so none is applied), or binary cross-entropy over the same
// negatives. Dropout (seq.dropout) acts on the embeddings and on every sublayer's output. Item
// rows follow lazy Adam: only rows with a gradient in a step move, their moments with them, so
// a sampled step costs the same on a catalogue of 100 K items as on 1 K (a full step costs in
// proportion to the catalogue).
// A user's first event has no history and makes no example. Events with weight < 0 (skip,
// dislike) are ignored; positive weights and event values are not used (every event is one
// positive).
// Observe(u, i) only appends i to u's history.
//
// Scoring: items never learned (no example had them as a target) score kUnscored. A user
// without history scores every learned item by how many times it was learned (popularity, the
// best guess without personal data). History items without an item row (only ever observed)
// are left out of the input.
//
// Determinism: the negatives of a step come from a Random seeded by the negative seed, the
// number of learned events when its micro-batch filled and the number of steps taken; tables
// and dense parameters are seeded from context.seed. Save writes all state, the partial
// micro-batch and Adam's moments included, so save -> load -> continue equals an uninterrupted
// run bit for bit, given the same options.
//
// Background learning (model/step_learner.h; the server's online trainer runs it): Record
// appends to the history, counts, adds the item's row, and hands back each full micro-batch,
// with the row count and event count its step derives from; the trainer runs the steps in
// order on a thread of its own. The item table and its moments are read under the parameters'
// lock (Score and a step's gathering of its rows hold it shared) and written under it
// exclusively (Record's row growth, a step's Adam update: tens of microseconds); the network is
// written by the stepping thread alone, which reads it without the lock. So neither the apply
// thread nor Score waits on a step's forward and backward pass. Scores of a user reflect their
// newest event at once (the history); the parameters lag by the steps not yet run.
//
// Thread safety: as Model, and StepLearner's. Score runs its forward pass on local buffers.
// Save, Clone, Load and the accessors of the parameters (item_embeddings, network,
// optimizer_steps) require every step handed back by Record to have run.
#ifndef LIVEREC_MODEL_SEQ_SEQ_H_
#define LIVEREC_MODEL_SEQ_SEQ_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/rw_lock.h"
#include "common/thread_annotations.h"
#include "embed/embedding_table.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/model.h"
#include "model/seq/seq_layers.h"
#include "model/step_learner.h"

namespace liverec {

class SeqModel final : public Model,
                       public StepLearner,
                       public HistoryObserver,
                       public UserForgetting,
                       public ItemForgetting,
                       public OrderedEpochs {
 public:
  // Checks what the option table cannot: seq.dim must be divisible by seq.heads.
  static Status ValidateOptions(const OptionView& options);

  // Reads seq.dim, seq.max_len, seq.blocks, seq.heads, seq.batch, seq.learning_rate,
  // seq.negatives, seq.loss, seq.train_positions, seq.stride, seq.dropout and seq.init_std
  // through `options`, which must pass ValidateOptions; seeds every table and generator from
  // context.seed.
  SeqModel(const OptionView& options, const Context& context);
  // Copies the state; requires every step `other` handed back to have run.
  SeqModel(const SeqModel& other) = default;
  SeqModel& operator=(const SeqModel&) = delete;

  std::string_view type() const override { return "seq"; }
  // Requires event.user and event.item to be valid ids (not kInvalidId).
  void Learn(const Event& event) override;
  void Observe(const Event& event) override;
  void ForgetUser(UserId user) override;
  // The item's row goes back to its initial value, its Adam moments to 0 and its learned count
  // to 0 (kUnscored until it is a target again); it leaves every history and every pending
  // example (an example whose target it is goes). Requires every step handed back to have run.
  void ForgetItems(std::span<const ItemId> items) override;
  // StepLearner: Learn is Record, then RunStep on each step handed back. Record requires
  // event.user and event.item to be valid ids; a step is a full micro-batch.
  void Record(const Event& event, std::vector<std::unique_ptr<LearnStep>>* steps) override;
  void RunStep(const LearnStep& step) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  bool iterative() const override { return true; }
  bool ordered_epochs() const override { return true; }
  // Ends a pass over the users' sequences (a batch epoch): queues an example of each user's
  // learned events that are in none yet (fewer than seq.stride since their last example), so
  // that every pass trains every event, then clears every user's history. Parameters stay: the
  // queued examples train in the next Learn, a micro-batch per step. With seq.stride 1 nothing
  // is queued.
  void ForgetHistory() override;
  std::unique_ptr<Model> Clone() const override;
  void Save(BinaryWriter* out) const override;
  // Corruption on foreign, truncated or inconsistent bytes; InvalidArgument when the saved
  // shape (dim, max_len, blocks, heads) differs from this model's options. On error the model
  // is unchanged.
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // The user's history, oldest first (empty for unknown users).
  std::span<const ItemId> history(UserId user) const;
  // Writes h_u (dim floats) into out and returns true; false when the user has no history
  // item with a row.
  bool UserVector(UserId user, float* out) const;
  // Item embeddings E (row i = item i), shared by inputs and scoring.
  const EmbeddingTable& item_embeddings() const { return items_; }
  // Positions, blocks and the final layer norm.
  const seq::NetworkParams<float>& network() const { return net_; }
  size_t pending_examples() const { return pending_.size(); }
  // Learned events of `user` since their last example (0 for unknown users).
  uint32_t untrained_events(UserId user) const;
  uint64_t optimizer_steps() const { return adam_step_; }

 private:
  struct Example {
    std::vector<ItemId> history;  // oldest first
    ItemId target = 0;
  };
  // A full micro-batch and what its step derives from, fixed when it filled, so that the step
  // gives the same result whenever it runs.
  struct Batch final : LearnStep {
    std::vector<Example> examples;
    uint64_t num_learned = 0;  // events learned by then: seeds the step's randomness
    size_t num_rows = 0;       // item rows by then: the items its inputs and negatives may be
  };
  // The parameters' lock (not state; a copy gets a lock of its own).
  struct ParamsLock {
    ParamsLock() = default;
    ParamsLock(const ParamsLock&) {}
    ParamsLock& operator=(const ParamsLock&) = delete;
    RwLock mu;  // shared: Score, a step's gathering of rows; exclusive: row growth, Adam update
  };

  // sqrt(dim): SASRec's scale of item embeddings at the input.
  float embed_scale() const;
  // Adds the item's row (and the rows before it) and count.
  void EnsureItem(ItemId item);
  void AppendToHistory(UserId user, ItemId item);
  // Moves the oldest seq.batch pending examples (all when fewer) into a Batch.
  std::unique_ptr<Batch> TakeBatch();
  // One Adam step on the batch's examples.
  void Step(const Batch& batch);
  // As UserVector, with the parameters' lock held by the caller.
  bool UserVectorLocked(UserId user, float* out) const LIVEREC_REQUIRES_SHARED(params_.mu);
  // The rows (table pointers) of `history` items that have one, oldest first.
  void HistoryRows(std::span<const ItemId> history, std::vector<const float*>* rows) const;
  // Index of `item` in the step's local item matrix, adding it if new.
  uint32_t SlotOf(ItemId item);

  // Options.
  size_t dim_;
  size_t max_len_;
  int num_blocks_;
  int num_heads_;
  size_t batch_size_;
  float learning_rate_;
  uint32_t negatives_;
  seq::LossKind loss_;
  size_t train_positions_;  // max(seq.train_positions, seq.stride)
  uint32_t stride_;
  double dropout_;

  // State (all of it saved). Histories, counts and the partial micro-batch belong to the caller
  // of Record; the network and adam_step_ to whoever runs the steps (the trainer's thread under
  // background learning); the item table and moments are shared under params_.mu. None is
  // LIVEREC_GUARDED_BY it: each writer reads what only it writes without the lock (the caller of
  // Record the table's size, the stepper the rows' values), which the analysis cannot tell apart.
  EmbeddingTable items_;
  std::vector<float> item_m_;  // Adam moments of the item rows, dim per row
  std::vector<float> item_v_;
  std::vector<uint32_t> item_learned_;  // times each item was a learned target, saturating
  seq::NetworkParams<float> net_;
  seq::NetworkParams<float> net_m_;  // Adam moments of the network tensors
  seq::NetworkParams<float> net_v_;
  uint64_t adam_step_ = 0;
  std::vector<std::vector<ItemId>> histories_;  // per user, oldest first
  // Per user: learned events (with a history before them) since the user's last example.
  std::vector<uint32_t> untrained_;
  std::vector<Example> pending_;  // the partial micro-batch (or the tails ForgetHistory queued)
  uint64_t negative_seed_;
  uint64_t num_learned_ = 0;  // events learned; picks each step's negatives

  mutable ParamsLock params_;

  // Scratch of Step (not state).
  seq::NetworkParams<float> grad_;
  seq::BatchScratch<float> batch_scratch_;
  std::vector<seq::SequenceSpec> sequences_;
  std::vector<int32_t> slot_of_item_;  // -1 when the item has no slot in this step
  std::vector<ItemId> slot_items_;     // item of each slot
  seq::Matrix<float> local_items_;
  seq::Matrix<float> local_grad_;
  std::vector<uint32_t> input_slots_;
  std::vector<uint32_t> target_slots_;
  std::vector<uint32_t> negative_slots_;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_SEQ_SEQ_H_
