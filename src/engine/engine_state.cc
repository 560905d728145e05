#include "engine/engine_state.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <thread>

#include "common/check.h"
#include "common/serialize.h"
#include "common/strings.h"
#include "event/item_metadata.h"
#include "model/registry.h"

namespace liverec {
namespace {

// Version of the "engine" snapshot section; Load rejects others.
// Version 2 appends the users' last-seen times, the next idle sweep and the forgotten count;
// version 1 loads with every user seen at the clock. Version 3 appends the same three for
// items; versions 1 and 2 load with every item seen at the clock.
constexpr uint32_t kStateFormatVersion = 3;
constexpr int64_t kMsPerSecond = 1000;
// Idle users (items) are looked for this many times per engine.user_idle_ttl (item_idle_ttl)
// of stream time, so a user is forgotten between 1 and 1 + 1/16 TTLs after their last event.
constexpr int64_t kSweepsPerTtl = 16;
// user_seen_ms_ and item_seen_ms_ of a freed id: never idle.
constexpr int64_t kFreeMs = std::numeric_limits<int64_t>::max();
constexpr std::string_view kEngineSection = "engine";
constexpr std::string_view kModelSectionPrefix = "model/";
constexpr std::string_view kFeedbackSection = "feedback";
// An experiment arm's own model (isolated or warm_start learning): "arm/<experiment>/<arm>".
constexpr std::string_view kArmSectionPrefix = "arm/";

void PutStrings(const std::vector<std::string>& v, BinaryWriter* out) {
  out->Put<uint64_t>(v.size());
  for (const std::string& s : v) out->PutString(s);
}

// A count read from a snapshot, bounded by the bytes left so that a corrupt count cannot turn
// into a huge allocation (every element takes at least one byte).
Status GetCount(BinaryReader* in, uint64_t* n) {
  LIVEREC_RETURN_IF_ERROR(in->Get(n));
  if (*n > in->remaining())
    return Corruption("engine state: count " + std::to_string(*n) + " larger than the bytes left");
  return Status::Ok();
}

Status GetStrings(BinaryReader* in, std::vector<std::string>* v) {
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(GetCount(in, &n));
  v->resize(n);
  for (std::string& s : *v) LIVEREC_RETURN_IF_ERROR(in->GetString(&s));
  return Status::Ok();
}

void SaveItemMeta(const ItemMetadata& m, BinaryWriter* out) {
  PutStrings(m.categories, out);
  PutStrings(m.tags, out);
  out->PutString(m.text);
  out->Put<uint64_t>(m.properties.size());
  for (const auto& [name, value] : m.properties) {
    out->PutString(name);
    out->Put(value);
  }
  out->Put<uint8_t>(m.available ? 1 : 0);
}

Status LoadItemMeta(BinaryReader* in, ItemMetadata* m) {
  LIVEREC_RETURN_IF_ERROR(GetStrings(in, &m->categories));
  LIVEREC_RETURN_IF_ERROR(GetStrings(in, &m->tags));
  LIVEREC_RETURN_IF_ERROR(in->GetString(&m->text));
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(GetCount(in, &n));
  m->properties.resize(n);
  for (auto& [name, value] : m->properties) {
    LIVEREC_RETURN_IF_ERROR(in->GetString(&name));
    LIVEREC_RETURN_IF_ERROR(in->Get(&value));
  }
  uint8_t available = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&available));
  m->available = available != 0;
  return Status::Ok();
}

// "popularity,item_knn,mf_wide:mf" -> (name, type) pairs.
StatusOr<std::vector<std::pair<std::string, std::string>>> ParseModelList(std::string_view spec) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view part : Split(spec, ',')) {
    part = Trim(part);
    if (part.empty()) continue;
    const size_t colon = part.find(':');
    std::string name(Trim(part.substr(0, colon)));
    std::string type(colon == std::string_view::npos ? name : Trim(part.substr(colon + 1)));
    for (const auto& [other, _] : out) {
      if (other == name) return InvalidArgument("engine.models: '" + name + "' appears twice");
    }
    out.emplace_back(std::move(name), std::move(type));
  }
  if (out.empty()) return InvalidArgument("engine.models: expected at least one model");
  return out;
}

}  // namespace

StatusOr<EventTypePolicy> EventTypePolicy::Parse(std::string_view spec, bool reject_unknown) {
  EventTypePolicy policy;
  policy.reject_unknown_ = reject_unknown;
  for (std::string_view part : Split(spec, ',')) {
    part = Trim(part);
    if (part.empty()) continue;
    const size_t colon = part.find(':');
    double weight = 0;
    if (colon == std::string_view::npos || !ParseDouble(Trim(part.substr(colon + 1)), &weight) ||
        !std::isfinite(weight) || weight == 0) {
      return InvalidArgument(
          "engine.event_types: expected type:weight with a non-zero weight, "
          "got '" +
          std::string(part) + "'");
    }
    std::string type(Trim(part.substr(0, colon)));
    if (!policy.known_.empty()) policy.known_ += ", ";
    policy.known_ += type;
    policy.weights_.emplace_back(std::move(type), static_cast<float>(weight));
  }
  return policy;
}

