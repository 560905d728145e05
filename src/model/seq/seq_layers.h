// The layers of the seq model, a SASRec-style self-attention network (Kang & McAuley,
// "Self-Attentive Sequential Recommendation", ICDM 2018), with forward and backward passes
// written by hand as pure functions templated on the scalar type. The model runs them in float;
// tests check every gradient in double against central finite differences.
//
// Layout: a sequence of L items is an L x d row-major Matrix, row t = the t-th oldest item.
// Forward passes fill a cache that the matching backward pass reads. Backward passes
// *accumulate* parameter gradients (+=) and *overwrite* gradients of their inputs.
//
// Partial outputs: attention, block and network compute outputs only for the positions
// [first_query, L): output row r is position first_query + r. Keys and values always span all L
// positions. Training on the last few positions and scoring (the last position only) skip the
// queries nobody reads.
//
// The network, pre-LN (each sub-layer reads a layer-normed copy of the residual stream):
//   x_t   = embed_scale * E[item_t] + P[L - 1 - t]     (positions count back from the newest)
//   block: r = x + Attention(LN1(x)),  y = r + FFN(LN2(r))
//   h     = LN_final(y of the last block)
//   score(i) = <h_t, E[i]>                             (input and output embeddings shared)
// Attention is multi-head causal self-attention: position t attends to positions 0..t only,
// softmax(Q_h K_h^T / sqrt(d_h)) V_h per head, heads side by side, then times W_o. The
// feed-forward is ReLU(x W1 + b1) W2 + b2 with an inner size of d (as SASRec).
//
// Thread safety: pure functions; caches and outputs belong to the caller.
#ifndef LIVEREC_MODEL_SEQ_SEQ_LAYERS_H_
#define LIVEREC_MODEL_SEQ_SEQ_LAYERS_H_

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/random.h"

