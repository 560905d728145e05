// EngineState: everything the engine learns from its log — id maps, live models, user histories,
// item and user metadata, the de-duplication window — and nothing about threads, files or time.
//
// Apply(seq, entry) is a deterministic function of the state and the entry: a state built by
// applying a log's entries in order is the same, byte for byte (Save), whichever way it got
// there (uninterrupted, or a snapshot and the rest of the log). Snapshots are Save's sections.
//
// Thread safety: none inside. The engine lets one apply thread mutate it under the write lock
// and readers call const methods under the read lock.
#ifndef LIVEREC_ENGINE_ENGINE_STATE_H_
#define LIVEREC_ENGINE_ENGINE_STATE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/candidate_stage.h"
#include "engine/feedback.h"
#include "engine/log_entry.h"
#include "feature/id_map.h"
#include "liverec/context.h"
#include "liverec/engine.h"
#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/features.h"
#include "model/model.h"
#include "store/snapshot.h"
#include "train/candidates.h"
#include "train/online_trainer.h"
#include "train/ranker.h"

namespace liverec {

// The event type of an impression: a client says a shown item was on screen (feedback.h). It
// is feedback on a decision only: no model learns it, no history records it, and every engine
// accepts it whatever engine.event_types says.
inline constexpr std::string_view kImpressionEventType = "impression";

// Event types and their weights ("view:1,skip:-1"), from engine.event_types.
class EventTypePolicy {
 public:
  static StatusOr<EventTypePolicy> Parse(std::string_view spec, bool reject_unknown);

  // The weight of `type` ("" = untyped: 1). InvalidArgument naming the known types when the
  // type is unknown and unknown types are rejected.
  StatusOr<float> Weight(std::string_view type) const;

 private:
  // A handful of types: a linear scan beats hashing (and allocates nothing).
  std::vector<std::pair<std::string, float>> weights_;
  std::string known_;  // "view, click, ..." for error messages
  bool reject_unknown_ = false;
};

// A live model instance.
struct ModelSlot {
  std::string name;  // "mf", "mf_wide"
  std::string type;  // "mf"
  std::unique_ptr<Model> model;
  ModelCapabilities capabilities;  // of *model, discovered when the slot got it
};

// A model the server can rank with: a live instance, or a member of a live ensemble (which
// the ensemble owns and learns). Valid while the state is neither loaded nor replaced.
struct ServingModel {
  std::string_view name;
  std::string_view type;
  const Model* model = nullptr;
  ModelCapabilities capabilities;  // what *model offers beyond Model
  explicit operator bool() const { return model != nullptr; }
};

// One event of a user's recent history.
struct RecentEvent {
  ItemId item = kInvalidId;
  int64_t time_ms = 0;
};

// The FeatureSource of the server's models (model/features.h): an item's features come from
// the metadata last PUT for it, an event's from its context pairs, hashed as replay hashes
// them. Event features live only while their event is being learned: Event::context_begin and
// context_size point into an arena that the state clears once the models have learned.
class EngineFeatures final : public FeatureSource {
 public:
  void EventFeatures(const Event& event, std::vector<uint64_t>* out) const override;
  void ItemFeatures(ItemId item, std::vector<uint64_t>* out) const override;

  // Hashes `record`'s context pairs into the arena and points `event` at them.
  void AddEventContext(const EventRecord& record, Event* event);
  // Forgets every event's features (their events are learned).
  void ClearEvents() { context_.clear(); }
  // Replaces the features of `item` with those of `metadata`.
  void SetItem(ItemId item, const ItemMetadata& metadata);
  // Drops the features of `item` (its id is to be reused).
  void ForgetItem(ItemId item);
  void Clear();

 private:
  std::vector<uint64_t> context_;
  std::vector<std::vector<uint64_t>> items_;
};

class EngineState {
 public:
  // Creates the instances of engine.models (fresh) and reads the policies.
  static StatusOr<std::unique_ptr<EngineState>> Create(const Options& options,
                                                       const Context& context);

  // Applies log entry number `seq`. Events with a repeated id count as duplicates and change
  // nothing else. kRollback is the caller's job (it needs the snapshot); here it only advances
  // last_applied_seq. Requires seq > last_applied_seq() and entries that passed validation.
  void Apply(uint64_t seq, const LogEntry& entry);