StatusOr<float> EventTypePolicy::Weight(std::string_view type) const {
  if (type.empty()) return 1.0f;
  for (const auto& [name, weight] : weights_) {
    if (name == type) return weight;
  }
  if (reject_unknown_) {
    return InvalidArgument("unknown event type '" + std::string(type) + "' (known: " + known_ +
                           ")");
  }
  return 1.0f;
}

void EngineFeatures::EventFeatures(const Event& event, std::vector<uint64_t>* out) const {
  const size_t end = size_t{event.context_begin} + event.context_size;
  if (event.context_size == 0 || end > context_.size()) return;
  out->insert(out->end(), context_.begin() + event.context_begin, context_.begin() + end);
}

void EngineFeatures::ItemFeatures(ItemId item, std::vector<uint64_t>* out) const {
  if (item >= items_.size()) return;  // also kInvalidId
  out->insert(out->end(), items_[item].begin(), items_[item].end());
}

void EngineFeatures::AddEventContext(const EventRecord& record, Event* event) {
  event->context_begin = static_cast<uint32_t>(context_.size());
  event->context_size = static_cast<uint16_t>(record.context.size());
  for (const auto& [key, value] : record.context) context_.push_back(ContextFeature(key, value));
}

void EngineFeatures::SetItem(ItemId item, const ItemMetadata& metadata) {
  if (item >= items_.size()) items_.resize(size_t{item} + 1);
  std::vector<uint64_t>& features = items_[item];
  features.clear();
  AppendItemFeatures(metadata.categories, metadata.tags, TextTokens(metadata.text), &features);
}

void EngineFeatures::ForgetItem(ItemId item) {
  if (item < items_.size()) items_[item] = std::vector<uint64_t>();
}

void EngineFeatures::Clear() {
  context_.clear();
  items_.clear();
}

StatusOr<std::unique_ptr<EngineState>> EngineState::Create(const Options& options,
                                                           const Context& context) {
  std::unique_ptr<EngineState> state(new EngineState());
  LIVEREC_ASSIGN_OR_RETURN(auto list, ParseModelList(options.GetString("", "engine", "models")));
  std::map<std::string, std::string> instances(list.begin(), list.end());
  LIVEREC_RETURN_IF_ERROR(options.Validate(instances));
  for (auto& [name, type] : list) {
    LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                             CreateModel(OptionView(&options, name, type), context));
    const ModelCapabilities capabilities = DiscoverCapabilities(*model);
    if (capabilities.features != nullptr)
      capabilities.features->SetFeatureSource(&state->features_);
    state->trainer_.AddModel(model.get());
    state->models_.push_back(ModelSlot{name, type, std::move(model), capabilities});
  }
  LIVEREC_ASSIGN_OR_RETURN(
      state->event_types_,
      EventTypePolicy::Parse(options.GetString("", "engine", "event_types"),
                             options.GetString("", "engine", "unknown_event_types") == "reject"));
  state->dedup_capacity_ = static_cast<size_t>(options.GetInt("", "engine", "dedup_ids"));
  state->history_length_ = static_cast<size_t>(options.GetInt("", "engine", "history_length"));
  state->user_idle_ttl_ms_ = static_cast<int64_t>(
      options.GetDurationSeconds("", "engine", "user_idle_ttl") * kMsPerSecond);
  state->item_idle_ttl_ms_ = static_cast<int64_t>(
      options.GetDurationSeconds("", "engine", "item_idle_ttl") * kMsPerSecond);
  state->retrieval_ = RetrievalIndexes(RetrievalSettings::FromOptions(options));
  state->ResetRetrieval();
  state->feedback_ = FeedbackLoop(FeedbackOptions::FromOptions(options));
  state->options_ = options;
  state->context_ = context;
  return state;
}

void EngineState::ResetRetrieval() {
  retrieval_.Clear();
  for (const ModelSlot& slot : models_) {
    if (slot.capabilities.retrieval != nullptr) {
      retrieval_.Add(slot.model.get(), slot.capabilities.retrieval, /*member=*/false);
    }
    if (slot.capabilities.members == nullptr) continue;
    for (const ModelMember& member : slot.capabilities.members->members()) {
      if (member.capabilities.retrieval != nullptr) {
        retrieval_.Add(member.model.get(), member.capabilities.retrieval, /*member=*/true);
      }
    }
  }
}

