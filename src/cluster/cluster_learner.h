// ClusterLearner: one node's learning in a cluster on a stream engine (docs/cluster.md).
//
// The users are split into `partitions`; partition p's events are the records of the stream
// `events.<p>` (event_batch.h), appended by whichever node accepted them (Append). Each
// partition has one owner at a time (ownership.h: a lease per partition). The owner holds a
// copy of the model for the partition and learns its events as they come. A round ends on a
// partition when it has lasted `round` or holds `round_events` events: the owner publishes the
// round on `deltas.<p>` (round_log.h: the events up to a position, and the copy's delta of the
// shared parameters), fenced by its takeover record. When every partition has published round
// r, every node ends round r on each copy it holds, with every partition's delta in partition
// order and, for the parts kept whole (count models), the other partitions' events of the
// round (model/partitioned.h EndCopyRound). So each copy equals partition p's copy of the
// one-process simulation (PartitionedModel) fed the same rounds, bit for bit, on whichever node
// it lives and however often it moved.
//
//   Append --events.<p>--> owner of p: Learn ... Publish --deltas.<p>--> every node: EndRound
//
// Exactly once: a round holds the events of events.<p> after the previous round's position and
// up to its own, whoever learned them. An owner that lost its partition (its lease expired
// while it was paused, or it died) published nothing of what it learned since its last round;
// the new owner rebuilds the copy and learns those events in its first round. Rebuilding
// replays the partition's rounds from the round log and the event streams, from the
// partition's last snapshot on when there is one (snapshot_log.h; every `snapshot_rounds`
// rounds the owner writes one).
//
// The ownership protocol (heartbeats, lease renewals, acquisitions) runs on a thread of its
// own, so that a Step that takes long (a large round's end, a takeover's replay) does not let
// the node's leases lapse; Step acts on what it reported (takes acquired partitions over, drops
// lost ones) and hands over at safe points.
//
// A node's rounds advance together: a partition's owner learns nothing past its published round
// until the round ended everywhere, so rounds wait for the slowest partition, and for a dead
// owner's lease to expire. Staleness is one round.
//
// Thread safety: Append may be called from any thread; Step, Leave and the accessors from the
// thread that drives the node (the ownership thread is the node's own).
#ifndef LIVEREC_CLUSTER_CLUSTER_LEARNER_H_
#define LIVEREC_CLUSTER_CLUSTER_LEARNER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cluster/ownership.h"
#include "cluster/round_log.h"
#include "common/mutex.h"
#include "connect/connector.h"
#include "event/event.h"
#include "liverec/status.h"
#include "model/model.h"

namespace liverec::cluster {

struct ClusterLearnerOptions {
  std::string node;                           // this node's name
  uint32_t partitions = 16;                   // cluster.partitions
  std::chrono::milliseconds round{1000};      // a round ends after this long...
  size_t round_events = 0;                    // ...or holding this many events (0: no bound)
  std::chrono::milliseconds lease_ttl{3000};  // partition leases and membership
  std::chrono::milliseconds tick{0};          // the ownership protocol's period (0: ttl / 3)
  // Runs the ownership protocol on a thread of the node's own. false: Step runs it when due,
  // so a node is paused whole when it is not stepped (tests use that for a SIGSTOP within one
  // process), and a Step longer than lease_ttl loses the node's leases.
  bool ownership_thread = true;
  // Every this many rounds, the owner of each partition writes a snapshot of its copy as the
  // round ends (snapshot_log.h), and a takeover starts from the partition's last snapshot
  // instead of replaying its whole history. 0: no snapshots.
  uint64_t snapshot_rounds = 0;
};

// What a node has done, for its stats and for tests.
struct ClusterLearnerStats {
  uint64_t rounds_ended = 0;     // rounds ended on this node
  uint64_t events_learned = 0;   // events its owned copies learned (replays included)
  uint64_t events_replayed = 0;  // of which, while rebuilding a taken-over copy
  uint64_t takeovers = 0;
  uint64_t partitions_lost = 0;  // fenced out, or a lease that did not renew
  uint64_t snapshots_written = 0;
  uint64_t snapshots_loaded = 0;  // takeovers that started from a snapshot
  // Snapshots not written (the engine failed) or not usable (corrupt): learning goes on, and a
  // takeover replays from further back.
  uint64_t snapshot_failures = 0;
};

class ClusterLearner {
 public:
  // The model before any event, the same on every node. Open makes one and each copy is a
  // Clone of it (making a model can cost much more than copying one: fm draws every row).
  using ModelFactory = std::function<std::unique_ptr<Model>()>;

