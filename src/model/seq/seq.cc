#include "model/seq/seq.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <string>

#include "common/check.h"
#include "common/random.h"
#include "embed/optimizer.h"
#include "kernels/kernels.h"

namespace liverec {
namespace {

constexpr uint32_t kTag = 0x4d514553;  // "SEQM" in little-endian bytes
constexpr uint32_t kVersion = 2;

// Salts of the model's random streams under the context seed.
constexpr uint64_t kItemTableSalt = 0x7365712d6974656d;  // "seq-item"
constexpr uint64_t kNetworkSalt = 0x7365712d6e657477;    // "seq-netw"
constexpr uint64_t kNegativeSalt = 0x7365712d6e656773;   // "seq-negs"

// Adam's moment decays as SASRec sets them (beta2 0.98 forgets faster than the usual 0.999,
// which suits a stream whose gradients drift), and its epsilon.
constexpr AdamRule kAdam{.beta1 = 0.9, .beta2 = 0.98, .epsilon = 1e-8f};

using seq::Index;

void FillNormal(Random* rng, double std, float* data, size_t n) {
  for (size_t k = 0; k < n; ++k) data[k] = static_cast<float>(rng->Normal() * std);
}

void SaveNetwork(const seq::NetworkParams<float>& net, BinaryWriter* out) {
  for (std::span<const float> t : net.Tensors()) {
    out->Put<uint64_t>(t.size());
    out->PutBytes(t.data(), t.size_bytes());
  }
}

// Reads into a network already shaped by Resize.
Status LoadNetwork(BinaryReader* in, seq::NetworkParams<float>* net) {
  for (std::span<float> t : net->Tensors()) {
    uint64_t size = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&size));
    if (size != t.size()) {
      return Corruption("seq state: a network tensor has " + std::to_string(size) +
                        " values, the shape needs " + std::to_string(t.size()));
    }
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(t.data(), t.size_bytes()));
  }
  return Status::Ok();
}

// BinaryReader::GetVector, except that an empty vector reads no bytes: GetVector hands
// GetBytes the null data() of an empty vector, and memcpy from or to null is undefined even for
// zero bytes (UBSan reports it). Reads what BinaryWriter::PutVector wrote.
template <typename T>
Status GetVector(BinaryReader* in, std::vector<T>* v) {
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  if (n > in->remaining() / sizeof(T)) {
    return Corruption("seq state: a vector of " + std::to_string(n) + " entries of " +
                      std::to_string(sizeof(T)) + " bytes in " + std::to_string(in->remaining()) +
                      " bytes");
  }
  v->resize(n);
  if (n == 0) return Status::Ok();
  return in->GetBytes(v->data(), n * sizeof(T));
}

template <typename T>
size_t VectorBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

size_t NetworkBytes(const seq::NetworkParams<float>& net) {
  size_t bytes = 0;
  for (std::span<const float> t : net.Tensors()) {
    bytes += t.size_bytes();
  }
  return bytes;
}

// The option table admits only these names.
seq::LossKind ParseLoss(const std::string& name) {
  if (name == "bce") return seq::LossKind::kBce;
  if (name == "full") return seq::LossKind::kFull;
  LIVEREC_CHECK(name == "softmax") << "seq.loss = " << name;
  return seq::LossKind::kSoftmax;
}

}  // namespace

Status SeqModel::ValidateOptions(const OptionView& options) {
  const int64_t dim = options.Int("dim");
  const int64_t heads = options.Int("heads");
  if (dim % heads != 0) {
    return InvalidArgument(options.instance() + ".heads = " + std::to_string(heads) +
                           " does not divide " + options.instance() +
                           ".dim = " + std::to_string(dim));
  }
  return Status::Ok();
}