namespace {

// The first model among the live instances, then among the composites' members, that `match`
// accepts (called with name and capabilities).
template <typename Match>
ServingModel FindServingModel(const std::vector<ModelSlot>& slots, Match match) {
  for (const ModelSlot& slot : slots) {
    if (match(slot.name, slot.capabilities)) {
      return {slot.name, slot.type, slot.model.get(), slot.capabilities};
    }
  }
  for (const ModelSlot& slot : slots) {
    if (slot.capabilities.members == nullptr) continue;
    for (const ModelMember& member : slot.capabilities.members->members()) {
      if (match(member.name, member.capabilities)) {
        return {member.name, member.type, member.model.get(), member.capabilities};
      }
    }
  }
  return {};
}

}  // namespace

ServingModel EngineState::FindModel(std::string_view name) const {
  return FindServingModel(
      models_, [name](std::string_view n, const ModelCapabilities&) { return n == name; });
}

ServingModel EngineState::FindModelOffering(
    const std::function<bool(const ModelCapabilities&)>& offers) const {
  return FindServingModel(
      models_, [&offers](std::string_view, const ModelCapabilities& c) { return offers(c); });
}

void EngineState::ReplaceModel(std::string_view name, std::unique_ptr<Model> model) {
  for (size_t m = 0; m < models_.size(); ++m) {
    ModelSlot& slot = models_[m];
    if (slot.name != name) continue;
    LIVEREC_CHECK(model->type() == slot.type) << model->type() << " for " << slot.type;
    trainer_.ReplaceModel(m, model.get());  // before the old model goes
    slot.model = std::move(model);
    slot.capabilities = DiscoverCapabilities(*slot.model);
    if (slot.capabilities.features != nullptr)
      slot.capabilities.features->SetFeatureSource(&features_);
    ResetRetrieval();
    return;
  }
  LIVEREC_CHECK(false) << "no model " << name;
}

const std::vector<RecentEvent>* EngineState::Recent(UserId user) const {
  return user < recent_.size() ? &recent_[user] : nullptr;
}

const UserMetadata* EngineState::UserMeta(UserId user) const {
  return user < user_meta_.size() ? user_meta_[user].get() : nullptr;
}

const ItemMetadata* EngineState::ItemMeta(ItemId item) const {
  return item < item_meta_.size() ? item_meta_[item].get() : nullptr;
}

bool EngineState::InCategory(ItemId item, uint32_t category) const {
  if (item >= item_categories_.size()) return false;
  const std::vector<uint32_t>& cats = item_categories_[item];
  return std::binary_search(cats.begin(), cats.end(), category);
}

ItemId EngineState::AddItem(std::string_view key) {
  const ItemId item = items_.GetOrAdd(key);
  if (item >= recommendable_.size()) {
    recommendable_.resize(size_t{item} + 1, 1);
    item_meta_.resize(size_t{item} + 1);
    item_categories_.resize(size_t{item} + 1);
    item_seen_ms_.resize(size_t{item} + 1, kFreeMs);
  }
  if (item_seen_ms_[item] == kFreeMs) recommendable_[item] = 1;  // new, or a freed id reused
  item_seen_ms_[item] = clock_ms_;
  return item;
}

UserId EngineState::AddUser(std::string_view key) {
  const UserId user = users_.GetOrAdd(key);
  if (user >= recent_.size()) {
    recent_.resize(size_t{user} + 1);
    user_meta_.resize(size_t{user} + 1);
    user_seen_ms_.resize(size_t{user} + 1);
  }
  user_seen_ms_[user] = clock_ms_;
  return user;
}

void EngineState::ForgetIdleUsers() {
  if (user_idle_ttl_ms_ <= 0 || clock_ms_ < next_sweep_ms_) return;
  next_sweep_ms_ = clock_ms_ + std::max<int64_t>(user_idle_ttl_ms_ / kSweepsPerTtl, 1);
  const int64_t cutoff = clock_ms_ - user_idle_ttl_ms_;
  bool flushed = false;
  for (size_t user = 0; user < user_seen_ms_.size(); ++user) {
    if (user_seen_ms_[user] >= cutoff) continue;  // seen within the TTL, or a freed id
    if (!flushed) {
      FlushLearning();  // deferred events may be this user's
      flushed = true;
    }
    ForgetUser(static_cast<UserId>(user));
  }
}

void EngineState::ForgetUser(UserId user) {
  for (ModelSlot& slot : models_) {
    if (slot.capabilities.forgetting != nullptr) slot.capabilities.forgetting->ForgetUser(user);
  }
  history_.Forget(user);
  recent_[user] = std::vector<RecentEvent>();  // frees the storage (= {} keeps it)
  user_meta_[user].reset();
  user_seen_ms_[user] = kFreeMs;
  const std::string key = users_.Key(user);
  users_.Erase(key);
  ++users_forgotten_;
}

