#include "model/fm/fm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "common/check.h"
#include "common/random.h"
#include "embed/optimizer.h"
#include "kernels/kernels.h"

namespace liverec {
namespace {

constexpr uint32_t kTag = 0x444d4d46;  // "FMMD" in little-endian bytes
constexpr uint32_t kVersion = 1;

// Salts of the model's random streams under the context seed.
constexpr uint64_t kFactorSalt = 0x666d2d6661637473;    // "fm-facts"
constexpr uint64_t kNegativeSalt = 0x666d2d6e65677320;  // "fm-negs "
// Kind tags of the time features, so that hour 7 and weekday 7 are different features.
constexpr uint64_t kHourKind = 0x666d2d686f757220;     // "fm-hour "
constexpr uint64_t kWeekdayKind = 0x666d2d7764617920;  // "fm-wday "

constexpr int64_t kNeverMs = std::numeric_limits<int64_t>::min();  // no event of the user yet
constexpr int64_t kMsPerHour = 3'600'000;
constexpr int64_t kHoursPerDay = 24;
constexpr int64_t kDaysPerWeek = 7;
constexpr int64_t kUnixEpochWeekday = 4;  // 1970-01-01 was a Thursday (0 = Sunday)

constexpr size_t kCacheLineFloats = 64 / sizeof(float);

uint64_t KindHash(uint64_t kind, uint64_t value) { return DeriveSeed(kind, value); }

// Where the rows of ids start (see fm.h): items upward from it, users downward from below it.
constexpr uint64_t kIdOrigin = 0x666d2d6964732020;  // "fm-ids  "; any fixed value would do

// Floor division and a non-negative remainder: times before 1970 keep their hour and weekday.
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t PositiveMod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

// Uniform over [0, num_items) minus `positive`, in one draw (as mf).
ItemId SampleNegative(Random* rng, ItemId positive, uint32_t num_items) {
  const ItemId j = rng->Uniform(num_items - 1);
  return j >= positive ? j + 1 : j;
}

// log(1 + exp(z)) without overflow.
double Softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

// The one order in which a score's parts are added, shared by Learn and Score so that the
// score a step learns from is the score a reader sees.
float CombineScore(float w0, float user_lin, float user_pair, float item_lin, float item_pair,
                   float cross) {
  return ((w0 + user_lin + user_pair) + (item_lin + item_pair)) + cross;
}

}  // namespace

double FmScore(const FmTerms& terms) {
  const size_t n = terms.x.size();
  LIVEREC_CHECK(terms.w.size() == n && terms.v.size() == n);
  double y = terms.w0;
  for (size_t f = 0; f < n; ++f) y += static_cast<double>(terms.w[f]) * terms.x[f];
  for (size_t f = 0; f < n; ++f) {
    for (size_t g = f + 1; g < n; ++g) {
      LIVEREC_CHECK(terms.v[f].size() == terms.v[g].size());
      double dot = 0;
      for (size_t k = 0; k < terms.v[f].size(); ++k) {
        dot += static_cast<double>(terms.v[f][k]) * terms.v[g][k];
      }
      y += dot * terms.x[f] * terms.x[g];
    }
  }
  return y;
}

double FmLogLoss(const FmTerms& terms, float label, float reg) {
  const double y = FmScore(terms);
  double loss = label > 0 ? Softplus(-y) : Softplus(y);
  double penalty = 0;
  for (size_t f = 0; f < terms.x.size(); ++f) {
    penalty += static_cast<double>(terms.w[f]) * terms.w[f];
    for (float v : terms.v[f]) penalty += static_cast<double>(v) * v;
  }
  return loss + 0.5 * reg * penalty;
}

FmGradient FmLogLossGradient(const FmTerms& terms, float label, float reg) {
  const size_t n = terms.x.size();
  const size_t dim = n == 0 ? 0 : terms.v[0].size();
  const double y = FmScore(terms);
  const double slope = 1.0 / (1.0 + std::exp(-y)) - label;
  std::vector<double> sum(dim, 0.0);
  for (size_t f = 0; f < n; ++f) {
    for (size_t k = 0; k < dim; ++k) sum[k] += static_cast<double>(terms.v[f][k]) * terms.x[f];
  }
  FmGradient grad;
  grad.slope = static_cast<float>(slope);
  grad.w0 = static_cast<float>(slope);
  grad.w.resize(n);
  grad.v.assign(n, std::vector<float>(dim));
  for (size_t f = 0; f < n; ++f) {
    const double x = terms.x[f];
    grad.w[f] = static_cast<float>(slope * x + static_cast<double>(reg) * terms.w[f]);
    for (size_t k = 0; k < dim; ++k) {
      const double v = terms.v[f][k];
      grad.v[f][k] = static_cast<float>(slope * x * (sum[k] - v * x) + reg * v);
    }
  }
  return grad;
}

FmModel::FmModel(const OptionView& options, const Context& context)
    : dim_(static_cast<size_t>(options.Int("dim"))),
      hash_bits_(static_cast<uint32_t>(options.Int("hash_bits"))),
      row_mask_((uint64_t{1} << hash_bits_) - 1),
      learning_rate_(static_cast<float>(options.Float("learning_rate"))),
      regularization_(static_cast<float>(options.Float("regularization"))),
      negatives_(static_cast<uint32_t>(options.Int("negatives"))),
      use_context_(options.Bool("use_context")),
      factor_seed_(DeriveSeed(context.seed, kFactorSalt)),
      init_std_(static_cast<float>(options.Float("init_std"))),
      factors_(dim_, init_std_, factor_seed_),
      negative_seed_(DeriveSeed(context.seed, kNegativeSalt)),
      user_sum_(dim_),
      item_sum_(dim_) {
  // The option table bounds hash_bits; a table past 2^32 rows would overflow a row index.
  LIVEREC_CHECK(hash_bits_ >= 1 && hash_bits_ < 32) << "fm.hash_bits = " << hash_bits_;
  const size_t rows = size_t{1} << hash_bits_;
  factors_.EnsureRows(rows);
  weights_.assign(rows, 0.0f);
  factor_sums_.assign(rows * dim_, kFmInitialAccumulator);
  weight_sums_.assign(rows, kFmInitialAccumulator);
  touched_.assign(rows, 0);
}

float FmModel::weight(uint32_t row) const {
  LIVEREC_CHECK(row < weights_.size()) << "row " << row << " of " << weights_.size();
  return weights_[row];
}

std::span<const float> FmModel::factors(uint32_t row) const {
  LIVEREC_CHECK(row < weights_.size()) << "row " << row << " of " << weights_.size();
  return std::span<const float>(factors_.row(row), dim_);
}

bool FmModel::knows_user(UserId user) const {
  return user < user_events_.size() && user_events_[user] > 0;
}

void FmModel::AppendUserSide(UserId user, bool with_id, std::span<const uint32_t> context_rows,
                             int64_t time_ms, std::vector<FmFeature>* out) const {
  if (with_id) out->push_back({UserRow(user), 1.0f});
  if (!use_context_) return;
  for (uint32_t row : context_rows) out->push_back({row, 1.0f});
  if (time_ms == kNeverMs) return;
  const int64_t hours = FloorDiv(time_ms, kMsPerHour);
  const int64_t hour_of_day = PositiveMod(hours, kHoursPerDay);
  const int64_t weekday =
      PositiveMod(FloorDiv(hours, kHoursPerDay) + kUnixEpochWeekday, kDaysPerWeek);
  out->push_back({Row(KindHash(kHourKind, static_cast<uint64_t>(hour_of_day))), 1.0f});
  out->push_back({Row(KindHash(kWeekdayKind, static_cast<uint64_t>(weekday))), 1.0f});
}

void FmModel::ItemMetadata(ItemId item, std::vector<uint64_t>* hashes) const {
  hashes->clear();
  if (features_ != nullptr && item != kInvalidId) features_->ItemFeatures(item, hashes);
}

void FmModel::AppendItemSide(ItemId item, bool with_id, std::span<const uint64_t> metadata,
                             std::vector<FmFeature>* out) const {
  if (with_id) out->push_back({ItemRow(item), 1.0f});
  if (metadata.empty()) return;
  // The metadata bag weighs as one feature, as much as the id (see fm.h).
  const float value = 1.0f / static_cast<float>(metadata.size());
  for (uint64_t hash : metadata) out->push_back({Row(hash), value});
}

void FmModel::ContextRows(const Event& event, std::vector<uint32_t>* rows) {
  rows->clear();
  if (!use_context_ || features_ == nullptr) return;
  hashes_.clear();
  features_->EventFeatures(event, &hashes_);
  for (uint64_t hash : hashes_) rows->push_back(Row(hash));
}

void FmModel::ExampleFeatures(const Event& event, ItemId item, std::vector<FmFeature>* out) const {
  out->clear();
  std::vector<uint64_t> hashes;
  std::vector<uint32_t> context_rows;
  if (use_context_ && features_ != nullptr) {
    features_->EventFeatures(event, &hashes);
    for (uint64_t hash : hashes) context_rows.push_back(Row(hash));
  }
  AppendUserSide(event.user, /*with_id=*/true, context_rows, event.time_ms, out);
  ItemMetadata(item, &hashes);
  AppendItemSide(item, /*with_id=*/true, hashes, out);
}

FmModel::Side FmModel::SumSide(std::span<const FmFeature> features, float* sum) const {
  std::fill(sum, sum + dim_, 0.0f);
  Side side;
  // sum_f |v_f x_f|^2 as sum_f x_f^2 |v_f|^2: the kernels' Axpy and Dot do the loops over k.
  float squares = 0;
  for (const FmFeature& f : features) {
    side.lin += weights_[f.row] * f.value;
    const float* v = factors_.row(f.row);
    Axpy(f.value, v, sum, dim_);
    squares += f.value * f.value * Dot(v, v, dim_);
  }
  // The square-of-sums identity. One feature of value 1 gives exactly 0: sum is then v_f
  // itself, and Dot sees the same numbers twice.
  side.pair = 0.5f * (Dot(sum, sum, dim_) - squares);
  return side;
}

void FmModel::RecordContext(const Event& event, std::span<const uint32_t> context_rows) {
  const UserId user = event.user;
  if (user >= user_time_ms_.size()) {
    user_time_ms_.resize(size_t{user} + 1, kNeverMs);
    user_events_.resize(size_t{user} + 1, 0);
    user_context_.resize(size_t{user} + 1);
  }
  // Batch epochs feed events shuffled: the latest event by time wins, not the last fed.
  if (user_time_ms_[user] != kNeverMs && event.time_ms < user_time_ms_[user]) return;
  user_time_ms_[user] = event.time_ms;
  user_context_[user].assign(context_rows.begin(), context_rows.end());
}

void FmModel::ForgetUser(UserId user) {
  if (user >= user_time_ms_.size()) return;
  user_time_ms_[user] = kNeverMs;
  user_events_[user] = 0;
  user_context_[user] = std::vector<uint32_t>();
}

void FmModel::ForgetItems(std::span<const ItemId> items) {
  for (const ItemId item : items) {
    if (item >= num_items_) continue;  // never learned
    const uint32_t row = ItemRow(item);
    if (touched_[row] == 0) continue;
    JournalRow(row);
    factors_.ResetRow(row, row);
    weights_[row] = 0.0f;
    weight_sums_[row] = kFmInitialAccumulator;
    std::fill_n(factor_sums_.begin() + static_cast<ptrdiff_t>(size_t{row} * dim_), dim_,
                kFmInitialAccumulator);
    touched_[row] = 0;
  }
}

void FmModel::Observe(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId) << "observe without a user";
  ContextRows(event, &context_rows_);
  RecordContext(event, context_rows_);
}

