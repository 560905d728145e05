#include "model/item_knn/item_knn.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>

#include "common/check.h"

namespace liverec {
namespace {

// Marks ids that the model never learned (real counts are >= 0).
constexpr double kNotLearned = -1;

// Counts below this (in units where a fresh event weighs >= 1) are events ~100 half-lives old:
// renormalization drops them to 0 instead of letting them sink into subnormals, which are slow
// and whose inverse square roots would overflow a float.
constexpr double kNegligibleCount = 0x1p-100;

// Scoring probes each (window item, candidate) pair instead of scattering whole neighbour
// lists when that touches fewer slots; one probe (a likely cache miss) costs about as much as
// this many slots of a sequential scan (measured on ML-100K).
constexpr size_t kProbeCostSlots = 8;

// Clearing the accumulator by a sequential fill of the whole catalogue beats clearing the
// scattered entries again while the catalogue is at most this many times the slots scattered.
constexpr size_t kFillCostRatio = 4;

// "iknn", little-endian; format version of Save.
constexpr uint32_t kItemKnnTag = 0x6e6e6b69;
constexpr uint32_t kItemKnnVersion = 2;  // 2: max_neighbours

// Per-thread scoring accumulator, indexed by item id, with one spare entry at the end that
// absorbs the (zero) values of empty slots so the scatter loop needs no branch. Score is const
// and runs on many threads at once, so it cannot live in the model; one per thread, grown to
// the catalogue, is reused by every call (and every model) on that thread. Invariant between
// calls: all zero.
std::vector<float>& ThreadSums() {
  thread_local std::vector<float> sums;
  return sums;
}

KnnSimilarity SimilarityOrDie(const std::string& name) {
  StatusOr<KnnSimilarity> similarity = ParseKnnSimilarity(name);
  // The option table only lets declared choices through, so a failure here is a bug.
  LIVEREC_CHECK(similarity.ok()) << similarity.status().ToString();
  return *similarity;
}

size_t WindowOrDie(int64_t window) {
  LIVEREC_CHECK(window >= 1) << "item_knn.window " << window;
  return static_cast<size_t>(window);
}

size_t MaxNeighboursOrDie(int64_t max_neighbours) {
  LIVEREC_CHECK(max_neighbours >= 0) << "item_knn.max_neighbours " << max_neighbours;
  return static_cast<size_t>(max_neighbours);
}

std::string_view SimilarityName(KnnSimilarity similarity) {
  return similarity == KnnSimilarity::kCosine ? "cosine" : "jaccard";
}

}  // namespace

StatusOr<KnnSimilarity> ParseKnnSimilarity(std::string_view name) {
  if (name == "cosine") return KnnSimilarity::kCosine;
  if (name == "jaccard") return KnnSimilarity::kJaccard;
  return InvalidArgument("unknown similarity '" + std::string(name) + "' (use cosine or jaccard)");
}

ItemKnnModel::ItemKnnModel(const OptionView& options, const Context& context)
    : ItemKnnModel(WindowOrDie(options.Int("window")), options.DurationSeconds("half_life"),
                   SimilarityOrDie(options.String("similarity")),
                   MaxNeighboursOrDie(options.Int("max_neighbours"))) {}

ItemKnnModel::ItemKnnModel(size_t window, double half_life_s, KnnSimilarity similarity,
                           size_t max_neighbours)
    : window_(window),
      similarity_(similarity),
      max_neighbours_(max_neighbours),
      decay_(half_life_s) {
  LIVEREC_CHECK(window >= 1);
}

void ItemKnnModel::SetInvSqrt(ItemId item) {
  const double count = counts_[item];
  inv_sqrt_counts_[item] =
      count >= kNegligibleCount ? static_cast<float>(1 / std::sqrt(count)) : 0.0f;
}

void ItemKnnModel::Rescale(double factor) {
  for (size_t i = 0; i < counts_.size(); ++i) {
    double& count = counts_[i];
    if (count <= 0) continue;
    count *= factor;
    if (count < kNegligibleCount) count = 0;
    SetInvSqrt(static_cast<ItemId>(i));
  }
  // factor is a power of two (ForwardDecay), exact in float unless the product is negligible.
  const float float_factor = static_cast<float>(factor);
  const float negligible = static_cast<float>(kNegligibleCount);
  for (FlatMap& map : neighbours_) {
    map.Scale(float_factor);
    map.FlushBelow(negligible);
  }
  for (UserWindow& window : windows_) {
    for (float& weight : window.weights) {
      weight *= float_factor;
      if (weight < negligible) weight = 0;
    }
  }
}

void ItemKnnModel::ForgetUser(UserId user) {
  if (user < windows_.size()) windows_[user] = UserWindow{};
}

void ItemKnnModel::ForgetItems(std::span<const ItemId> items) {
  thread_local std::vector<uint8_t> forgotten;
  MarkItems(items, &forgotten);
  bool any = false;
  for (const ItemId item : items) {
    if (!Known(item)) continue;
    any = true;
    counts_[item] = kNotLearned;
    inv_sqrt_counts_[item] = 0.0f;
    neighbours_[item] = FlatMap();
  }
  if (!any) return;
  const auto named = [&](uint32_t key) { return key < forgotten.size() && forgotten[key] != 0; };
  for (FlatMap& map : neighbours_) map.EraseIf(named);
  for (UserWindow& window : windows_) {
    size_t kept = 0;
    for (size_t k = 0; k < window.items.size(); ++k) {
      if (named(window.items[k])) continue;
      window.items[kept] = window.items[k];
      window.weights[kept] = window.weights[k];
      ++kept;
    }
    window.items.resize(kept);
    window.weights.resize(kept);
  }
}

void ItemKnnModel::Learn(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId);
  // Negative feedback is not a co-occurrence: the item joins neither counts nor the window.
  if (event.weight <= 0) return;
  const ItemId item = event.item;
  Grow(event);