SeqModel::SeqModel(const OptionView& options, const Context& context)
    : dim_(static_cast<size_t>(options.Int("dim"))),
      max_len_(static_cast<size_t>(options.Int("max_len"))),
      num_blocks_(static_cast<int>(options.Int("blocks"))),
      num_heads_(static_cast<int>(options.Int("heads"))),
      batch_size_(static_cast<size_t>(options.Int("batch"))),
      learning_rate_(static_cast<float>(options.Float("learning_rate"))),
      negatives_(static_cast<uint32_t>(options.Int("negatives"))),
      loss_(ParseLoss(options.String("loss"))),
      train_positions_(
          static_cast<size_t>(std::max(options.Int("train_positions"), options.Int("stride")))),
      stride_(static_cast<uint32_t>(options.Int("stride"))),
      dropout_(options.Float("dropout")),
      items_(dim_, static_cast<float>(options.Float("init_std")),
             DeriveSeed(context.seed, kItemTableSalt)),
      negative_seed_(DeriveSeed(context.seed, kNegativeSalt)) {
  const Status valid = ValidateOptions(options);
  LIVEREC_CHECK(valid.ok()) << valid.ToString();

  const auto dim = static_cast<Index>(dim_);
  const auto max_len = static_cast<Index>(max_len_);
  net_.Resize(dim, max_len, num_blocks_);
  net_m_.Resize(dim, max_len, num_blocks_);
  net_v_.Resize(dim, max_len, num_blocks_);
  grad_.Resize(dim, max_len, num_blocks_);
  // Positions start like item rows; the d x d weights with std 1/sqrt(d), which keeps a
  // product's scale (Glorot/Xavier for a square matrix); layer-norm gains at 1.
  Random rng(DeriveSeed(context.seed, kNetworkSalt));
  FillNormal(&rng, options.Float("init_std"), net_.positions.data(), net_.positions.size());
  const double weight_std = 1.0 / std::sqrt(static_cast<double>(dim_));
  for (seq::BlockParams<float>& block : net_.blocks) {
    for (seq::Matrix<float>* w :
         {&block.wq, &block.wk, &block.wv, &block.wo, &block.w1, &block.w2}) {
      FillNormal(&rng, weight_std, w->data(), w->size());
    }
    block.ln1_gain.setOnes();
    block.ln2_gain.setOnes();
  }
  net_.final_gain.setOnes();
}

float SeqModel::embed_scale() const { return std::sqrt(static_cast<float>(dim_)); }

std::span<const ItemId> SeqModel::history(UserId user) const {
  if (user >= histories_.size()) return {};
  return histories_[user];
}

void SeqModel::EnsureItem(ItemId item) {
  if (item < items_.num_rows()) return;
  const size_t rows = size_t{item} + 1;
  {
    // Growth moves the rows that Score and a background step read.
    WriteLock lock(&params_.mu);
    items_.EnsureRows(rows);
    item_m_.resize(rows * dim_, 0.0f);
    item_v_.resize(rows * dim_, 0.0f);
  }
  item_learned_.resize(rows, 0);
}

uint32_t SeqModel::untrained_events(UserId user) const {
  return user < untrained_.size() ? untrained_[user] : 0;
}

void SeqModel::AppendToHistory(UserId user, ItemId item) {
  if (user >= histories_.size()) histories_.resize(size_t{user} + 1);
  std::vector<ItemId>& history = histories_[user];
  if (history.size() >= max_len_) history.erase(history.begin());
  history.push_back(item);
}

void SeqModel::Learn(const Event& event) {
  std::vector<std::unique_ptr<LearnStep>> steps;
  Record(event, &steps);
  for (const std::unique_ptr<LearnStep>& step : steps) RunStep(*step);
}

void SeqModel::Record(const Event& event, std::vector<std::unique_ptr<LearnStep>>* steps) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId)
      << "user " << event.user << ", item " << event.item;
  if (event.weight < 0) return;
  EnsureItem(event.item);
  uint32_t& learned = item_learned_[event.item];
  if (learned < std::numeric_limits<uint32_t>::max()) ++learned;
  ++num_learned_;
  const std::span<const ItemId> before = history(event.user);
  if (!before.empty()) {
    if (event.user >= untrained_.size()) untrained_.resize(size_t{event.user} + 1, 0);
    uint32_t& untrained = untrained_[event.user];
    if (++untrained >= stride_) {
      untrained = 0;
      // The example trains the last stride positions or more: this event and those since the
      // user's previous example.
      pending_.push_back(Example{std::vector<ItemId>(before.begin(), before.end()), event.item});
    }
  }
  AppendToHistory(event.user, event.item);
  // More than one micro-batch waits after ForgetHistory queued the tails.
  while (pending_.size() >= batch_size_) steps->push_back(TakeBatch());
}

