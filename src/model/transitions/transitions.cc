#include "model/transitions/transitions.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/check.h"

namespace liverec {
namespace {

// Marks ids that the model never learned (real counts are >= 0).
constexpr double kNotLearned = -1;

// Counts that decay below this share of a fresh event (2^-100) are flushed to 0 when the decay
// renormalizes, as in item_knn: they can no longer move a ranking, and flushing keeps them out
// of the float subnormals.
const double kNegligibleCount = std::ldexp(1.0, -100);

// "trns", little-endian; format version of Save.
constexpr uint32_t kTransitionsTag = 0x736e7274;
constexpr uint32_t kTransitionsVersion = 1;

size_t WindowOrDie(int64_t window) {
  LIVEREC_CHECK(window >= 1) << "transitions.window " << window;
  return static_cast<size_t>(window);
}

// Positions of the scored candidates by item id: an open-addressing table of at least twice
// as many slots as candidates, so that it stays in cache whatever the catalogue's size.
class CandidatePositions {
 public:
  static constexpr uint32_t kNowhere = UINT32_MAX;

  // Indexes items[i] for every i with out[i] != kUnscored; false when an item repeats (the
  // caller then looks each one up).
  bool Index(std::span<const ItemId> items, const float* out) {
    size_t capacity = 16;
    shift_ = 60;
    while (capacity < 2 * items.size()) capacity *= 2, --shift_;
    slots_.assign(capacity, Slot{kInvalidId, kNowhere});
    mask_ = capacity - 1;
    for (size_t i = 0; i < items.size(); ++i) {
      if (out[i] == kUnscored) continue;
      size_t s = Home(items[i]);
      for (; slots_[s].item != kInvalidId; s = (s + 1) & mask_) {
        if (slots_[s].item == items[i]) return false;
      }
      slots_[s] = Slot{items[i], static_cast<uint32_t>(i)};
    }
    return true;
  }

  // The position of `item`, or kNowhere.
  uint32_t Find(ItemId item) const {
    for (size_t s = Home(item);; s = (s + 1) & mask_) {
      if (slots_[s].item == item) return slots_[s].position;
      if (slots_[s].item == kInvalidId) return kNowhere;
    }
  }

 private:
  struct Slot {
    ItemId item;
    uint32_t position;
  };
  // Fibonacci hashing: the top bits of the product.
  size_t Home(ItemId item) const { return (item * uint64_t{0x9E3779B97F4A7C15}) >> shift_; }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 60;  // 64 - log2(slots)
};

}  // namespace

TransitionsModel::TransitionsModel(const OptionView& options, const Context& context)
    : TransitionsModel(WindowOrDie(options.Int("window")), options.DurationSeconds("half_life"),
                       options.Float("older_weight"), options.Float("backoff")) {}

TransitionsModel::TransitionsModel(size_t window, double half_life_s, double older_weight,
                                   double backoff)
    : window_(window),
      older_weight_(static_cast<float>(older_weight)),
      backoff_(backoff),
      decay_(half_life_s) {
  LIVEREC_CHECK(window >= 1 && older_weight >= 0 && older_weight <= 1 && backoff >= 0);
}

void TransitionsModel::Grow(const Event& event) {
  if (event.item >= out_counts_.size()) {
    out_counts_.resize(size_t{event.item} + 1, kNotLearned);
    in_counts_.resize(size_t{event.item} + 1, 0);
    successors_.resize(size_t{event.item} + 1);
  }
  if (event.user >= last_.size()) last_.resize(size_t{event.user} + 1);
  out_counts_[event.item] = std::max(out_counts_[event.item], 0.0);
}

void TransitionsModel::Rescale(double factor) {
  for (std::vector<double>* counts : {&out_counts_, &in_counts_}) {
    for (double& count : *counts) {
      if (count <= 0) continue;
      count *= factor;
      if (count < kNegligibleCount) count = 0;
    }
  }
  total_count_ *= factor;
  // factor is a power of two (ForwardDecay): exact in float unless the product is negligible.
  const float float_factor = static_cast<float>(factor);
  const float negligible = static_cast<float>(kNegligibleCount);
  for (FlatMap& map : successors_) {
    map.Scale(float_factor);
    map.FlushBelow(negligible);
  }
}

void TransitionsModel::PushLast(UserId user, ItemId item) {
  std::vector<ItemId>& last = last_[user];
  const auto it = std::find(last.begin(), last.end(), item);
  if (it != last.end()) {
    last.erase(it);
  } else if (last.size() == window_) {
    last.erase(last.begin());
  }
  last.push_back(item);
}

void TransitionsModel::Learn(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId);
  // Negative feedback is not a step of the user's path: it joins neither counts nor history.
  if (event.weight <= 0) return;
  Grow(event);
  const ForwardDecay::Step step = decay_.Observe(event.time_ms);
  if (step.rescale != 1) Rescale(step.rescale);
  const double weight = step.weight * event.weight;
  in_counts_[event.item] += weight;
  total_count_ += weight;
  const std::vector<ItemId>& last = last_[event.user];
  if (!last.empty() && last.back() != event.item) {
    successors_[last.back()].Add(event.item, static_cast<float>(weight));
    out_counts_[last.back()] += weight;
  }
  PushLast(event.user, event.item);
}