  const ForwardDecay::Step step = decay_.Observe(event.time_ms);
  if (step.rescale != 1) Rescale(step.rescale);
  const double event_weight = step.weight * event.weight;
  counts_[item] = std::max(counts_[item], 0.0) + event_weight;
  SetInvSqrt(item);

  const float weight = static_cast<float>(event_weight);
  UserWindow& window = windows_[event.user];
  // The pair updates below are bound by cache misses on up to 2 * window hash slots in as many
  // maps; issuing all the loads first overlaps them.
  for (const ItemId other : window.items) {
    neighbours_[item].Prefetch(other);
    neighbours_[other].Prefetch(item);
  }
  for (size_t k = 0; k < window.items.size(); ++k) {
    const ItemId other = window.items[k];
    if (other == item) continue;
    // A pair is as old as its older event. Weighting it by the newer one would let a user who
    // returns after many half-lives pair a fresh event with an item whose n has decayed away,
    // and c / sqrt(n n) would explode (see the header).
    const float pair_weight = std::min(weight, window.weights[k]);
    if (pair_weight == 0) continue;  // a window entry older than renormalization keeps
    AddPair(item, other, pair_weight);
    AddPair(other, item, pair_weight);
  }
  PushToWindow(&window, item, weight);
}

void ItemKnnModel::AddPair(ItemId item, ItemId other, float weight) {
  FlatMap& map = neighbours_[item];
  map.Add(other, weight);
  if (max_neighbours_ > 0 && map.size() >= PruneSize()) map.KeepLargest(max_neighbours_);
}

size_t ItemKnnModel::PruneSize() const {
  return std::max(2 * max_neighbours_,
                  FlatMap::MaxSizeFor(FlatMap::CapacityFor(2 * max_neighbours_)));
}

