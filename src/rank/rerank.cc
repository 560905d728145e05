#include "rank/rerank.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>

#include "common/check.h"

namespace liverec {
namespace {

bool Before(const ScoredCandidate& a, const ScoredCandidate& b) {
  return a.score != b.score ? a.score > b.score : a.item < b.item;
}

// See Reranker::keys_. Flipping the sign bit of a positive float and every bit of a negative
// one maps float order onto unsigned order; -0 is made +0 first so that equal scores tie.
uint64_t KeyOf(const ScoredCandidate& c) {
  uint32_t bits = std::bit_cast<uint32_t>(c.score + 0.0f);
  bits = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
  return uint64_t{~bits} << 32 | c.item;
}

ScoredCandidate CandidateOf(uint64_t key) {
  uint32_t bits = ~static_cast<uint32_t>(key >> 32);
  bits = (bits & 0x80000000u) ? bits & 0x7fffffffu : ~bits;
  return {static_cast<ItemId>(key & 0xffffffffu), std::bit_cast<float>(bits)};
}

// rel(i) of the header. Both implementations compute it (and the MMR value) by the same
// expressions, so they agree to the bit and tie-break alike.
class Relevance {
 public:
  Relevance(float min, float max) : min_(min), range_(static_cast<double>(max) - min) {}
  double operator()(float score) const {
    return range_ > 0 ? (static_cast<double>(score) - min_) / range_ : 1.0;
  }
  // The score whose rel is `rel` (the inverse; min when all scores are equal).
  double Score(double rel) const { return min_ + rel * range_; }
  double range() const { return range_; }

