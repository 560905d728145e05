#include "engine/feedback.h"

#include <algorithm>
#include <array>

#include "common/check.h"

namespace liverec {
namespace {

constexpr uint32_t kFeedbackFormatVersion = 1;
// Upper bounds (ms) of the time-to-first-click histogram; the last is infinite.
constexpr double kDelayBounds[] = {100, 1000, 10'000, 60'000, 600'000, 3'600'000, 1e300};
constexpr size_t kNumDelayBounds = sizeof(kDelayBounds) / sizeof(kDelayBounds[0]);

}  // namespace

FeedbackOptions FeedbackOptions::FromOptions(const Options& options) {
  FeedbackOptions out;
  out.join_window_ms =
      static_cast<int64_t>(options.GetDurationSeconds("", "feedback", "join_window") * 1000);
  out.max_open = static_cast<size_t>(options.GetInt("", "feedback", "max_open"));
  out.negative_weight = static_cast<float>(options.GetFloat("", "feedback", "negative_weight"));
  return out;
}

bool ParseRecommendationId(std::string_view text, uint64_t* id) {
  if (text.size() != 16) return false;
  uint64_t v = 0;
  for (char c : text) {
    uint64_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return false;
    }
    v = (v << 4) | digit;
  }
  *id = v;
  return true;
}

void FeedbackLoop::OnDecision(const DecisionRecord& decision,
                              const std::function<ItemId(std::string_view)>& item_id,
                              const NegativeSink& negatives) {
  Advance(decision.time_ms, negatives);
  if (!decision.error.empty()) {  // a failed request: no list to join, an arm's error
    experiments_.OnDecision(decision.experiment, decision.arm, decision.user, decision.latency_us,
                            /*failed=*/true, decision.time_ms);
    return;
  }
  uint64_t id = 0;
  if (!ParseRecommendationId(decision.recommendation_id, &id) || open_.count(id) != 0 ||
      closed_.count(id) != 0) {
    return;  // not an id the engine makes, or one already seen: nothing can join it twice
  }
  ++decisions_;
  ++models_[decision.model].decisions;
  if (!decision.experiment.empty()) {
    experiments_.OnDecision(decision.experiment, decision.arm, decision.user, decision.latency_us,
                            /*failed=*/false, decision.time_ms);
  }
  Open& open = open_[id];
  open.time_ms = decision.time_ms;
  open.user = decision.user;
  open.model = decision.model;
  open.experiment = decision.experiment;
  open.arm = decision.arm;
  for (const DecisionRecord::Shown& shown : decision.items) {
    const ItemId item = item_id(shown.item);
    if (item == kInvalidId) continue;
    Slot& slot = open.slots.emplace_back(Slot{item, shown.score});
    if (!shown.team.empty()) {
      slot.team = static_cast<int8_t>(experiments_.ArmIndex(decision.experiment, shown.team));
    }
  }
  order_.push_back(id);
  latest_[decision.user] = id;
  Advance(clock_ms_, negatives);  // over the cap: close the oldest
}

void FeedbackLoop::OnEvent(const EventRecord& record, ItemId item, float weight, bool impression,
                           int64_t time_ms, const NegativeSink& negatives) {
  Advance(time_ms, negatives);
  const bool positive = weight > 0 && !impression;
  if (!record.recommendation_id.empty()) {
    uint64_t id = 0;
    const bool parsed = ParseRecommendationId(record.recommendation_id, &id);
    auto it = parsed ? open_.find(id) : open_.end();
    if (it == open_.end()) {
      ++(parsed && closed_.count(id) != 0 ? late_ : unmatched_);
    } else {
      ++joined_;
      Open& open = it->second;
      for (Slot& slot : open.slots) {
        if (slot.item != item) continue;
        if (impression) {
          open.client_impressions = true;
          slot.seen = true;
        } else if (positive && !slot.clicked) {
          slot.clicked = true;
          if (!open.clicked_any) {
            open.clicked_any = true;
            const double delay = static_cast<double>(std::max<int64_t>(0, time_ms - open.time_ms));
            if (delay_counts_.empty()) delay_counts_.assign(kNumDelayBounds, 0);
            size_t b = 0;
            while (delay > kDelayBounds[b]) ++b;
            ++delay_counts_[b];
            delay_sum_ms_ += delay;
          }
        }
        break;
      }
    }
  }
  if (positive) {
    auto latest = latest_.find(record.user);
    if (latest != latest_.end()) {
      Open& open = open_.at(latest->second);
      if (!open.evaluated && time_ms >= open.time_ms) Evaluate(&open, item);
    }
  }
}

void FeedbackLoop::ForgetItems(const std::vector<uint8_t>& forgotten) {
  for (auto& entry : open_) {
    for (Slot& slot : entry.second.slots) {
      if (slot.item < forgotten.size() && forgotten[slot.item] != 0) slot.item = kInvalidId;
    }
  }
}

void FeedbackLoop::Evaluate(Open* decision, ItemId item) {
  decision->evaluated = true;
  uint32_t position = 0;
  for (size_t i = 0; i < decision->slots.size(); ++i) {
    if (decision->slots[i].item == item) {
      position = static_cast<uint32_t>(i + 1);
      break;
    }
  }
  if (!decision->experiment.empty()) {
    experiments_.OnEvaluated(decision->experiment, decision->arm, position);
  }
}

void FeedbackLoop::Advance(int64_t time_ms, const NegativeSink& negatives) {
  clock_ms_ = std::max(clock_ms_, time_ms);
  while (!order_.empty()) {
    const uint64_t id = order_.front();
    const Open& open = open_.at(id);
    const bool expired = open.time_ms + options_.join_window_ms <= clock_ms_;
    if (!expired && open_.size() <= options_.max_open) break;
    Close(id, negatives);
  }
}

void FeedbackLoop::Close(uint64_t id, const NegativeSink& negatives) {
  LIVEREC_CHECK(!order_.empty() && order_.front() == id);
  order_.pop_front();
  auto node = open_.extract(id);
  Open& open = node.mapped();
  uint64_t impressions = 0;
  uint64_t clicked = 0;
  std::array<uint64_t, 2> team_impressions = {0, 0};
  std::array<uint64_t, 2> team_clicks = {0, 0};
  bool interleaved = false;
  ModelFigures& model = models_[open.model];
  for (const Slot& slot : open.slots) {
    if (open.client_impressions && !slot.seen && !slot.clicked) continue;
    ++impressions;
    if (slot.team >= 0) {
      interleaved = true;
      ++team_impressions[static_cast<size_t>(slot.team)];
      team_clicks[static_cast<size_t>(slot.team)] += slot.clicked ? 1 : 0;
    }
    if (slot.clicked) {
      ++clicked;
      for (const Slot& other : open.slots) {
        if (other.clicked || (open.client_impressions && !other.seen)) continue;
        ++model.pairs;
        model.concordant += slot.score > other.score ? 1 : slot.score == other.score ? 0.5 : 0;
      }
    } else if (negatives && slot.item != kInvalidId) {
      negatives(open.user, slot.item, clock_ms_);
    }
  }
  impressions_ += impressions;
  clicks_ += clicked;
  model.impressions += impressions;
  model.clicks += clicked;
  if (interleaved) {
    experiments_.OnInterleavedClosed(open.experiment, team_impressions, team_clicks);
  } else if (!open.experiment.empty()) {
    experiments_.OnClosed(open.experiment, open.arm, impressions, clicked, clock_ms_);
  }
  auto latest = latest_.find(open.user);
  if (latest != latest_.end() && latest->second == id) latest_.erase(latest);
  closed_.insert(id);
  closed_order_.push_back(id);
  while (closed_order_.size() > options_.max_open) {
    closed_.erase(closed_order_.front());
    closed_order_.pop_front();
  }
}

FeedbackStats FeedbackLoop::Stats() const {
  FeedbackStats s;
  s.decisions = decisions_;
  s.open_decisions = open_.size();
  s.joined = joined_;
  s.late = late_;
  s.unmatched = unmatched_;
  s.impressions = impressions_;
  s.clicks = clicks_;
  s.feedback_delay_sum_ms = delay_sum_ms_;
  for (size_t b = 0; b < kNumDelayBounds; ++b) {
    s.feedback_delay.emplace_back(kDelayBounds[b], delay_counts_.empty() ? 0 : delay_counts_[b]);
  }
  for (const auto& [name, m] : models_) {
    FeedbackStats::Model& out = s.models.emplace_back();
    out.name = name;
    out.decisions = m.decisions;
    out.impressions = m.impressions;
    out.clicks = m.clicks;
    out.ctr = m.impressions == 0 ? 0 : static_cast<double>(m.clicks) / m.impressions;
    out.auc = m.pairs == 0 ? 0.5 : m.concordant / static_cast<double>(m.pairs);
  }
  return s;
}

void FeedbackLoop::Save(BinaryWriter* out) const {
  out->Put(kFeedbackFormatVersion);
  out->Put(clock_ms_);
  out->Put<uint64_t>(order_.size());
  for (uint64_t id : order_) {
    const Open& open = open_.at(id);
    out->Put(id);
    out->Put(open.time_ms);
    out->PutString(open.user);
    out->PutString(open.model);
    out->PutString(open.experiment);
    out->PutString(open.arm);
    out->Put<uint8_t>(open.client_impressions | (open.evaluated << 1) | (open.clicked_any << 2));
    out->Put<uint64_t>(open.slots.size());
    for (const Slot& slot : open.slots) {
      out->Put(slot.item);
      out->Put(slot.score);
      // Bits 2 and 3: the slot has a team, and which (older snapshots have neither).
      out->Put<uint8_t>(slot.clicked | (slot.seen << 1) | ((slot.team >= 0) << 2) |
                        ((slot.team == 1) << 3));
    }
  }
  out->Put<uint64_t>(closed_order_.size());
  for (uint64_t id : closed_order_) out->Put(id);
  out->Put(decisions_);
  out->Put(joined_);
  out->Put(late_);
  out->Put(unmatched_);
  out->Put(impressions_);
  out->Put(clicks_);
  out->PutVector(delay_counts_);
  out->Put(delay_sum_ms_);
  out->Put<uint64_t>(models_.size());
  for (const auto& [name, m] : models_) {
    out->PutString(name);
    out->Put(m.decisions);
    out->Put(m.impressions);
    out->Put(m.clicks);
    out->Put(m.concordant);
    out->Put(m.pairs);
  }
  experiments_.Save(out);
}

Status FeedbackLoop::Load(BinaryReader* in) {
  uint32_t version = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&version));
  if (version != kFeedbackFormatVersion) {
    return Corruption("feedback: format version " + std::to_string(version));
  }
  FeedbackLoop loaded(options_);
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.clock_ms_));
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&id));
    Open& open = loaded.open_[id];
    LIVEREC_RETURN_IF_ERROR(in->Get(&open.time_ms));
    LIVEREC_RETURN_IF_ERROR(in->GetString(&open.user));
    LIVEREC_RETURN_IF_ERROR(in->GetString(&open.model));
    LIVEREC_RETURN_IF_ERROR(in->GetString(&open.experiment));
    LIVEREC_RETURN_IF_ERROR(in->GetString(&open.arm));
    uint8_t flags = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&flags));
    open.client_impressions = flags & 1;
    open.evaluated = flags & 2;
    open.clicked_any = flags & 4;
    uint64_t slots = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&slots));
    if (slots > kMaxEventRecordContextPairs) return Corruption("feedback: slots");
    open.slots.resize(slots);
    for (Slot& slot : open.slots) {
      LIVEREC_RETURN_IF_ERROR(in->Get(&slot.item));
      LIVEREC_RETURN_IF_ERROR(in->Get(&slot.score));
      uint8_t slot_flags = 0;
      LIVEREC_RETURN_IF_ERROR(in->Get(&slot_flags));
      slot.clicked = slot_flags & 1;
      slot.seen = slot_flags & 2;
      slot.team = (slot_flags & 4) != 0 ? static_cast<int8_t>((slot_flags >> 3) & 1) : -1;
    }
    loaded.order_.push_back(id);
    loaded.latest_[open.user] = id;
  }
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&id));
    loaded.closed_.insert(id);
    loaded.closed_order_.push_back(id);
  }
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.decisions_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.joined_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.late_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.unmatched_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.impressions_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.clicks_));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.delay_counts_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.delay_sum_ms_));
  if (!loaded.delay_counts_.empty() && loaded.delay_counts_.size() != kNumDelayBounds) {
    return Corruption("feedback: delay histogram");
  }
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    LIVEREC_RETURN_IF_ERROR(in->GetString(&name));
    ModelFigures& m = loaded.models_[name];
    LIVEREC_RETURN_IF_ERROR(in->Get(&m.decisions));
    LIVEREC_RETURN_IF_ERROR(in->Get(&m.impressions));
    LIVEREC_RETURN_IF_ERROR(in->Get(&m.clicks));
    LIVEREC_RETURN_IF_ERROR(in->Get(&m.concordant));
    LIVEREC_RETURN_IF_ERROR(in->Get(&m.pairs));
  }
  LIVEREC_RETURN_IF_ERROR(loaded.experiments_.Load(in));
  *this = std::move(loaded);
  return Status::Ok();
}

}  // namespace liverec
