#include "model/partitioned.h"

#include <string>
#include <type_traits>
#include <utility>

#include "common/check.h"
#include "model/features.h"

namespace liverec {
namespace {

constexpr uint32_t kPartitionedTag = 0x50415254;  // "PART"
constexpr uint32_t kPartitionedVersion = 1;

// The start of the round holding `time_ms`, plus one round: its end.
int64_t RoundEnd(int64_t time_ms, int64_t round_ms) {
  int64_t start = time_ms / round_ms * round_ms;
  if (start > time_ms) start -= round_ms;  // floor for negative times
  return start + round_ms;
}

}  // namespace

uint32_t UserPartition(std::string_view user, uint32_t partitions) {
  LIVEREC_CHECK(partitions > 0);
  return static_cast<uint32_t>(FeatureHash(user) % partitions);
}

// DiscoverCapabilities takes a mutable model; these two only call const methods of what it finds.
Status CheckPartitionable(const Model& model) {
  const RoundLearner* rounds = DiscoverCapabilities(const_cast<Model&>(model)).rounds;
  if (rounds != nullptr) return rounds->CheckRounds();
  if (model.iterative()) {
    return InvalidArgument(std::string(model.type()) +
                           " learns by gradients and cannot learn partitioned, in rounds");
  }
  return Status::Ok();
}

void BeginCopyRounds(Model* copy) {
  if (RoundLearner* rounds = DiscoverCapabilities(*copy).rounds; rounds != nullptr) {
    rounds->BeginRound();
  }
}

std::string SaveCopyDelta(const Model& copy) {
  const RoundLearner* rounds = DiscoverCapabilities(const_cast<Model&>(copy)).rounds;
  if (rounds == nullptr) return {};
  BinaryWriter out;
  rounds->SaveRoundDelta(&out);
  return out.Release();
}

Status EndCopyRound(Model* copy, std::span<const std::string_view> deltas,
                    std::span<const Event> others) {
  RoundLearner* rounds = DiscoverCapabilities(*copy).rounds;
  if (rounds != nullptr) return rounds->EndRound(deltas, others);
  copy->LearnBatch(others);
  return Status::Ok();
}

Status EndCopyRoundFrom(Model* copy, const Model& ended, std::span<const std::string_view> deltas,
                        std::span<const Event> others) {
  RoundLearner* rounds = DiscoverCapabilities(*copy).rounds;
  const RoundLearner* from = DiscoverCapabilities(const_cast<Model&>(ended)).rounds;
  if (rounds != nullptr && from != nullptr) return rounds->EndRoundFrom(*from, deltas, others);
  return EndCopyRound(copy, deltas, others);
}

StatusOr<std::unique_ptr<PartitionedModel>> PartitionedModel::Create(std::unique_ptr<Model> model,
                                                                     uint32_t partitions,
                                                                     int64_t round_ms,
                                                                     PartitionOf partition_of) {
  if (partitions == 0) return InvalidArgument("partitions: 0, expected at least 1");
  if (round_ms < 0) {
    return InvalidArgument("round: " + std::to_string(round_ms) + " ms, expected >= 0");
  }
  LIVEREC_RETURN_IF_ERROR(CheckPartitionable(*model));
  std::vector<std::unique_ptr<Model>> copies;
  for (uint32_t p = 1; p < partitions; ++p) copies.push_back(model->Clone());
  copies.insert(copies.begin(), std::move(model));
  auto partitioned = std::unique_ptr<PartitionedModel>(
      new PartitionedModel(std::move(copies), round_ms, std::move(partition_of)));
  for (const std::unique_ptr<Model>& copy : partitioned->copies_) BeginCopyRounds(copy.get());
  return partitioned;
}

PartitionedModel::PartitionedModel(std::vector<std::unique_ptr<Model>> copies, int64_t round_ms,
                                   PartitionOf partition_of)
    : copies_(std::move(copies)),
      round_events_(copies_.size()),
      round_ms_(round_ms),
      partition_of_(std::move(partition_of)) {}

uint32_t PartitionedModel::PartitionOfUser(UserId user) const {
  const uint32_t p = partition_of_(user);
  LIVEREC_CHECK(p < partitions()) << "user " << user << " in partition " << p << " of "
                                  << partitions();
  return p;
}

void PartitionedModel::Learn(const Event& event) {
  if (round_ms_ > 0) {
    if (round_has_events_ && event.time_ms >= round_end_ms_) EndRound();
    if (!round_has_events_) round_end_ms_ = RoundEnd(event.time_ms, round_ms_);
  }
  const uint32_t p = PartitionOfUser(event.user);
  copies_[p]->Learn(event);
  round_events_[p].push_back(event);
  round_has_events_ = true;
}

void PartitionedModel::EndRound() {
  if (!round_has_events_) return;
  std::vector<std::string> deltas;
  for (const std::unique_ptr<Model>& copy : copies_) deltas.push_back(SaveCopyDelta(*copy));
  const std::vector<std::string_view> views(deltas.begin(), deltas.end());
  std::vector<Event> others;
  for (uint32_t p = 0; p < partitions(); ++p) {
    others.clear();
    for (uint32_t q = 0; q < partitions(); ++q) {
      if (q != p) others.insert(others.end(), round_events_[q].begin(), round_events_[q].end());
    }
    // The first copy adds the deltas; the others take what they give from it.
    const Status ended = p == 0 ? EndCopyRound(copies_[p].get(), views, others)
                                : EndCopyRoundFrom(copies_[p].get(), *copies_[0], views, others);
    LIVEREC_CHECK(ended.ok()) << ended.ToString();  // the copies' own deltas
  }
  for (std::vector<Event>& partition : round_events_) partition.clear();
  round_has_events_ = false;
  ++rounds_;
}

void PartitionedModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  copies_[PartitionOfUser(user)]->Score(user, items, out);
}

