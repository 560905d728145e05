#include "model/mf/mf.h"

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

constexpr uint32_t kTag = 0x444d464d;  // "MFMD" in little-endian bytes
constexpr uint32_t kVersion = 3;
constexpr uint32_t kVersionBeforeConsumed = 2;
constexpr uint32_t kVersionBeforeAdmission = 1;

// Salts of the model's random streams under the context seed.
constexpr uint64_t kUserTableSalt = 0x6d662d7573657273;  // "mf-users"
constexpr uint64_t kItemTableSalt = 0x6d662d6974656d73;  // "mf-items"
constexpr uint64_t kNegativeSalt = 0x6d662d6e65677320;   // "mf-negs "

// The one order in which a score's terms are added, shared by Learn and Score so that the
// score a step learns from is the score a reader sees (base = offset + b_u).
inline float CombineScore(float base, float b_i, float dot) { return base + b_i + dot; }

constexpr uint32_t kNegativeBatch = 16;  // negatives drawn and prefetched at a time
// Draws per negative when mf.exclude_consumed is on: a user who consumed most of the catalogue
// gets a consumed item after this many tries rather than an unbounded loop.
constexpr uint32_t kMaxNegativeDraws = 8;
constexpr size_t kScoreChunk = 256;  // items whose rows Score looks up at a time
constexpr double kMsPerSecond = 1000;
constexpr size_t kCacheLineFloats = 64 / sizeof(float);

void PrefetchRow(const float* row, size_t stride) {
  for (size_t k = 0; k < stride; k += kCacheLineFloats) __builtin_prefetch(row + k);
}

// Uniform over [0, num_items) minus `positive`, in one draw: draw from num_items - 1 values
// and step over the positive.
uint32_t SampleNegative(Random* rng, uint32_t positive, uint32_t num_items) {
  const uint32_t j = rng->Uniform(num_items - 1);
  return j >= positive ? j + 1 : j;
}

AdmissionOptions AdmissionOf(const OptionView& options) {
  AdmissionOptions admission;
  admission.min_count = static_cast<uint32_t>(options.Int("min_count"));
  admission.idle_ttl_ms = std::llround(options.DurationSeconds("idle_ttl") * kMsPerSecond);
  return admission;
}

double DotDouble(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (size_t k = 0; k < a.size(); ++k) sum += static_cast<double>(a[k]) * b[k];
  return sum;
}

double SquaredNorm(std::span<const float> a) { return DotDouble(a, a); }

// log(1 + exp(-x)) without overflow for large |x|.
double SoftplusOfNegative(double x) {
  return x > 0 ? std::log1p(std::exp(-x)) : -x + std::log1p(std::exp(x));
}

template <typename T>
Status CheckSize(const std::vector<T>& v, size_t rows, std::string_view what) {
  if (v.size() == rows) return Status::Ok();
  return Corruption("mf state: " + std::string(what) + " has " + std::to_string(v.size()) +
                    " entries for " + std::to_string(rows) + " rows");
}

}  // namespace

double SquaredPairLoss(std::span<const float> p, std::span<const float> q, float b_u, float b_i,
                       float offset, float target, float reg) {
  LIVEREC_CHECK(p.size() == q.size());
  const double score = static_cast<double>(offset) + b_u + b_i + DotDouble(p, q);
  const double error = score - target;
  const double penalty = SquaredNorm(p) + SquaredNorm(q) + static_cast<double>(b_u) * b_u +
                         static_cast<double>(b_i) * b_i;
  return 0.5 * error * error + 0.5 * reg * penalty;
}

PairGradient SquaredPairGradient(std::span<const float> p, std::span<const float> q, float b_u,
                                 float b_i, float offset, float target, float reg) {
  LIVEREC_CHECK(p.size() == q.size());
  const float dot = static_cast<float>(DotDouble(p, q));
  PairGradient grad;
  grad.slope = SquaredSlope(CombineScore(offset + b_u, b_i, dot), target);
  grad.p.resize(p.size());
  grad.q_i.resize(q.size());
  for (size_t k = 0; k < p.size(); ++k) {
    grad.p[k] = grad.slope * q[k] + reg * p[k];
    grad.q_i[k] = grad.slope * p[k] + reg * q[k];
  }
  grad.b_u = grad.slope + reg * b_u;
  grad.b_i = grad.slope + reg * b_i;
  return grad;
}