void ItemKnnModel::Observe(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId);
  if (event.weight <= 0) return;  // as in Learn
  // Window entries index the per-item tables; an item never learned has an empty row there.
  Grow(event);
  // The weight this event would have had (capped: a frozen model never pairs it anyway, but a
  // copy that resumes learning must not see inf).
  const double weight = std::min(1.0 / decay_.ScaleTo(event.time_ms), double{FLT_MAX});
  PushToWindow(&windows_[event.user], event.item, static_cast<float>(weight));
}

void ItemKnnModel::Grow(const Event& event) {
  if (event.item >= counts_.size()) {
    const size_t num_items = size_t{event.item} + 1;
    counts_.resize(num_items, kNotLearned);
    inv_sqrt_counts_.resize(num_items, 0.0f);
    neighbours_.resize(num_items);
  }
  if (event.user >= windows_.size()) windows_.resize(size_t{event.user} + 1);
}

void ItemKnnModel::PushToWindow(UserWindow* window, ItemId item, float weight) const {
  // The window stays contiguous and oldest-first (RecentItems hands it out as a span), so a
  // refresh or an eviction shifts it: O(window), like the pair updates in Learn.
  const auto it = std::find(window->items.begin(), window->items.end(), item);
  if (it != window->items.end()) {
    const ptrdiff_t position = it - window->items.begin();
    window->items.erase(it);
    window->weights.erase(window->weights.begin() + position);
  } else if (window->items.size() == window_) {
    window->items.erase(window->items.begin());
    window->weights.erase(window->weights.begin());
  }
  window->items.push_back(item);
  window->weights.push_back(weight);
}

template <KnnSimilarity kSim>
float ItemKnnModel::Contribution(ItemId j, ItemId c, float co) const {
  if constexpr (kSim == KnnSimilarity::kCosine) {
    // The candidate's 1/sqrt(n(c)) is common to all terms of its sum: applied once, at the end.
    return co * inv_sqrt_counts_[j];
  } else {
    // Double: n(j) + n(c) - c(j, c) can cancel when the pair co-occurs most of the time.
    // (ScoreWith repeats this arithmetic inline; keep the two identical.)
    const double denominator = counts_[j] + counts_[c] - co;
    return denominator > 0 ? static_cast<float>(co / denominator) : 0.0f;
  }
}

namespace {

// The last step of a candidate's score: cosine's common factor.
template <KnnSimilarity kSim>
float Finish(float sum, float inv_sqrt_count) {
  if constexpr (kSim == KnnSimilarity::kCosine) {
    return sum * inv_sqrt_count;
  } else {
    return sum;
  }
}

}  // namespace

void ItemKnnModel::CandidatesFor(UserId user, std::vector<ItemId>* out) const {
  thread_local std::vector<uint8_t> marked;
  if (marked.size() < counts_.size()) marked.resize(counts_.size(), 0);
  const size_t first = out->size();
  for (const ItemId j : RecentItems(user)) {
    for (const FlatMap::Slot& slot : neighbours_[j].slots()) {
      if (slot.key == FlatMap::kEmptyKey || marked[slot.key]) continue;
      marked[slot.key] = 1;
      out->push_back(slot.key);
    }
  }
  for (size_t i = first; i < out->size(); ++i) marked[(*out)[i]] = 0;
}

void ItemKnnModel::Candidates(UserId user, size_t n, std::vector<ItemId>* out) const {
  if (n == 0) return;
  thread_local std::vector<ItemId> pool;
  thread_local std::vector<float> scores;
  thread_local std::vector<std::pair<float, ItemId>> ranked;
  pool.clear();
  CandidatesFor(user, &pool);
  scores.resize(pool.size());
  Score(user, pool, scores.data());
  ranked.clear();
  for (size_t k = 0; k < pool.size(); ++k) ranked.emplace_back(scores[k], pool[k]);
  const size_t keep = std::min(n, ranked.size());
  const auto better = [](const std::pair<float, ItemId>& a, const std::pair<float, ItemId>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  // Selection then a sort of the kept: linear in the pool, where partial_sort's heap is not.
  if (keep < ranked.size()) {
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), ranked.end(),
                     better);
  }
  std::sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), better);
  for (size_t k = 0; k < keep; ++k) out->push_back(ranked[k].second);
}