  // Deferred learning, for replaying a log and for applying a batch of events: while on, Apply
  // records each event's learning instead of running it, and FlushLearning() runs the models
  // over the recorded events (OnlineTrainer: Model::LearnBatch), each model on a thread of its
  // own once the run is long, in log order. Every model sees the same events
  // in the same order as without deferral, and entries that are not events (metadata, which
  // feature-aware models read while learning) flush first, so the state is bit-identical.
  // Between a deferred Apply and the flush, the models lag the rest of the state: nothing may
  // read or save them then. Turning it off flushes.
  void SetDeferredLearning(bool on);
  void FlushLearning();
  // Lets the live models (and any that ReplaceModel swaps in later) learn in the background
  // where they can (OnlineTrainer: seq's steps run on a thread of their own, outside the
  // state's lock). The thread that turns it on should be the one that applies, as the
  // trainer's threads start from it and inherit its scheduling priority. Save and Load wait
  // for the background learning first.
  void SetLearnInBackground(bool on);
  // Waits until at most `max_queued` units of background learning remain in each live model.
  // 0: every applied event is learned.
  void WaitForLearning(size_t max_queued) const;

  // The dense event an event record resolves to, without applying it: user/item kInvalidId when
  // unknown. For test-then-train evaluation before learning.
  Event Resolve(const EventRecord& record) const;

  // All state as snapshot sections ("engine", "model/<name>").
  void Save(std::vector<SnapshotSection>* sections) const;
  // The same sections, one at a time into `sink` (a SnapshotWriter streams them to a file);
  // returns the sink's error.
  Status Save(SectionSink* sink) const;
  // Replaces the state with a snapshot's. Models configured now but missing from the snapshot
  // start fresh (*fresh_models lists them); a section whose type differs is Corruption.
  // The model sections load on threads of their own, in parallel with the engine section.
  Status Load(const Snapshot& snapshot, std::vector<std::string>* fresh_models);

  // Lookups for readers.
  const EventTypePolicy& event_types() const { return event_types_; }
  const IdMap& users() const { return users_; }
  const IdMap& items() const { return items_; }
  const std::vector<ModelSlot>& models() const { return models_; }
  // The live instance `name`, else the member `name` of the first live ensemble that has one;
  // empty when neither exists. Members are found by name so that an ensemble's members serve
  // as models of their own (model=item_knn, the popularity fallback) without a second copy.
  ServingModel FindModel(std::string_view name) const;
  // The first live instance whose capabilities `offers` accepts, else the first such member of
  // a live ensemble: what resolves a feature (similar items, explanations, rank.similarity) to
  // the model that can serve it.
  ServingModel FindModelOffering(const std::function<bool(const ModelCapabilities&)>& offers) const;
  // The vector indexes of the models that score by an inner product (the candidate stage of
  // those without a candidate source), current with every learned event.
  const RetrievalIndexes& retrieval() const { return retrieval_; }
  const UserHistory& history() const { return history_; }
  const CandidateSet& candidates() const { return candidates_; }
  // Newest last; at most engine.history_length.
  const std::vector<RecentEvent>* Recent(UserId user) const;
  const UserMetadata* UserMeta(UserId user) const;
  const ItemMetadata* ItemMeta(ItemId item) const;
  // False for deleted items and items PUT with available = false.
  bool Recommendable(ItemId item) const {
    return item < recommendable_.size() && recommendable_[item] != 0;
  }
  // Dense id of a category name, or kInvalidId.
  uint32_t FindCategory(std::string_view name) const { return categories_.Find(name); }
  bool InCategory(ItemId item, uint32_t category) const;
  // The item's category ids, sorted (empty without metadata).
  std::span<const uint32_t> ItemCategoryIds(ItemId item) const {
    if (item >= item_categories_.size()) return {};
    return item_categories_[item];
  }

  // The own model of `arm` of `experiment` (learning isolated or warm_start: it learns only the
  // events of the arm's users); empty for pooled arms.
  ServingModel FindArmModel(std::string_view experiment, std::string_view arm) const;

  // Decisions, their join with events, and the experiments.
  const FeedbackLoop& feedback() const { return feedback_; }

  uint64_t last_applied_seq() const { return last_applied_seq_; }
  uint64_t events_applied() const { return events_applied_; }
  uint64_t events_duplicate() const { return events_duplicate_; }
  // Users forgotten for idleness (engine.user_idle_ttl) since the state began.
  uint64_t users_forgotten() const { return users_forgotten_; }
  // Items forgotten for idleness (engine.item_idle_ttl) since the state began.
  uint64_t items_forgotten() const { return items_forgotten_; }
  // The latest event time applied (stream time, ms).
  int64_t clock_ms() const { return clock_ms_; }
  void set_last_applied_seq(uint64_t seq) { last_applied_seq_ = seq; }
  // Swaps in a model trained elsewhere (`liverec train` fits iterative models in batch) for
  // the instance `name`, which must exist and have the same type.
  void ReplaceModel(std::string_view name, std::unique_ptr<Model> model);

 private:
  EngineState() = default;

  // The two halves of Load: the "engine" section, and one model's section into its slot.
  Status LoadEngineSection(std::string_view payload);
  void SaveEngineSection(BinaryWriter* out) const;
  static Status LoadModelSection(std::string_view payload, ModelSlot* slot);