  // Opens four connections to the engine at `url` (appends, reads, control, ownership) and
  // starts the ownership thread. InvalidArgument
  // when the model cannot learn partitioned (CheckPartitionable) or an option is out of range.
  static StatusOr<std::unique_ptr<ClusterLearner>> Open(std::string_view url,
                                                        const connect::ConnectorOptions& engine,
                                                        ClusterLearnerOptions options,
                                                        ModelFactory make_model);
  ~ClusterLearner();

  // Appends `events` to partition p's stream as one record, once per `batch_id` (retries of
  // a batch id append nothing more), and returns once the engine holds it durably.
  Status Append(uint32_t partition, std::span<const Event> events, std::string_view batch_id);

  // One step of the node: what the ownership protocol changed (a partition acquired is taken
  // over and its copy rebuilt, one lost is dropped, one assigned elsewhere handed over once its
  // round is published), learning the owned partitions' new events, publishing rounds that
  // are due, and ending every round all partitions published. Waits up to `wait` for something
  // to do. An error of the engine is returned and the step may be retried; a copy is never
  // left half-changed. An error of the ownership protocol is returned by the next Step.
  Status Step(std::chrono::milliseconds wait);

  // Ends every owned partition's round now (a test's or a graceful leave's cut).
  void EndRoundNow() { force_round_ = true; }
  // Stops the ownership thread, publishes the owned partitions' rounds, releases them and stops
  // announcing this node.
  Status Leave();

  // The partitions this node owns and learns.
  std::vector<uint32_t> owned() const;
  // Partition p's copy, when this node owns it (else null).
  const Model* copy(uint32_t partition) const;
  // The round in progress on this node (rounds before it ended here).
  uint64_t round() const { return reader_.next_round(); }
  // The last round partition p published, with the events position it covers (round 0 before
  // any), as this node has read it.
  const RoundRecord& ended(uint32_t partition) const { return reader_.ended(partition); }
  const ClusterLearnerStats& stats() const { return stats_; }
  const std::string& node() const { return options_.node; }

 private:
  // A partition this node owns.
  struct Owned {
    PartitionWriter writer;
    std::unique_ptr<Model> copy;
    connect::Position learned_upto = 0;  // events.<p> learned into the copy
    std::vector<Event> round_events;     // learned in the round in progress
    bool published = false;              // the round in progress is published
    // The round is cut (learned_upto and the delta fixed) and its publish failed for a reason
    // other than a fence: the same record is published again, and nothing more is learned.
    bool closing = false;
    std::string closing_delta;
  };

  // One stream of events read in order, keeping what a read brought past the point it was
  // needed for the next use, so that the engine sees one sequential reader per stream (a NATS
  // reader restarted at another position costs a new consumer).
  struct EventFollower {
    std::string stream;
    connect::Position base = 0;         // `ahead` holds the stream's records in (base, read]
    connect::Position read = 0;         // the last record read from the engine
    std::deque<connect::Record> ahead;  // read, not yet used
    // Makes `ahead` start right after `after`, dropping what is at or before it (or reading
    // again from `after` when that was dropped before), and, when nothing is left, reads the
    // records after it (waiting up to `wait` for the first).
    Status Fill(connect::Connector* connector, connect::Position after,
                std::chrono::milliseconds wait);
  };

  ClusterLearner(std::string url, connect::ConnectorOptions engine, ClusterLearnerOptions options,
                 std::unique_ptr<Model> prototype, std::unique_ptr<connect::Connector> append,
                 std::unique_ptr<connect::Connector> read,
                 std::unique_ptr<connect::Connector> control,
                 std::unique_ptr<connect::Connector> ownership_connector,
                 std::unique_ptr<PartitionOwnership> ownership);