namespace liverec::seq {

template <typename S>
using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename S>
using RowVector = Eigen::Matrix<S, 1, Eigen::Dynamic>;
template <typename S>
using ColVector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
using Index = Eigen::Index;
// A parameter type that takes no part in template deduction (so callers may pass nullptr).
template <typename T>
using NoDeduce = std::type_identity_t<T>;

// Added to the variance before the square root: keeps a constant row finite.
inline constexpr double kLayerNormEpsilon = 1e-6;

// ---------------------------------------------------------------------------------------------
// Layer norm over each row: y = (x - mean(x)) / sqrt(var(x) + eps) * gain + bias.

template <typename S>
struct LayerNormCache {
  Matrix<S> normalized;  // (x - mean) * inv_std, per row
  ColVector<S> inv_std;
};

template <typename S>
void LayerNormForward(const Matrix<S>& x, const RowVector<S>& gain, const RowVector<S>& bias,
                      Matrix<S>* y, LayerNormCache<S>* cache) {
  const Index rows = x.rows();
  const Index cols = x.cols();
  cache->normalized.resize(rows, cols);
  cache->inv_std.resize(rows);
  for (Index r = 0; r < rows; ++r) {
    const S mean = x.row(r).mean();
    cache->normalized.row(r) = x.row(r).array() - mean;
    const S variance = cache->normalized.row(r).squaredNorm() / static_cast<S>(cols);
    const S inv_std = S{1} / std::sqrt(variance + static_cast<S>(kLayerNormEpsilon));
    cache->inv_std(r) = inv_std;
    cache->normalized.row(r) *= inv_std;
  }
  *y = ((cache->normalized.array().rowwise() * gain.array()).rowwise() + bias.array()).matrix();
}

// dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gain, per row.
template <typename S>
void LayerNormBackward(const Matrix<S>& dy, const RowVector<S>& gain,
                       const LayerNormCache<S>& cache, Matrix<S>* dx, RowVector<S>* d_gain,
                       RowVector<S>* d_bias) {
  const Index rows = dy.rows();
  const S cols = static_cast<S>(dy.cols());
  *d_gain += (dy.array() * cache.normalized.array()).colwise().sum().matrix();
  *d_bias += dy.colwise().sum();
  dx->resize(rows, dy.cols());
  for (Index r = 0; r < rows; ++r) {
    dx->row(r) = dy.row(r).cwiseProduct(gain);
    const S mean_g = dx->row(r).sum() / cols;
    const S mean_gx = dx->row(r).dot(cache.normalized.row(r)) / cols;
    dx->row(r) = (dx->row(r).array() - mean_g - cache.normalized.row(r).array() * mean_gx) *
                 cache.inv_std(r);
  }
}

// ---------------------------------------------------------------------------------------------
// Causal multi-head self-attention without biases (a pre-LN input's bias already acts as one).

template <typename S>
struct AttentionCache {
  Index first_query = 0;
  Matrix<S> x;                   // input, L x d
  Matrix<S> q;                   // n x d, queries of positions first_query..L-1
  Matrix<S> k;                   // L x d
  Matrix<S> v;                   // L x d
  std::vector<Matrix<S>> probs;  // per head, n x L, zero right of each row's causal limit
  Matrix<S> context;             // n x d, heads side by side
};

// out (n x d, n = L - first_query) = context * wo. Requires d divisible by num_heads and
// 0 <= first_query < L.
template <typename S>
void AttentionForward(const Matrix<S>& x, Index first_query, int num_heads, const Matrix<S>& wq,
                      const Matrix<S>& wk, const Matrix<S>& wv, const Matrix<S>& wo, Matrix<S>* out,
                      AttentionCache<S>* cache) {
  const Index length = x.rows();
  const Index dim = x.cols();
  const Index n = length - first_query;
  LIVEREC_DCHECK(first_query >= 0 && n > 0 && dim % num_heads == 0);
  const Index head_dim = dim / num_heads;
  const S scale = S{1} / std::sqrt(static_cast<S>(head_dim));
  cache->first_query = first_query;
  cache->x = x;
  cache->q.noalias() = x.bottomRows(n) * wq;
  cache->k.noalias() = x * wk;
  cache->v.noalias() = x * wv;
  cache->probs.resize(num_heads);
  cache->context.resize(n, dim);
  for (int h = 0; h < num_heads; ++h) {
    const Index col = h * head_dim;
    Matrix<S>& p = cache->probs[h];
    p.noalias() =
        (cache->q.middleCols(col, head_dim) * cache->k.middleCols(col, head_dim).transpose()) *
        scale;
    for (Index r = 0; r < n; ++r) {
      // Position first_query + r sees keys [0, visible): the causal mask.
      const Index visible = first_query + r + 1;
      auto seen = p.row(r).head(visible);
      const S max = seen.maxCoeff();
      seen = (seen.array() - max).exp().matrix();
      seen /= seen.sum();
      p.row(r).tail(length - visible).setZero();
    }
    cache->context.middleCols(col, head_dim).noalias() = p * cache->v.middleCols(col, head_dim);
  }
  out->noalias() = cache->context * wo;
}

// dx is L x d: every position feeds keys and values, positions >= first_query also queries.
template <typename S>
void AttentionBackward(const Matrix<S>& d_out, const AttentionCache<S>& cache, int num_heads,
                       const Matrix<S>& wq, const Matrix<S>& wk, const Matrix<S>& wv,
                       const Matrix<S>& wo, Matrix<S>* dx, Matrix<S>* d_wq, Matrix<S>* d_wk,
                       Matrix<S>* d_wv, Matrix<S>* d_wo) {
  const Index n = d_out.rows();
  const Index length = cache.x.rows();
  const Index dim = cache.x.cols();
  const Index head_dim = dim / num_heads;
  const S scale = S{1} / std::sqrt(static_cast<S>(head_dim));
  d_wo->noalias() += cache.context.transpose() * d_out;
  const Matrix<S> d_context = d_out * wo.transpose();
  Matrix<S> dq(n, dim);
  Matrix<S> dk(length, dim);
  Matrix<S> dv(length, dim);
  Matrix<S> ds;
  for (int h = 0; h < num_heads; ++h) {
    const Index col = h * head_dim;
    const Matrix<S>& p = cache.probs[h];
    ds.noalias() =
        d_context.middleCols(col, head_dim) * cache.v.middleCols(col, head_dim).transpose();
    dv.middleCols(col, head_dim).noalias() = p.transpose() * d_context.middleCols(col, head_dim);
    // Softmax backward per row: ds = p * (dp - <p, dp>); masked entries have p = 0.
    for (Index r = 0; r < n; ++r) {
      const S dot = p.row(r).dot(ds.row(r));
      ds.row(r) = (p.row(r).array() * (ds.row(r).array() - dot) * scale).matrix();
    }
    dq.middleCols(col, head_dim).noalias() = ds * cache.k.middleCols(col, head_dim);
    dk.middleCols(col, head_dim).noalias() = ds.transpose() * cache.q.middleCols(col, head_dim);
  }
  d_wq->noalias() += cache.x.bottomRows(n).transpose() * dq;
  d_wk->noalias() += cache.x.transpose() * dk;
  d_wv->noalias() += cache.x.transpose() * dv;
  dx->noalias() = dk * wk.transpose();
  dx->noalias() += dv * wv.transpose();
  dx->bottomRows(n).noalias() += dq * wq.transpose();
}

// ---------------------------------------------------------------------------------------------
// Point-wise feed-forward: out = ReLU(x w1 + b1) w2 + b2.

template <typename S>
struct FeedForwardCache {
  Matrix<S> x;
  Matrix<S> hidden;  // after the ReLU
};

template <typename S>
void FeedForwardForward(const Matrix<S>& x, const Matrix<S>& w1, const RowVector<S>& b1,
                        const Matrix<S>& w2, const RowVector<S>& b2, Matrix<S>* out,
                        FeedForwardCache<S>* cache) {
  cache->x = x;
  cache->hidden.noalias() = x * w1;
  cache->hidden.rowwise() += b1;
  cache->hidden = cache->hidden.cwiseMax(S{0});
  out->noalias() = cache->hidden * w2;
  out->rowwise() += b2;
}

template <typename S>
void FeedForwardBackward(const Matrix<S>& d_out, const FeedForwardCache<S>& cache,
                         const Matrix<S>& w1, const Matrix<S>& w2, Matrix<S>* dx, Matrix<S>* d_w1,
                         RowVector<S>* d_b1, Matrix<S>* d_w2, RowVector<S>* d_b2) {
  d_w2->noalias() += cache.hidden.transpose() * d_out;
  *d_b2 += d_out.colwise().sum();
  Matrix<S> d_hidden = d_out * w2.transpose();
  // The ReLU passes gradient where its output is positive (0 at the kink).
  d_hidden = (cache.hidden.array() > S{0}).select(d_hidden, S{0});
  d_w1->noalias() += cache.x.transpose() * d_hidden;
  *d_b1 += d_hidden.colwise().sum();
  dx->noalias() = d_hidden * w1.transpose();
}

// ---------------------------------------------------------------------------------------------
// Transformer block (pre-LN): r = x[first_query:] + Attention(LN1(x)), y = r + FFN(LN2(r)).

template <typename S>
struct BlockParams {
  RowVector<S> ln1_gain, ln1_bias;
  Matrix<S> wq, wk, wv, wo;
  RowVector<S> ln2_gain, ln2_bias;
  Matrix<S> w1;
  RowVector<S> b1;
  Matrix<S> w2;
  RowVector<S> b2;

