#include "experiment/sequential_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/check.h"

namespace liverec {

void OutcomeStats::Add(double y) {
  ++n_;
  const double delta = y - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (y - mean_);
}

double OutcomeStats::variance() const { return (m2_ + 0.25) / static_cast<double>(n_ + 1); }

void OutcomeStats::Save(BinaryWriter* out) const {
  out->Put(n_);
  out->Put(mean_);
  out->Put(m2_);
}

Status OutcomeStats::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->Get(&n_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&mean_));
  LIVEREC_RETURN_IF_ERROR(in->Get(&m2_));
  if (!(mean_ >= 0 && mean_ <= 1) || !(m2_ >= 0)) return Corruption("outcome stats out of range");
  return Status::Ok();
}

Interval ConfidenceSequence(const OutcomeStats& stats, double alpha, double n_opt) {
  LIVEREC_CHECK(alpha > 0 && alpha < 1 && n_opt > 0);
  if (stats.n() < kMinOutcomes) return {0, 1};
  const double n = static_cast<double>(stats.n());
  const double log_alpha = -2 * std::log(alpha);
  const double rho2 = (log_alpha + std::log(log_alpha + 1)) / n_opt;
  const double width = std::sqrt(stats.variance() * 2 * (n * rho2 + 1) / (n * n * rho2) *
                                 std::log(std::sqrt(n * rho2 + 1) / alpha));
  return {std::max(0.0, stats.mean() - width), std::min(1.0, stats.mean() + width)};
}

Interval DifferenceSequence(const OutcomeStats& treatment, const OutcomeStats& control,
                            double alpha, double n_opt) {
  const Interval t = ConfidenceSequence(treatment, alpha / 2, n_opt);
  const Interval c = ConfidenceSequence(control, alpha / 2, n_opt);
  return {t.lo - c.hi, t.hi - c.lo};
}

double RegularizedGammaQ(double a, double x) {
  LIVEREC_CHECK(a > 0 && x >= 0) << a << " " << x;
  if (x == 0) return 1;
  constexpr int kMaxIterations = 1000;
  constexpr double kEpsilon = 1e-15;
  const double log_prefix = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {
    // The series of P(a, x) = 1 - Q converges fast below a + 1.
    double term = 1 / a;
    double sum = term;
    for (int n = 1; n < kMaxIterations; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::abs(term) < std::abs(sum) * kEpsilon) break;
    }
    return std::clamp(1 - sum * std::exp(log_prefix), 0.0, 1.0);
  }
  // Above it, Q's continued fraction, evaluated by the modified Lentz method.
  constexpr double kTiny = 1e-300;
  double b = x + 1 - a;
  double c = 1 / kTiny;
  double d = 1 / b;
  double h = d;
  for (int i = 1; i < kMaxIterations; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < kEpsilon) break;
  }
  return std::clamp(std::exp(log_prefix) * h, 0.0, 1.0);
}

double ChiSquarePValue(std::span<const uint64_t> counts, std::span<const double> shares) {
  LIVEREC_CHECK(counts.size() == shares.size());
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return 1;
  double statistic = 0;
  int arms = 0;
  for (size_t a = 0; a < counts.size(); ++a) {
    if (shares[a] <= 0) {
      if (counts[a] > 0) return 0;
      continue;
    }
    ++arms;
    const double expected = shares[a] * static_cast<double>(total);
    const double diff = static_cast<double>(counts[a]) - expected;
    statistic += diff * diff / expected;
  }
  if (arms < 2) return 1;
  return RegularizedGammaQ((arms - 1) / 2.0, statistic / 2);
}

SequentialSrm::SequentialSrm(std::vector<double> shares)
    : shares_(std::move(shares)), counts_(shares_.size(), 0) {}

void SequentialSrm::Add(uint32_t arm) {
  LIVEREC_CHECK(arm < counts_.size());
  ++counts_[arm];
  // log Bayes factor of the Dirichlet-multinomial mixture against the multinomial of the
  // shares, over the counts so far (the order of units does not matter to it).
  double total = 0;
  double prior_total = 0;
  double log_bf = 0;
  for (size_t a = 0; a < counts_.size(); ++a) {
    const double n = static_cast<double>(counts_[a]);
    total += n;
    if (shares_[a] <= 0) {
      if (n > 0) {
        p_value_ = 0;  // a unit where none may be: certain mismatch
        return;
      }
      continue;
    }
    const double prior = kSrmConcentration * shares_[a];
    prior_total += prior;
    log_bf += std::lgamma(prior + n) - std::lgamma(prior) - n * std::log(shares_[a]);
  }
  log_bf += std::lgamma(prior_total) - std::lgamma(prior_total + total);
  p_value_ = std::min(p_value_, std::min(1.0, std::exp(-log_bf)));
}

void SequentialSrm::Save(BinaryWriter* out) const {
  out->PutVector(counts_);
  out->Put(p_value_);
}

Status SequentialSrm::Load(BinaryReader* in) {
  std::vector<uint64_t> counts;
  double p_value = 0;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&counts));
  LIVEREC_RETURN_IF_ERROR(in->Get(&p_value));
  if (counts.size() != shares_.size() || !(p_value >= 0 && p_value <= 1)) {
    return Corruption("sequential SRM: " + std::to_string(counts.size()) + " arms, expected " +
                      std::to_string(shares_.size()));
  }
  counts_ = std::move(counts);
  p_value_ = p_value;
  return Status::Ok();
}

}  // namespace liverec