void FmModel::Learn(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId)
      << "user " << event.user << ", item " << event.item;
  const uint64_t event_index = num_learned_++;
  ContextRows(event, &context_rows_);
  RecordContext(event, context_rows_);
  if (event.weight == 0) return;
  uint32_t& user_events = user_events_[event.user];
  if (user_events < std::numeric_limits<uint32_t>::max()) ++user_events;
  num_items_ = std::max(num_items_, event.item + 1);

  user_side_.clear();
  AppendUserSide(event.user, /*with_id=*/true, context_rows_, event.time_ms, &user_side_);
  item_side_.clear();
  ItemMetadata(event.item, &hashes_);
  AppendItemSide(event.item, /*with_id=*/true, hashes_, &item_side_);
  constexpr float kPositive = 1.0f;
  constexpr float kNegative = 0.0f;
  if (event.weight < 0) {
    // Explicit negative feedback: the item itself is the negative; no sampled ones.
    Step(user_side_, item_side_, kNegative);
    return;
  }
  Step(user_side_, item_side_, kPositive);
  if (num_items_ < 2) return;
  // A generator per event, seeded by the event's index: the sampling state is one counter.
  Random rng(DeriveSeed(negative_seed_, event_index));
  // All negatives are drawn first and their rows prefetched: each step depends on the previous
  // one, so a cache miss on a random item row would otherwise stall the chain once per
  // negative.
  negatives_drawn_.resize(negatives_);
  for (ItemId& negative : negatives_drawn_) {
    negative = SampleNegative(&rng, event.item, num_items_);
    PrefetchItemRow(negative);
  }
  for (ItemId negative : negatives_drawn_) {
    item_side_.clear();
    ItemMetadata(negative, &hashes_);
    AppendItemSide(negative, /*with_id=*/true, hashes_, &item_side_);
    Step(user_side_, item_side_, kNegative);
  }
}

