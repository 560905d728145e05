#include "model/popularity/popularity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/check.h"

namespace liverec {
namespace {

constexpr double kMsPerSecond = 1000;

// Beyond this many half-lives a rescale factor is 0 in double precision anyway; the clamp only
// keeps std::ldexp's int argument in range after gaps of billions of half-lives.
constexpr int64_t kMaxRescaleExponent = 2048;

// Marks ids that the model never learned (real counts are >= 0).
constexpr double kNotLearned = -1;

// Heap bytes of one node of head_ beyond its value: three pointers and the colour, rounded
// as allocators round (an estimate for MemoryBytes).
constexpr size_t kSetNodeOverheadBytes = 32;

// "popl", little-endian; format version of Save.
constexpr uint32_t kPopularityTag = 0x6c706f70;
constexpr uint32_t kPopularityVersion = 1;

}  // namespace

ForwardDecay::ForwardDecay(double half_life_s) : half_life_ms_(half_life_s * kMsPerSecond) {
  LIVEREC_CHECK(half_life_s >= 0 && std::isfinite(half_life_s)) << "half-life " << half_life_s;
}

double ForwardDecay::half_life_s() const { return half_life_ms_ / kMsPerSecond; }

double ForwardDecay::Exponent(int64_t time_ms) const {
  // Measured from the first event rather than from t_ref itself, so that t_ref can move by
  // whole half-lives without rounding the times.
  return static_cast<double>(time_ms - origin_ms_) / half_life_ms_ - static_cast<double>(shift_);
}

double ForwardDecay::ScaleTo(int64_t time_ms) const {
  if (!enabled() || !started_) return 1;
  return std::exp2(-Exponent(time_ms));
}

void ForwardDecay::UpdateScaleNow() { scale_now_ = ScaleTo(now_ms_); }

ForwardDecay::Step ForwardDecay::Observe(int64_t time_ms) {
  Step step;
  if (!started_) {
    // Nothing is stored yet, so the reference can go anywhere: put it at this event.
    started_ = true;
    origin_ms_ = time_ms;
    shift_ = 0;
    now_ms_ = time_ms;
    UpdateScaleNow();
    return step;
  }
  now_ms_ = std::max(now_ms_, time_ms);
  if (!enabled()) return step;
  double exponent = Exponent(time_ms);
  if (exponent > kMaxExponent) {
    // Move t_ref by whole half-lives so that the rescale is a power of two: exact, hence the
    // counts do not depend on when it happened.
    const double whole = std::floor(exponent);
    const int64_t k = static_cast<int64_t>(whole);
    shift_ += k;
    exponent -= whole;
    step.rescale = std::ldexp(1.0, -static_cast<int>(std::min(k, kMaxRescaleExponent)));
  }
  step.weight = std::exp2(exponent);
  UpdateScaleNow();
  return step;
}

void ForwardDecay::Save(BinaryWriter* out) const {
  out->Put<double>(half_life_ms_);
  out->Put<uint8_t>(started_ ? 1 : 0);
  out->Put<int64_t>(origin_ms_);
  out->Put<int64_t>(shift_);
  out->Put<int64_t>(now_ms_);
}

Status ForwardDecay::Load(BinaryReader* in) {
  double half_life_ms = 0;
  uint8_t started = 0;
  int64_t origin_ms = 0;
  int64_t shift = 0;
  int64_t now_ms = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&half_life_ms));
  LIVEREC_RETURN_IF_ERROR(in->Get(&started));
  LIVEREC_RETURN_IF_ERROR(in->Get(&origin_ms));
  LIVEREC_RETURN_IF_ERROR(in->Get(&shift));
  LIVEREC_RETURN_IF_ERROR(in->Get(&now_ms));
  if (started > 1) return Corruption("decay state: bad flag " + std::to_string(started));
  if (half_life_ms != half_life_ms_) {
    return FailedPrecondition("decay state was saved with half-life " +
                              std::to_string(half_life_ms / kMsPerSecond) + " s, this model has " +
                              std::to_string(half_life_s()) + " s");
  }
  started_ = started == 1;
  origin_ms_ = origin_ms;
  shift_ = shift;
  now_ms_ = now_ms;
  UpdateScaleNow();
  return Status::Ok();
}

PopularityModel::PopularityModel(const OptionView& options, const Context& context)
    : PopularityModel(options.DurationSeconds("half_life")) {}

PopularityModel::PopularityModel(double half_life_s, size_t head_size)
    : decay_(half_life_s), head_size_(head_size) {
  LIVEREC_CHECK(head_size >= 1);
}

void PopularityModel::Learn(const Event& event) {
  LIVEREC_CHECK(event.item != kInvalidId);
  if (event.weight <= 0) return;  // negative feedback says nothing about popularity
  if (event.item >= counts_.size()) counts_.resize(size_t{event.item} + 1, kNotLearned);
  const ForwardDecay::Step step = decay_.Observe(event.time_ms);
  if (step.rescale != 1) {
    for (double& count : counts_) {
      if (count > 0) count *= step.rescale;
    }
    // Scaling by a power of two keeps the order, except where counts underflow into ties;
    // rebuilding (once every 32 half-lives) keeps the index's keys equal to the counts.
    RebuildRanking();
  }
  Changed();
  double& count = counts_[event.item];
  const double old_count = count;
  count = std::max(count, 0.0) + step.weight * event.weight;
  if (old_count == kNotLearned) {
    ++num_learned_;
    Offer({count, event.item});
    return;
  }
  if (!InHead({old_count, event.item})) {
    Offer({count, event.item});
    return;
  }
  // Counts only grow here, so the item stays in the head; reusing the node moves it without an
  // allocation.
  auto node = head_.extract({old_count, event.item});
  LIVEREC_DCHECK(!node.empty());
  node.value().first = count;
  head_.insert(std::move(node));
}