double BprPairLoss(std::span<const float> p, std::span<const float> q_i, std::span<const float> q_j,
                   float b_i, float b_j, float reg) {
  LIVEREC_CHECK(p.size() == q_i.size() && p.size() == q_j.size());
  const double x = static_cast<double>(b_i) - b_j + DotDouble(p, q_i) - DotDouble(p, q_j);
  const double penalty = SquaredNorm(p) + SquaredNorm(q_i) + SquaredNorm(q_j) +
                         static_cast<double>(b_i) * b_i + static_cast<double>(b_j) * b_j;
  return SoftplusOfNegative(x) + 0.5 * reg * penalty;
}

PairGradient BprPairGradient(std::span<const float> p, std::span<const float> q_i,
                             std::span<const float> q_j, float b_i, float b_j, float reg) {
  LIVEREC_CHECK(p.size() == q_i.size() && p.size() == q_j.size());
  const float x =
      static_cast<float>(static_cast<double>(b_i) - b_j + DotDouble(p, q_i) - DotDouble(p, q_j));
  PairGradient grad;
  grad.slope = BprSlope(x);
  grad.p.resize(p.size());
  grad.q_i.resize(p.size());
  grad.q_j.resize(p.size());
  for (size_t k = 0; k < p.size(); ++k) {
    grad.p[k] = grad.slope * (q_i[k] - q_j[k]) + reg * p[k];
    grad.q_i[k] = grad.slope * p[k] + reg * q_i[k];
    grad.q_j[k] = -grad.slope * p[k] + reg * q_j[k];
  }
  grad.b_i = grad.slope + reg * b_i;
  grad.b_j = -grad.slope + reg * b_j;
  return grad;
}

MfModel::MfModel(const OptionView& options, const Context& context)
    : dim_(static_cast<size_t>(options.Int("dim"))),
      mode_(options.String("mode") == "rating" ? Mode::kRating : Mode::kImplicit),
      loss_(options.String("loss") == "bpr" ? Loss::kBpr : Loss::kSquared),
      learning_rate_(static_cast<float>(options.Float("learning_rate"))),
      regularization_(static_cast<float>(options.Float("regularization"))),
      negatives_(static_cast<uint32_t>(options.Int("negatives"))),
      item_bias_in_implicit_(options.Bool("item_bias")),
      exclude_consumed_(options.Bool("exclude_consumed")),
      user_rows_(AdmissionOf(options)),
      item_rows_(AdmissionOf(options)),
      users_(dim_, static_cast<float>(options.Float("init_std")),
             DeriveSeed(context.seed, kUserTableSalt)),
      items_(dim_, static_cast<float>(options.Float("init_std")),
             DeriveSeed(context.seed, kItemTableSalt)),
      negative_seed_(DeriveSeed(context.seed, kNegativeSalt)),
      scratch_(dim_) {
  // The option table validated the values; anything else here is a bug.
  const std::string mode = options.String("mode");
  const std::string loss = options.String("loss");
  LIVEREC_CHECK(mode == "implicit" || mode == "rating") << "mf.mode = " << mode;
  LIVEREC_CHECK(loss == "squared" || loss == "bpr") << "mf.loss = " << loss;
}

float MfModel::offset() const {
  return mode_ == Mode::kRating ? static_cast<float>(rating_mean_) : 0.0f;
}

bool MfModel::Consumed(uint32_t user_row, ItemId item) const {
  if (user_row >= consumed_.size()) return false;
  const std::vector<ItemId>& items = consumed_[user_row];
  return std::binary_search(items.begin(), items.end(), item);
}

void MfModel::NoteConsumed(uint32_t user_row, ItemId item) {
  if (consumed_.size() <= user_row) consumed_.resize(user_rows_.num_rows());
  std::vector<ItemId>& items = consumed_[user_row];
  const auto at = std::lower_bound(items.begin(), items.end(), item);
  if (at == items.end() || *at != item) items.insert(at, item);
}

bool MfModel::knows_user(UserId user) const {
  const uint32_t row = user_rows_.Find(user);
  return row != RowAdmission::kNoRow && user_events_[row] > 0;
}