void EngineState::ForgetIdleItems() {
  if (item_idle_ttl_ms_ <= 0 || clock_ms_ < next_item_sweep_ms_) return;
  next_item_sweep_ms_ = clock_ms_ + std::max<int64_t>(item_idle_ttl_ms_ / kSweepsPerTtl, 1);
  const int64_t cutoff = clock_ms_ - item_idle_ttl_ms_;
  std::vector<ItemId> idle;
  for (size_t item = 0; item < item_seen_ms_.size(); ++item) {
    // Seen within the TTL, or a freed id.
    if (item_seen_ms_[item] < cutoff) idle.push_back(static_cast<ItemId>(item));
  }
  if (idle.empty()) return;
  FlushLearning();              // deferred events may name these items
  trainer_.WaitForLearning(0);  // and so may background steps still queued
  ForgetItems(idle);
}

void EngineState::ForgetItems(std::span<const ItemId> items) {
  // One batch: models and histories pass over every user and neighbour list once per call.
  for (ModelSlot& slot : models_) {
    if (slot.capabilities.item_forgetting != nullptr) {
      slot.capabilities.item_forgetting->ForgetItems(items);
    }
  }
  for (ArmModel& arm : arm_models_) {
    if (arm.slot.capabilities.item_forgetting != nullptr) {
      arm.slot.capabilities.item_forgetting->ForgetItems(items);
    }
  }
  std::vector<uint8_t> forgotten;
  MarkItems(items, &forgotten);
  const auto named = [&](const RecentEvent& e) {
    return e.item < forgotten.size() && forgotten[e.item] != 0;
  };
  for (std::vector<RecentEvent>& recent : recent_) std::erase_if(recent, named);
  history_.ForgetItems(forgotten);
  feedback_.ForgetItems(forgotten);
  for (const ItemId item : items) {
    candidates_.Forget(item);
    item_meta_[item].reset();
    item_categories_[item] = std::vector<uint32_t>();
    features_.ForgetItem(item);
    recommendable_[item] = 0;  // until the id is reused: a freed id has no key to serve
    item_seen_ms_[item] = kFreeMs;
    const std::string key = items_.Key(item);
    items_.Erase(key);
    ++items_forgotten_;
  }
}

bool EngineState::SeenId(const std::string& id) {
  if (id.empty() || dedup_capacity_ == 0) return false;
  if (dedup_ids_.contains(id)) return true;
  dedup_ids_.insert(id);
  dedup_order_.push_back(id);
  while (dedup_order_.size() > dedup_capacity_) {
    dedup_ids_.erase(dedup_order_.front());
    dedup_order_.pop_front();
  }
  return false;
}

Event EngineState::Resolve(const EventRecord& record) const {
  Event event;
  event.time_ms = std::max(record.time_ms, clock_ms_);
  event.user = users_.Find(record.user);
  event.item = items_.Find(record.item);
  event.value = record.value;
  // Validated at ingest; a type removed from the policy since then counts as untyped.
  StatusOr<float> weight = event_types_.Weight(record.type);
  event.weight = weight.ok() ? *weight : 1.0f;
  return event;
}

void EngineState::ApplyEvent(const EventRecord& record) {
  if (SeenId(record.id)) {
    ++events_duplicate_;
    return;
  }
  // Clients send their own timestamps and they may go back a little; learning time does not
  // (decays and windows need a monotone clock). The history keeps the client's time.
  // Not Resolve: its Find calls would double the id-map lookups, the largest cost of replay.
  Event event;
  event.time_ms = std::max(record.time_ms, clock_ms_);
  const FeedbackLoop::NegativeSink negatives = [this](const std::string& user, ItemId item,
                                                      int64_t time_ms) {
    LearnNegative(user, item, time_ms);
  };
  if (record.type == kImpressionEventType) {
    feedback_.OnEvent(record, items_.Find(record.item), 0, true, event.time_ms, negatives);
    return;
  }
  event.value = record.value;
  StatusOr<float> weight = event_types_.Weight(record.type);
  event.weight = weight.ok() ? *weight : 1.0f;
  if (clock_ms_ == 0) {
    // The first event starts the clock: users and items PUT before it (a catalogue loaded
    // first) count as seen now, not at time 0, which would make them idle at once.
    std::replace(user_seen_ms_.begin(), user_seen_ms_.end(), int64_t{0}, event.time_ms);
    std::replace(item_seen_ms_.begin(), item_seen_ms_.end(), int64_t{0}, event.time_ms);
  }
  clock_ms_ = event.time_ms;
  ForgetIdleUsers();  // before the event's own user is looked up: it may be idle too
  ForgetIdleItems();  // likewise for its item
  event.user = AddUser(record.user);
  event.item = AddItem(record.item);
  features_.AddEventContext(record, &event);
  const bool repeat = history_.Contains(event.user, event.item);
  trainer_.Learn(event);
  LearnInArm(record.user, event);
  if (!trainer_.deferring()) features_.ClearEvents();
  history_.Add(event.user, event.item, repeat);
  candidates_.Observe(event.item, event.time_ms);
  std::vector<RecentEvent>& recent = recent_[event.user];
  // A vector, not a deque: most users have a few events, and an empty deque holds a block of
  // over 500 bytes. Dropping the oldest moves at most engine.history_length entries.
  if (recent.size() >= history_length_) recent.erase(recent.begin());
  recent.push_back(RecentEvent{event.item, record.time_ms});
  ++events_applied_;
  feedback_.OnEvent(record, event.item, event.weight, false, event.time_ms, negatives);
}