 private:
  double min_;
  double range_;
};

// Relative to the score range: far above the rounding of rel and its inverse (~1e-16), far
// below any gap between scores that matters.
constexpr double kThresholdSlack = 1e-6;

double MmrValue(double lambda, double rel, float max_sim) {
  return lambda * rel - (1 - lambda) * static_cast<double>(max_sim);
}

void CheckOptions(const RerankOptions& options) {
  LIVEREC_CHECK(options.lambda >= 0 && options.lambda <= 1) << "lambda " << options.lambda;
  LIVEREC_CHECK(options.pool >= 1) << "pool 0";
}

}  // namespace

void SortCandidates(std::span<ScoredCandidate> candidates) {
  std::sort(candidates.begin(), candidates.end(), Before);
}

void Reranker::OrderNext() {
  std::pop_heap(keys_.begin(), keys_.begin() + static_cast<ptrdiff_t>(heap_size_),
                std::greater<>());
  --heap_size_;
  order_.push_back(keys_[heap_size_]);
}

bool Reranker::Capped(ItemId item, uint32_t cap, const ItemCategories& categories) const {
  for (uint32_t category : categories(item)) {
    for (const auto& [listed_category, count] : category_counts_) {
      if (listed_category == category && count >= cap) return true;
    }
  }
  return false;
}

void Reranker::CountCategories(ItemId item, const ItemCategories& categories) {
  // A list holds k items of a few categories each: a linear scan beats a map.
  for (uint32_t category : categories(item)) {
    auto it = std::find_if(category_counts_.begin(), category_counts_.end(),
                           [&](const auto& c) { return c.first == category; });
    if (it == category_counts_.end()) {
      category_counts_.emplace_back(category, 1);
    } else {
      ++it->second;
    }
  }
}

void Reranker::Rerank(std::span<const ScoredCandidate> candidates, size_t k,
                      const RerankOptions& options, const ItemSimilarity& sim,
                      const ItemCategories& categories, std::vector<ScoredCandidate>* out) {
  CheckOptions(options);
  out->clear();
  order_.clear();
  similarity_calls_ = 0;
  const bool capped = options.category_cap > 0;
  const bool plain = options.lambda == 1 && !capped;
  // The scratch only grows: shrinking it and growing it again would zero-fill it every call.
  if (keys_.size() < candidates.size()) keys_.resize(candidates.size());
  const auto keys = keys_.begin();
  size_t num = candidates.size();  // keys_[0, num) is the live part
  uint64_t best_key = UINT64_MAX;
  uint64_t worst_key = 0;
  if (plain) {
    for (size_t i = 0; i < num; ++i) keys[i] = KeyOf(candidates[i]);
  } else {
    for (size_t i = 0; i < num; ++i) {
      LIVEREC_DCHECK(std::isfinite(candidates[i].score)) << "candidate " << i;
      keys[i] = KeyOf(candidates[i]);
      best_key = std::min(best_key, keys[i]);
      worst_key = std::max(worst_key, keys[i]);
    }
  }
  if (options.pool < num) {
    std::nth_element(keys, keys + static_cast<ptrdiff_t>(options.pool), keys + num);
    num = options.pool;
    worst_key = *std::max_element(keys, keys + num);
  }
  k = std::min(k, num);
  if (k == 0) return;
  if (plain) {
    std::partial_sort(keys, keys + static_cast<ptrdiff_t>(k), keys + num);
    for (size_t r = 0; r < k; ++r) out->push_back(CandidateOf(keys[r]));
    return;
  }
  LIVEREC_CHECK(options.lambda == 1 || sim) << "lambda " << options.lambda << " needs a similarity";
  LIVEREC_CHECK(!capped || categories) << "a category cap needs categories";

  const Relevance rel(CandidateOf(worst_key).score, CandidateOf(best_key).score);
  const double lambda = options.lambda;
  if (!capped && 2 * lambda - 1 > 0) {
    // Without a cap the first open candidate of every round is among the k best, so its value,
    // and the best value of the round, is at least floor = lambda * rel(k-th best) - (1 - lambda)
    // (max_sim <= 1). A candidate whose bound is at most that would end the visit before being
    // looked at: leave such ones out of the order, so the heap holds few candidates unless
    // lambda is low (at lambda <= 1/2 the floor is <= 0 and nothing goes). The cut is a score
    // threshold, lowered by a hair so that rounding can only keep a candidate, never drop one
    // the visit would have looked at.
    std::nth_element(keys, keys + static_cast<ptrdiff_t>(k - 1), keys + num);
    const double floor = lambda * rel(CandidateOf(keys[k - 1]).score) - (1 - lambda);
    const double threshold = rel.Score(floor / lambda) - kThresholdSlack * rel.range();
    if (threshold > -FLT_MAX) {
      // As a key: scores at or above the float just below the threshold, any item.
      const float below = std::nextafter(static_cast<float>(threshold), -INFINITY);
      const uint64_t last_kept = KeyOf({UINT32_MAX, below});
      size_t kept = 0;
      for (size_t i = 0; i < num; ++i) {
        if (keys[i] <= last_kept) keys[kept++] = keys[i];
      }
      num = kept;
    }
  }
  std::make_heap(keys, keys + static_cast<ptrdiff_t>(num), std::greater<>());
  heap_size_ = num;
  if (max_sim_.size() < num) {
    max_sim_.resize(num);
    compared_.resize(num);
    state_.resize(num);
  }
  std::fill_n(max_sim_.begin(), num, 0.0f);
  std::fill_n(compared_.begin(), num, 0);
  std::fill_n(state_.begin(), num, State::kOpen);
  const size_t num_kept = num;
  category_counts_.clear();
  listed_.assign(options.continues.begin(), options.continues.end());
  if (capped) {
    for (ItemId item : options.continues) CountCategories(item, categories);
  }
  size_t first_open = 0;  // every position before it is listed or capped
  while (out->size() < k) {
    while (first_open < order_.size() && state_[first_open] != State::kOpen) ++first_open;
    size_t best = num_kept;
    double best_value = -std::numeric_limits<double>::infinity();
    for (size_t i = first_open; i < num_kept; ++i) {
      if (i == order_.size()) OrderNext();
      if (state_[i] != State::kOpen) continue;
      const ScoredCandidate c = CandidateOf(order_[i]);
      // max_sim >= 0, so lambda * rel(i) bounds i's value, and rel does not grow down the
      // order: once the bound reaches down to the best value no later candidate can win (a tie
      // goes to the earlier candidate).
      const double bound = lambda * rel(c.score);
      if (best < num_kept && bound <= best_value) break;
      if (capped && Capped(c.item, options.category_cap, categories)) {
        state_[i] = State::kCapped;  // counts only grow: capped for the rest of the list
        continue;
      }
      if (lambda < 1) {
        for (size_t j = compared_[i]; j < listed_.size(); ++j) {
          // Clamped: the bounds above assume sim <= 1.
          max_sim_[i] = std::max(max_sim_[i], std::min(sim(c.item, listed_[j]), 1.0f));
        }
        similarity_calls_ += listed_.size() - compared_[i];
        compared_[i] = static_cast<uint32_t>(listed_.size());
      }
      const double value = MmrValue(lambda, rel(c.score), max_sim_[i]);
      if (best == num_kept || value > best_value) {
        best = i;
        best_value = value;
      }
    }
    if (best == num_kept) break;  // the cap left nothing eligible
    state_[best] = State::kListed;
    const ScoredCandidate chosen = CandidateOf(order_[best]);
    out->push_back(chosen);
    listed_.push_back(chosen.item);
    if (capped) CountCategories(chosen.item, categories);
  }
}

namespace ref {

void Rerank(std::span<const ScoredCandidate> candidates, size_t k, const RerankOptions& options,
            const ItemSimilarity& sim, const ItemCategories& categories,
            std::vector<ScoredCandidate>* out) {
  CheckOptions(options);
  out->clear();
  std::vector<ScoredCandidate> pool(candidates.begin(), candidates.end());
  for (ScoredCandidate& c : pool) c.score += 0.0f;  // -0 as +0, as the Reranker reports it
  SortCandidates(pool);
  pool.resize(std::min(options.pool, pool.size()));
  k = std::min(k, pool.size());
  if (pool.empty()) return;
  const Relevance rel(pool.back().score, pool.front().score);
  std::vector<bool> listed(pool.size(), false);
  std::vector<ItemId> above(options.continues.begin(), options.continues.end());  // and *out
  std::vector<uint32_t> mine;
  while (out->size() < k) {
    size_t best = pool.size();
    double best_value = 0;
    for (size_t i = 0; i < pool.size(); ++i) {
      if (listed[i]) continue;
      bool eligible = true;
      if (options.category_cap > 0) {
        // A copy: the accessor's span need only live until its next call.
        const std::span<const uint32_t> own = categories(pool[i].item);
        mine.assign(own.begin(), own.end());
        for (uint32_t category : mine) {
          uint32_t count = 0;
          for (ItemId other_item : above) {
            for (uint32_t other : categories(other_item)) count += other == category;
          }
          eligible = eligible && count < options.category_cap;
        }
      }
      if (!eligible) continue;
      float max_sim = 0;
      if (options.lambda < 1) {
        for (ItemId other_item : above) {
          max_sim = std::max(max_sim, std::min(sim(pool[i].item, other_item), 1.0f));
        }
      }
      const double value = MmrValue(options.lambda, rel(pool[i].score), max_sim);
      if (best == pool.size() || value > best_value) {
        best = i;
        best_value = value;
      }
    }
    if (best == pool.size()) return;
    listed[best] = true;
    out->push_back(pool[best]);
    above.push_back(pool[best].item);
  }
}

}  // namespace ref
}  // namespace liverec