  std::chrono::milliseconds TickPeriod() const;
  // The ownership thread: Ticks every period until stopped, gathering what changed.
  void RunOwnership();
  void StopOwnership();
  // Acts on what the ownership protocol changed since the last call (Ticking first when it has
  // no thread), then returns its error, if any.
  Status TickOwnership();
  // Takes partition p over with its just acquired lease and rebuilds its copy.
  Status TakeOver(const HeldPartition& held);
  // Replays partition p's rounds before the round in progress into a fresh copy, from the
  // partition's last snapshot when there is one.
  Status Rebuild(uint32_t p, Owned* owned);
  // Writes a snapshot of every owned copy as `round` (every partition's record of it) has just
  // ended on it.
  void WriteSnapshots(const std::vector<RoundRecord>& round);
  Status LearnNew(uint32_t p, Owned* owned, std::chrono::milliseconds wait);
  Status PublishDue();
  // Publishes a partition's round: the cut one again while closing, else the copy's delta now.
  // Sets *fenced when another owner has the partition (the caller drops it); another error
  // leaves it closing and is returned.
  Status Publish(Owned* owned, bool* fenced);
  // Publishes the rounds whose publish failed before, and with `open_ones_too` every owned
  // partition's open round.
  Status PublishRounds(bool open_ones_too);
  // Ends the rounds every partition published, on every owned copy.
  Status EndRounds(std::chrono::milliseconds wait);
  // Ends one round on `copy` (partition p): the others' events come from `events`, each
  // partition's events of the round. With `ended` (a copy this round has just ended on), the
  // shared parameters are taken from it (EndCopyRoundFrom).
  Status EndRoundOn(uint32_t p, Model* copy, const Model* ended,
                    const std::vector<RoundRecord>& round,
                    const std::vector<std::vector<Event>>& events);
  // Appends the events of `follower`'s stream in (after, upto] to *out.
  static Status ReadEvents(connect::Connector* connector, EventFollower* follower,
                           connect::Position after, connect::Position upto,
                           std::vector<Event>* out);
  void Drop(uint32_t p);

  const std::string url_;  // for a rebuild's own connection
  const connect::ConnectorOptions engine_;
  const ClusterLearnerOptions options_;
  const std::unique_ptr<const Model> prototype_;  // the model before any event
  std::unique_ptr<connect::Connector> append_;    // Append, from any thread
  std::unique_ptr<connect::Connector> read_;      // the driving thread's reads
  std::unique_ptr<connect::Connector> control_;   // round records, takeovers
  std::unique_ptr<connect::Connector> ownership_connector_;
  std::unique_ptr<PartitionOwnership> ownership_;  // on ownership_connector_
  RoundReader reader_;
  std::map<uint32_t, Owned> owned_;
  // Leases acquired whose takeover failed (the engine did not answer): tried again each Tick.
  std::vector<HeldPartition> to_take_over_;
  std::vector<EventFollower> events_;  // per partition, on read_
  std::chrono::steady_clock::time_point round_started_;
  std::chrono::steady_clock::time_point next_tick_{};
  bool force_round_ = false;
  ClusterLearnerStats stats_;

  // What the ownership thread reported and Step has not acted on: partitions lost, then
  // partitions acquired (a partition lost and acquired again is in both, and is dropped before
  // it is taken anew); the first error since.
  Mutex changes_mu_;
  std::condition_variable changes_cv_;  // wakes the ownership thread to stop
  OwnershipChange changes_ LIVEREC_GUARDED_BY(changes_mu_);
  Status ownership_error_ LIVEREC_GUARDED_BY(changes_mu_);
  bool stopping_ LIVEREC_GUARDED_BY(changes_mu_) = false;
  std::thread ownership_thread_;
};

}  // namespace liverec::cluster

#endif  // LIVEREC_CLUSTER_CLUSTER_LEARNER_H_