void EngineState::LearnNegative(const std::string& user, ItemId item, int64_t time_ms) {
  const float weight = feedback_.options().negative_weight;
  if (weight <= 0) return;
  Event event;
  event.user = users_.Find(user);
  if (event.user == kInvalidId) return;  // forgotten since, or never had an event
  event.item = item;
  event.time_ms = std::max(time_ms, clock_ms_);
  event.weight = -weight;
  trainer_.Learn(event);
  LearnInArm(user, event);
}

void EngineState::LearnInArm(std::string_view user, const Event& event) {
  if (arm_models_.empty()) return;
  const std::optional<ExperimentSet::Assignment> assignment = feedback_.experiments().Assign(user);
  if (!assignment || assignment->spec->learning == kPooledLearning) return;
  for (ArmModel& arm : arm_models_) {
    if (arm.experiment == assignment->spec->name && arm.arm == assignment->arm_spec().name) {
      arm.slot.model->Learn(event);
      return;
    }
  }
}

StatusOr<ModelSlot> EngineState::NewArmModel(const ExperimentSpec& spec,
                                             const ExperimentArm& arm) const {
  const ServingModel live = FindModel(arm.model);
  if (!live) return NotFound("arm model '" + arm.model + "' is not live");
  ModelSlot slot{arm.model, std::string(live.type), nullptr, {}};
  if (spec.learning == kWarmStartLearning) {
    trainer_.WaitForLearning(0);  // background steps still owed to the live model, first
    slot.model = live.model->Clone();
  } else {
    LIVEREC_ASSIGN_OR_RETURN(slot.model,
                             CreateModel(OptionView(&options_, slot.name, slot.type), context_));
  }
  slot.capabilities = DiscoverCapabilities(*slot.model);
  if (slot.capabilities.features != nullptr) {
    slot.capabilities.features->SetFeatureSource(&features_);
  }
  return slot;
}

void EngineState::SyncArmModels() {
  std::vector<ArmModel> kept;
  for (const ExperimentReport& report : feedback_.experiments().Reports()) {
    if (!report.running || report.learning == kPooledLearning) continue;
    const ExperimentSpec* spec = feedback_.experiments().FindSpec(report.name);
    for (const ExperimentArm& arm : spec->arms) {
      auto existing = std::find_if(arm_models_.begin(), arm_models_.end(), [&](const ArmModel& a) {
        return a.experiment == spec->name && a.arm == arm.name;
      });
      if (existing != arm_models_.end()) {
        kept.push_back(std::move(*existing));
        continue;
      }
      // Checked when logged (the model is live), so creating it fails only on a state whose
      // models changed since: the arm then serves with the live model.
      StatusOr<ModelSlot> slot = NewArmModel(*spec, arm);
      if (slot.ok()) kept.push_back(ArmModel{spec->name, arm.name, std::move(slot).value()});
    }
  }
  arm_models_ = std::move(kept);
}

ServingModel EngineState::FindArmModel(std::string_view experiment, std::string_view arm) const {
  for (const ArmModel& a : arm_models_) {
    if (a.experiment == experiment && a.arm == arm) {
      return ServingModel{a.slot.name, a.slot.type, a.slot.model.get(), a.slot.capabilities};
    }
  }
  return {};
}

void EngineState::SetDeferredLearning(bool on) {
  if (!on) FlushLearning();
  trainer_.SetDeferred(on);
}

void EngineState::FlushLearning() {
  trainer_.Flush();
  features_.ClearEvents();  // the flushed events' features
  retrieval_.Sync();
}

void EngineState::SetLearnInBackground(bool on) { trainer_.SetLearnInBackground(on); }

void EngineState::WaitForLearning(size_t max_queued) const { trainer_.WaitForLearning(max_queued); }