  // Shapes for model dimension `dim`, every value zero.
  void Resize(Index dim) {
    for (RowVector<S>* v : {&ln1_gain, &ln1_bias, &ln2_gain, &ln2_bias, &b1, &b2}) {
      v->setZero(dim);
    }
    for (Matrix<S>* m : {&wq, &wk, &wv, &wo, &w1, &w2}) m->setZero(dim, dim);
  }
  // Calls f(tensor) on every tensor, always in this order (serialization and the optimizer
  // depend on it).
  template <typename F>
  void ForEach(F&& f) {
    ForEachOf(*this, f);
  }
  template <typename F>
  void ForEach(F&& f) const {
    ForEachOf(*this, f);
  }
  template <typename Self, typename F>
  static void ForEachOf(Self& self, F& f) {
    f(self.ln1_gain);
    f(self.ln1_bias);
    f(self.wq);
    f(self.wk);
    f(self.wv);
    f(self.wo);
    f(self.ln2_gain);
    f(self.ln2_bias);
    f(self.w1);
    f(self.b1);
    f(self.w2);
    f(self.b2);
  }
};

template <typename S>
struct BlockCache {
  Matrix<S> normalized1;  // LN1(x), L x d
  LayerNormCache<S> ln1;
  AttentionCache<S> attention;
  Matrix<S> residual;  // r, n x d
  Matrix<S> normalized2;
  LayerNormCache<S> ln2;
  FeedForwardCache<S> ffn;
  Matrix<S> sublayer_out;  // attention or FFN output (scratch)
};

// Dropout of a block in training: multipliers (n x d) of the attention and feed-forward
// outputs before each joins the residual stream ("residual dropout", as SASRec).
template <typename S>
struct BlockMasks {
  Matrix<S> attention;
  Matrix<S> ffn;
};

// Inverted dropout: each entry of the rows x cols mask is 0 with probability `rate` (rounded
// to a multiple of 2^-16), else 1 / (1 - rate), so the expected output equals the output
// without dropout. Each 64-bit draw decides four entries by 16 bits each: a draw per entry
// cost a twentieth of a training step.
template <typename S>
void DropoutMask(double rate, Index rows, Index cols, Random* rng, Matrix<S>* mask) {
  constexpr int kBits = 16;
  constexpr uint64_t kLowBits = (uint64_t{1} << kBits) - 1;
  constexpr int kPerDraw = 64 / kBits;
  const auto threshold = static_cast<uint64_t>(std::llround(rate * (kLowBits + 1)));
  const S keep = static_cast<S>(1.0 / (1.0 - rate));
  mask->resize(rows, cols);
  S* data = mask->data();
  uint64_t bits = 0;
  for (Index k = 0; k < mask->size(); ++k) {
    if (k % kPerDraw == 0) bits = rng->Next();
    data[k] = (bits & kLowBits) < threshold ? S{0} : keep;
    bits >>= kBits;
  }
}

// `masks` is null at inference (no dropout).
template <typename S>
void BlockForward(const Matrix<S>& x, Index first_query, int num_heads, const BlockParams<S>& p,
                  const BlockMasks<S>* masks, Matrix<S>* y, BlockCache<S>* cache) {
  const Index n = x.rows() - first_query;
  LayerNormForward(x, p.ln1_gain, p.ln1_bias, &cache->normalized1, &cache->ln1);
  AttentionForward(cache->normalized1, first_query, num_heads, p.wq, p.wk, p.wv, p.wo,
                   &cache->sublayer_out, &cache->attention);
  if (masks != nullptr) cache->sublayer_out.array() *= masks->attention.array();
  cache->residual = x.bottomRows(n) + cache->sublayer_out;
  LayerNormForward(cache->residual, p.ln2_gain, p.ln2_bias, &cache->normalized2, &cache->ln2);
  FeedForwardForward(cache->normalized2, p.w1, p.b1, p.w2, p.b2, &cache->sublayer_out, &cache->ffn);
  if (masks != nullptr) cache->sublayer_out.array() *= masks->ffn.array();
  *y = cache->residual + cache->sublayer_out;
}

// dx is L x d; `masks` as given to BlockForward.
template <typename S>
void BlockBackward(const Matrix<S>& dy, const BlockCache<S>& cache, int num_heads,
                   const BlockParams<S>& p, const BlockMasks<S>* masks, Matrix<S>* dx,
                   BlockParams<S>* grad) {
  const Index n = dy.rows();
  Matrix<S> d_sublayer = dy;
  if (masks != nullptr) d_sublayer.array() *= masks->ffn.array();
  Matrix<S> d_normalized;
  FeedForwardBackward(d_sublayer, cache.ffn, p.w1, p.w2, &d_normalized, &grad->w1, &grad->b1,
                      &grad->w2, &grad->b2);
  Matrix<S> d_residual;
  LayerNormBackward(d_normalized, p.ln2_gain, cache.ln2, &d_residual, &grad->ln2_gain,
                    &grad->ln2_bias);
  d_residual += dy;
  d_sublayer = d_residual;
  if (masks != nullptr) d_sublayer.array() *= masks->attention.array();
  AttentionBackward(d_sublayer, cache.attention, num_heads, p.wq, p.wk, p.wv, p.wo, &d_normalized,
                    &grad->wq, &grad->wk, &grad->wv, &grad->wo);
  LayerNormBackward(d_normalized, p.ln1_gain, cache.ln1, dx, &grad->ln1_gain, &grad->ln1_bias);
  dx->bottomRows(n) += d_residual;
}

// ---------------------------------------------------------------------------------------------
// Embedding of the input sequence: x_t = scale * item_rows[t] + positions[L - 1 - t].
// Positions count back from the newest item, so the newest item always has position 0 and a
// sequence shorter than max_len needs no padding.

template <typename S>
void EmbedForward(std::span<const S* const> item_rows, const Matrix<S>& positions, S scale,
                  Matrix<S>* x) {
  const Index length = static_cast<Index>(item_rows.size());
  const Index dim = positions.cols();
  LIVEREC_DCHECK(length <= positions.rows());
  x->resize(length, dim);
  for (Index t = 0; t < length; ++t) {
    x->row(t) =
        scale * Eigen::Map<const RowVector<S>>(item_rows[t], dim) + positions.row(length - 1 - t);
  }
}

// Adds dLoss/dE into d_items.row(slots[t]) and dLoss/dP into d_positions.
template <typename S>
void EmbedBackward(const Matrix<S>& dx, std::span<const uint32_t> slots, S scale,
                   Matrix<S>* d_items, Matrix<S>* d_positions) {
  const Index length = dx.rows();
  for (Index t = 0; t < length; ++t) {
    d_items->row(slots[t]) += scale * dx.row(t);
    d_positions->row(length - 1 - t) += dx.row(t);
  }
}

// ---------------------------------------------------------------------------------------------
// Losses: over sampled negatives, or a softmax over every item.

enum class LossKind : uint8_t {
  // Cross-entropy of a softmax over the target and the negatives (sampled softmax).
  kSoftmax = 0,
  // Binary cross-entropy: the target toward 1, every negative toward 0.
  kBce = 1,
  // Cross-entropy of a softmax over every row of the item matrix (no negatives).
  kFull = 2,
};

// log(1 + exp(x)) without overflow.
template <typename S>
S Softplus(S x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

template <typename S>
S Sigmoid(S x) {
  return x >= 0 ? S{1} / (S{1} + std::exp(-x)) : std::exp(x) / (S{1} + std::exp(x));
}

// Hidden rows h (n x d) predict the items at rows target_slots[r] of `items`; the rows
// negative_slots of `items` are the negatives of every row, except that a negative equal to a
// row's target is left out of that row's loss (an accidental hit). Returns weight times the sum
// of the rows' losses. Overwrites d_hidden with its gradient and adds the gradient of the item
// rows to d_items (same shape as items); both scaled by weight.
template <typename S>
S SampledLoss(LossKind kind, const Matrix<S>& hidden, const Matrix<S>& items,
              std::span<const uint32_t> target_slots, std::span<const uint32_t> negative_slots,
              S weight, Matrix<S>* d_hidden, Matrix<S>* d_items) {
  const Index n = hidden.rows();
  const Index num_negatives = static_cast<Index>(negative_slots.size());
  LIVEREC_DCHECK(static_cast<Index>(target_slots.size()) == n);
  Matrix<S> negatives(num_negatives, hidden.cols());
  for (Index j = 0; j < num_negatives; ++j) negatives.row(j) = items.row(negative_slots[j]);
  // Logits of the negatives, turned into their gradients row by row below.
  Matrix<S> z = hidden * negatives.transpose();
  ColVector<S> d_target(n);
  S loss = 0;
  for (Index r = 0; r < n; ++r) {
    const uint32_t target = target_slots[r];
    const S z_target = hidden.row(r).dot(items.row(target));
    if (kind == LossKind::kSoftmax) {
      S max = z_target;
      for (Index j = 0; j < num_negatives; ++j) {
        if (negative_slots[j] != target) max = std::max(max, z(r, j));
      }
      S sum = std::exp(z_target - max);
      for (Index j = 0; j < num_negatives; ++j) {
        z(r, j) = negative_slots[j] != target ? std::exp(z(r, j) - max) : S{0};
        sum += z(r, j);
      }
      loss += std::log(sum) + max - z_target;
      z.row(r) /= sum;
      d_target(r) = std::exp(z_target - max) / sum - S{1};
    } else {
      loss += Softplus(-z_target);
      d_target(r) = -Sigmoid(-z_target);
      for (Index j = 0; j < num_negatives; ++j) {
        if (negative_slots[j] == target) {
          z(r, j) = 0;
          continue;
        }
        loss += Softplus(z(r, j));
        z(r, j) = Sigmoid(z(r, j));
      }
    }
  }
  z *= weight;
  d_target *= weight;
  d_hidden->noalias() = z * negatives;
  for (Index r = 0; r < n; ++r) {
    d_hidden->row(r) += d_target(r) * items.row(target_slots[r]);
    d_items->row(target_slots[r]) += d_target(r) * hidden.row(r);
  }
  const Matrix<S> d_negatives = z.transpose() * hidden;
  for (Index j = 0; j < num_negatives; ++j) d_items->row(negative_slots[j]) += d_negatives.row(j);
  return weight * loss;
}

// Full softmax cross-entropy: hidden rows h (n x d) predict the items at rows target_slots[r]
// of `items` (V x d) against every row of `items`: loss_r = log sum_j exp(<h_r, E_j>) -
// <h_r, E_target>. Returns weight times the sum of the rows' losses. Overwrites d_hidden with
// its gradient and adds the gradient of every item row to d_items (V x d); both scaled by
// weight. `logits` is scratch (n x V on return). Cost: three n x d x V matrix products.
template <typename S>
S FullSoftmaxLoss(const Matrix<S>& hidden, const Matrix<S>& items,
                  std::span<const uint32_t> target_slots, S weight, Matrix<S>* d_hidden,
                  Matrix<S>* d_items, Matrix<S>* logits) {
  const Index n = hidden.rows();
  LIVEREC_DCHECK(static_cast<Index>(target_slots.size()) == n);
  logits->noalias() = hidden * items.transpose();
  S loss = 0;
  for (Index r = 0; r < n; ++r) {
    auto row = logits->row(r);
    const S max = row.maxCoeff();
    const S z_target = row(target_slots[r]);
    row = (row.array() - max).exp().matrix();
    const S sum = row.sum();
    loss += std::log(sum) + max - z_target;
    // d loss_r / d z = softmax(z) - onehot(target).
    row *= weight / sum;
    row(target_slots[r]) -= weight;
  }
  d_hidden->noalias() = *logits * items;
  d_items->noalias() += logits->transpose() * hidden;
  return weight * loss;
}

// ---------------------------------------------------------------------------------------------
// The whole network.

template <typename S>
struct NetworkParams {
  Matrix<S> positions;  // max_len x d; row p: the item p steps before the newest
  std::vector<BlockParams<S>> blocks;
  RowVector<S> final_gain, final_bias;

  // Shapes for the given sizes, every value zero.
  void Resize(Index dim, Index max_len, int num_blocks) {
    positions.setZero(max_len, dim);
    blocks.resize(num_blocks);
    for (BlockParams<S>& block : blocks) block.Resize(dim);
    final_gain.setZero(dim);
    final_bias.setZero(dim);
  }
  // Calls f(tensor) on every tensor in a fixed order: positions, each block's tensors, the
  // final layer norm's gain and bias.
  template <typename F>
  void ForEach(F&& f) {
    ForEachOf(*this, f);
  }
  template <typename F>
  void ForEach(F&& f) const {
    ForEachOf(*this, f);
  }
  template <typename Self, typename F>
  static void ForEachOf(Self& self, F& f) {
    f(self.positions);
    for (auto& block : self.blocks) block.ForEach(f);
    f(self.final_gain);
    f(self.final_bias);
  }
  // Every tensor as one span of values, in ForEach order.
  std::vector<std::span<S>> Tensors() {
    std::vector<std::span<S>> spans;
    ForEach([&](auto& t) { spans.emplace_back(t.data(), static_cast<size_t>(t.size())); });
    return spans;
  }
  std::vector<std::span<const S>> Tensors() const {
    std::vector<std::span<const S>> spans;
    ForEach([&](const auto& t) { spans.emplace_back(t.data(), static_cast<size_t>(t.size())); });
    return spans;
  }
  void SetZero() {
    ForEach([](auto& t) { t.setZero(); });
  }
};

template <typename S>
struct NetworkCache {
  std::vector<BlockCache<S>> blocks;
  std::vector<Matrix<S>> block_outputs;  // output of each block
  LayerNormCache<S> final_ln;
};

// out (n x d) = the final layer norm of the last block's outputs for positions
// [first_query, L). Blocks before the last compute every position (the last block's keys and
// values need them). `masks` (one per block, shaped as each block's output) is null at
// inference.
template <typename S>
void NetworkForward(const NetworkParams<S>& net, const Matrix<S>& x, Index first_query,
                    int num_heads, NoDeduce<const std::vector<BlockMasks<S>>*> masks,
                    Matrix<S>* out, NetworkCache<S>* cache) {
  const size_t num_blocks = net.blocks.size();
  cache->blocks.resize(num_blocks);
  cache->block_outputs.resize(num_blocks);
  const Matrix<S>* input = &x;
  for (size_t b = 0; b < num_blocks; ++b) {
    const Index query = b + 1 == num_blocks ? first_query : 0;
    BlockForward(*input, query, num_heads, net.blocks[b], masks != nullptr ? &(*masks)[b] : nullptr,
                 &cache->block_outputs[b], &cache->blocks[b]);
    input = &cache->block_outputs[b];
  }
  LayerNormForward(*input, net.final_gain, net.final_bias, out, &cache->final_ln);
}

// dx is L x d; `masks` as given to NetworkForward.
template <typename S>
void NetworkBackward(const Matrix<S>& d_out, const NetworkCache<S>& cache,
                     const NetworkParams<S>& net, int num_heads,
                     NoDeduce<const std::vector<BlockMasks<S>>*> masks, Matrix<S>* dx,
                     NetworkParams<S>* grad) {
  Matrix<S> d;
  LayerNormBackward(d_out, net.final_gain, cache.final_ln, &d, &grad->final_gain,
                    &grad->final_bias);
  for (size_t b = net.blocks.size(); b-- > 0;) {
    BlockBackward(d, cache.blocks[b], num_heads, net.blocks[b],
                  masks != nullptr ? &(*masks)[b] : nullptr, dx, &grad->blocks[b]);
    if (b > 0) d.swap(*dx);
  }
}

// What every sequence of a batch shares besides the parameters.
struct LossSpec {
  int num_heads = 1;
  double embed_scale = 1;
  LossKind loss = LossKind::kSoftmax;
  // Negatives shared by every trained position of the batch (unused by kFull).
  std::span<const uint32_t> negative_slots;
  double weight = 1;  // scales the loss and every gradient
  // Dropout rate of the embeddings and of each sublayer's output; 0 turns dropout off.
  double dropout = 0;
};

// One sequence of a batch.
struct SequenceSpec {
  // Rows of the item matrix: the input sequence, oldest first (1 <= size <= max_len).
  std::span<const uint32_t> input_slots;
  // Targets of the last target_slots.size() positions (1 <= size <= inputs), oldest first.
  std::span<const uint32_t> target_slots;
  // The dropout masks come from a Random seeded with this, so a sequence always draws the same.
  uint64_t dropout_seed = 0;
};

// One training example: a batch of one sequence.
struct ExampleSpec {
  int num_heads = 1;
  double embed_scale = 1;
  LossKind loss = LossKind::kSoftmax;
  std::span<const uint32_t> input_slots;
  std::span<const uint32_t> target_slots;
  std::span<const uint32_t> negative_slots;
  double weight = 1;
  double dropout = 0;
  uint64_t dropout_seed = 0;
};

template <typename S>
struct ExampleScratch {
  std::vector<const S*> rows;
  Matrix<S> x, out, d_out, dx;
  NetworkCache<S> cache;
  Matrix<S> embed_mask;
  std::vector<BlockMasks<S>> block_masks;
};

template <typename S>
struct BatchScratch {
  std::vector<ExampleScratch<S>> sequences;
  Matrix<S> hidden, d_hidden, logits, ignored_items;
  std::vector<uint32_t> targets;
};

// The forward pass of one sequence up to its trained positions' outputs (scratch->out, one row
// per target), with the sequence's dropout masks when spec.dropout > 0.
template <typename S>
void SequenceForward(const NetworkParams<S>& net, const Matrix<S>& items, const LossSpec& spec,
                     const SequenceSpec& sequence, ExampleScratch<S>* scratch) {
  const Index length = static_cast<Index>(sequence.input_slots.size());
  const Index trained = static_cast<Index>(sequence.target_slots.size());
  LIVEREC_CHECK(length >= 1 && length <= net.positions.rows() && trained >= 1 && trained <= length)
      << length << " inputs, " << trained << " targets";
  scratch->rows.resize(length);
  for (Index t = 0; t < length; ++t) scratch->rows[t] = items.row(sequence.input_slots[t]).data();
  EmbedForward<S>(scratch->rows, net.positions, static_cast<S>(spec.embed_scale), &scratch->x);
  const std::vector<BlockMasks<S>>* masks = nullptr;
  if (spec.dropout > 0) {
    // Masks in a fixed order: embeddings, then each block's attention and feed-forward.
    Random rng(sequence.dropout_seed);
    const Index dim = scratch->x.cols();
    DropoutMask(spec.dropout, length, dim, &rng, &scratch->embed_mask);
    scratch->x.array() *= scratch->embed_mask.array();
    scratch->block_masks.resize(net.blocks.size());
    for (size_t b = 0; b < net.blocks.size(); ++b) {
      const Index rows = b + 1 == net.blocks.size() ? trained : length;
      DropoutMask(spec.dropout, rows, dim, &rng, &scratch->block_masks[b].attention);
      DropoutMask(spec.dropout, rows, dim, &rng, &scratch->block_masks[b].ffn);
    }
    masks = &scratch->block_masks;
  }
  NetworkForward(net, scratch->x, length - trained, spec.num_heads, masks, &scratch->out,
                 &scratch->cache);
}

// The backward pass of SequenceForward from scratch->d_out: adds the gradient of every network
// tensor to *grad and of the input rows to *d_items.
template <typename S>
void SequenceBackward(const NetworkParams<S>& net, const LossSpec& spec,
                      const SequenceSpec& sequence, NetworkParams<S>* grad, Matrix<S>* d_items,
                      ExampleScratch<S>* scratch) {
  const std::vector<BlockMasks<S>>* masks = spec.dropout > 0 ? &scratch->block_masks : nullptr;
  NetworkBackward(scratch->d_out, scratch->cache, net, spec.num_heads, masks, &scratch->dx, grad);
  if (masks != nullptr) scratch->dx.array() *= scratch->embed_mask.array();
  EmbedBackward(scratch->dx, sequence.input_slots, static_cast<S>(spec.embed_scale), d_items,
                &grad->positions);
}

// The loss of a batch: weight times the sum of every trained position's loss. The network runs
// sequence by sequence; the loss runs once over the trained positions of all of them stacked
// (one n x d by d x V product for kFull instead of one per sequence). When `grad` is not null,
// adds the gradient of every network tensor to *grad and of the item rows to *d_items (same
// shape as items).
template <typename S>
S BatchLoss(const NetworkParams<S>& net, const Matrix<S>& items, const LossSpec& spec,
            std::span<const SequenceSpec> sequences, NetworkParams<S>* grad, Matrix<S>* d_items,
            BatchScratch<S>* scratch) {
  if (scratch->sequences.size() < sequences.size()) scratch->sequences.resize(sequences.size());
  Index total = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    SequenceForward(net, items, spec, sequences[i], &scratch->sequences[i]);
    total += static_cast<Index>(sequences[i].target_slots.size());
  }
  scratch->hidden.resize(total, items.cols());
  scratch->targets.clear();
  Index row = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const Matrix<S>& out = scratch->sequences[i].out;
    scratch->hidden.middleRows(row, out.rows()) = out;
    row += out.rows();
    scratch->targets.insert(scratch->targets.end(), sequences[i].target_slots.begin(),
                            sequences[i].target_slots.end());
  }
  Matrix<S>* d_item_rows = d_items;
  if (grad == nullptr) {
    scratch->ignored_items.setZero(items.rows(), items.cols());
    d_item_rows = &scratch->ignored_items;
  }
  const auto weight = static_cast<S>(spec.weight);
  const S loss = spec.loss == LossKind::kFull
                     ? FullSoftmaxLoss(scratch->hidden, items, scratch->targets, weight,
                                       &scratch->d_hidden, d_item_rows, &scratch->logits)
                     : SampledLoss(spec.loss, scratch->hidden, items, scratch->targets,
                                   spec.negative_slots, weight, &scratch->d_hidden, d_item_rows);
  if (grad == nullptr) return loss;
  row = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    ExampleScratch<S>& sequence = scratch->sequences[i];
    sequence.d_out = scratch->d_hidden.middleRows(row, sequence.out.rows());
    row += sequence.out.rows();
    SequenceBackward(net, spec, sequences[i], grad, d_items, &sequence);
  }
  return loss;
}

// The loss of one example (BatchLoss of one sequence).
template <typename S>
S ExampleLoss(const NetworkParams<S>& net, const Matrix<S>& items, const ExampleSpec& spec,
              NetworkParams<S>* grad, Matrix<S>* d_items, BatchScratch<S>* scratch) {
  const LossSpec loss{.num_heads = spec.num_heads,
                      .embed_scale = spec.embed_scale,
                      .loss = spec.loss,
                      .negative_slots = spec.negative_slots,
                      .weight = spec.weight,
                      .dropout = spec.dropout};
  const SequenceSpec sequence{.input_slots = spec.input_slots,
                              .target_slots = spec.target_slots,
                              .dropout_seed = spec.dropout_seed};
  return BatchLoss(net, items, loss, std::span<const SequenceSpec>(&sequence, 1), grad, d_items,
                   scratch);
}

}  // namespace liverec::seq

#endif  // LIVEREC_MODEL_SEQ_SEQ_LAYERS_H_