uint32_t FmModel::ItemRow(ItemId item) const { return Row(kIdOrigin + item); }
uint32_t FmModel::UserRow(UserId user) const { return Row(kIdOrigin - 1 - user); }

void FmModel::PrefetchItemRow(ItemId item) const {
  const uint32_t row = ItemRow(item);
  const float* v = factors_.row(row);
  for (size_t k = 0; k < dim_; k += kCacheLineFloats) __builtin_prefetch(v + k);
  __builtin_prefetch(&weights_[row]);
}

// The step of FmLogLossGradient: every gradient from the example's old values (into grads_),
// then AdaGrad on w0 and on each occurrence's w_f and v_f.
void FmModel::Step(std::span<const FmFeature> user_side, std::span<const FmFeature> item_side,
                   float label) {
  const Side u = SumSide(user_side, user_sum_.data());
  const Side i = SumSide(item_side, item_sum_.data());
  const float cross = Dot(user_sum_.data(), item_sum_.data(), dim_);
  const float y = CombineScore(bias_, u.lin, u.pair, i.lin, i.pair, cross);
  const float slope = LogisticSlope(y, label);
  float* sum = user_sum_.data();  // becomes the sum over the whole example
  for (size_t k = 0; k < dim_; ++k) sum[k] += item_sum_[k];

  const size_t n = user_side.size() + item_side.size();
  const size_t width = dim_ + 1;  // g_v, then g_w
  grads_.resize(n * width);
  auto occurrence = [&](size_t j) -> const FmFeature& {
    return j < user_side.size() ? user_side[j] : item_side[j - user_side.size()];
  };
  const float reg = regularization_;
  for (size_t j = 0; j < n; ++j) {
    const FmFeature& f = occurrence(j);
    const float* v = factors_.row(f.row);
    float* g = grads_.data() + j * width;
    const float sx = slope * f.value;
    for (size_t k = 0; k < dim_; ++k) g[k] = sx * (sum[k] - v[k] * f.value) + reg * v[k];
    g[dim_] = sx + reg * weights_[f.row];
  }
  const float lr = learning_rate_;
  JournalRow(static_cast<uint32_t>(weights_.size()));
  AdagradStep(slope, lr, &bias_, &bias_sum_);
  for (size_t j = 0; j < n; ++j) {
    const FmFeature& f = occurrence(j);
    const float* g = grads_.data() + j * width;
    JournalRow(f.row);
    float* v = factors_.row(f.row);
    float* v_sum = factor_sums_.data() + size_t{f.row} * dim_;
    AdagradStep(g, lr, v, v_sum, dim_);
    AdagradStep(g[dim_], lr, &weights_[f.row], &weight_sums_[f.row]);
    touched_[f.row] = 1;
  }
}

void FmModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  // Scratch reused across calls on this thread: serving scores a thousand candidates a request.
  struct Scratch {
    std::vector<FmFeature> user_side;
    std::vector<FmFeature> item_side;
    std::vector<float> user_sum;
    std::vector<float> item_sum;
    std::vector<uint64_t> hashes;
    std::vector<uint32_t> id_rows;
    std::vector<uint32_t> id_positions;
    std::vector<float> cross;
  };
  thread_local Scratch t;
  const bool seen = user < user_time_ms_.size() && user_time_ms_[user] != kNeverMs;
  t.user_side.clear();
  if (seen) {
    AppendUserSide(user, knows_user(user), user_context_[user], user_time_ms_[user], &t.user_side);
  }
  t.user_sum.resize(dim_);
  t.item_sum.resize(dim_);
  const Side u = SumSide(t.user_side, t.user_sum.data());
  // Items with their id alone (no metadata) are the common case: their cross terms are batched
  // into one DotRows over their rows, as mf scores, after the loop.
  t.id_rows.clear();
  t.id_positions.clear();
  for (size_t r = 0; r < items.size(); ++r) {
    const ItemId item = items[r];
    const bool learned = item < num_items_;
    ItemMetadata(item, &t.hashes);
    if (t.hashes.empty()) {
      if (learned) {
        t.id_rows.push_back(ItemRow(item));
        t.id_positions.push_back(static_cast<uint32_t>(r));
      } else {
        out[r] = kUnscored;  // never learned, no metadata (or kInvalidId)
      }
      continue;
    }
    t.item_side.clear();
    AppendItemSide(item, learned, t.hashes, &t.item_side);
    const Side i = SumSide(t.item_side, t.item_sum.data());
    const float cross = Dot(t.user_sum.data(), t.item_sum.data(), dim_);
    out[r] = CombineScore(bias_, u.lin, u.pair, i.lin, i.pair, cross);
  }
  if (t.id_rows.empty()) return;
  // SumSide of the id alone gives lin = w, pair = 0 and sum = v exactly, so these scores are
  // those of the general path up to the kernels' rounding of DotRows against Dot.
  t.cross.resize(t.id_rows.size());
  DotRows(t.user_sum.data(), factors_.data(), factors_.stride(), t.id_rows.data(), t.id_rows.size(),
          dim_, t.cross.data());
  for (size_t j = 0; j < t.id_rows.size(); ++j) {
    out[t.id_positions[j]] =
        CombineScore(bias_, u.lin, u.pair, weights_[t.id_rows[j]], 0.0f, t.cross[j]);
  }
}