void EngineState::Apply(uint64_t seq, const LogEntry& entry) {
  LIVEREC_CHECK(seq > last_applied_seq_) << "seq " << seq << " after " << last_applied_seq_;
  // Metadata changes what feature-aware models read while learning, and a rollback replaces
  // the models: the events before them are learned first. Decisions and experiments change no
  // model input (a decision's negatives go through the trainer in order like events).
  const bool model_input =
      entry.kind == LogEntryKind::kPutItem || entry.kind == LogEntryKind::kDeleteItem ||
      entry.kind == LogEntryKind::kPutUser || entry.kind == LogEntryKind::kRollback ||
      entry.kind == LogEntryKind::kPutExperiment || entry.kind == LogEntryKind::kDeleteUser;
  if (model_input) FlushLearning();
  switch (entry.kind) {
    case LogEntryKind::kEvent:
      ApplyEvent(entry.event);
      break;
    case LogEntryKind::kPutItem: {
      const ItemId item = AddItem(entry.key);
      item_meta_[item] = std::make_unique<ItemMetadata>(entry.item);
      features_.SetItem(item, entry.item);
      std::vector<uint32_t>& cats = item_categories_[item];
      cats.clear();
      for (const std::string& c : entry.item.categories) cats.push_back(categories_.GetOrAdd(c));
      std::sort(cats.begin(), cats.end());
      recommendable_[item] = entry.item.available ? 1 : 0;
      break;
    }
    case LogEntryKind::kDeleteItem: {
      const ItemId item = items_.Find(entry.key);
      if (item != kInvalidId) recommendable_[item] = 0;
      break;
    }
    case LogEntryKind::kPutUser:
      user_meta_[AddUser(entry.key)] = std::make_unique<UserMetadata>(entry.user);
      break;
    case LogEntryKind::kRollback:
      break;
    case LogEntryKind::kDecision:
      feedback_.OnDecision(
          entry.decision, [this](std::string_view key) { return items_.Find(key); },
          [this](const std::string& user, ItemId item, int64_t time_ms) {
            LearnNegative(user, item, time_ms);
          });
      break;
    case LogEntryKind::kPutExperiment: {
      // Checked when it was logged; checked again against this state, so that a log written
      // under other models (a changed engine.models) skips what it can no longer serve.
      const auto model_exists = [this](std::string_view name) {
        return static_cast<bool>(FindModel(name));
      };
      if (feedback_.experiments().Check(entry.experiment, model_exists).ok()) {
        feedback_.experiments().Put(entry.experiment, entry.time_ms);
        SyncArmModels();
      }
      break;
    }
    case LogEntryKind::kStopExperiment:
      // Checked when it was logged; a second stop logged meanwhile changes nothing.
      if (!feedback_.experiments().Stop(entry.experiment.name, entry.time_ms).ok()) break;
      SyncArmModels();
      break;
    case LogEntryKind::kDeleteUser: {
      // Serving stops using the user at once: history, metadata, the models' rows of the user
      // and the id go as for an idle user. What the user taught the shared parameters stays
      // until the deletion's replay without the user replaces the models (kUnlearned).
      const UserId user = users_.Find(entry.key);
      if (user != kInvalidId) ForgetUser(user);
      break;
    }
    case LogEntryKind::kErased:
    case LogEntryKind::kUnlearned:
      // An erased record and the end of a deletion change nothing here: the engine swaps the
      // replayed models in when it applies kUnlearned (engine_deletions.cc); a replay of the
      // log has them already.
      break;
  }
  // The indexes follow the models wherever they learned (deferred events at the flush).
  if (!trainer_.deferring()) retrieval_.Sync();
  last_applied_seq_ = seq;
}

void EngineState::Save(std::vector<SnapshotSection>* sections) const {
  SectionCollector collector;
  LIVEREC_CHECK(Save(&collector).ok());  // in memory: nothing to fail
  *sections = std::move(collector.sections());
}

Status EngineState::Save(SectionSink* sink) const {
  trainer_.WaitForLearning(0);  // the models' steps, before their bytes
  LIVEREC_RETURN_IF_ERROR(
      sink->Add(kEngineSection, [this](BinaryWriter* writer) { SaveEngineSection(writer); }));
  LIVEREC_RETURN_IF_ERROR(
      sink->Add(kFeedbackSection, [this](BinaryWriter* out) { feedback_.Save(out); }));
  for (const ModelSlot& slot : models_) {
    LIVEREC_RETURN_IF_ERROR(
        sink->Add(std::string(kModelSectionPrefix) + slot.name, [&slot](BinaryWriter* out) {
          out->PutString(slot.type);
          slot.model->Save(out);
        }));
  }
  for (const ArmModel& arm : arm_models_) {
    LIVEREC_RETURN_IF_ERROR(sink->Add(
        std::string(kArmSectionPrefix) + arm.experiment + "/" + arm.arm, [&arm](BinaryWriter* out) {
          out->PutString(arm.slot.type);
          arm.slot.model->Save(out);
        }));
  }
  return Status::Ok();
}