float MfModel::item_bias(ItemId item) const {
  const uint32_t row = item_rows_.Find(item);
  LIVEREC_CHECK(row != RowAdmission::kNoRow) << "item " << item << " has no row";
  return item_bias_[row];
}

float MfModel::user_bias(UserId user) const {
  const uint32_t row = user_rows_.Find(user);
  LIVEREC_CHECK(row != RowAdmission::kNoRow) << "user " << user << " has no row";
  return user_bias_[row];
}

void MfModel::ForgetUser(UserId user) {
  // The id keeps its row (and, with admission, its count): the row starts over as a new id's.
  const uint32_t row = user_rows_.Find(user);
  if (row == RowAdmission::kNoRow || row >= users_.num_rows()) return;
  users_.ResetRow(row, user);
  user_bias_[row] = 0.0f;
  user_events_[row] = 0;
  if (row < consumed_.size()) consumed_[row] = {};
}

void MfModel::ForgetItems(std::span<const ItemId> items) {
  // Every user's list is searched once per call (the lists are keyed by user; the engine
  // forgets idle items in batches), each id against the sorted batch.
  if (!consumed_.empty() && !items.empty()) {
    std::vector<ItemId> gone(items.begin(), items.end());
    std::sort(gone.begin(), gone.end());
    for (std::vector<ItemId>& consumed : consumed_) {
      std::erase_if(consumed, [&](ItemId item) {
        return std::binary_search(gone.begin(), gone.end(), item);
      });
    }
  }
  for (const ItemId item : items) {
    const uint32_t row = item_rows_.Forget(item);
    if (row == RowAdmission::kNoRow || row >= items_.num_rows()) continue;
    if (item_rows_.dense()) {
      items_.ResetRow(row, item);
      item_bias_[row] = 0.0f;
      MarkItemChanged(row);
    } else {
      forgotten_items_.push_back(item);
    }
  }
}

uint32_t MfModel::TouchUser(UserId user, int64_t time_ms) {
  const RowAdmission::Touched touched = user_rows_.Touch(user, time_ms);
  if (touched.row == RowAdmission::kNoRow) return touched.row;
  const size_t rows = user_rows_.num_rows();
  if (users_.num_rows() < rows) {
    users_.EnsureRows(rows);
    user_bias_.resize(rows, 0.0f);
    user_events_.resize(rows, 0);
  }
  if (touched.fresh) {
    users_.ResetRow(touched.row, user);
    user_bias_[touched.row] = 0.0f;
    user_events_[touched.row] = 0;
    if (touched.row < consumed_.size()) consumed_[touched.row] = {};
  }
  return touched.row;
}

uint32_t MfModel::TouchItem(ItemId item, int64_t time_ms) {
  const uint64_t evicted = item_rows_.num_evicted();
  const RowAdmission::Touched touched = item_rows_.Touch(item, time_ms);
  // The admission does not say which ids lost their rows: retrieval re-reads every item.
  if (item_rows_.num_evicted() != evicted) all_items_changed_ = true;
  if (touched.row == RowAdmission::kNoRow) return touched.row;
  const size_t rows = item_rows_.num_rows();
  if (items_.num_rows() < rows) {
    const auto old_rows = static_cast<uint32_t>(items_.num_rows());
    items_.EnsureRows(rows);
    item_bias_.resize(rows, 0.0f);
    item_changed_.resize(rows, 0);
    // Rows below the touched one get vectors too (row = id with admission off).
    for (uint32_t row = old_rows; row < rows; ++row) MarkItemChanged(row);
  }
  if (touched.fresh) {
    items_.ResetRow(touched.row, item);
    item_bias_[touched.row] = 0.0f;
    MarkItemChanged(touched.row);
  }
  return touched.row;
}