std::unique_ptr<SeqModel::Batch> SeqModel::TakeBatch() {
  const size_t n = std::min(batch_size_, pending_.size());
  auto batch = std::make_unique<Batch>();
  batch->examples.assign(std::make_move_iterator(pending_.begin()),
                         std::make_move_iterator(pending_.begin() + static_cast<ptrdiff_t>(n)));
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(n));
  batch->num_learned = num_learned_;
  batch->num_rows = item_learned_.size();
  return batch;
}

// Only this model hands out steps, and every one is a Batch.
void SeqModel::RunStep(const LearnStep& step) { Step(static_cast<const Batch&>(step)); }

void SeqModel::ForgetUser(UserId user) {
  if (user < histories_.size()) histories_[user] = std::vector<ItemId>();
  if (user < untrained_.size()) untrained_[user] = 0;
}

void SeqModel::ForgetItems(std::span<const ItemId> items) {
  thread_local std::vector<uint8_t> forgotten;
  MarkItems(items, &forgotten);
  bool any = false;
  {
    WriteLock lock(&params_.mu);
    for (const ItemId item : items) {
      if (item >= items_.num_rows()) continue;
      any = true;
      items_.ResetRow(item, item);
      const auto begin = static_cast<ptrdiff_t>(size_t{item} * dim_);
      std::fill_n(item_m_.begin() + begin, dim_, 0.0f);
      std::fill_n(item_v_.begin() + begin, dim_, 0.0f);
    }
  }
  if (!any) return;
  for (const ItemId item : items) {
    if (item < item_learned_.size()) item_learned_[item] = 0;
  }
  const auto named = [&](ItemId item) { return item < forgotten.size() && forgotten[item] != 0; };
  for (std::vector<ItemId>& history : histories_) std::erase_if(history, named);
  std::erase_if(pending_, [&](const Example& example) { return named(example.target); });
  for (Example& example : pending_) std::erase_if(example.history, named);
}

void SeqModel::Observe(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId)
      << "user " << event.user << ", item " << event.item;
  if (event.weight < 0) return;
  AppendToHistory(event.user, event.item);
}

void SeqModel::ForgetHistory() {
  // The newest events of a sequence would otherwise never be a target in any pass (the same
  // events fall short of a stride each time). Their examples wait for the next Learn, as
  // ForgetHistory must keep the parameters (model.h).
  for (size_t user = 0; user < untrained_.size(); ++user) {
    const std::vector<ItemId>& events = histories_[user];
    if (untrained_[user] == 0 || events.size() < 2) continue;
    pending_.push_back(
        Example{std::vector<ItemId>(events.begin(), events.end() - 1), events.back()});
  }
  untrained_.clear();
  histories_.clear();
}

uint32_t SeqModel::SlotOf(ItemId item) {
  int32_t& slot = slot_of_item_[item];
  if (slot < 0) {
    slot = static_cast<int32_t>(slot_items_.size());
    slot_items_.push_back(item);
  }
  return static_cast<uint32_t>(slot);
}

