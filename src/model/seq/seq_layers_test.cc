// Gradient checks of every seq layer, and of the whole network, against central finite
// differences in double precision; plus value oracles (hand-computed or plain loops).
#include "model/seq/seq_layers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "common/random.h"

namespace liverec::seq {
namespace {

using Mat = Matrix<double>;
using Row = RowVector<double>;

// Largest relative error allowed between an analytic and a numeric derivative.
constexpr double kMaxRelativeError = 1e-6;
// Denominator floor of the relative error: derivatives below it are held to an absolute error
// of kMaxRelativeError * kErrorFloor = 1e-10 instead, since the numeric estimate carries
// rounding noise of about 1e-16 |loss| / step ~ 1e-11 whatever the derivative's size.
constexpr double kErrorFloor = 1e-4;
constexpr double kStep = 1e-4;

// The derivative of loss() in *x by the fourth-order central difference
//   (f(x - 2h) - 8 f(x - h) + 8 f(x + h) - f(x + 2h)) / 12h.
// Its truncation error (about h^4 f^(5) / 30) and rounding error (about 1e-16 |f| / h) both
// stay far below the tolerance; the two-point difference's h^2 f''' / 6 does not on the whole
// network (relative errors up to 3e-6 with h = 1e-5).
double NumericDerivative(double* x, const std::function<double()>& loss) {
  const double original = *x;
  auto at = [&](double offset) {
    *x = original + offset;
    return loss();
  };
  const double numeric =
      (at(-2 * kStep) - 8 * at(-kStep) + 8 * at(kStep) - at(2 * kStep)) / (12 * kStep);
  *x = original;
  return numeric;
}

double RelativeError(double analytic, double numeric) {
  return std::fabs(analytic - numeric) /
         std::max({std::fabs(analytic), std::fabs(numeric), kErrorFloor});
}

Mat RandomMat(Random* rng, Index rows, Index cols, double std = 1.0) {
  Mat m(rows, cols);
  for (Index k = 0; k < m.size(); ++k) m.data()[k] = rng->Normal() * std;
  return m;
}

Row RandomRow(Random* rng, Index cols, double std = 1.0, double mean = 0.0) {
  Row v(cols);
  for (Index k = 0; k < cols; ++k) v(k) = mean + rng->Normal() * std;
  return v;
}

// The largest relative error, over every entry of `param`, between `analytic` and the central
// difference of loss().
template <typename M>
double MaxRelativeError(M* param, const M& analytic, const std::function<double()>& loss) {
  EXPECT_EQ(param->size(), analytic.size());
  double worst = 0;
  for (Index k = 0; k < param->size(); ++k) {
    const double numeric = NumericDerivative(&param->data()[k], loss);
    worst = std::max(worst, RelativeError(analytic.data()[k], numeric));
  }
  return worst;
}

// Records and prints the worst error of a layer's gradients (the figures of the report).
void ExpectGradient(const std::string& what, double worst) {
  std::printf("[ gradient ] %-40s max relative error %.2e\n", what.c_str(), worst);
  ::testing::Test::RecordProperty(what, std::to_string(worst));
  EXPECT_LT(worst, kMaxRelativeError) << what;
}

// sum(out .* weights): a scalar loss whose gradient with respect to out is `weights`, so every
// output entry gets a distinct, non-trivial upstream gradient.
double Weighted(const Mat& out, const Mat& weights) { return out.cwiseProduct(weights).sum(); }

TEST(SeqLayerNormTest, OutputRowsHaveZeroMeanAndUnitVarianceBeforeGainAndBias) {
  Random rng(1);
  const Mat x = RandomMat(&rng, 3, 6, 2.0);
  const Row gain = Row::Ones(6);
  const Row bias = Row::Zero(6);
  Mat y;
  LayerNormCache<double> cache;
  LayerNormForward(x, gain, bias, &y, &cache);
  for (Index r = 0; r < 3; ++r) {
    EXPECT_NEAR(y.row(r).mean(), 0.0, 1e-12);
    const double variance = y.row(r).squaredNorm() / 6;
    EXPECT_NEAR(variance, 1.0, 1e-5);  // the epsilon shifts it by about eps / var
  }
}

TEST(SeqLayerNormTest, GradientMatchesFiniteDifferences) {
  Random rng(2);
  constexpr Index kRows = 4;
  constexpr Index kDim = 7;
  Mat x = RandomMat(&rng, kRows, kDim, 1.5);
  Row gain = RandomRow(&rng, kDim, 0.3, 1.0);
  Row bias = RandomRow(&rng, kDim, 0.3);
  const Mat weights = RandomMat(&rng, kRows, kDim);
  auto loss = [&] {
    Mat y;
    LayerNormCache<double> cache;
    LayerNormForward(x, gain, bias, &y, &cache);
    return Weighted(y, weights);
  };
  Mat y;
  LayerNormCache<double> cache;
  LayerNormForward(x, gain, bias, &y, &cache);
  Mat dx;
  Row d_gain = Row::Zero(kDim);
  Row d_bias = Row::Zero(kDim);
  LayerNormBackward(weights, gain, cache, &dx, &d_gain, &d_bias);
  ExpectGradient("layer_norm/x", MaxRelativeError(&x, dx, loss));
  ExpectGradient("layer_norm/gain", MaxRelativeError(&gain, d_gain, loss));
  ExpectGradient("layer_norm/bias", MaxRelativeError(&bias, d_bias, loss));
}

struct AttentionWeights {
  Mat wq, wk, wv, wo;
};

AttentionWeights RandomAttention(Random* rng, Index dim) {
  const double std = 1.0 / std::sqrt(static_cast<double>(dim));
  return {RandomMat(rng, dim, dim, std), RandomMat(rng, dim, dim, std),
          RandomMat(rng, dim, dim, std), RandomMat(rng, dim, dim, std)};
}

// Plain-loop reference of causal multi-head attention for one query position.
std::vector<double> ReferenceAttention(const Mat& x, Index position, int heads,
                                       const AttentionWeights& w) {
  const Index dim = x.cols();
  const Index head_dim = dim / heads;
  const Mat q = x * w.wq;
  const Mat k = x * w.wk;
  const Mat v = x * w.wv;
  std::vector<double> context(dim, 0.0);
  for (int h = 0; h < heads; ++h) {
    std::vector<double> logits(position + 1);
    double max = -1e300;
    for (Index j = 0; j <= position; ++j) {
      double dot = 0;
      for (Index c = h * head_dim; c < (h + 1) * head_dim; ++c) dot += q(position, c) * k(j, c);
      logits[j] = dot / std::sqrt(static_cast<double>(head_dim));
      max = std::max(max, logits[j]);
    }
    double sum = 0;
    for (double& l : logits) sum += (l = std::exp(l - max));
    for (Index j = 0; j <= position; ++j) {
      for (Index c = h * head_dim; c < (h + 1) * head_dim; ++c) {
        context[c] += logits[j] / sum * v(j, c);
      }
    }
  }
  std::vector<double> out(dim, 0.0);
  for (Index c = 0; c < dim; ++c) {
    for (Index e = 0; e < dim; ++e) out[c] += context[e] * w.wo(e, c);
  }
  return out;
}

TEST(SeqAttentionTest, MatchesAPlainLoopReferenceForEveryQueryRange) {
  Random rng(3);
  constexpr Index kLength = 5;
  constexpr Index kDim = 6;
  constexpr int kHeads = 2;
  const Mat x = RandomMat(&rng, kLength, kDim);
  const AttentionWeights w = RandomAttention(&rng, kDim);
  for (Index first_query = 0; first_query < kLength; ++first_query) {
    Mat out;
    AttentionCache<double> cache;
    AttentionForward(x, first_query, kHeads, w.wq, w.wk, w.wv, w.wo, &out, &cache);
    ASSERT_EQ(out.rows(), kLength - first_query);
    for (Index r = 0; r < out.rows(); ++r) {
      const std::vector<double> expected = ReferenceAttention(x, first_query + r, kHeads, w);
      for (Index c = 0; c < kDim; ++c) {
        EXPECT_NEAR(out(r, c), expected[c], 1e-12) << first_query << " " << r << " " << c;
      }
    }
  }
}

TEST(SeqAttentionTest, CausalMaskHidesLaterPositions) {
  Random rng(4);
  constexpr Index kLength = 6;
  constexpr Index kDim = 4;
  Mat x = RandomMat(&rng, kLength, kDim);
  const AttentionWeights w = RandomAttention(&rng, kDim);
  Mat before;
  AttentionCache<double> cache;
  AttentionForward(x, 0, 1, w.wq, w.wk, w.wv, w.wo, &before, &cache);
  for (Index r = 0; r < kLength; ++r) {
    EXPECT_NEAR(cache.probs[0].row(r).sum(), 1.0, 1e-12);
    for (Index j = r + 1; j < kLength; ++j) EXPECT_EQ(cache.probs[0](r, j), 0.0);
  }
  // Changing the last position's input changes no earlier output.
  x.row(kLength - 1) = RandomRow(&rng, kDim, 3.0);
  Mat after;
  AttentionForward(x, 0, 1, w.wq, w.wk, w.wv, w.wo, &after, &cache);
  EXPECT_EQ(before.topRows(kLength - 1), after.topRows(kLength - 1));
  EXPECT_NE(before.row(kLength - 1), after.row(kLength - 1));
  // The first position attends only to itself: its output is v_0 wo.
  const Mat first = (x.row(0) * w.wv) * w.wo;
  for (Index c = 0; c < kDim; ++c) EXPECT_NEAR(after(0, c), first(0, c), 1e-12);
}

void CheckAttentionGradient(Index first_query, int heads, uint64_t seed) {
  Random rng(seed);
  constexpr Index kLength = 5;
  constexpr Index kDim = 6;
  Mat x = RandomMat(&rng, kLength, kDim);
  AttentionWeights w = RandomAttention(&rng, kDim);
  const Mat weights = RandomMat(&rng, kLength - first_query, kDim);
  auto loss = [&] {
    Mat out;
    AttentionCache<double> cache;
    AttentionForward(x, first_query, heads, w.wq, w.wk, w.wv, w.wo, &out, &cache);
    return Weighted(out, weights);
  };
  Mat out;
  AttentionCache<double> cache;
  AttentionForward(x, first_query, heads, w.wq, w.wk, w.wv, w.wo, &out, &cache);
  Mat dx;
  Mat d_wq = Mat::Zero(kDim, kDim), d_wk = Mat::Zero(kDim, kDim), d_wv = Mat::Zero(kDim, kDim),
      d_wo = Mat::Zero(kDim, kDim);
  AttentionBackward(weights, cache, heads, w.wq, w.wk, w.wv, w.wo, &dx, &d_wq, &d_wk, &d_wv, &d_wo);
  const std::string name = "attention(heads " + std::to_string(heads) + ", first_query " +
                           std::to_string(first_query) + ")/";
  ExpectGradient(name + "x", MaxRelativeError(&x, dx, loss));
  ExpectGradient(name + "wq", MaxRelativeError(&w.wq, d_wq, loss));
  ExpectGradient(name + "wk", MaxRelativeError(&w.wk, d_wk, loss));
  ExpectGradient(name + "wv", MaxRelativeError(&w.wv, d_wv, loss));
  ExpectGradient(name + "wo", MaxRelativeError(&w.wo, d_wo, loss));
}

TEST(SeqAttentionTest, GradientMatchesFiniteDifferencesOnEveryPosition) {
  CheckAttentionGradient(/*first_query=*/0, /*heads=*/1, 5);
  CheckAttentionGradient(/*first_query=*/0, /*heads=*/2, 6);
}

TEST(SeqAttentionTest, GradientMatchesFiniteDifferencesOnTheLastPositions) {
  CheckAttentionGradient(/*first_query=*/3, /*heads=*/3, 7);
  CheckAttentionGradient(/*first_query=*/4, /*heads=*/1, 8);
}

TEST(SeqFeedForwardTest, GradientMatchesFiniteDifferences) {
  Random rng(9);
  constexpr Index kRows = 4;
  constexpr Index kDim = 5;
  Mat x = RandomMat(&rng, kRows, kDim);
  Mat w1 = RandomMat(&rng, kDim, kDim, 0.5);
  Row b1 = RandomRow(&rng, kDim, 0.2);
  Mat w2 = RandomMat(&rng, kDim, kDim, 0.5);
  Row b2 = RandomRow(&rng, kDim, 0.2);
  const Mat weights = RandomMat(&rng, kRows, kDim);
  auto loss = [&] {
    Mat out;
    FeedForwardCache<double> cache;
    FeedForwardForward(x, w1, b1, w2, b2, &out, &cache);
    return Weighted(out, weights);
  };
  Mat out;
  FeedForwardCache<double> cache;
  FeedForwardForward(x, w1, b1, w2, b2, &out, &cache);
  // Some units are off (the ReLU is exercised) and none sits within a step of its kink.
  EXPECT_GT((cache.hidden.array() == 0).count(), 0);
  const Mat pre = (x * w1).rowwise() + b1;
  EXPECT_GT(pre.cwiseAbs().minCoeff(), 100 * kStep);
  Mat dx;
  Mat d_w1 = Mat::Zero(kDim, kDim), d_w2 = Mat::Zero(kDim, kDim);
  Row d_b1 = Row::Zero(kDim), d_b2 = Row::Zero(kDim);
  FeedForwardBackward(weights, cache, w1, w2, &dx, &d_w1, &d_b1, &d_w2, &d_b2);
  ExpectGradient("feed_forward/x", MaxRelativeError(&x, dx, loss));
  ExpectGradient("feed_forward/w1", MaxRelativeError(&w1, d_w1, loss));
  ExpectGradient("feed_forward/b1", MaxRelativeError(&b1, d_b1, loss));
  ExpectGradient("feed_forward/w2", MaxRelativeError(&w2, d_w2, loss));
  ExpectGradient("feed_forward/b2", MaxRelativeError(&b2, d_b2, loss));
}

BlockParams<double> RandomBlock(Random* rng, Index dim) {
  BlockParams<double> p;
  p.Resize(dim);
  const double std = 1.0 / std::sqrt(static_cast<double>(dim));
  p.ForEach([&](auto& t) {
    for (Index k = 0; k < t.size(); ++k) t.data()[k] = rng->Normal() * std;
  });
  p.ln1_gain.array() += 1.0;
  p.ln2_gain.array() += 1.0;
  return p;
}

// Checks every tensor of `params` against `grad` (same shapes), naming each by its index.
template <typename P>
void CheckAllTensors(const std::string& name, P* params, const P& grad,
                     const std::function<double()>& loss) {
  std::vector<std::span<double>> values = params->Tensors();
  const std::vector<std::span<const double>> grads = grad.Tensors();
  ASSERT_EQ(values.size(), grads.size());
  double worst = 0;
  for (size_t t = 0; t < values.size(); ++t) {
    Eigen::Map<Mat> value(values[t].data(), 1, static_cast<Index>(values[t].size()));
    Mat copy = value;
    Mat analytic = Eigen::Map<const Mat>(grads[t].data(), 1, static_cast<Index>(grads[t].size()));
    // Perturbed through the real storage: loss() reads *params.
    double tensor_worst = 0;
    for (Index k = 0; k < value.size(); ++k) {
      const double numeric = NumericDerivative(&value.data()[k], loss);
      tensor_worst = std::max(tensor_worst, RelativeError(analytic(0, k), numeric));
    }
    EXPECT_EQ(value, copy);
    EXPECT_LT(tensor_worst, kMaxRelativeError) << name << " tensor " << t;
    worst = std::max(worst, tensor_worst);
  }
  ExpectGradient(name, worst);
}

void CheckBlockGradient(Index first_query, int heads, double dropout, uint64_t seed) {
  Random rng(seed);
  constexpr Index kLength = 5;
  constexpr Index kDim = 6;
  Mat x = RandomMat(&rng, kLength, kDim);
  BlockParams<double> p = RandomBlock(&rng, kDim);
  const Mat weights = RandomMat(&rng, kLength - first_query, kDim);
  BlockMasks<double> masks;
  DropoutMask(dropout, kLength - first_query, kDim, &rng, &masks.attention);
  DropoutMask(dropout, kLength - first_query, kDim, &rng, &masks.ffn);
  const BlockMasks<double>* used = dropout > 0 ? &masks : nullptr;
  auto loss = [&] {
    Mat y;
    BlockCache<double> cache;
    BlockForward(x, first_query, heads, p, used, &y, &cache);
    return Weighted(y, weights);
  };
  Mat y;
  BlockCache<double> cache;
  BlockForward(x, first_query, heads, p, used, &y, &cache);
  // No feed-forward unit within reach of its ReLU kink, where finite differences fail.
  const Mat pre = (cache.normalized2 * p.w1).rowwise() + p.b1;
  ASSERT_GT(pre.cwiseAbs().minCoeff(), 100 * kStep) << "pick another seed";
  BlockParams<double> grad;
  grad.Resize(kDim);
  Mat dx;
  BlockBackward(weights, cache, heads, p, used, &dx, &grad);
  const std::string name = "block(heads " + std::to_string(heads) + ", first_query " +
                           std::to_string(first_query) + ", dropout " +
                           std::to_string(dropout).substr(0, 3) + ")/";
  ExpectGradient(name + "x", MaxRelativeError(&x, dx, loss));
  double worst = 0;
  auto check = [&](auto* param, const auto& analytic) {
    worst = std::max(worst, MaxRelativeError(param, analytic, loss));
  };
  check(&p.ln1_gain, grad.ln1_gain);
  check(&p.ln1_bias, grad.ln1_bias);
  check(&p.wq, grad.wq);
  check(&p.wk, grad.wk);
  check(&p.wv, grad.wv);
  check(&p.wo, grad.wo);
  check(&p.ln2_gain, grad.ln2_gain);
  check(&p.ln2_bias, grad.ln2_bias);
  check(&p.w1, grad.w1);
  check(&p.b1, grad.b1);
  check(&p.w2, grad.w2);
  check(&p.b2, grad.b2);
  ExpectGradient(name + "parameters", worst);
}

TEST(SeqBlockTest, GradientMatchesFiniteDifferences) {
  CheckBlockGradient(/*first_query=*/0, /*heads=*/2, /*dropout=*/0, 10);
  CheckBlockGradient(/*first_query=*/3, /*heads=*/1, /*dropout=*/0, 11);
}

TEST(SeqBlockTest, GradientWithDropoutMatchesFiniteDifferences) {
  CheckBlockGradient(/*first_query=*/0, /*heads=*/2, /*dropout=*/0.3, 20);
  CheckBlockGradient(/*first_query=*/2, /*heads=*/1, /*dropout=*/0.5, 17);
}

TEST(SeqBlockTest, DropoutMaskKeepsTheExpectedValue) {
  Random rng(18);
  Mat mask;
  DropoutMask(0.25, 200, 50, &rng, &mask);
  const double zeros = static_cast<double>((mask.array() == 0).count()) / mask.size();
  EXPECT_NEAR(zeros, 0.25, 0.02);
  EXPECT_NEAR(mask.mean(), 1.0, 0.03);
  EXPECT_TRUE(((mask.array() == 0) || (mask.array() == 1 / 0.75)).all());
}

TEST(SeqEmbedTest, ForwardAddsScaledItemsAndPositionsCountedFromTheNewest) {
  const Mat items = (Mat(3, 2) << 1, 2, 3, 4, 5, 6).finished();
  const Mat positions = (Mat(4, 2) << 10, 20, 30, 40, 50, 60, 70, 80).finished();
  const std::vector<const double*> rows = {items.row(2).data(), items.row(0).data()};
  Mat x;
  EmbedForward<double>(rows, positions, 2.0, &x);
  // Oldest item 2 at position 1 (one step before the newest), newest item 0 at position 0.
  const Mat expected = (Mat(2, 2) << 2 * 5 + 30, 2 * 6 + 40, 2 * 1 + 10, 2 * 2 + 20).finished();
  EXPECT_EQ(x, expected);
}

TEST(SeqEmbedTest, GradientMatchesFiniteDifferences) {
  Random rng(12);
  constexpr Index kDim = 3;
  Mat items = RandomMat(&rng, 4, kDim);
  Mat positions = RandomMat(&rng, 5, kDim);
  const std::vector<uint32_t> slots = {3, 1, 3, 0};  // item 3 twice
  const double scale = 1.7;
  const Mat weights = RandomMat(&rng, 4, kDim);
  auto loss = [&] {
    std::vector<const double*> rows;
    for (uint32_t s : slots) rows.push_back(items.row(s).data());
    Mat x;
    EmbedForward<double>(rows, positions, scale, &x);
    return Weighted(x, weights);
  };
  Mat d_items = Mat::Zero(4, kDim);
  Mat d_positions = Mat::Zero(5, kDim);
  EmbedBackward<double>(weights, slots, scale, &d_items, &d_positions);
  ExpectGradient("embed/items", MaxRelativeError(&items, d_items, loss));
  ExpectGradient("embed/positions", MaxRelativeError(&positions, d_positions, loss));
}

TEST(SeqLossTest, SoftmaxLossEqualsHandComputedValue) {
  // One row, h = (1, 0); target logit 2, negatives' logits 0 and 1.
  const Mat hidden = (Mat(1, 2) << 1, 0).finished();
  const Mat items = (Mat(3, 2) << 2, 5, 0, 7, 1, -1).finished();
  const std::vector<uint32_t> targets = {0};
  const std::vector<uint32_t> negatives = {1, 2};
  Mat d_hidden;
  Mat d_items = Mat::Zero(3, 2);
  const double softmax = SampledLoss<double>(LossKind::kSoftmax, hidden, items, targets, negatives,
                                             1.0, &d_hidden, &d_items);
  EXPECT_NEAR(softmax, std::log(std::exp(2.0) + std::exp(0.0) + std::exp(1.0)) - 2.0, 1e-12);
  d_items.setZero();
  const double bce = SampledLoss<double>(LossKind::kBce, hidden, items, targets, negatives, 0.5,
                                         &d_hidden, &d_items);
  auto softplus = [](double x) { return std::log(1 + std::exp(x)); };
  EXPECT_NEAR(bce, 0.5 * (softplus(-2.0) + softplus(0.0) + softplus(1.0)), 1e-12);
}

TEST(SeqLossTest, NegativeEqualToTheTargetIsLeftOut) {
  const Mat hidden = (Mat(1, 2) << 1, 0).finished();
  const Mat items = (Mat(2, 2) << 2, 5, 1, -1).finished();
  const std::vector<uint32_t> targets = {0};
  Mat d_hidden;
  Mat d_items = Mat::Zero(2, 2);
  const double with_hit =
      SampledLoss<double>(LossKind::kSoftmax, hidden, items, targets, std::vector<uint32_t>{1, 0},
                          1.0, &d_hidden, &d_items);
  const double without = SampledLoss<double>(LossKind::kSoftmax, hidden, items, targets,
                                             std::vector<uint32_t>{1}, 1.0, &d_hidden, &d_items);
  EXPECT_DOUBLE_EQ(with_hit, without);
  EXPECT_NEAR(without, std::log(std::exp(2.0) + std::exp(1.0)) - 2.0, 1e-12);
}

void CheckLossGradient(LossKind kind, const std::string& name) {
  Random rng(13);
  constexpr Index kRows = 3;
  constexpr Index kDim = 4;
  Mat hidden = RandomMat(&rng, kRows, kDim);
  Mat items = RandomMat(&rng, 6, kDim);
  // Row 1's target (slot 4) is also a negative: an accidental hit, left out of row 1 only.
  const std::vector<uint32_t> targets = {0, 4, 1};
  const std::vector<uint32_t> negatives = {2, 3, 4, 5, 2};
  const double weight = 0.3;
  auto loss = [&] {
    Mat d_hidden;
    Mat d_items = Mat::Zero(items.rows(), kDim);
    return SampledLoss(kind, hidden, items, targets, negatives, weight, &d_hidden, &d_items);
  };
  Mat d_hidden;
  Mat d_items = Mat::Zero(items.rows(), kDim);
  SampledLoss(kind, hidden, items, targets, negatives, weight, &d_hidden, &d_items);
  ExpectGradient(name + "/hidden", MaxRelativeError(&hidden, d_hidden, loss));
  ExpectGradient(name + "/items", MaxRelativeError(&items, d_items, loss));
}

TEST(SeqLossTest, SoftmaxGradientMatchesFiniteDifferences) {
  CheckLossGradient(LossKind::kSoftmax, "loss(softmax)");
}

TEST(SeqLossTest, BceGradientMatchesFiniteDifferences) {
  CheckLossGradient(LossKind::kBce, "loss(bce)");
}

TEST(SeqLossTest, FullSoftmaxEqualsTheSampledSoftmaxOverEveryOtherItem) {
  Random rng(21);
  const Mat hidden = RandomMat(&rng, 3, 4);
  const Mat items = RandomMat(&rng, 5, 4);
  const std::vector<uint32_t> targets = {0, 4, 2};
  const std::vector<uint32_t> all = {0, 1, 2, 3, 4};  // the target of each row left out by rule
  Mat d_hidden_full, d_hidden_sampled, logits;
  Mat d_items_full = Mat::Zero(5, 4);
  Mat d_items_sampled = Mat::Zero(5, 4);
  const double full =
      FullSoftmaxLoss<double>(hidden, items, targets, 0.7, &d_hidden_full, &d_items_full, &logits);
  const double sampled = SampledLoss<double>(LossKind::kSoftmax, hidden, items, targets, all, 0.7,
                                             &d_hidden_sampled, &d_items_sampled);
  EXPECT_NEAR(full, sampled, 1e-12);
  EXPECT_LT((d_hidden_full - d_hidden_sampled).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((d_items_full - d_items_sampled).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(SeqLossTest, FullSoftmaxGradientMatchesFiniteDifferences) {
  Random rng(22);
  Mat hidden = RandomMat(&rng, 3, 4);
  Mat items = RandomMat(&rng, 6, 4);
  const std::vector<uint32_t> targets = {0, 4, 4};
  const double weight = 0.3;
  auto loss = [&] {
    Mat d_hidden, logits;
    Mat d_items = Mat::Zero(items.rows(), items.cols());
    return FullSoftmaxLoss(hidden, items, targets, weight, &d_hidden, &d_items, &logits);
  };
  Mat d_hidden, logits;
  Mat d_items = Mat::Zero(items.rows(), items.cols());
  FullSoftmaxLoss(hidden, items, targets, weight, &d_hidden, &d_items, &logits);
  ExpectGradient("loss(full)/hidden", MaxRelativeError(&hidden, d_hidden, loss));
  ExpectGradient("loss(full)/items", MaxRelativeError(&items, d_items, loss));
}

TEST(SeqLossTest, FullSoftmaxStaysFiniteForHugeLogits) {
  const Mat hidden = (Mat(1, 1) << 1000).finished();
  const Mat items = (Mat(2, 1) << 1, -1).finished();
  Mat d_hidden, logits;
  Mat d_items = Mat::Zero(2, 1);
  EXPECT_NEAR(FullSoftmaxLoss<double>(hidden, items, std::vector<uint32_t>{0}, 1.0, &d_hidden,
                                      &d_items, &logits),
              0.0, 1e-12);
  EXPECT_NEAR(FullSoftmaxLoss<double>(hidden, items, std::vector<uint32_t>{1}, 1.0, &d_hidden,
                                      &d_items, &logits),
              2000.0, 1e-9);
  EXPECT_TRUE(d_hidden.allFinite() && d_items.allFinite());
}

TEST(SeqLossTest, LossStaysFiniteForHugeLogits) {
  const Mat hidden = (Mat(1, 1) << 1000).finished();
  const Mat items = (Mat(2, 1) << 1, -1).finished();
  for (LossKind kind : {LossKind::kSoftmax, LossKind::kBce}) {
    Mat d_hidden;
    Mat d_items = Mat::Zero(2, 1);
    const double good = SampledLoss<double>(kind, hidden, items, std::vector<uint32_t>{0},
                                            std::vector<uint32_t>{1}, 1.0, &d_hidden, &d_items);
    EXPECT_NEAR(good, 0.0, 1e-12);
    const double bad = SampledLoss<double>(kind, hidden, items, std::vector<uint32_t>{1},
                                           std::vector<uint32_t>{0}, 1.0, &d_hidden, &d_items);
    EXPECT_NEAR(bad, 2000.0, 1e-9);  // both: 1000 for the target, 1000 for the negative
    EXPECT_TRUE(d_hidden.allFinite() && d_items.allFinite());
  }
}

NetworkParams<double> RandomNetwork(Random* rng, Index dim, Index max_len, int blocks) {
  NetworkParams<double> net;
  net.Resize(dim, max_len, blocks);
  for (BlockParams<double>& block : net.blocks) block = RandomBlock(rng, dim);
  net.positions = RandomMat(rng, max_len, dim, 0.5);
  net.final_gain = RandomRow(rng, dim, 0.3, 1.0);
  net.final_bias = RandomRow(rng, dim, 0.3);
  return net;
}

TEST(SeqNetworkTest, LastPositionOnlyEqualsTheLastRowOfTheFullForward) {
  Random rng(14);
  constexpr Index kLength = 6;
  constexpr Index kDim = 8;
  const NetworkParams<double> net = RandomNetwork(&rng, kDim, kLength, 2);
  const Mat x = RandomMat(&rng, kLength, kDim);
  Mat full, last;
  NetworkCache<double> cache;
  NetworkForward(net, x, 0, 2, /*masks=*/nullptr, &full, &cache);
  NetworkForward(net, x, kLength - 1, 2, /*masks=*/nullptr, &last, &cache);
  ASSERT_EQ(last.rows(), 1);
  for (Index c = 0; c < kDim; ++c) EXPECT_NEAR(last(0, c), full(kLength - 1, c), 1e-12);
}

void CheckExampleGradient(LossKind kind, size_t trained, double dropout, const std::string& name) {
  Random rng(15);
  constexpr Index kDim = 8;
  constexpr Index kMaxLen = 6;
  constexpr int kHeads = 2;
  NetworkParams<double> net = RandomNetwork(&rng, kDim, kMaxLen, 2);
  Mat items = RandomMat(&rng, 9, kDim, 0.3);
  // Item slot 2 appears twice in the input; slot 7 is both a target and a negative.
  const std::vector<uint32_t> inputs = {2, 5, 2, 1, 7};
  std::vector<uint32_t> targets(inputs.end() - static_cast<ptrdiff_t>(trained) + 1, inputs.end());
  targets.push_back(6);
  const std::vector<uint32_t> negatives = {0, 3, 7, 8};
  ExampleSpec spec;
  spec.num_heads = kHeads;
  spec.embed_scale = std::sqrt(static_cast<double>(kDim));
  spec.loss = kind;
  spec.input_slots = inputs;
  spec.target_slots = targets;
  spec.negative_slots = negatives;
  spec.weight = 0.25;
  spec.dropout = dropout;
  spec.dropout_seed = 99;
  BatchScratch<double> scratch;
  auto loss = [&] { return ExampleLoss<double>(net, items, spec, nullptr, nullptr, &scratch); };
  NetworkParams<double> grad;
  grad.Resize(kDim, kMaxLen, 2);
  Mat d_items = Mat::Zero(items.rows(), kDim);
  const double value = ExampleLoss<double>(net, items, spec, &grad, &d_items, &scratch);
  EXPECT_DOUBLE_EQ(value, loss());
  CheckAllTensors(name + "/network", &net, grad, loss);
  ExpectGradient(name + "/items", MaxRelativeError(&items, d_items, loss));
  // Positions beyond the input length get no gradient.
  EXPECT_EQ(grad.positions.row(kMaxLen - 1).squaredNorm(), 0.0);
}

TEST(SeqNetworkTest, EndToEndGradientMatchesFiniteDifferencesTrainingEveryPosition) {
  CheckExampleGradient(LossKind::kSoftmax, 5, 0, "network(softmax, 5 positions)");
  CheckExampleGradient(LossKind::kBce, 5, 0, "network(bce, 5 positions)");
  CheckExampleGradient(LossKind::kFull, 5, 0, "network(full, 5 positions)");
}

TEST(SeqNetworkTest, EndToEndGradientMatchesFiniteDifferencesWithDropout) {
  CheckExampleGradient(LossKind::kSoftmax, 5, 0.3, "network(softmax, 5 positions, dropout)");
  CheckExampleGradient(LossKind::kSoftmax, 2, 0.3, "network(softmax, 2 positions, dropout)");
  CheckExampleGradient(LossKind::kFull, 3, 0.3, "network(full, 3 positions, dropout)");
}

// Three sequences of different lengths in one batch, each trained on its last positions, with
// dropout: the batch loss (one softmax over the stacked positions) has the gradient of finite
// differences, and equals the sum of the sequences' losses taken one at a time.
void CheckBatchGradient(LossKind kind, const std::string& name) {
  Random rng(16);
  constexpr Index kDim = 8;
  constexpr Index kMaxLen = 6;
  constexpr int kHeads = 2;
  NetworkParams<double> net = RandomNetwork(&rng, kDim, kMaxLen, 2);
  Mat items = RandomMat(&rng, 9, kDim, 0.3);
  const std::vector<std::vector<uint32_t>> inputs = {{2, 5, 2, 1, 7}, {3}, {8, 0, 4, 6, 1, 2}};
  const std::vector<std::vector<uint32_t>> targets = {{1, 7, 6}, {5}, {0, 4, 6, 1, 2, 3}};
  const std::vector<uint32_t> negatives = {0, 3, 7, 8};
  LossSpec spec{.num_heads = kHeads,
                .embed_scale = std::sqrt(static_cast<double>(kDim)),
                .loss = kind,
                .negative_slots = negatives,
                .weight = 0.1,
                .dropout = 0.3};
  std::vector<SequenceSpec> sequences;
  for (size_t i = 0; i < inputs.size(); ++i) {
    sequences.push_back({.input_slots = inputs[i], .target_slots = targets[i], .dropout_seed = i});
  }
  BatchScratch<double> scratch;
  auto loss = [&] {
    return BatchLoss<double>(net, items, spec, sequences, nullptr, nullptr, &scratch);
  };
  double sum_of_parts = 0;
  for (const SequenceSpec& sequence : sequences) {
    sum_of_parts += BatchLoss<double>(net, items, spec, std::span<const SequenceSpec>(&sequence, 1),
                                      nullptr, nullptr, &scratch);
  }
  EXPECT_NEAR(loss(), sum_of_parts, 1e-12);
  NetworkParams<double> grad;
  grad.Resize(kDim, kMaxLen, 2);
  Mat d_items = Mat::Zero(items.rows(), kDim);
  EXPECT_DOUBLE_EQ(BatchLoss<double>(net, items, spec, sequences, &grad, &d_items, &scratch),
                   loss());
  CheckAllTensors(name + "/network", &net, grad, loss);
  ExpectGradient(name + "/items", MaxRelativeError(&items, d_items, loss));
}

TEST(SeqNetworkTest, BatchOfSequencesGradientMatchesFiniteDifferences) {
  CheckBatchGradient(LossKind::kFull, "batch(full, 3 sequences, dropout)");
  CheckBatchGradient(LossKind::kSoftmax, "batch(softmax, 3 sequences, dropout)");
}

TEST(SeqNetworkTest, EndToEndGradientMatchesFiniteDifferencesTrainingTheLastPositions) {
  CheckExampleGradient(LossKind::kSoftmax, 2, 0, "network(softmax, 2 positions)");
  CheckExampleGradient(LossKind::kSoftmax, 1, 0, "network(softmax, 1 position)");
}

}  // namespace
}  // namespace liverec::seq