void MfModel::Learn(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId)
      << "user " << event.user << ", item " << event.item;
  const uint32_t user_row = TouchUser(event.user, event.time_ms);
  const uint32_t item_row = TouchItem(event.item, event.time_ms);
  // An id still below min_count was only counted; there is no pair to learn from.
  if (user_row == RowAdmission::kNoRow || item_row == RowAdmission::kNoRow) return;
  uint32_t& user_events = user_events_[user_row];
  if (user_events < std::numeric_limits<uint32_t>::max()) ++user_events;
  const uint64_t event_index = num_learned_++;
  float* p = users_.row(user_row);

  if (mode_ == Mode::kRating) {
    LIVEREC_DCHECK(std::isfinite(event.value)) << "rating " << event.value;
    ++rating_count_;
    rating_mean_ += (event.value - rating_mean_) / static_cast<double>(rating_count_);
    SquaredStep(p, &user_bias_[user_row], item_row, event.value);
    return;
  }

  constexpr float kPositiveTarget = 1.0f;
  constexpr float kNegativeTarget = 0.0f;
  if (event.weight < 0) {
    // Explicit negative feedback (skip, dislike): the item itself is the negative, and no
    // sampled ones are needed. BPR has no pairwise form for it; both losses take the squared
    // step toward 0.
    SquaredStep(p, nullptr, item_row, kNegativeTarget);
    return;
  }
  // The item is the user's from now on: it is not drawn as this user's negative again.
  if (exclude_consumed_) NoteConsumed(user_row, event.item);
  // Negatives are drawn as positions in the list of live item rows (position = row with
  // admission off), which keeps the draw uniform over items that own a row.
  const auto num_items = static_cast<uint32_t>(item_rows_.num_live());
  const uint32_t positive = item_rows_.live_position(item_row);
  const uint32_t num_negatives = num_items >= 2 ? negatives_ : 0;
  // A generator per event, seeded by the event's index: the whole sampling state is one
  // counter, which is what Save needs (Random does not expose its state).
  Random rng(DeriveSeed(negative_seed_, event_index));
  // Negatives are drawn a batch ahead and their rows prefetched, the first batch before the
  // positive step: every step depends on the previous one through p_u, so a cache miss on a
  // random item row would otherwise stall the chain once per negative (k = 64, 4 negatives,
  // ML-100K-sized tables: 217 -> 165 ns per event here).
  uint32_t batch[kNegativeBatch];
  auto draw_batch = [&](uint32_t remaining) {
    const uint32_t size = std::min(kNegativeBatch, remaining);
    for (uint32_t n = 0; n < size; ++n) {
      batch[n] = item_rows_.live_row(SampleNegative(&rng, positive, num_items));
      // Items the user consumed are positives for this user, not negatives: drawn again.
      for (uint32_t draw = 1; exclude_consumed_ && draw < kMaxNegativeDraws &&
                              Consumed(user_row, item_rows_.id_of_row(batch[n]));
           ++draw) {
        batch[n] = item_rows_.live_row(SampleNegative(&rng, positive, num_items));
      }
      PrefetchRow(items_.row(batch[n]), items_.stride());
    }
    return size;
  };
  uint32_t batch_size = draw_batch(num_negatives);
  if (loss_ == Loss::kSquared) SquaredStep(p, nullptr, item_row, kPositiveTarget);
  for (uint32_t done = 0; done < num_negatives;) {
    for (uint32_t n = 0; n < batch_size; ++n) {
      if (loss_ == Loss::kSquared) {
        SquaredStep(p, nullptr, batch[n], kNegativeTarget);
      } else {
        BprStep(p, item_row, batch[n]);
      }
    }
    done += batch_size;
    batch_size = draw_batch(num_negatives - done);
  }
}

// The step of SquaredPairGradient: p and q through SgdPairStep (both from their old values),
// then the biases.
void MfModel::SquaredStep(float* p, float* b_u, uint32_t item_row, float target) {
  MarkItemChanged(item_row);
  float* q = items_.row(item_row);
  float& b_i = item_bias_[item_row];
  const float base = offset() + (b_u != nullptr ? *b_u : 0.0f);
  const float g = SquaredSlope(CombineScore(base, b_i, Dot(p, q, dim_)), target);
  SgdPairStep(p, q, g, learning_rate_, regularization_, dim_);
  if (b_u != nullptr) SgdStep(g, learning_rate_, regularization_, b_u);
  if (learns_item_bias()) SgdStep(g, learning_rate_, regularization_, &b_i);
}