// The step gathers every item row the batch touches (inputs, targets, negatives) into a local
// matrix, runs each example's forward and backward pass on it (seq::ExampleLoss, the function
// the gradient tests check), then applies Adam to the network and to the touched rows only.
void SeqModel::Step(const Batch& batch) {
  const size_t num_rows = batch.num_rows;
  if (slot_of_item_.size() < num_rows) {
    WriteLock lock(&params_.mu);  // MemoryBytes reads its size
    slot_of_item_.resize(num_rows, -1);
  }
  slot_items_.clear();
  input_slots_.clear();

  // Everything random in a step (negatives, dropout masks) derives from this seed; the step
  // count tells apart the steps one Learn runs on the tails ForgetHistory queued.
  const uint64_t step_seed = DeriveSeed(DeriveSeed(negative_seed_, batch.num_learned), adam_step_);
  Random rng(step_seed);
  negative_slots_.clear();
  if (loss_ == seq::LossKind::kFull) {
    // The softmax runs over every row: slot s is item s.
    for (ItemId item = 0; item < num_rows; ++item) SlotOf(item);
  } else {
    for (uint32_t n = 0; n < negatives_; ++n) {
      negative_slots_.push_back(SlotOf(rng.Uniform(static_cast<uint32_t>(num_rows))));
    }
  }

  // Each example's inputs: its history items that have a row. begin/end index input_slots_.
  struct ExampleSlots {
    size_t begin, end;
    uint32_t target;
  };
  std::vector<ExampleSlots> spans;
  spans.reserve(batch.examples.size());
  size_t total_positions = 0;
  for (const Example& example : batch.examples) {
    const size_t begin = input_slots_.size();
    for (ItemId item : example.history) {
      if (item < num_rows) input_slots_.push_back(SlotOf(item));
    }
    if (input_slots_.size() == begin) continue;
    spans.push_back(ExampleSlots{begin, input_slots_.size(), SlotOf(example.target)});
    total_positions += std::min(train_positions_, input_slots_.size() - begin);
  }

  if (total_positions > 0) {
    const auto dim = static_cast<Index>(dim_);
    local_items_.resize(static_cast<Index>(slot_items_.size()), dim);
    {
      // Record may grow the table meanwhile (under background learning).
      ReadLock lock(&params_.mu);
      for (size_t s = 0; s < slot_items_.size(); ++s) {
        local_items_.row(static_cast<Index>(s)) =
            Eigen::Map<const seq::RowVector<float>>(items_.row(slot_items_[s]), dim);
      }
    }
    local_grad_.setZero(local_items_.rows(), dim);
    grad_.SetZero();

    seq::LossSpec spec;
    spec.num_heads = num_heads_;
    spec.embed_scale = embed_scale();
    spec.loss = loss_;
    spec.negative_slots = negative_slots_;
    // The mean over every trained position of the batch.
    spec.weight = 1.0 / static_cast<double>(total_positions);
    spec.dropout = dropout_;
    // Position t predicts input t + 1; the newest predicts the example's target. The targets
    // of every example sit in target_slots_, example after example.
    target_slots_.clear();
    for (const ExampleSlots& span : spans) {
      const size_t trained = std::min(train_positions_, span.end - span.begin);
      target_slots_.insert(target_slots_.end(),
                           input_slots_.begin() + static_cast<ptrdiff_t>(span.end - trained + 1),
                           input_slots_.begin() + static_cast<ptrdiff_t>(span.end));
      target_slots_.push_back(span.target);
    }
    sequences_.clear();
    size_t first_target = 0;
    for (const ExampleSlots& span : spans) {
      const size_t trained = std::min(train_positions_, span.end - span.begin);
      sequences_.push_back(seq::SequenceSpec{
          .input_slots =
              std::span<const uint32_t>(input_slots_.data() + span.begin, span.end - span.begin),
          .target_slots = std::span<const uint32_t>(target_slots_.data() + first_target, trained),
          .dropout_seed = DeriveSeed(step_seed, span.begin)});
      first_target += trained;
    }
    seq::BatchLoss(net_, local_items_, spec, std::span<const seq::SequenceSpec>(sequences_), &grad_,
                   &local_grad_, &batch_scratch_);

    // The gradients were computed without the lock (only this thread writes the parameters);
    // Score waits for the update alone.
    WriteLock lock(&params_.mu);
    ++adam_step_;
    const float step_size = kAdam.StepSize(learning_rate_, adam_step_);
    const std::vector<std::span<float>> params = net_.Tensors();
    const std::vector<std::span<float>> grads = grad_.Tensors();
    const std::vector<std::span<float>> ms = net_m_.Tensors();
    const std::vector<std::span<float>> vs = net_v_.Tensors();
    for (size_t k = 0; k < params.size(); ++k) {
      kAdam.Update(grads[k].data(), step_size, params[k].data(), ms[k].data(), vs[k].data(),
                   params[k].size());
    }
    for (size_t s = 0; s < slot_items_.size(); ++s) {
      const size_t offset = size_t{slot_items_[s]} * dim_;
      kAdam.Update(local_grad_.row(static_cast<Index>(s)).data(), step_size,
                   items_.row(slot_items_[s]), item_m_.data() + offset, item_v_.data() + offset,
                   dim_);
    }
  }

  for (ItemId item : slot_items_) slot_of_item_[item] = -1;
}

void SeqModel::HistoryRows(std::span<const ItemId> items, std::vector<const float*>* rows) const {
  rows->clear();
  for (ItemId item : items) {
    if (item < items_.num_rows()) rows->push_back(items_.row(item));
  }
}

bool SeqModel::UserVector(UserId user, float* out) const {
  ReadLock lock(&params_.mu);
  return UserVectorLocked(user, out);
}