void TransitionsModel::Observe(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId);
  // An item the model never learned would enter the user's history as a state without counts;
  // it is skipped so that Load's invariant (history items are learned) holds.
  if (event.weight <= 0 || !Known(event.item)) return;
  if (event.user >= last_.size()) last_.resize(size_t{event.user} + 1);
  PushLast(event.user, event.item);
}

void TransitionsModel::ForgetItems(std::span<const ItemId> items) {
  thread_local std::vector<uint8_t> forgotten;
  MarkItems(items, &forgotten);
  bool any = false;
  for (const ItemId item : items) {
    if (!Known(item)) continue;
    any = true;
    // Subtraction leaves rounding dust where the sums should be 0: clamped, as counts are >= 0.
    total_count_ = std::max(total_count_ - in_counts_[item], 0.0);
    in_counts_[item] = 0;
    out_counts_[item] = kNotLearned;
    successors_[item] = FlatMap();
  }
  if (!any) return;
  const auto named = [&](uint32_t key) { return key < forgotten.size() && forgotten[key] != 0; };
  for (size_t j = 0; j < successors_.size(); ++j) {
    double taken = 0;
    successors_[j].ForEach([&](uint32_t key, float value) {
      if (named(key)) taken += value;
    });
    if (successors_[j].EraseIf(named) > 0) {
      out_counts_[j] = std::max(out_counts_[j] - taken, 0.0);
    }
  }
  for (std::vector<ItemId>& last : last_) std::erase_if(last, named);
}

void TransitionsModel::ForgetUser(UserId user) {
  if (user < last_.size()) last_[user] = {};
}

std::span<const ItemId> TransitionsModel::LastItems(UserId user) const {
  if (user >= last_.size()) return {};
  return last_[user];
}

void TransitionsModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  const std::span<const ItemId> last = LastItems(user);
  const float popularity_scale =
      total_count_ > 0 ? static_cast<float>(backoff_ / total_count_) : 0.0f;
  for (size_t i = 0; i < items.size(); ++i) {
    out[i] =
        Known(items[i]) ? static_cast<float>(in_counts_[items[i]]) * popularity_scale : kUnscored;
  }
  // Each item's terms are added newest first either way (the same float sums): by looking up
  // every item in each successor map, or, when the maps hold fewer slots than that makes
  // lookups (a thousand candidates against a few dozen successors), by walking the maps and
  // looking their items up among the candidates, in a table of the candidates' positions.
  size_t slots = 0;
  for (const ItemId from : last) slots += successors_[from].capacity();
  thread_local CandidatePositions positions;
  const bool walk = slots < items.size() * last.size() && positions.Index(items, out);
  float factor = 1;
  // Newest first, so that the factor halves per step back.
  for (auto it = last.rbegin(); it != last.rend(); ++it, factor *= older_weight_) {
    const FlatMap& map = successors_[*it];
    const double out_count = out_counts_[*it];
    if (map.empty() || out_count <= 0) continue;
    const float scale = static_cast<float>(factor / out_count);
    if (walk) {
      map.ForEach([&](uint32_t to, float count) {
        const uint32_t i = positions.Find(to);
        if (i != CandidatePositions::kNowhere) out[i] += count * scale;
      });
      continue;
    }
    for (size_t i = 0; i < items.size(); ++i) {
      if (out[i] == kUnscored) continue;
      const float* count = map.Find(items[i]);
      if (count != nullptr) out[i] += *count * scale;
    }
  }
}

void TransitionsModel::Candidates(UserId user, size_t n, std::vector<ItemId>* out) const {
  thread_local std::vector<ItemId> items;
  thread_local std::vector<float> scores;
  thread_local std::vector<size_t> order;
  items.clear();
  for (const ItemId from : LastItems(user)) {
    successors_[from].ForEach([&](uint32_t to, float count) {
      if (count > 0) items.push_back(to);
    });
  }
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  scores.resize(items.size());
  Score(user, items, scores.data());
  order.resize(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const size_t keep = std::min(n, order.size());
  // items is sorted, so breaking ties by position breaks them by lower id.
  std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(keep), order.end(),
                    [](size_t a, size_t b) {
                      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
                    });
  for (size_t i = 0; i < keep; ++i) out->push_back(items[order[i]]);
}

double TransitionsModel::TransitionCount(ItemId from, ItemId to, int64_t time_ms) const {
  if (!Known(from)) return 0;
  return successors_[from].Get(to) * decay_.ScaleTo(time_ms);
}

double TransitionsModel::OutCount(ItemId from, int64_t time_ms) const {
  if (!Known(from)) return 0;
  return out_counts_[from] * decay_.ScaleTo(time_ms);
}