template <KnnSimilarity kSim>
void ItemKnnModel::ScoreWith(std::span<const ItemId> window, std::span<const ItemId> items,
                             float* out) const {
  size_t scatter_slots = 0;
  for (const ItemId j : window) scatter_slots += neighbours_[j].capacity();

  if (items.size() * window.size() * kProbeCostSlots < scatter_slots) {
    // Few candidates: probe. The terms are added in window order, as in the scatter below, so
    // both paths compute the same sums.
    for (size_t k = 0; k < items.size(); ++k) {
      const ItemId c = items[k];
      if (!Known(c)) {
        out[k] = kUnscored;
        continue;
      }
      float sum = 0;
      for (const ItemId j : window) {
        if (const float* co = neighbours_[j].Find(c)) sum += Contribution<kSim>(j, c, *co);
      }
      out[k] = Finish<kSim>(sum, inv_sqrt_counts_[c]);
    }
    return;
  }

  const size_t num_items = counts_.size();
  std::vector<float>& scratch = ThreadSums();
  if (scratch.size() < num_items + 1) scratch.resize(num_items + 1, 0.0f);
  float* sums = scratch.data();
  const ItemId spare = static_cast<ItemId>(num_items);
  for (const ItemId j : window) {
    if constexpr (kSim == KnnSimilarity::kCosine) {
      // Branch-free: about half the slots are empty, at random, which a branch would
      // mispredict; an empty slot (key kEmptyKey, the largest uint32_t; value 0) adds 0 to the
      // spare entry instead, every real key being smaller than `spare`.
      const float inv_sqrt_count = inv_sqrt_counts_[j];
      for (const FlatMap::Slot& slot : neighbours_[j].slots()) {
        sums[std::min(slot.key, spare)] += slot.value * inv_sqrt_count;
      }
    } else {
      // The same trick; an empty slot reads the last item's count, and 0 / anything is 0.
      const ItemId last = spare - 1;
      for (const FlatMap::Slot& slot : neighbours_[j].slots()) {
        const double denominator = counts_[j] + counts_[std::min(slot.key, last)] - slot.value;
        sums[std::min(slot.key, spare)] +=
            denominator > 0 ? static_cast<float>(slot.value / denominator) : 0.0f;
      }
    }
  }
  for (size_t k = 0; k < items.size(); ++k) {
    const ItemId c = items[k];
    out[k] = Known(c) ? Finish<kSim>(sums[c], inv_sqrt_counts_[c]) : kUnscored;
  }
  if (num_items + 1 <= kFillCostRatio * scatter_slots) {
    std::fill(sums, sums + num_items + 1, 0.0f);
  } else {
    for (const ItemId j : window) {
      for (const FlatMap::Slot& slot : neighbours_[j].slots()) {
        sums[std::min(slot.key, spare)] = 0;
      }
    }
  }
}

void ItemKnnModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  const std::span<const ItemId> window = RecentItems(user);
  if (window.empty()) {
    for (size_t k = 0; k < items.size(); ++k) out[k] = Known(items[k]) ? 0.0f : kUnscored;
    return;
  }
  switch (similarity_) {
    case KnnSimilarity::kCosine:
      ScoreWith<KnnSimilarity::kCosine>(window, items, out);
      return;
    case KnnSimilarity::kJaccard:
      ScoreWith<KnnSimilarity::kJaccard>(window, items, out);
      return;
  }
}

float ItemKnnModel::Similarity(ItemId a, ItemId b) const {
  if (!Known(a) || !Known(b)) return 0;
  const float* co = neighbours_[a].Find(b);
  if (co == nullptr) return 0;
  // Computed as Score computes the one term of a user whose window is {a}.
  switch (similarity_) {
    case KnnSimilarity::kCosine:
      return Finish<KnnSimilarity::kCosine>(Contribution<KnnSimilarity::kCosine>(a, b, *co),
                                            inv_sqrt_counts_[b]);
    case KnnSimilarity::kJaccard:
      return Contribution<KnnSimilarity::kJaccard>(a, b, *co);
  }
  return 0;
}

