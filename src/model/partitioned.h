// PartitionedModel: the one-process simulation of a cluster's learning (docs/cluster.md).
//
// A cluster splits the users into `partitions` by a hash of their name (UserPartition); each
// partition holds a copy of the model and learns its own users' events, and at the end of each
// round the copies exchange the change of their shared parameters and add them up in partition
// order (RoundLearner, model/capabilities.h). Which node owns which partition does not enter:
// given the same events, partitions and round boundaries, a cluster of any size computes these
// copies, bit for bit. This model is those copies in one process: Learn goes to the copy of the
// event's user's partition, Score reads the copy of the user's partition, and a round ends when
// an event reaches the next multiple of round_ms of stream time (an event at or past the round's
// end first ends it; rounds without events are skipped), or when EndRound is called.
//
// A count model (popularity, item_knn, transitions) learns no gradients to exchange; it is kept
// whole, as every node of a cluster keeps it: each copy learns its own partition's events as
// they come, and at the round's end every other partition's events of the round, in partition
// order. Counts added in another order are the same sums: exactly so for counts without decay,
// to the last bits of a double with it. An ensemble keeps its count members whole the same way
// and exchanges its mf and fm members' parameters (RoundLearner).
//
// What a partitioned model costs in quality: within a round, a partition learns against the
// other partitions' shared parameters as of the round's start; docs/quality.md measures it.
//
// Thread safety: as Model.
#ifndef LIVEREC_MODEL_PARTITIONED_H_
#define LIVEREC_MODEL_PARTITIONED_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "liverec/status.h"
#include "model/capabilities.h"
#include "model/model.h"

namespace liverec {

// The partition of the user named `user` (its external id) among `partitions` > 0: a stable
// hash (model/features.h FeatureHash), the same on every node and in every run.
uint32_t UserPartition(std::string_view user, uint32_t partitions);

// What one partition's copy does in rounds, the same for this simulation and for a cluster's
// node (cluster/cluster_learner.h):
//   - CheckPartitionable: Ok when `model` can learn partitioned (a count model, or one whose
//     RoundLearner::CheckRounds allows it); InvalidArgument naming what stands in the way.
//   - BeginCopyRounds: starts the first round on a copy.
//   - SaveCopyDelta: the copy's change of the shared parameters in this round (empty for a
//     count model, which has none).
//   - EndCopyRound: ends the round on a copy: its RoundLearner adds every partition's delta
//     (in partition order); a count model learns `others`, every other partition's events of
//     the round in partition order. Corruption on a delta the model would not write.
//   - EndCopyRoundFrom: the same on a further copy, given `ended`, a copy (of the same model,
//     another partition) EndCopyRound has just ended this round on with the same deltas: the
//     shared parameters are taken from it (RoundLearner::EndRoundFrom), so deltas are added
//     once however many copies there are. Bit for bit what EndCopyRound would do.
Status CheckPartitionable(const Model& model);
void BeginCopyRounds(Model* copy);
std::string SaveCopyDelta(const Model& copy);
Status EndCopyRound(Model* copy, std::span<const std::string_view> deltas,
                    std::span<const Event> others);
Status EndCopyRoundFrom(Model* copy, const Model& ended, std::span<const std::string_view> deltas,
                        std::span<const Event> others);

class PartitionedModel final : public Model {
 public:
  // The partition of a user id; its values below `partitions`.
  using PartitionOf = std::function<uint32_t(UserId)>;

  // `partitions` copies of `model` (as it is: usually fresh); round_ms > 0, or 0 for rounds
  // ended only by EndRound. InvalidArgument when partitions is 0, or the
  // model cannot learn in rounds: it learns by gradients and offers no RoundLearner (seq), or
  // its settings forbid it (RoundLearner::CheckRounds).
  static StatusOr<std::unique_ptr<PartitionedModel>> Create(std::unique_ptr<Model> model,
                                                            uint32_t partitions, int64_t round_ms,
                                                            PartitionOf partition_of);

  std::string_view type() const override { return copies_.front()->type(); }
  // Ends the round first when the event is at or past its end.
  void Learn(const Event& event) override;
  void Score(UserId user, std::span<const ItemId> items, float* out) const override;
  bool iterative() const override { return copies_.front()->iterative(); }
  std::unique_ptr<Model> Clone() const override;
  // Clone is exact mid-round too. Save writes the round's place, its events and every copy;
  // Load is exact at a round's end, and mid-round begins a new round of the exchanged
  // parameters where it loads (the round's base is not saved: RoundLearner).
  void Save(BinaryWriter* out) const override;
  Status Load(BinaryReader* in) override;
  size_t MemoryBytes() const override;

  // Ends the current round: every copy's shared parameters become the round's base plus each
  // copy's change, in partition order. A round without events is a no-op.
  void EndRound();

  uint32_t partitions() const { return static_cast<uint32_t>(copies_.size()); }
  // True for a count model, kept whole (see above).
  bool whole() const { return DiscoverCapabilities(*copies_.front()).rounds == nullptr; }
  // The copy of partition p.
  const Model& copy(uint32_t p) const { return *copies_[p]; }
  // Rounds ended so far with events in them.
  uint64_t rounds() const { return rounds_; }

 private:
  PartitionedModel(std::vector<std::unique_ptr<Model>> copies, int64_t round_ms,
                   PartitionOf partition_of);
  uint32_t PartitionOfUser(UserId user) const;

  std::vector<std::unique_ptr<Model>> copies_;    // one per partition
  std::vector<std::vector<Event>> round_events_;  // per partition, the round's events
  int64_t round_ms_;
  PartitionOf partition_of_;
  bool round_has_events_ = false;
  int64_t round_end_ms_ = 0;  // stream time at which the current round ends (round_ms_ > 0)
  uint64_t rounds_ = 0;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_PARTITIONED_H_