// The step of BprPairGradient with every part computed from the old values. p_u and q_j each
// need the other's old value, so the old p_u is kept in scratch_:
//   p  -= lr * (g q_i + reg p) - lr * g q_j    (SgdPairStep with q_i, then Axpy of q_j)
//   q_i -= lr * (g p + reg q_i)                 (SgdPairStep)
//   q_j = (1 - lr reg) q_j + lr g p_old         (Scale, then Axpy of the saved p)
void MfModel::BprStep(float* p, uint32_t positive_row, uint32_t negative_row) {
  MarkItemChanged(positive_row);
  MarkItemChanged(negative_row);
  float* q_i = items_.row(positive_row);
  float* q_j = items_.row(negative_row);
  float& b_i = item_bias_[positive_row];
  float& b_j = item_bias_[negative_row];
  const float x = (b_i - b_j) + (Dot(p, q_i, dim_) - Dot(p, q_j, dim_));
  const float g = BprSlope(x);
  const float lr = learning_rate_;
  const float reg = regularization_;
  std::memcpy(scratch_.data(), p, dim_ * sizeof(float));
  SgdPairStep(p, q_i, g, lr, reg, dim_);
  Axpy(lr * g, q_j, p, dim_);
  Scale(1.0f - lr * reg, q_j, dim_);
  Axpy(lr * g, scratch_.data(), q_j, dim_);
  if (learns_item_bias()) {
    SgdStep(g, lr, reg, &b_i);
    SgdStep(-g, lr, reg, &b_j);
  }
}

void MfModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  const uint32_t user_row = user_rows_.Find(user);
  const bool known = user_row != RowAdmission::kNoRow && user_events_[user_row] > 0;
  const float* p = known ? users_.row(user_row) : nullptr;
  const float base = offset() + (known ? user_bias_[user_row] : 0.0f);
  // With admission off the ids are the rows.
  if (item_rows_.dense()) return ScoreRows(p, base, items.data(), items.size(), out);
  // Otherwise the rows are looked up a chunk at a time into a buffer on the stack (Score is
  // const and may run on several threads at once: no shared scratch).
  uint32_t rows[kScoreChunk];
  for (size_t chunk = 0; chunk < items.size(); chunk += kScoreChunk) {
    const size_t n = std::min(kScoreChunk, items.size() - chunk);
    for (size_t r = 0; r < n; ++r) rows[r] = item_rows_.Find(items[chunk + r]);
    ScoreRows(p, base, rows, n, out + chunk);
  }
}

void MfModel::ScoreRows(const float* p, float base, const uint32_t* rows, size_t n,
                        float* out) const {
  // kNoRow is above every row, so one comparison finds ids without rows in both modes.
  const size_t num_item_rows = items_.num_rows();
  size_t r = 0;
  while (r < n) {
    if (rows[r] >= num_item_rows) {
      out[r++] = kUnscored;
      continue;
    }
    // A run [r, end) of items with rows: one batched DotRows, then the biases.
    size_t end = r + 1;
    while (end < n && rows[end] < num_item_rows) ++end;
    if (p != nullptr) {
      DotRows(p, items_.data(), items_.stride(), rows + r, end - r, dim_, out + r);
    } else {
      std::fill(out + r, out + end, 0.0f);
    }
    for (; r < end; ++r) out[r] = CombineScore(base, item_bias_[rows[r]], out[r]);
  }
}

std::unique_ptr<Model> MfModel::Clone() const { return std::make_unique<MfModel>(*this); }

// Format (version 3): tag, version, u64 dim, u8 mode, u64 negative_seed, u64 num_learned,
// f64 rating_mean, u64 rating_count, user table, item table, user biases, item biases,
// per-user-row event counts, user row admission, item row admission, the consumed lists (a
// u32 count per user row, then the ids of every list in row order, each list ascending).
// Version 2 ended before the consumed lists, version 1 before the admissions (row = id).
void MfModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kTag);
  out->Put<uint32_t>(kVersion);
  out->Put<uint64_t>(dim_);
  out->Put<uint8_t>(static_cast<uint8_t>(mode_));
  out->Put<uint64_t>(negative_seed_);
  out->Put<uint64_t>(num_learned_);
  out->Put<double>(rating_mean_);
  out->Put<uint64_t>(rating_count_);
  users_.Save(out);
  items_.Save(out);
  out->PutVector(user_bias_);
  out->PutVector(item_bias_);
  out->PutVector(user_events_);
  user_rows_.Save(out);
  item_rows_.Save(out);
  // The consumed lists, flat: a count per user row, then every list's ids in row order.
  std::vector<uint32_t> counts(users_.num_rows(), 0);
  std::vector<ItemId> ids;
  for (size_t row = 0; row < consumed_.size() && row < counts.size(); ++row) {
    counts[row] = static_cast<uint32_t>(consumed_[row].size());
    ids.insert(ids.end(), consumed_[row].begin(), consumed_[row].end());
  }
  out->PutVector(counts);
  out->PutVector(ids);
}