void FmModel::ItemFeatureContributions(UserId user, ItemId item, std::vector<float>* out) const {
  std::vector<uint64_t> hashes;
  ItemMetadata(item, &hashes);
  out->assign(hashes.size(), 0.0f);
  if (hashes.empty()) return;
  std::vector<FmFeature> user_side;
  if (user < user_time_ms_.size() && user_time_ms_[user] != kNeverMs) {
    AppendUserSide(user, knows_user(user), user_context_[user], user_time_ms_[user], &user_side);
  }
  std::vector<float> user_sum(dim_);
  SumSide(user_side, user_sum.data());
  const float value = 1.0f / static_cast<float>(hashes.size());  // as AppendItemSide
  for (size_t j = 0; j < hashes.size(); ++j) {
    const uint32_t row = Row(hashes[j]);
    (*out)[j] = value * (weights_[row] + Dot(factors_.row(row), user_sum.data(), dim_));
  }
}

std::unique_ptr<Model> FmModel::Clone() const { return std::make_unique<FmModel>(*this); }

// Format (version 1): tag, version, u64 dim, u32 hash_bits, u8 use_context, u64 factor seed,
// f32 init_std, u64 negative seed, u64 num_learned, u32 num_items, f32 w0, f32 its
// accumulator; u64 count of touched rows, then per touched row in increasing order: u32 row,
// f32 w, f32 its accumulator, dim f32 factors, dim f32 accumulators (untouched rows are their
// seeded initial values); per-user latest times (i64), learned event counts (u32), context row
// counts (u32) and all context rows (u32) concatenated.
void FmModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kTag);
  out->Put<uint32_t>(kVersion);
  out->Put<uint64_t>(dim_);
  out->Put<uint32_t>(hash_bits_);
  out->Put<uint8_t>(use_context_ ? 1 : 0);
  out->Put<uint64_t>(factor_seed_);
  out->Put<float>(init_std_);
  out->Put<uint64_t>(negative_seed_);
  out->Put<uint64_t>(num_learned_);
  out->Put<uint32_t>(num_items_);
  out->Put<float>(bias_);
  out->Put<float>(bias_sum_);
  const auto num_touched = static_cast<uint64_t>(std::count(touched_.begin(), touched_.end(), 1));
  out->Put<uint64_t>(num_touched);
  for (uint32_t row = 0; row < touched_.size(); ++row) {
    if (touched_[row] == 0) continue;
    out->Put<uint32_t>(row);
    out->Put<float>(weights_[row]);
    out->Put<float>(weight_sums_[row]);
    out->PutBytes(factors_.row(row), dim_ * sizeof(float));
    out->PutBytes(factor_sums_.data() + size_t{row} * dim_, dim_ * sizeof(float));
  }
  out->PutVector(user_time_ms_);
  out->PutVector(user_events_);
  std::vector<uint32_t> lengths;
  std::vector<uint32_t> rows;
  lengths.reserve(user_context_.size());
  for (const std::vector<uint32_t>& context : user_context_) {
    lengths.push_back(static_cast<uint32_t>(context.size()));
    rows.insert(rows.end(), context.begin(), context.end());
  }
  out->PutVector(lengths);
  out->PutVector(rows);
}