std::unique_ptr<Model> TransitionsModel::Clone() const {
  return std::make_unique<TransitionsModel>(*this);
}

void TransitionsModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kTransitionsTag);
  out->Put<uint32_t>(kTransitionsVersion);
  out->Put<uint32_t>(static_cast<uint32_t>(window_));
  decay_.Save(out);
  out->PutVector(out_counts_);
  out->PutVector(in_counts_);
  out->Put<double>(total_count_);
  for (const FlatMap& map : successors_) map.Save(out);
  out->Put<uint64_t>(last_.size());
  for (const std::vector<ItemId>& last : last_) {
    out->Put<uint32_t>(static_cast<uint32_t>(last.size()));
    out->PutBytes(last.data(), last.size() * sizeof(ItemId));
  }
}

Status TransitionsModel::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kTransitionsTag, kTransitionsVersion, "transitions"));
  uint32_t window = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&window));
  if (window != window_) {
    return FailedPrecondition("transitions: state was saved with window " + std::to_string(window) +
                              ", this model has " + std::to_string(window_));
  }
  TransitionsModel loaded(window_, decay_.half_life_s(), older_weight_, backoff_);
  loaded.decay_ = decay_;  // the half-life exactly as configured, which Load compares against
  LIVEREC_RETURN_IF_ERROR(loaded.decay_.Load(in).WithPrefix("transitions"));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.out_counts_).WithPrefix("transitions counts"));
  const size_t num_items = loaded.out_counts_.size();
  if (num_items > kInvalidId) {
    return Corruption("transitions: " + std::to_string(num_items) + " items");
  }
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.in_counts_).WithPrefix("transitions counts"));
  LIVEREC_RETURN_IF_ERROR(in->Get(&loaded.total_count_).WithPrefix("transitions counts"));
  if (loaded.in_counts_.size() != num_items || !std::isfinite(loaded.total_count_) ||
      loaded.total_count_ < 0) {
    return Corruption("transitions: " + std::to_string(loaded.in_counts_.size()) +
                      " in counts for " + std::to_string(num_items) + " items, total " +
                      std::to_string(loaded.total_count_));
  }
  for (size_t i = 0; i < num_items; ++i) {
    const double count = loaded.out_counts_[i];
    const double in_count = loaded.in_counts_[i];
    if (!std::isfinite(count) || (count < 0 && count != kNotLearned) || !std::isfinite(in_count) ||
        in_count < 0) {
      return Corruption("transitions: counts of item " + std::to_string(i) + " are " +
                        std::to_string(count) + " out, " + std::to_string(in_count) + " in");
    }
  }
  loaded.successors_.resize(num_items);
  for (size_t i = 0; i < num_items; ++i) {
    FlatMap& map = loaded.successors_[i];
    LIVEREC_RETURN_IF_ERROR(map.Load(in, static_cast<uint32_t>(num_items))
                                .WithPrefix("transitions: item " + std::to_string(i)));
    // Scoring relies on every successor being a learned item other than this one.
    bool consistent = map.empty() || loaded.Known(static_cast<ItemId>(i));
    map.ForEach(
        [&](uint32_t to, float) { consistent = consistent && to != i && loaded.Known(to); });
    if (!consistent) {
      return Corruption("transitions: successors of item " + std::to_string(i) +
                        " include itself or an item never learned");
    }
  }
  uint64_t num_users = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_users));
  if (num_users > in->remaining() / sizeof(uint32_t) || num_users > kInvalidId) {
    return Corruption("transitions: " + std::to_string(num_users) + " users in " +
                      std::to_string(in->remaining()) + " bytes");
  }
  loaded.last_.resize(num_users);
  for (uint64_t u = 0; u < num_users; ++u) {
    uint32_t size = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&size));
    if (size > window_) {
      return Corruption("transitions: user " + std::to_string(u) + " has " + std::to_string(size) +
                        " last items, more than " + std::to_string(window_));
    }
    std::vector<ItemId>& last = loaded.last_[u];
    last.resize(size);
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(last.data(), size * sizeof(ItemId)));
    for (size_t k = 0; k < size; ++k) {
      const bool repeated = std::find(last.begin(), last.begin() + k, last[k]) != last.begin() + k;
      if (!loaded.Known(last[k]) || repeated) {
        return Corruption("transitions: last items of user " + std::to_string(u) + " hold item " +
                          std::to_string(last[k]) + (repeated ? " twice" : ", never learned"));
      }
    }
  }
  *this = std::move(loaded);
  return Status::Ok();
}

size_t TransitionsModel::MemoryBytes() const {
  size_t bytes = (out_counts_.capacity() + in_counts_.capacity()) * sizeof(double) +
                 successors_.capacity() * sizeof(FlatMap) +
                 last_.capacity() * sizeof(std::vector<ItemId>);
  for (const FlatMap& map : successors_) bytes += map.MemoryBytes();
  for (const std::vector<ItemId>& last : last_) bytes += last.capacity() * sizeof(ItemId);
  return bytes;
}

}  // namespace liverec