Status MfModel::Load(BinaryReader* in) {
  uint32_t tag = 0;
  uint32_t version = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&tag));
  LIVEREC_RETURN_IF_ERROR(in->Get(&version));
  if (tag != kTag) {
    return Corruption("mf: wrong type tag " + std::to_string(tag) + ", expected " +
                      std::to_string(kTag));
  }
  if (version != kVersion && version != kVersionBeforeConsumed &&
      version != kVersionBeforeAdmission) {
    return Corruption("mf: unsupported format version " + std::to_string(version) +
                      ", this build reads " + std::to_string(kVersionBeforeAdmission) + " to " +
                      std::to_string(kVersion));
  }
  uint64_t dim = 0;
  uint8_t mode = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&dim));
  LIVEREC_RETURN_IF_ERROR(in->Get(&mode));
  if (dim != dim_) {
    return InvalidArgument("mf state has dim " + std::to_string(dim) + ", the options say " +
                           std::to_string(dim_));
  }
  if (mode != static_cast<uint8_t>(mode_)) {
    return InvalidArgument("mf state has mode " + std::to_string(mode) + ", the options say " +
                           std::to_string(static_cast<int>(mode_)) + " (0 = implicit, 1 = rating)");
  }
  uint64_t negative_seed = 0;
  uint64_t num_learned = 0;
  double rating_mean = 0;
  uint64_t rating_count = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&negative_seed));
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_learned));
  LIVEREC_RETURN_IF_ERROR(in->Get(&rating_mean));
  LIVEREC_RETURN_IF_ERROR(in->Get(&rating_count));
  // Load restores each table's init_std and seed along with its rows.
  EmbeddingTable users(dim_, /*init_std=*/0.0f, /*seed=*/0);
  EmbeddingTable items(dim_, /*init_std=*/0.0f, /*seed=*/0);
  LIVEREC_RETURN_IF_ERROR(users.Load(in));
  LIVEREC_RETURN_IF_ERROR(items.Load(in));
  std::vector<float> user_bias;
  std::vector<float> item_bias;
  std::vector<uint32_t> user_events;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&user_bias));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&item_bias));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&user_events));
  LIVEREC_RETURN_IF_ERROR(CheckSize(user_bias, users.num_rows(), "user biases"));
  LIVEREC_RETURN_IF_ERROR(CheckSize(user_events, users.num_rows(), "user event counts"));
  LIVEREC_RETURN_IF_ERROR(CheckSize(item_bias, items.num_rows(), "item biases"));
  RowAdmission user_rows(user_rows_.options());
  RowAdmission item_rows(item_rows_.options());
  if (version == kVersionBeforeAdmission) {
    if (!user_rows.dense()) {
      return InvalidArgument("mf state of format version 1 has a row per id; mf.min_count " +
                             std::to_string(user_rows.options().min_count) + " and mf.idle_ttl " +
                             std::to_string(user_rows.options().idle_ttl_ms) +
                             " ms ask for admission");
    }
    // Touching the highest id makes a dense admission cover every row below it too.
    if (users.num_rows() > 0) (void)user_rows.Touch(users.num_rows() - 1, 0);
    if (items.num_rows() > 0) (void)item_rows.Touch(items.num_rows() - 1, 0);
  } else {
    LIVEREC_RETURN_IF_ERROR(user_rows.Load(in));
    LIVEREC_RETURN_IF_ERROR(item_rows.Load(in));
  }
  // Versions before 3 kept no consumed lists: every user starts with an empty one.
  std::vector<std::vector<ItemId>> consumed(users.num_rows());
  if (version == kVersion) {
    std::vector<uint32_t> counts;
    std::vector<ItemId> ids;
    LIVEREC_RETURN_IF_ERROR(in->GetVector(&counts));
    LIVEREC_RETURN_IF_ERROR(in->GetVector(&ids));
    LIVEREC_RETURN_IF_ERROR(CheckSize(counts, users.num_rows(), "consumed counts"));
    size_t next = 0;
    for (size_t row = 0; row < counts.size(); ++row) {
      if (counts[row] > ids.size() - next) {
        return Corruption("mf state: consumed lists name " + std::to_string(ids.size()) +
                          " ids, fewer than their counts");
      }
      consumed[row].assign(ids.begin() + next, ids.begin() + next + counts[row]);
      next += counts[row];
      if (!std::is_sorted(consumed[row].begin(), consumed[row].end())) {
        return Corruption("mf state: consumed list of user row " + std::to_string(row) +
                          " is not sorted");
      }
    }
    if (next != ids.size()) {
      return Corruption("mf state: consumed lists name " + std::to_string(ids.size()) +
                        " ids, their counts " + std::to_string(next));
    }
  }
  if (user_rows.num_rows() != users.num_rows() || item_rows.num_rows() != items.num_rows()) {
    return Corruption("mf state: admissions of " + std::to_string(user_rows.num_rows()) +
                      " user and " + std::to_string(item_rows.num_rows()) +
                      " item rows for tables of " + std::to_string(users.num_rows()) + " and " +
                      std::to_string(items.num_rows()));
  }

  negative_seed_ = negative_seed;
  num_learned_ = num_learned;
  rating_mean_ = rating_mean;
  rating_count_ = rating_count;
  user_rows_ = std::move(user_rows);
  item_rows_ = std::move(item_rows);
  users_ = std::move(users);
  items_ = std::move(items);
  user_bias_ = std::move(user_bias);
  item_bias_ = std::move(item_bias);
  user_events_ = std::move(user_events);
  consumed_ = std::move(consumed);
  item_changed_.assign(items_.num_rows(), 0);
  changed_item_rows_.clear();
  forgotten_items_.clear();
  all_items_changed_ = true;
  return Status::Ok();
}