Status FmModel::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kTag, kVersion, "fm"));
  uint64_t dim = 0;
  uint32_t hash_bits = 0;
  uint8_t use_context = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&dim));
  LIVEREC_RETURN_IF_ERROR(in->Get(&hash_bits));
  LIVEREC_RETURN_IF_ERROR(in->Get(&use_context));
  if (dim != dim_ || hash_bits != hash_bits_ || use_context != (use_context_ ? 1 : 0)) {
    return InvalidArgument("fm state has dim " + std::to_string(dim) + ", hash_bits " +
                           std::to_string(hash_bits) + ", use_context " +
                           std::to_string(use_context) + "; the options say " +
                           std::to_string(dim_) + ", " + std::to_string(hash_bits_) + ", " +
                           std::to_string(use_context_ ? 1 : 0));
  }
  uint64_t factor_seed = 0;
  float init_std = 0;
  uint64_t negative_seed = 0;
  uint64_t num_learned = 0;
  uint32_t num_items = 0;
  float bias = 0;
  float bias_sum = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&factor_seed));
  LIVEREC_RETURN_IF_ERROR(in->Get(&init_std));
  LIVEREC_RETURN_IF_ERROR(in->Get(&negative_seed));
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_learned));
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_items));
  LIVEREC_RETURN_IF_ERROR(in->Get(&bias));
  LIVEREC_RETURN_IF_ERROR(in->Get(&bias_sum));
  // Accumulators start at kFmInitialAccumulator and only grow; anything else (NaN included)
  // is not a state Save wrote.
  auto valid_sum = [](float s) { return s >= kFmInitialAccumulator && std::isfinite(s); };
  if (!(init_std >= 0 && std::isfinite(init_std)) || !valid_sum(bias_sum)) {
    return Corruption("fm state: bad init_std " + std::to_string(init_std) +
                      " or bias accumulator " + std::to_string(bias_sum));
  }
  uint64_t num_touched = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_touched));
  const size_t rows = size_t{1} << hash_bits_;
  const size_t row_bytes = sizeof(uint32_t) + 2 * sizeof(float) + 2 * dim_ * sizeof(float);
  if (num_touched > rows || num_touched * row_bytes > in->remaining()) {
    return Corruption("fm state: " + std::to_string(num_touched) + " touched rows of " +
                      std::to_string(rows) + " in " + std::to_string(in->remaining()) + " bytes");
  }
  EmbeddingTable factors(dim_, init_std, factor_seed);
  factors.EnsureRows(rows);
  std::vector<float> weights(rows, 0.0f);
  std::vector<float> factor_sums(rows * dim_, kFmInitialAccumulator);
  std::vector<float> weight_sums(rows, kFmInitialAccumulator);
  std::vector<uint8_t> touched(rows, 0);
  int64_t previous = -1;
  for (uint64_t t = 0; t < num_touched; ++t) {
    uint32_t row = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&row));
    if (row >= rows || static_cast<int64_t>(row) <= previous) {
      return Corruption("fm state: touched row " + std::to_string(row) + " after " +
                        std::to_string(previous) + " (rows " + std::to_string(rows) + ")");
    }
    previous = row;
    touched[row] = 1;
    LIVEREC_RETURN_IF_ERROR(in->Get(&weights[row]));
    LIVEREC_RETURN_IF_ERROR(in->Get(&weight_sums[row]));
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(factors.row(row), dim_ * sizeof(float)));
    float* sums = factor_sums.data() + size_t{row} * dim_;
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(sums, dim_ * sizeof(float)));
    if (!valid_sum(weight_sums[row]) || !std::all_of(sums, sums + dim_, valid_sum)) {
      return Corruption("fm state: row " + std::to_string(row) + " has a bad accumulator");
    }
  }
  std::vector<int64_t> user_time_ms;
  std::vector<uint32_t> user_events;
  std::vector<uint32_t> lengths;
  std::vector<uint32_t> context_rows;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&user_time_ms));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&user_events));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&lengths));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&context_rows));
  if (user_events.size() != user_time_ms.size() || lengths.size() != user_time_ms.size()) {
    return Corruption("fm state: " + std::to_string(user_time_ms.size()) + " user times, " +
                      std::to_string(user_events.size()) + " event counts, " +
                      std::to_string(lengths.size()) + " context lengths");
  }
  uint64_t total = 0;
  for (uint32_t length : lengths) total += length;
  if (total != context_rows.size()) {
    return Corruption("fm state: context lengths add up to " + std::to_string(total) + ", " +
                      std::to_string(context_rows.size()) + " rows given");
  }
  for (uint32_t row : context_rows) {
    if (row >= rows) return Corruption("fm state: context row " + std::to_string(row));
  }
  std::vector<std::vector<uint32_t>> user_context(lengths.size());
  size_t pos = 0;
  for (size_t u = 0; u < lengths.size(); ++u) {
    user_context[u].assign(context_rows.begin() + static_cast<ptrdiff_t>(pos),
                           context_rows.begin() + static_cast<ptrdiff_t>(pos + lengths[u]));
    pos += lengths[u];
  }

  factor_seed_ = factor_seed;
  init_std_ = init_std;
  negative_seed_ = negative_seed;
  num_learned_ = num_learned;
  num_items_ = num_items;
  bias_ = bias;
  bias_sum_ = bias_sum;
  factors_ = std::move(factors);
  weights_ = std::move(weights);
  factor_sums_ = std::move(factor_sums);
  weight_sums_ = std::move(weight_sums);
  touched_ = std::move(touched);
  user_time_ms_ = std::move(user_time_ms);
  user_events_ = std::move(user_events);
  user_context_ = std::move(user_context);
  return Status::Ok();
}