  void ApplyEvent(const EventRecord& record);
  // An impression without a click, as feedback.negative_weight has the models learn it.
  void LearnNegative(const std::string& user, ItemId item, int64_t time_ms);
  ItemId AddItem(std::string_view key);
  // The user's id (new or recycled), marked seen at the clock.
  UserId AddUser(std::string_view key);
  // Once per sixteenth of engine.user_idle_ttl of stream time: forgets every user last seen
  // more than the TTL before the clock (models first learn the deferred events).
  void ForgetIdleUsers();
  void ForgetUser(UserId user);
  // Once per sixteenth of engine.item_idle_ttl of stream time: forgets every item last named
  // more than the TTL before the clock, all in one batch (models first learn the deferred
  // events and finish their background steps).
  void ForgetIdleItems();
  // Forgets `items` (live ids, no repeats) everywhere: every model's and arm model's state of
  // them (ItemForgetting), the users' histories and recent events, the candidates, the open
  // decisions' slots, metadata, and the id, which the next new item takes. Nothing of an item
  // reaches the id's next owner.
  void ForgetItems(std::span<const ItemId> items);
  // Has the own model of `user`'s arm, if any, learn `event`.
  void LearnInArm(std::string_view user, const Event& event);
  // A fresh (isolated) or copied (warm_start) instance of `arm`'s model.
  StatusOr<ModelSlot> NewArmModel(const ExperimentSpec& spec, const ExperimentArm& arm) const;
  // Makes arm_models_ the own models of the running isolated and warm_start experiments'
  // arms: keeps those that exist, creates the new ones, drops those of stopped experiments.
  void SyncArmModels();
  // Indexes afresh every live model and member that offers EmbeddingRetrieval (after the
  // models were created, loaded or replaced).
  void ResetRetrieval();
  // True if `id` was seen within the de-duplication window; remembers it otherwise.
  bool SeenId(const std::string& id);

  // Policy, from the options.
  EventTypePolicy event_types_;
  size_t dedup_capacity_ = 0;
  size_t history_length_ = 0;
  int64_t user_idle_ttl_ms_ = 0;  // 0: users are never forgotten
  int64_t item_idle_ttl_ms_ = 0;  // 0: items are never forgotten

  // Learned state (all of it in Save).
  std::vector<ModelSlot> models_;
  EngineFeatures features_;  // what feature-aware models read; derived from item_meta_
  // When the models learn (not state). Declared after models_: its threads stop before the
  // models they step are destroyed.
  OnlineTrainer trainer_;
  IdMap users_;
  IdMap items_;
  IdMap categories_;
  UserHistory history_;  // distinct items consumed per user
  std::vector<std::vector<RecentEvent>> recent_;
  std::vector<std::unique_ptr<UserMetadata>> user_meta_;
  // Per user id: the clock when the user last had an event or a PUT; kFreeMs for a freed id.
  std::vector<int64_t> user_seen_ms_;
  int64_t next_sweep_ms_ = 0;  // ForgetIdleUsers runs again once the clock reaches it
  uint64_t users_forgotten_ = 0;
  // Per item id: the clock when an event last named the item or it was PUT; kFreeMs for a
  // freed id.
  std::vector<int64_t> item_seen_ms_;
  int64_t next_item_sweep_ms_ = 0;  // ForgetIdleItems runs again once the clock reaches it
  uint64_t items_forgotten_ = 0;
  std::vector<std::unique_ptr<ItemMetadata>> item_meta_;
  std::vector<std::vector<uint32_t>> item_categories_;  // category ids per item, sorted
  std::vector<uint8_t> recommendable_;
  std::deque<std::string> dedup_order_;  // oldest first
  std::unordered_set<std::string> dedup_ids_;
  int64_t clock_ms_ = 0;  // latest event time applied: learning time never goes back
  uint64_t last_applied_seq_ = 0;
  uint64_t events_applied_ = 0;
  uint64_t events_duplicate_ = 0;
  FeedbackLoop feedback_{FeedbackOptions{}};
  // The own models of isolated and warm_start experiments' arms (a handful), in log order of
  // their creation. Saved as sections "arm/<experiment>/<arm>".
  struct ArmModel {
    std::string experiment;
    std::string arm;
    ModelSlot slot;
  };
  std::vector<ArmModel> arm_models_;
  // What arm models are created from.
  Options options_;
  Context context_;

  // Derived (rebuilt by Load): every item with an event, for test-then-train ranking.
  CandidateSet candidates_;
  // Derived from the models (rebuilt by Load, synced where learning ends).
  RetrievalIndexes retrieval_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_ENGINE_STATE_H_