bool SeqModel::UserVectorLocked(UserId user, float* out) const {
  std::vector<const float*> rows;
  HistoryRows(history(user), &rows);
  if (rows.empty()) return false;
  seq::Matrix<float> x;
  seq::Matrix<float> h;
  seq::NetworkCache<float> cache;
  seq::EmbedForward<float>(rows, net_.positions, embed_scale(), &x);
  seq::NetworkForward(net_, x, x.rows() - 1, num_heads_, /*masks=*/nullptr, &h, &cache);
  std::copy(h.data(), h.data() + dim_, out);
  return true;
}

void SeqModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  std::vector<float> h(dim_);
  ReadLock lock(&params_.mu);
  const bool personal = UserVectorLocked(user, h.data());
  const size_t num_rows = items_.num_rows();
  const size_t n = items.size();
  size_t r = 0;
  while (r < n) {
    if (items[r] >= num_rows) {
      out[r++] = kUnscored;
      continue;
    }
    // A run [r, end) of items with rows: one batched DotRows, then the unlearned ones.
    size_t end = r + 1;
    while (end < n && items[end] < num_rows) ++end;
    if (personal) {
      DotRows(h.data(), items_.data(), items_.stride(), items.data() + r, end - r, dim_, out + r);
    }
    for (; r < end; ++r) {
      const uint32_t learned = item_learned_[items[r]];
      if (learned == 0) {
        out[r] = kUnscored;
      } else if (!personal) {
        out[r] = static_cast<float>(learned);
      }
    }
  }
}

std::unique_ptr<Model> SeqModel::Clone() const { return std::make_unique<SeqModel>(*this); }

// Format (version 2): tag, version, u64 dim, u64 max_len, u32 blocks, u32 heads,
// u64 negative_seed, u64 num_learned, u64 adam_step, the network tensors, their first and
// second Adam moments (each tensor: u64 count, floats; in NetworkParams::ForEach order), the
// item table, the item rows' moments, per-item learned counts, u64 users then each history,
// the per-user counts of untrained events (u64 count, u32 each), u64 pending examples then
// each history and u32 target.
void SeqModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kTag);
  out->Put<uint32_t>(kVersion);
  out->Put<uint64_t>(dim_);
  out->Put<uint64_t>(max_len_);
  out->Put<uint32_t>(static_cast<uint32_t>(num_blocks_));
  out->Put<uint32_t>(static_cast<uint32_t>(num_heads_));
  out->Put<uint64_t>(negative_seed_);
  out->Put<uint64_t>(num_learned_);
  out->Put<uint64_t>(adam_step_);
  SaveNetwork(net_, out);
  SaveNetwork(net_m_, out);
  SaveNetwork(net_v_, out);
  items_.Save(out);
  out->PutVector(item_m_);
  out->PutVector(item_v_);
  out->PutVector(item_learned_);
  out->Put<uint64_t>(histories_.size());
  for (const std::vector<ItemId>& history : histories_) out->PutVector(history);
  out->PutVector(untrained_);
  out->Put<uint64_t>(pending_.size());
  for (const Example& example : pending_) {
    out->PutVector(example.history);
    out->Put<uint32_t>(example.target);
  }
}