size_t FmModel::MemoryBytes() const {
  size_t bytes = sizeof(*this) + factors_.MemoryBytes() + weights_.capacity() * sizeof(float) +
                 factor_sums_.capacity() * sizeof(float) + weight_sums_.capacity() * sizeof(float) +
                 touched_.capacity() + user_time_ms_.capacity() * sizeof(int64_t) +
                 user_events_.capacity() * sizeof(uint32_t) +
                 user_context_.capacity() * sizeof(std::vector<uint32_t>);
  for (const std::vector<uint32_t>& context : user_context_) {
    bytes += context.capacity() * sizeof(uint32_t);
  }
  return bytes + (hashes_.capacity() + context_rows_.capacity()) * sizeof(uint64_t) +
         (user_side_.capacity() + item_side_.capacity()) * sizeof(FmFeature) +
         negatives_drawn_.capacity() * sizeof(ItemId) +
         (user_sum_.capacity() + item_sum_.capacity() + grads_.capacity()) * sizeof(float);
}

void FmModel::GatherRow(uint32_t row, float* out) const {
  if (row == weights_.size()) {
    std::fill_n(out, 2 * (dim_ + 1), 0.0f);
    out[0] = bias_;
    out[1] = bias_sum_;
    return;
  }
  std::memcpy(out, factors_.row(row), dim_ * sizeof(float));
  out[dim_] = weights_[row];
  std::memcpy(out + dim_ + 1, factor_sums_.data() + size_t{row} * dim_, dim_ * sizeof(float));
  out[2 * dim_ + 1] = weight_sums_[row];
}