void EngineState::SaveEngineSection(BinaryWriter* writer) const {
  BinaryWriter& out = *writer;
  out.Put(kStateFormatVersion);
  out.Put(last_applied_seq_);
  out.Put(events_applied_);
  out.Put(events_duplicate_);
  out.Put(clock_ms_);
  users_.Save(&out);
  items_.Save(&out);
  categories_.Save(&out);
  history_.Save(&out);
  out.Put<uint64_t>(recent_.size());
  for (const std::vector<RecentEvent>& recent : recent_) {
    out.Put<uint64_t>(recent.size());
    for (const RecentEvent& e : recent) {
      out.Put(e.item);
      out.Put(e.time_ms);
    }
  }
  out.Put<uint64_t>(user_meta_.size());
  for (const auto& meta : user_meta_) {
    out.Put<uint8_t>(meta != nullptr);
    if (meta == nullptr) continue;
    out.Put<uint64_t>(meta->attributes.size());
    for (const auto& [name, value] : meta->attributes) {
      out.PutString(name);
      out.PutString(value);
    }
  }
  out.Put<uint64_t>(item_meta_.size());
  for (const auto& meta : item_meta_) {
    out.Put<uint8_t>(meta != nullptr);
    if (meta != nullptr) SaveItemMeta(*meta, &out);
  }
  out.PutVector(recommendable_);
  out.Put<uint64_t>(dedup_order_.size());
  for (const std::string& id : dedup_order_) out.PutString(id);
  out.PutVector(user_seen_ms_);
  out.Put(next_sweep_ms_);
  out.Put(users_forgotten_);
  out.PutVector(item_seen_ms_);
  out.Put(next_item_sweep_ms_);
  out.Put(items_forgotten_);
}

Status EngineState::Load(const Snapshot& snapshot, std::vector<std::string>* fresh_models) {
  const SnapshotSection* engine = snapshot.Find(kEngineSection);
  if (engine == nullptr) return Corruption("snapshot has no 'engine' section");
  FlushLearning();              // a rollback mid-replay replaces models that may still owe events
  trainer_.WaitForLearning(0);  // Load replaces the state the queued steps would update
  // The sections are independent, and on a large state each takes seconds: the models load on
  // threads of their own while this one loads the engine section (restart time).
  std::vector<Status> model_status(models_.size());
  std::vector<std::thread> loaders;
  for (size_t m = 0; m < models_.size(); ++m) {
    ModelSlot& slot = models_[m];
    const SnapshotSection* section = snapshot.Find(std::string(kModelSectionPrefix) + slot.name);
    if (section == nullptr) {
      if (fresh_models != nullptr) fresh_models->push_back(slot.name);
      continue;
    }
    loaders.emplace_back([&slot, section, status = &model_status[m]] {
      *status = LoadModelSection(section->payload, &slot);
    });
  }
  Status engine_status = LoadEngineSection(engine->payload);
  if (engine_status.ok()) {
    // Snapshots from before decisions were recorded have no feedback section: none open.
    FeedbackLoop feedback(feedback_.options());
    if (const SnapshotSection* section = snapshot.Find(kFeedbackSection)) {
      BinaryReader in(section->payload);
      engine_status = feedback.Load(&in);
    }
    if (engine_status.ok()) feedback_ = std::move(feedback);
  }
  for (std::thread& loader : loaders) loader.join();
  // Whatever loaded, even when a section failed: an ensemble's Load replaces its members.
  ResetRetrieval();
  LIVEREC_RETURN_IF_ERROR(engine_status);
  for (const Status& status : model_status) LIVEREC_RETURN_IF_ERROR(status);
  // The arms' own models: made for the loaded experiments, then given their saved state.
  arm_models_.clear();
  SyncArmModels();
  for (ArmModel& arm : arm_models_) {
    const std::string name = std::string(kArmSectionPrefix) + arm.experiment + "/" + arm.arm;
    const SnapshotSection* section = snapshot.Find(name);
    if (section == nullptr) return Corruption("snapshot has no section '" + name + "'");
    LIVEREC_RETURN_IF_ERROR(LoadModelSection(section->payload, &arm.slot).WithPrefix(name));
  }

  // Candidates: every item with a positive event, in id order (ranking ties are broken at
  // random, so the order does not matter).
  candidates_ = CandidateSet();
  for (UserId user = 0; user < history_.num_users(); ++user) {
    for (ItemId item : history_.Items(user)) candidates_.Observe(item, clock_ms_);
  }
  return Status::Ok();
}

Status EngineState::LoadModelSection(std::string_view payload, ModelSlot* slot) {
  BinaryReader in(payload);
  std::string type;
  LIVEREC_RETURN_IF_ERROR(in.GetString(&type));
  if (type != slot->type) {
    return Corruption("snapshot model '" + slot->name + "' has type " + type + ", configured as " +
                      slot->type);
  }
  return slot->model->Load(&in).WithPrefix("model " + slot->name);
}