Status SeqModel::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kTag, kVersion, "seq"));
  uint64_t dim = 0;
  uint64_t max_len = 0;
  uint32_t blocks = 0;
  uint32_t heads = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&dim));
  LIVEREC_RETURN_IF_ERROR(in->Get(&max_len));
  LIVEREC_RETURN_IF_ERROR(in->Get(&blocks));
  LIVEREC_RETURN_IF_ERROR(in->Get(&heads));
  if (dim != dim_ || max_len != max_len_ || blocks != static_cast<uint32_t>(num_blocks_) ||
      heads != static_cast<uint32_t>(num_heads_)) {
    return InvalidArgument("seq state has dim " + std::to_string(dim) + ", max_len " +
                           std::to_string(max_len) + ", blocks " + std::to_string(blocks) +
                           ", heads " + std::to_string(heads) + "; the options say " +
                           std::to_string(dim_) + ", " + std::to_string(max_len_) + ", " +
                           std::to_string(num_blocks_) + ", " + std::to_string(num_heads_));
  }
  uint64_t negative_seed = 0;
  uint64_t num_learned = 0;
  uint64_t adam_step = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&negative_seed));
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_learned));
  LIVEREC_RETURN_IF_ERROR(in->Get(&adam_step));
  const auto d = static_cast<Index>(dim_);
  const auto len = static_cast<Index>(max_len_);
  seq::NetworkParams<float> net, net_m, net_v;
  for (seq::NetworkParams<float>* params : {&net, &net_m, &net_v}) {
    params->Resize(d, len, num_blocks_);
    LIVEREC_RETURN_IF_ERROR(LoadNetwork(in, params));
  }
  // Load restores the table's init_std and seed along with its rows.
  EmbeddingTable items(dim_, /*init_std=*/0.0f, /*seed=*/0);
  LIVEREC_RETURN_IF_ERROR(items.Load(in));
  std::vector<float> item_m, item_v;
  std::vector<uint32_t> item_learned;
  LIVEREC_RETURN_IF_ERROR(GetVector(in, &item_m));
  LIVEREC_RETURN_IF_ERROR(GetVector(in, &item_v));
  LIVEREC_RETURN_IF_ERROR(GetVector(in, &item_learned));
  const size_t rows = items.num_rows();
  if (item_m.size() != rows * dim_ || item_v.size() != rows * dim_ || item_learned.size() != rows) {
    return Corruption("seq state: item moments (" + std::to_string(item_m.size()) + ", " +
                      std::to_string(item_v.size()) + " values) and counts (" +
                      std::to_string(item_learned.size()) + ") do not fit " + std::to_string(rows) +
                      " rows of dim " + std::to_string(dim_));
  }
  // Every stored history holds at least its u64 length, which bounds a corrupt count.
  uint64_t num_users = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_users));
  if (num_users > in->remaining() / sizeof(uint64_t)) {
    return Corruption("seq state: " + std::to_string(num_users) + " histories in " +
                      std::to_string(in->remaining()) + " bytes");
  }
  std::vector<std::vector<ItemId>> histories(num_users);
  for (std::vector<ItemId>& history : histories) {
    LIVEREC_RETURN_IF_ERROR(GetVector(in, &history));
    if (history.size() > max_len_) {
      return Corruption("seq state: a history of " + std::to_string(history.size()) +
                        " items exceeds max_len " + std::to_string(max_len_));
    }
  }
  std::vector<uint32_t> untrained;
  LIVEREC_RETURN_IF_ERROR(GetVector(in, &untrained));
  if (untrained.size() > histories.size()) {
    return Corruption("seq state: untrained counts of " + std::to_string(untrained.size()) +
                      " users, histories of " + std::to_string(histories.size()));
  }
  uint64_t num_pending = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_pending));
  if (num_pending > in->remaining() / (sizeof(uint64_t) + sizeof(uint32_t))) {
    return Corruption("seq state: " + std::to_string(num_pending) + " pending examples in " +
                      std::to_string(in->remaining()) + " bytes");
  }
  std::vector<Example> pending(num_pending);
  for (Example& example : pending) {
    LIVEREC_RETURN_IF_ERROR(GetVector(in, &example.history));
    LIVEREC_RETURN_IF_ERROR(in->Get(&example.target));
    if (example.history.empty() || example.history.size() > max_len_ || example.target >= rows) {
      return Corruption("seq state: a pending example has " +
                        std::to_string(example.history.size()) + " history items and target " +
                        std::to_string(example.target) + " of " + std::to_string(rows) +
                        " item rows");
    }
  }

  negative_seed_ = negative_seed;
  num_learned_ = num_learned;
  adam_step_ = adam_step;
  net_ = std::move(net);
  net_m_ = std::move(net_m);
  net_v_ = std::move(net_v);
  items_ = std::move(items);
  item_m_ = std::move(item_m);
  item_v_ = std::move(item_v);
  item_learned_ = std::move(item_learned);
  histories_ = std::move(histories);
  untrained_ = std::move(untrained);
  pending_ = std::move(pending);
  return Status::Ok();
}

size_t SeqModel::MemoryBytes() const {
  ReadLock lock(&params_.mu);
  size_t bytes = sizeof(*this) + items_.MemoryBytes() + VectorBytes(item_m_) +
                 VectorBytes(item_v_) + VectorBytes(item_learned_) + 4 * NetworkBytes(net_) +
                 VectorBytes(histories_) + VectorBytes(untrained_) + VectorBytes(pending_) +
                 VectorBytes(slot_of_item_);
  for (const std::vector<ItemId>& history : histories_) bytes += VectorBytes(history);
  for (const Example& example : pending_) bytes += VectorBytes(example.history);
  return bytes;
}

}  // namespace liverec