size_t MfModel::MemoryBytes() const {
  return sizeof(*this) + users_.MemoryBytes() + items_.MemoryBytes() +
         user_bias_.capacity() * sizeof(float) + item_bias_.capacity() * sizeof(float) +
         user_events_.capacity() * sizeof(uint32_t) + scratch_.capacity() * sizeof(float) +
         user_rows_.MemoryBytes() + item_rows_.MemoryBytes() + item_changed_.capacity() +
         changed_item_rows_.capacity() * sizeof(uint32_t) + ConsumedBytes();
}

size_t MfModel::ConsumedBytes() const {
  size_t bytes = consumed_.capacity() * sizeof(std::vector<ItemId>);
  for (const std::vector<ItemId>& items : consumed_) bytes += items.capacity() * sizeof(ItemId);
  return bytes;
}

void MfModel::RetrievalQuery(UserId user, float* query) const {
  // As Score: p_u for a user learned from, no personal term otherwise.
  const uint32_t user_row = user_rows_.Find(user);
  if (user_row != RowAdmission::kNoRow && user_events_[user_row] > 0) {
    std::memcpy(query, users_.row(user_row), dim_ * sizeof(float));
  } else {
    std::fill(query, query + dim_, 0.0f);
  }
  query[dim_] = 1.0f;
}

bool MfModel::RetrievalVector(ItemId item, float* vector) const {
  const uint32_t row = item_rows_.Find(item);
  if (row >= items_.num_rows()) return false;
  std::memcpy(vector, items_.row(row), dim_ * sizeof(float));
  vector[dim_] = item_bias_[row];
  return true;
}

void MfModel::RetrievalItems(std::vector<ItemId>* out) const {
  out->clear();
  for (size_t k = 0; k < item_rows_.num_live(); ++k) {
    const uint32_t row = item_rows_.live_row(k);
    if (row < items_.num_rows()) out->push_back(item_rows_.id_of_row(row));
  }
}