std::unique_ptr<Model> PartitionedModel::Clone() const {
  std::vector<std::unique_ptr<Model>> copies;
  for (const std::unique_ptr<Model>& copy : copies_) copies.push_back(copy->Clone());
  auto clone = std::unique_ptr<PartitionedModel>(
      new PartitionedModel(std::move(copies), round_ms_, partition_of_));
  // Each copy's clone carries its round (the base of the shared parameters) along.
  clone->round_events_ = round_events_;
  clone->round_has_events_ = round_has_events_;
  clone->round_end_ms_ = round_end_ms_;
  clone->rounds_ = rounds_;
  return clone;
}

void PartitionedModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kPartitionedTag);
  out->Put<uint32_t>(kPartitionedVersion);
  out->Put<uint32_t>(partitions());
  out->Put<int64_t>(round_ms_);
  out->Put<uint8_t>(round_has_events_ ? 1 : 0);
  out->Put<int64_t>(round_end_ms_);
  out->Put<uint64_t>(rounds_);
  static_assert(std::is_trivially_copyable_v<Event>);
  for (const std::vector<Event>& partition : round_events_) {
    out->Put<uint64_t>(partition.size());
    out->PutBytes(partition.data(), partition.size() * sizeof(Event));
  }
  for (const std::unique_ptr<Model>& copy : copies_) copy->Save(out);
}

Status PartitionedModel::Load(BinaryReader* in) {
  uint32_t tag = 0;
  uint32_t version = 0;
  uint32_t partitions = 0;
  int64_t round_ms = 0;
  uint8_t has_events = 0;
  int64_t round_end_ms = 0;
  uint64_t rounds = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&tag));
  if (tag != kPartitionedTag) return Corruption("partitioned model: wrong type tag");
  LIVEREC_RETURN_IF_ERROR(in->Get(&version));
  if (version != kPartitionedVersion) {
    return Corruption("partitioned model: unsupported format version " + std::to_string(version));
  }
  LIVEREC_RETURN_IF_ERROR(in->Get(&partitions));
  LIVEREC_RETURN_IF_ERROR(in->Get(&round_ms));
  LIVEREC_RETURN_IF_ERROR(in->Get(&has_events));
  LIVEREC_RETURN_IF_ERROR(in->Get(&round_end_ms));
  LIVEREC_RETURN_IF_ERROR(in->Get(&rounds));
  if (partitions != this->partitions() || round_ms != round_ms_) {
    return InvalidArgument("partitioned model: saved with " + std::to_string(partitions) +
                           " partitions and rounds of " + std::to_string(round_ms) +
                           " ms, this one has " + std::to_string(this->partitions()) + " and " +
                           std::to_string(round_ms_) + " ms");
  }
  if (has_events > 1) return Corruption("partitioned model: bad round flag");
  std::vector<std::vector<Event>> round_events(partitions);
  for (std::vector<Event>& partition : round_events) {
    uint64_t n = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&n));
    if (n > in->remaining() / sizeof(Event)) {
      return Corruption("partitioned model: " + std::to_string(n) + " events of a round in " +
                        std::to_string(in->remaining()) + " bytes");
    }
    partition.resize(n);
    LIVEREC_RETURN_IF_ERROR(in->GetBytes(partition.data(), n * sizeof(Event)));
  }
  std::vector<std::unique_ptr<Model>> loaded;
  for (const std::unique_ptr<Model>& copy : copies_) {
    std::unique_ptr<Model> next = copy->Clone();
    LIVEREC_RETURN_IF_ERROR(next->Load(in));
    loaded.push_back(std::move(next));
  }
  copies_ = std::move(loaded);
  for (const std::unique_ptr<Model>& copy : copies_) BeginCopyRounds(copy.get());
  round_events_ = std::move(round_events);
  round_has_events_ = has_events != 0;
  round_end_ms_ = round_end_ms;
  rounds_ = rounds;
  return Status::Ok();
}

size_t PartitionedModel::MemoryBytes() const {
  size_t bytes = sizeof(*this);
  for (const std::unique_ptr<Model>& copy : copies_) bytes += copy->MemoryBytes();
  for (const std::vector<Event>& partition : round_events_) {
    bytes += partition.capacity() * sizeof(Event);
  }
  return bytes;
}

}  // namespace liverec