void PopularityModel::Offer(Ranked entry) {
  if (head_.size() < head_size_) {  // then the head holds every other learned item
    head_.insert(entry);
    return;
  }
  if (!RankOrder()(entry, *head_.rbegin())) return;
  // The new entry takes the last one's place (and node).
  auto node = head_.extract(std::prev(head_.end()));
  node.value() = entry;
  head_.insert(std::move(node));
}

void PopularityModel::ForgetItems(std::span<const ItemId> items) {
  Changed();
  for (const ItemId item : items) {
    if (item >= counts_.size() || counts_[item] < 0) continue;
    head_.erase({counts_[item], item});
    counts_[item] = kNotLearned;
    --num_learned_;
  }
  // The head lost items: the next best outside it are known only to a scan.
  if (head_.size() < std::min(head_size_, num_learned_)) RebuildRanking();
}

std::vector<PopularityModel::Ranked> PopularityModel::Learned() const {
  std::vector<Ranked> learned;
  learned.reserve(num_learned_);
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] >= 0) learned.emplace_back(counts_[i], static_cast<ItemId>(i));
  }
  return learned;
}

void PopularityModel::RebuildRanking() {
  Changed();
  std::vector<Ranked> learned = Learned();
  num_learned_ = learned.size();
  if (learned.size() > head_size_) {
    std::nth_element(learned.begin(), learned.begin() + static_cast<ptrdiff_t>(head_size_),
                     learned.end(), RankOrder());
    learned.resize(head_size_);
  }
  head_.clear();
  head_.insert(learned.begin(), learned.end());
}

void PopularityModel::AppendTop(size_t n, std::vector<ItemId>* out) const {
  if (n <= head_.size() || head_.size() == num_learned_) {
    for (auto it = head_.begin(); it != head_.end() && n > 0; ++it, --n) {
      out->push_back(it->second);
    }
    return;
  }
  std::vector<Ranked> learned = Learned();
  n = std::min(n, learned.size());
  std::partial_sort(learned.begin(), learned.begin() + static_cast<ptrdiff_t>(n), learned.end(),
                    RankOrder());
  for (size_t i = 0; i < n; ++i) out->push_back(learned[i].second);
}

void PopularityModel::Candidates(UserId user, size_t n, std::vector<ItemId>* out) const {
  size_t largest = top_.largest_request.load(std::memory_order_relaxed);
  while (n > largest && !top_.largest_request.compare_exchange_weak(largest, n)) {
  }
  if (!top_.fresh.load(std::memory_order_acquire)) {
    MutexLock lock(&top_.mu);
    if (!top_.fresh.load(std::memory_order_relaxed)) {
      top_.items.clear();
      AppendTop(std::max(n, top_.largest_request.load(std::memory_order_relaxed)), &top_.items);
      top_.fresh.store(true, std::memory_order_release);
    }
  }
  const std::vector<ItemId>& top = top_.items;
  if (n <= top.size() || top.size() == num_learned_) {
    out->insert(out->end(), top.begin(),
                top.begin() + static_cast<ptrdiff_t>(std::min(n, top.size())));
    return;
  }
  // A request larger than any before it since the last change: the next change copies as many.
  AppendTop(n, out);
}

void PopularityModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  const double scale = decay_.scale_now();
  for (size_t i = 0; i < items.size(); ++i) {
    const ItemId item = items[i];
    out[i] = item < counts_.size() && counts_[item] >= 0 ? static_cast<float>(counts_[item] * scale)
                                                         : kUnscored;
  }
}

double PopularityModel::Count(ItemId item, int64_t time_ms) const {
  if (item >= counts_.size() || counts_[item] < 0) return 0;
  return counts_[item] * decay_.ScaleTo(time_ms);
}

std::unique_ptr<Model> PopularityModel::Clone() const {
  return std::make_unique<PopularityModel>(*this);
}

void PopularityModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kPopularityTag);
  out->Put<uint32_t>(kPopularityVersion);
  decay_.Save(out);
  out->PutVector(counts_);
}

Status PopularityModel::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kPopularityTag, kPopularityVersion, "popularity"));
  ForwardDecay decay = decay_;
  LIVEREC_RETURN_IF_ERROR(decay.Load(in).WithPrefix("popularity"));
  std::vector<double> counts;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&counts).WithPrefix("popularity counts"));
  for (size_t i = 0; i < counts.size(); ++i) {
    if (!std::isfinite(counts[i]) || (counts[i] < 0 && counts[i] != kNotLearned)) {
      return Corruption("popularity: count of item " + std::to_string(i) + " is " +
                        std::to_string(counts[i]));
    }
  }
  decay_ = decay;
  counts_ = std::move(counts);
  RebuildRanking();
  return Status::Ok();
}

size_t PopularityModel::MemoryBytes() const {
  return counts_.capacity() * sizeof(double) +
         head_.size() * (sizeof(Ranked) + kSetNodeOverheadBytes);
}

}  // namespace liverec