Status EngineState::LoadEngineSection(std::string_view payload) {
  BinaryReader in(payload);
  uint32_t version = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&version));
  if (version < 1 || version > kStateFormatVersion) {
    return Corruption("unsupported engine state version " + std::to_string(version));
  }
  LIVEREC_RETURN_IF_ERROR(in.Get(&last_applied_seq_));
  LIVEREC_RETURN_IF_ERROR(in.Get(&events_applied_));
  LIVEREC_RETURN_IF_ERROR(in.Get(&events_duplicate_));
  LIVEREC_RETURN_IF_ERROR(in.Get(&clock_ms_));
  LIVEREC_RETURN_IF_ERROR(users_.Load(&in));
  LIVEREC_RETURN_IF_ERROR(items_.Load(&in));
  LIVEREC_RETURN_IF_ERROR(categories_.Load(&in));
  LIVEREC_RETURN_IF_ERROR(history_.Load(&in));
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(GetCount(&in, &n));
  recent_.assign(n, {});
  for (std::vector<RecentEvent>& recent : recent_) {
    uint64_t m = 0;
    LIVEREC_RETURN_IF_ERROR(GetCount(&in, &m));
    recent.resize(m);
    for (RecentEvent& e : recent) {
      LIVEREC_RETURN_IF_ERROR(in.Get(&e.item));
      LIVEREC_RETURN_IF_ERROR(in.Get(&e.time_ms));
    }
  }
  LIVEREC_RETURN_IF_ERROR(GetCount(&in, &n));
  user_meta_.clear();
  user_meta_.resize(n);
  for (auto& meta : user_meta_) {
    uint8_t present = 0;
    LIVEREC_RETURN_IF_ERROR(in.Get(&present));
    if (present == 0) continue;
    meta = std::make_unique<UserMetadata>();
    uint64_t m = 0;
    LIVEREC_RETURN_IF_ERROR(GetCount(&in, &m));
    meta->attributes.resize(m);
    for (auto& [name, value] : meta->attributes) {
      LIVEREC_RETURN_IF_ERROR(in.GetString(&name));
      LIVEREC_RETURN_IF_ERROR(in.GetString(&value));
    }
  }
  LIVEREC_RETURN_IF_ERROR(GetCount(&in, &n));
  item_meta_.clear();
  item_meta_.resize(n);
  item_categories_.assign(n, {});
  features_.Clear();
  for (size_t item = 0; item < n; ++item) {
    uint8_t present = 0;
    LIVEREC_RETURN_IF_ERROR(in.Get(&present));
    if (present == 0) continue;
    item_meta_[item] = std::make_unique<ItemMetadata>();
    LIVEREC_RETURN_IF_ERROR(LoadItemMeta(&in, item_meta_[item].get()));
    for (const std::string& c : item_meta_[item]->categories) {
      const uint32_t id = categories_.Find(c);
      if (id == kInvalidId) return Corruption("engine state: unknown category '" + c + "'");
      item_categories_[item].push_back(id);
    }
    std::sort(item_categories_[item].begin(), item_categories_[item].end());
    features_.SetItem(static_cast<ItemId>(item), *item_meta_[item]);
  }
  LIVEREC_RETURN_IF_ERROR(in.GetVector(&recommendable_));
  LIVEREC_RETURN_IF_ERROR(GetCount(&in, &n));
  dedup_order_.assign(n, {});
  dedup_ids_.clear();
  for (std::string& id : dedup_order_) {
    LIVEREC_RETURN_IF_ERROR(in.GetString(&id));
    dedup_ids_.insert(id);
  }
  if (version >= 2) {
    LIVEREC_RETURN_IF_ERROR(in.GetVector(&user_seen_ms_));
    LIVEREC_RETURN_IF_ERROR(in.Get(&next_sweep_ms_));
    LIVEREC_RETURN_IF_ERROR(in.Get(&users_forgotten_));
  } else {
    user_seen_ms_.assign(users_.size(), clock_ms_);
    next_sweep_ms_ = 0;
    users_forgotten_ = 0;
  }
  if (version >= 3) {
    LIVEREC_RETURN_IF_ERROR(in.GetVector(&item_seen_ms_));
    LIVEREC_RETURN_IF_ERROR(in.Get(&next_item_sweep_ms_));
    LIVEREC_RETURN_IF_ERROR(in.Get(&items_forgotten_));
  } else {
    item_seen_ms_.assign(items_.size(), clock_ms_);
    next_item_sweep_ms_ = 0;
    items_forgotten_ = 0;
  }
  if (in.remaining() != 0) return Corruption("engine state: trailing bytes");
  if (recent_.size() != users_.size() || user_meta_.size() != users_.size() ||
      user_seen_ms_.size() != users_.size() || item_meta_.size() != items_.size() ||
      recommendable_.size() != items_.size() || item_seen_ms_.size() != items_.size()) {
    return Corruption("engine state: tables disagree with the id maps");
  }
  return Status::Ok();
}

}  // namespace liverec
