// Statistics an operator may read after every impression: always-valid confidence sequences
// for an arm's click-through rate and for the difference between two arms, and sample-ratio-
// mismatch (SRM) tests of the arms' user counts against their shares.
//
// Confidence sequences. A fixed-n confidence interval read repeatedly ("peeking") and acted on
// the first time it excludes 0 is wrong far more often than its level says. A confidence
// sequence is a sequence of intervals that covers the true mean at every n simultaneously with
// probability >= 1 - alpha, so it may be read at any time. liverec uses the asymptotic
// confidence sequence of Waudby-Smith, Arnold, Wu, Ramdas and Howard, "Time-uniform central
// limit theory and asymptotic confidence sequences" (Annals of Statistics, 2024; arXiv
// 2103.06476), the normal-mixture boundary of its Theorem 2.2: for n outcomes with mean m and
// variance s^2,
//   m +- s * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * log( sqrt(n rho^2 + 1) / alpha ) ),
// rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / n_opt, the n at which it is tightest. It is
// the mixture SPRT (mSPRT) of Johari, Koomen, Pekelis and Walsh ("Always valid inference",
// Operations Research 2022) written as an interval. Outcomes lie in [0, 1]; the variance is
// regularized with one pseudo-outcome of the largest variance a [0, 1] outcome can have (1/4),
// so that an arm with no clicks yet does not get an interval of width 0. Below kMinOutcomes no
// interval is claimed ([0, 1]).
//
// The difference between two arms (treatment - control) is bounded by the arms' own sequences,
// each at level alpha / 2: [lo_t - hi_c, hi_t - lo_c] covers the difference at every n with
// probability >= 1 - alpha (a union bound). It is conservative (about sqrt(2) wider than a
// sequence for the difference itself would be) and needs no assumption about how users split
// between the arms.
//
// SRM. The chi-square test of the arms' user counts against their shares (Pearson, df = arms
// with a positive share - 1) answers "are these counts plausible now?"; read after every user
// it raises false alarms as any repeated test does. The sequential test of Lindon and Malek
// ("Anytime-valid inference for multinomial count data", NeurIPS 2022; a Dirichlet-multinomial
// mixture, prior concentration kSrmConcentration times the shares) gives an always-valid
// p-value: the running minimum of 1 / Bayes factor over every count seen. The alarm wants both
// below the threshold: the chi-square test, the check operators know, and the sequential one,
// so that looking often does not raise it.
//
// Thread safety: values; const methods may run concurrently.
#ifndef LIVEREC_EXPERIMENT_SEQUENTIAL_STATS_H_
#define LIVEREC_EXPERIMENT_SEQUENTIAL_STATS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/serialize.h"
#include "liverec/status.h"

namespace liverec {

// No interval narrower than [0, 1] is claimed from fewer outcomes.
inline constexpr uint64_t kMinOutcomes = 30;
// The sequential SRM test's Dirichlet prior: this many pseudo-users spread by the shares.
inline constexpr double kSrmConcentration = 100;

struct Interval {
  double lo = 0;
  double hi = 1;
  bool Excludes(double x) const { return x < lo || x > hi; }
  bool operator==(const Interval&) const = default;
};

// Running mean and sum of squared deviations (Welford) of outcomes in [0, 1].
class OutcomeStats {
 public:
  void Add(double y);
  uint64_t n() const { return n_; }
  double mean() const { return mean_; }
  // The regularized variance: (sum of squared deviations + 1/4) / (n + 1).
  double variance() const;

  void Save(BinaryWriter* out) const;
  Status Load(BinaryReader* in);
  bool operator==(const OutcomeStats&) const = default;

 private:
  uint64_t n_ = 0;
  double mean_ = 0;
  double m2_ = 0;
};

// The confidence sequence of `stats` at level 1 - alpha, tightest at n_opt outcomes, clipped
// to [0, 1]; [0, 1] below kMinOutcomes. Requires 0 < alpha < 1, n_opt > 0.
Interval ConfidenceSequence(const OutcomeStats& stats, double alpha, double n_opt);

// The sequence for treatment - control at level 1 - alpha (each arm's at alpha / 2), in
// [-1, 1].
Interval DifferenceSequence(const OutcomeStats& treatment, const OutcomeStats& control,
                            double alpha, double n_opt);

// The regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a); a > 0,
// x >= 0. The chi-square survival function with df degrees of freedom is Q(df / 2, x / 2).
double RegularizedGammaQ(double a, double x);

// Pearson's chi-square p-value of `counts` against `shares` (which sum to 1); 1 when there are
// no counts or fewer than two arms with a positive share. An arm with share 0 and a count > 0
// gives p = 0.
double ChiSquarePValue(std::span<const uint64_t> counts, std::span<const double> shares);

// The sequential SRM test (see the file comment). Feed it every unit in arrival order.
class SequentialSrm {
 public:
  explicit SequentialSrm(std::vector<double> shares);
  // One more unit in `arm`.
  void Add(uint32_t arm);
  // The always-valid p-value so far (1 before any unit).
  double p_value() const { return p_value_; }
  std::span<const uint64_t> counts() const { return counts_; }

  void Save(BinaryWriter* out) const;
  // Replaces the counts and p-value (the shares stay); Corruption on bad bytes.
  Status Load(BinaryReader* in);

 private:
  std::vector<double> shares_;
  std::vector<uint64_t> counts_;
  double p_value_ = 1;
};

}  // namespace liverec

#endif  // LIVEREC_EXPERIMENT_SEQUENTIAL_STATS_H_