void FmModel::ScatterRow(uint32_t row, const float* values) {
  if (row == weights_.size()) {
    bias_ = values[0];
    bias_sum_ = values[1];
    return;
  }
  std::memcpy(factors_.row(row), values, dim_ * sizeof(float));
  weights_[row] = values[dim_];
  std::memcpy(factor_sums_.data() + size_t{row} * dim_, values + dim_ + 1, dim_ * sizeof(float));
  weight_sums_[row] = values[2 * dim_ + 1];
  touched_[row] = 1;
}

void FmModel::BeginRound() { round_.Begin(); }

// Delta: u32 items learned, then the journal's row delta (embed/row_journal.h).
void FmModel::SaveRoundDelta(BinaryWriter* out) const {
  out->Put<uint32_t>(num_items_);
  WriteRowDelta(
      round_, [this](uint32_t row, float* values) { GatherRow(row, values); }, out);
}

Status FmModel::CheckRoundDelta(std::string_view delta) const {
  BinaryReader in(delta);
  uint32_t items = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&items).WithPrefix("fm round delta"));
  return ReadRowDelta(delta.substr(sizeof(items)), round_.width(),
                      static_cast<uint32_t>(weights_.size() + 1), [](uint32_t, const float*) {})
      .WithPrefix("fm round delta");
}

Status FmModel::EndRound(std::span<const std::string_view> deltas,
                         std::span<const Event> /*others*/) {
  const size_t width = round_.width();
  const auto row_limit = static_cast<uint32_t>(weights_.size() + 1);
  uint32_t num_items = num_items_;
  for (const std::string_view delta : deltas) {
    LIVEREC_RETURN_IF_ERROR(CheckRoundDelta(delta));
    uint32_t items = 0;
    std::memcpy(&items, delta.data(), sizeof(items));
    num_items = std::max(num_items, items);
  }
  // Each partition's change is added whole, parameters and AdaGrad sums alike. (mf takes the
  // mean where several partitions moved a row; here the exchanged sums already shrink every
  // partition's next steps, and the sum measured better: Globo's first 385,000 clicks, 4
  // partitions, one-minute rounds, Recall@10 0.579 with sums, 0.517 with means, 0.564 alone.)
  for (size_t k = 0; k < round_.size(); ++k) ScatterRow(round_.row(k), round_.before(k));
  round_.Stop();
  std::vector<float> values(width);
  for (const std::string_view delta : deltas) {
    const Status read = ReadRowDelta(delta.substr(sizeof(uint32_t)), width, row_limit,
                                     [&](uint32_t row, const float* d) {
                                       GatherRow(row, values.data());
                                       for (size_t j = 0; j < width; ++j) values[j] += d[j];
                                       ScatterRow(row, values.data());
                                     });
    LIVEREC_CHECK(read.ok()) << read.ToString();
  }
  num_items_ = num_items;
  round_.Begin();
  return Status::Ok();
}

Status FmModel::EndRoundFrom(const RoundLearner& ended_rounds,
                             std::span<const std::string_view> /*deltas*/,
                             std::span<const Event> /*others*/) {
  const auto* ended = dynamic_cast<const FmModel*>(&ended_rounds);
  if (ended == nullptr || ended->dim_ != dim_ || ended->weights_.size() != weights_.size() ||
      ended->factors_.num_rows() != factors_.num_rows() ||
      ended->factors_.stride() != factors_.stride()) {
    return InvalidArgument("fm: a round can be ended from another copy of the same fm only");
  }
  // The rows of every delta are the base plus the deltas on `ended` as they would be here; the
  // others are the base on both. So are w0, its sum and the items learned.
  std::memcpy(factors_.row(0), ended->factors_.data(),
              factors_.num_rows() * factors_.stride() * sizeof(float));
  weights_ = ended->weights_;
  factor_sums_ = ended->factor_sums_;
  weight_sums_ = ended->weight_sums_;
  touched_ = ended->touched_;
  bias_ = ended->bias_;
  bias_sum_ = ended->bias_sum_;
  num_items_ = ended->num_items_;
  round_.Stop();
  round_.Begin();
  return Status::Ok();
}

}  // namespace liverec
