#include "experiment/explore.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/check.h"
#include "common/random.h"

namespace liverec {
namespace {

Status BadSpec(std::string_view text) {
  return InvalidArgument(
      "explore: expected none, epsilon:<e in [0, 1]>, softmax:<t > 0> or squarecb:<g >= 0>, got '" +
      std::string(text) + "'");
}

// The probability of each of `remaining` (best first) at the next position; sums to 1.
// `lo` and `hi` are the pool's score range (squarecb normalizes by it).
void Probabilities(const ExploreSpec& spec, std::span<const PoolItem> remaining, float lo, float hi,
                   std::vector<double>* p) {
  const size_t n = remaining.size();
  p->assign(n, 0);
  switch (spec.kind) {
    case ExploreKind::kNone:
      (*p)[0] = 1;
      return;
    case ExploreKind::kEpsilon:
      for (double& x : *p) x = spec.parameter / static_cast<double>(n);
      (*p)[0] += 1 - spec.parameter;
      return;
    case ExploreKind::kSoftmax: {
      float top = remaining[0].score;
      for (const PoolItem& c : remaining) top = std::max(top, c.score);
      double sum = 0;
      for (size_t i = 0; i < n; ++i) {
        (*p)[i] = std::exp((static_cast<double>(remaining[i].score) - top) / spec.parameter);
        sum += (*p)[i];
      }
      for (double& x : *p) x /= sum;
      return;
    }
    case ExploreKind::kSquareCb: {
      const double range = hi > lo ? static_cast<double>(hi) - lo : 1;
      const double best = (static_cast<double>(remaining[0].score) - lo) / range;
      double others = 0;
      for (size_t i = 1; i < n; ++i) {
        const double gap =
            std::max(0.0, best - (static_cast<double>(remaining[i].score) - lo) / range);
        (*p)[i] = 1 / (static_cast<double>(n) + spec.parameter * gap);
        others += (*p)[i];
      }
      (*p)[0] = std::max(0.0, 1 - others);
      return;
    }
  }
}

}  // namespace

StatusOr<ExploreSpec> ExploreSpec::Parse(std::string_view text) {
  ExploreSpec spec;
  if (text.empty() || text == "none") return spec;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return BadSpec(text);
  const std::string_view kind = text.substr(0, colon);
  const std::string_view number = text.substr(colon + 1);
  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error != std::errc() || end != number.data() + number.size() || !std::isfinite(value)) {
    return BadSpec(text);
  }
  spec.parameter = value;
  if (kind == "epsilon" && value >= 0 && value <= 1) {
    spec.kind = ExploreKind::kEpsilon;
  } else if (kind == "softmax" && value > 0) {
    spec.kind = ExploreKind::kSoftmax;
  } else if (kind == "squarecb" && value >= 0) {
    spec.kind = ExploreKind::kSquareCb;
  } else {
    return BadSpec(text);
  }
  return spec;
}

std::string ExploreSpec::ToString() const {
  char number[32];
  const auto [end, error] = std::to_chars(number, number + sizeof(number), parameter);
  LIVEREC_CHECK(error == std::errc());
  const std::string value(number, end);
  switch (kind) {
    case ExploreKind::kNone:
      return "none";
    case ExploreKind::kEpsilon:
      return "epsilon:" + value;
    case ExploreKind::kSoftmax:
      return "softmax:" + value;
    case ExploreKind::kSquareCb:
      return "squarecb:" + value;
  }
  return "none";
}

void Explore(const ExploreSpec& spec, std::span<const PoolItem> pool, size_t k, uint64_t seed,
             std::vector<ShownItem>* out) {
  out->clear();
  const size_t n = std::min(k, pool.size());
  if (!spec.active()) {
    for (size_t i = 0; i < n; ++i) out->push_back({pool[i].item, pool[i].score, 1});
    return;
  }
  float lo = pool.empty() ? 0 : pool[0].score;
  float hi = lo;
  for (const PoolItem& c : pool) {
    lo = std::min(lo, c.score);
    hi = std::max(hi, c.score);
  }
  std::vector<PoolItem> remaining(pool.begin(), pool.end());
  std::vector<double> p;
  Random rng(seed);
  for (size_t position = 0; position < n; ++position) {
    Probabilities(spec, remaining, lo, hi, &p);
    const double u = rng.UniformDouble();
    size_t chosen = 0;
    double cumulative = p[0];
    while (chosen + 1 < remaining.size() && u >= cumulative) cumulative += p[++chosen];
    // Rounding may leave u above the last cumulative sum: the last candidate with a positive
    // probability takes it.
    while (p[chosen] == 0 && chosen > 0) --chosen;
    out->push_back({remaining[chosen].item, remaining[chosen].score, p[chosen]});
    remaining.erase(remaining.begin() + static_cast<ptrdiff_t>(chosen));
  }
}

}  // namespace liverec