void ItemKnnModel::Similar(ItemId item, size_t k,
                           std::vector<std::pair<ItemId, float>>* out) const {
  out->clear();
  if (k == 0 || !Known(item)) return;
  neighbours_[item].ForEach(
      [&](uint32_t other, float) { out->emplace_back(other, Similarity(item, other)); });
  const auto better = [](const std::pair<ItemId, float>& a, const std::pair<ItemId, float>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  if (k < out->size()) {
    std::partial_sort(out->begin(), out->begin() + static_cast<ptrdiff_t>(k), out->end(), better);
    out->resize(k);
  } else {
    std::sort(out->begin(), out->end(), better);
  }
}

std::span<const ItemId> ItemKnnModel::RecentItems(UserId user) const {
  if (user >= windows_.size()) return {};
  return windows_[user].items;
}

double ItemKnnModel::ItemCount(ItemId item, int64_t time_ms) const {
  if (!Known(item)) return 0;
  return counts_[item] * decay_.ScaleTo(time_ms);
}

double ItemKnnModel::CoCount(ItemId a, ItemId b, int64_t time_ms) const {
  if (!Known(a) || !Known(b)) return 0;
  return neighbours_[a].Get(b) * decay_.ScaleTo(time_ms);
}

size_t ItemKnnModel::num_pairs() const {
  size_t pairs = 0;
  for (const FlatMap& map : neighbours_) pairs += map.size();
  return pairs;
}

std::unique_ptr<Model> ItemKnnModel::Clone() const { return std::make_unique<ItemKnnModel>(*this); }

void ItemKnnModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kItemKnnTag);
  out->Put<uint32_t>(kItemKnnVersion);
  out->Put<uint32_t>(static_cast<uint32_t>(window_));
  out->Put<uint8_t>(static_cast<uint8_t>(similarity_));
  out->Put<uint64_t>(max_neighbours_);
  decay_.Save(out);
  out->PutVector(counts_);
  for (const FlatMap& map : neighbours_) map.Save(out);
  out->Put<uint64_t>(windows_.size());
  for (const UserWindow& window : windows_) {
    out->Put<uint32_t>(static_cast<uint32_t>(window.items.size()));
    out->PutBytes(window.items.data(), window.items.size() * sizeof(ItemId));
    out->PutBytes(window.weights.data(), window.weights.size() * sizeof(float));
  }
}