bool MfModel::TakeChangedItems(std::vector<ItemId>* out) {
  out->clear();
  const bool listed = !all_items_changed_;
  if (listed) {
    for (uint32_t row : changed_item_rows_) {
      const ItemId item = item_rows_.id_of_row(row);
      if (item != kInvalidId) out->push_back(item);  // a row freed since it moved
    }
    for (const ItemId item : forgotten_items_) {
      if (item_rows_.Find(item) == RowAdmission::kNoRow) out->push_back(item);  // else listed
    }
  }
  for (uint32_t row : changed_item_rows_) item_changed_[row] = 0;
  changed_item_rows_.clear();
  forgotten_items_.clear();
  all_items_changed_ = false;
  return listed;
}

float MfModel::ItemCosine(ItemId a, ItemId b) const {
  const uint32_t row_a = item_rows_.Find(a);
  const uint32_t row_b = item_rows_.Find(b);
  if (row_a == RowAdmission::kNoRow || row_b == RowAdmission::kNoRow) return 0.0f;
  return EmbeddingCosine(items_.row(row_a), items_.row(row_b), items_.dim());
}

void MfModel::GatherItem(uint32_t row, float* out) const {
  std::memcpy(out, items_.row(row), dim_ * sizeof(float));
  out[dim_] = item_bias_[row];
}

void MfModel::ScatterItem(uint32_t row, const float* values) {
  std::memcpy(items_.row(row), values, dim_ * sizeof(float));
  item_bias_[row] = values[dim_];
}

Status MfModel::CheckRounds() const {
  if (!item_rows_.dense() || !user_rows_.dense()) {
    return InvalidArgument("mf learns in rounds only with a row per id: mf.min_count " +
                           std::to_string(item_rows_.options().min_count) + " and mf.idle_ttl " +
                           std::to_string(item_rows_.options().idle_ttl_ms) +
                           " ms, expected 1 and 0");
  }
  return Status::Ok();
}

void MfModel::BeginRound() { round_.Begin(); }

void MfModel::SaveRoundDelta(BinaryWriter* out) const {
  WriteRowDelta(
      round_, [this](uint32_t row, float* values) { GatherItem(row, values); }, out);
}

Status MfModel::CheckRoundDelta(std::string_view delta) const {
  const size_t limit = std::min<size_t>(items_.num_rows() + kMaxNewRowsPerRound, kInvalidId);
  return ReadRowDelta(delta, round_.width(), static_cast<uint32_t>(limit),
                      [](uint32_t, const float*) {})
      .WithPrefix("mf round delta");
}

Status MfModel::EndRound(std::span<const std::string_view> deltas,
                         std::span<const Event> /*others*/) {
  LIVEREC_CHECK(item_rows_.dense()) << "mf rounds need a row per id (CheckRounds)";
  const size_t width = round_.width();
  for (const std::string_view delta : deltas) LIVEREC_RETURN_IF_ERROR(CheckRoundDelta(delta));
  // A row several partitions moved gets the mean of their changes: their sum, each computed
  // against the same stale row, overshoots, since plain SGD has nothing that shrinks a
  // partition's steps when others step too (Globo part 1, 16 partitions, one-minute rounds:
  // Recall@10 0.06 with sums against 0.27 alone; docs/cluster.md).
  std::vector<uint32_t> movers;
  CountRowMovers(deltas, width, &movers);
  // Back to the round's base, then each partition's change in turn.
  for (size_t k = 0; k < round_.size(); ++k) ScatterItem(round_.row(k), round_.before(k));
  round_.Stop();
  std::vector<float> values(width);
  for (const std::string_view delta : deltas) {
    const Status read = ReadRowDelta(delta, width, UINT32_MAX, [&](uint32_t row, const float* d) {
      // A row another partition created: made here as TouchItem makes it (row = id).
      if (row >= items_.num_rows()) TouchItem(row, item_rows_.clock_ms());
      GatherItem(row, values.data());
      const auto n = static_cast<float>(movers[row]);
      for (size_t j = 0; j < width; ++j) values[j] += d[j] / n;
      ScatterItem(row, values.data());
      MarkItemChanged(row);
    });
    LIVEREC_CHECK(read.ok()) << read.ToString();
  }
  round_.Begin();
  return Status::Ok();
}

}  // namespace liverec