Status ItemKnnModel::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kItemKnnTag, kItemKnnVersion, "item_knn"));
  uint32_t window = 0;
  uint8_t similarity = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&window));
  LIVEREC_RETURN_IF_ERROR(in->Get(&similarity));
  if (similarity > static_cast<uint8_t>(KnnSimilarity::kJaccard)) {
    return Corruption("item_knn: unknown similarity " + std::to_string(similarity));
  }
  if (window != window_ || similarity != static_cast<uint8_t>(similarity_)) {
    return FailedPrecondition("item_knn: state was saved with window " + std::to_string(window) +
                              " and similarity " +
                              std::string(SimilarityName(static_cast<KnnSimilarity>(similarity))) +
                              ", this model has window " + std::to_string(window_) +
                              " and similarity " + std::string(SimilarityName(similarity_)));
  }
  uint64_t max_neighbours = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&max_neighbours));
  if (max_neighbours != max_neighbours_) {
    return FailedPrecondition("item_knn: state was saved with max_neighbours " +
                              std::to_string(max_neighbours) + ", this model has " +
                              std::to_string(max_neighbours_));
  }
  ItemKnnModel loaded(window_, decay_.half_life_s(), similarity_, max_neighbours_);
  loaded.decay_ = decay_;  // the half-life exactly as configured, which Load compares against
  LIVEREC_RETURN_IF_ERROR(loaded.decay_.Load(in).WithPrefix("item_knn"));

  LIVEREC_RETURN_IF_ERROR(in->GetVector(&loaded.counts_).WithPrefix("item_knn counts"));
  const size_t num_items = loaded.counts_.size();
  if (num_items > kInvalidId) {
    return Corruption("item_knn: " + std::to_string(num_items) + " items");
  }
  for (size_t i = 0; i < num_items; ++i) {
    const double count = loaded.counts_[i];
    if (!std::isfinite(count) || (count < 0 && count != kNotLearned)) {
      return Corruption("item_knn: count of item " + std::to_string(i) + " is " +
                        std::to_string(count));
    }
  }

  loaded.neighbours_.resize(num_items);
  for (size_t i = 0; i < num_items; ++i) {
    FlatMap& map = loaded.neighbours_[i];
    LIVEREC_RETURN_IF_ERROR(map.Load(in, static_cast<uint32_t>(num_items))
                                .WithPrefix("item_knn: item " + std::to_string(i)));
    if (max_neighbours_ > 0 && map.size() >= PruneSize()) {
      return Corruption("item_knn: item " + std::to_string(i) + " has " +
                        std::to_string(map.size()) + " neighbours, over the bound " +
                        std::to_string(PruneSize() - 1));
    }
    // Scoring relies on every neighbour being a learned item other than this one.
    bool consistent = map.empty() || loaded.Known(static_cast<ItemId>(i));
    map.ForEach([&](uint32_t other, float) {
      consistent = consistent && other != i && loaded.Known(other);
    });
    if (!consistent) {
      return Corruption("item_knn: neighbours of item " + std::to_string(i) +
                        " include itself or an item never learned");
    }
  }

  uint64_t num_users = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_users));
  if (num_users > in->remaining() / sizeof(uint32_t) || num_users > kInvalidId) {
    return Corruption("item_knn: " + std::to_string(num_users) + " users in " +
                      std::to_string(in->remaining()) + " bytes");
  }
  loaded.windows_.resize(num_users);
  for (uint64_t u = 0; u < num_users; ++u) {
    uint32_t size = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&size));
    if (size > window_) {
      return Corruption("item_knn: window of user " + std::to_string(u) + " holds " +
                        std::to_string(size) + " items, more than " + std::to_string(window_));
    }
    UserWindow& user_window = loaded.windows_[u];
    user_window.items.resize(size);
    user_window.weights.resize(size);
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(user_window.items.data(), size * sizeof(ItemId)));
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(user_window.weights.data(), size * sizeof(float)));
    for (size_t k = 0; k < size; ++k) {
      if (!loaded.Known(user_window.items[k]) || !std::isfinite(user_window.weights[k]) ||
          user_window.weights[k] < 0) {
        return Corruption("item_knn: window of user " + std::to_string(u) + " holds item " +
                          std::to_string(user_window.items[k]) + " with weight " +
                          std::to_string(user_window.weights[k]));
      }
    }
  }

  loaded.inv_sqrt_counts_.resize(num_items);
  for (size_t i = 0; i < num_items; ++i) loaded.SetInvSqrt(static_cast<ItemId>(i));
  *this = std::move(loaded);
  return Status::Ok();
}

size_t ItemKnnModel::MemoryBytes() const {
  size_t bytes = counts_.capacity() * sizeof(double) + inv_sqrt_counts_.capacity() * sizeof(float) +
                 neighbours_.capacity() * sizeof(FlatMap) +
                 windows_.capacity() * sizeof(UserWindow);
  for (const FlatMap& map : neighbours_) bytes += map.MemoryBytes();
  for (const UserWindow& window : windows_) {
    bytes += window.items.capacity() * sizeof(ItemId) + window.weights.capacity() * sizeof(float);
  }
  return bytes;
}

}  // namespace liverec
