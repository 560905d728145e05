// PartitionOwnership: the control plane that decides which node owns which partition and holds
// the partitions' leases (docs/cluster.md, "Ownership"). Each node runs one; its control thread
// calls Tick about every lease_ttl / 3. A Tick announces the node, learns who else is alive,
// renews the leases it holds and acquires those of the partitions assigned to it. It does not
// make ownership safe: a new owner writes a fence record with AppendIfLast after acquiring
// (round_log.h), and that record, not the lease, keeps a paused former owner's writes
// out. A lease only says who should be writing.
//
// Names in the engine (under the connector's prefix):
//   - lease "partition.<p>" per partition, holder = the node's name;
//   - stream "nodes": membership. Every Tick appends "alive <node> <partitions>"; Leave appends
//     "leave <node>". Each node reads the stream from where it stopped and notes, per name, the
//     time on its own steady clock at which it read that name's latest record. A node is a
//     member while that time is within lease_ttl, and from the moment its "leave" is read it is
//     not. A node always counts itself from its first Tick.
//   - consumer "nodes-trim" on "nodes": the trim point. About once per lease_ttl a node commits
//     the position it had read by a time at least lease_ttl ago, and trims. Records up to there
//     were appended over lease_ttl ago, and a live node has appended since, so nobody needs them.
//     The commit goes to one shared consumer, not one per node: Trim keeps what any consumer that
//     ever committed has not committed, so a node that left or died would pin the stream forever.
//     The stream holds about 2 1/3 lease_ttl of heartbeats at most (7 records per node at a
//     Tick every lease_ttl / 3).
//   Why a stream rather than a lease per node ("node.<name>"): the Connector cannot list leases
//   or read one without taking it, so a lease per node still needs a stream to learn the names,
//   and testing another node's liveness would mean acquiring its lease. One append and one read
//   per Tick do both. The cost: liveness is judged on each reader's clock, at the moment it reads
//   a record, so a node reading a backlog (just started, or resumed after a pause) counts a
//   name whose last record it finds there as live for up to lease_ttl more; it then acquires less
//   than its share (another node's, still leased) until that lapses. Leases stay exclusive.
//   Node names must be unique among running nodes: a node restarted under its name within
//   lease_ttl takes back its own unexpired leases with their tokens (Acquire renews for the same
//   holder); its fence record still orders it after its former self.
//
// Assignment: a pure function of (partitions, members), so every node that sees the same members
// computes the same owner for every partition. It is rendezvous (highest random weight) hashing
// with exact balance: each (partition, node) pair gets a weight, a 64-bit mix of FNV-1a of the
// node's name and the partition (the same on every machine and in every run); the pairs are
// taken by falling weight, and a pair is granted when its partition is still free and its node
// is below its quota. Quotas are floor(P/N) for every node and one more for the first P mod N
// nodes to fill up. So with N members every node owns floor(P/N) or ceil(P/N) partitions.
// Measured over 1000 name sets each:
//   - plain rendezvous is not balanced: 16 partitions over 3 nodes, the largest share minus the
//     smallest averaged 3.9 partitions and reached 12; 64 over 8: 7.9 on average, up to 17;
//   - this assignment: spread 1 or 0 always. Moves when a 4th node joins 3 (P = 16): 5.2 on
//     average, of which 4.0 go to the newcomer (the unavoidable minimum) and 1.2 shift between
//     old nodes as quotas fall; when one of 3 leaves: 5.8 (minimum 5.3). 8 -> 9 nodes with
//     P = 64: 10.5 moves (minimum 7.1); 8 -> 7: 12.0 (minimum 8). Plain rendezvous moves exactly
//     the minimum;
//   - dealing partitions round-robin over sorted members (balanced too) moved 11.4 of 16 on the
//     3 -> 4 join in a Python twin: nearly everything, as a new name shifts the deal.
// Balance wins over the extra moves (a third to a half more than the minimum): an owner carries its
// partitions' learning, so a node with 9 partitions of 16 would set the pace of every round, while
// a move costs one handover.
//
// Handing over: when a node joins, a partition's old owner keeps renewing it and lists it in
// ToHandOver; the caller publishes its work at a safe point and calls Release; the new owner
// acquires it at its next Tick (AlreadyExists until then is not an error). A node that stops
// ticking loses its leases after lease_ttl; the others drop it from their members after lease_ttl
// and acquire its partitions as they expire. Leave releases at once instead.
//
// Thread safety: all methods may be called from any thread. Tick, Release and Leave are
// serialized with each other (each waits for the one in progress); held, members and
// ToHandOver read the state of the last completed step and do not wait for engine calls.
#ifndef LIVEREC_CLUSTER_OWNERSHIP_H_
#define LIVEREC_CLUSTER_OWNERSHIP_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "connect/connector.h"
#include "liverec/status.h"

namespace liverec::cluster {

struct OwnershipOptions {
  // This node's name: a Connector name (letters, digits, '_' and '-', in dot-separated parts).
  // The holder of its leases and its name among the members.
  std::string node;
  // How many partitions the users are split into; the same on every node (a node announcing
  // another count is not counted as a member, and Tick says so). 16: a few per node on a small
  // cluster, few enough that every Tick renews them all quickly.
  uint32_t partitions = 16;
  // Time to live of every lease and of a membership heartbeat. A node that stops is replaced
  // after about this long; Tick must run more often (lease_ttl / 3 leaves two missed Ticks of
  // slack). 3 s: a failover in seconds, while a GC-free process rarely stalls that long.
  std::chrono::milliseconds lease_ttl{3000};
};

// The most partitions a cluster may have: each is a lease its owner renews at every Tick, one
// engine round trip each, so the count bounds how long a Tick of a small cluster takes.
inline constexpr uint32_t kMaxPartitions = 4096;
// The membership stream, and the consumer whose commits trim it.
inline constexpr std::string_view kMembersStream = "nodes";
inline constexpr std::string_view kMembersTrimConsumer = "nodes-trim";

struct HeldPartition {
  uint32_t partition = 0;
  connect::Lease lease;
};

// What one Tick changed. A partition may be both lost and acquired in one Tick (its lease lapsed
// while nobody took it): the caller drops it first, then takes it anew with the higher token.
struct OwnershipChange {
  std::vector<HeldPartition> acquired;
  std::vector<uint32_t> lost;
};

class PartitionOwnership {
 public:
  // kInvalidArgument naming the field and value for a bad node name, a partition count of 0 or
  // above kMaxPartitions, or a lease_ttl that is not positive. `connector` is not owned and
  // must outlive the result; the ownership's engine calls go through it.
  static StatusOr<std::unique_ptr<PartitionOwnership>> Create(connect::Connector* connector,
                                                              OwnershipOptions options);

  PartitionOwnership(const PartitionOwnership&) = delete;
  PartitionOwnership& operator=(const PartitionOwnership&) = delete;

  // One step: (1) appends this node's heartbeat; (2) reads the membership stream and recomputes
  // the assignment when the members changed; (3) renews every held lease, a fenced one is lost;
  // (4) acquires each partition assigned here that is not held (one another holder still has is
  // skipped: AlreadyExists is retried at the next Tick); (5) about once per lease_ttl, trims the
  // membership stream. Sets `*change` (cleared first) to what this step changed, also when it
  // fails. On an engine error it stops at that step and returns the error; a held lease whose
  // last successful renewal was sent lease_ttl or more ago is then reported lost, because the
  // engine's clock has expired it by now even though the engine could not say so.
  // kFailedPrecondition after Leave, and when a member announces another partition count (after
  // doing the whole step without that member).
  Status Tick(OwnershipChange* change);

  // The held partitions now assigned to another node, ascending. The caller publishes their
  // work, then calls Release for each.
  std::vector<uint32_t> ToHandOver() const;

  // Gives up the lease of `partition`. kInvalidArgument for a partition out of range, kNotFound
  // when it is not held; an engine error leaves it held (renewed by Tick; retry the Release). A
  // partition still assigned to this node is acquired again by the next Tick.
  Status Release(uint32_t partition);

  // Leaves the cluster: announces "leave", so the others drop this node at their next Tick
  // rather than after lease_ttl, and releases every held lease. The caller publishes the work
  // of every held partition first. Afterwards Tick refuses; an engine error leaves the leases
  // it could not release held (calling Leave again retries them; else they expire).
  Status Leave();

  // The leases held as of the last step, by partition.
  std::vector<HeldPartition> held() const;
  // The members as of the last Tick, sorted; this node among them from its first Tick. Empty
  // after Leave.
  std::vector<std::string> members() const;
  const OwnershipOptions& options() const { return options_; }

  // The owner of every partition 0..partitions-1 among `members` (any order; duplicates count
  // once), as described at the top: rendezvous weights with quotas floor/ceil(P/N). Empty
  // names when `members` is empty. Pure and the same on every machine.
  static std::vector<std::string> Assignment(uint32_t partitions,
                                             std::span<const std::string> members);
  // Assignment(partitions, members)[partition]; computes the whole assignment.
  static std::string AssignedNode(uint32_t partition, uint32_t partitions,
                                  std::span<const std::string> members);
  // The weight of (partition, node) in the rendezvous order: a 64-bit mix of FNV-1a of `node`
  // and `partition`.
  static uint64_t Weight(uint32_t partition, std::string_view node);

 private:
  using Clock = std::chrono::steady_clock;
  struct HeldLease {
    connect::Lease lease;
    // When the last successful renewal (or the acquisition) was sent: the engine's expiry is
    // no earlier than this plus lease_ttl.
    Clock::time_point renewed_at;
  };

  PartitionOwnership(connect::Connector* connector, OwnershipOptions options);

  // The steps of Tick, in order.
  Status Heartbeat() LIVEREC_REQUIRES(op_mu_);
  // Reads the membership stream from read_position_ and updates heard_.
  Status ReadMembers() LIVEREC_REQUIRES(op_mu_);
  // members_: the names heard within lease_ttl, and this node; the assignment on a change.
  void UpdateMembers(Clock::time_point now) LIVEREC_REQUIRES(op_mu_) LIVEREC_EXCLUDES(mu_);
  Status RenewHeld(OwnershipChange* change) LIVEREC_REQUIRES(op_mu_) LIVEREC_EXCLUDES(mu_);
  Status AcquireAssigned(OwnershipChange* change) LIVEREC_REQUIRES(op_mu_) LIVEREC_EXCLUDES(mu_);
  Status TrimMembers() LIVEREC_REQUIRES(op_mu_);
  // Drops the held leases whose last renewal was sent lease_ttl or more before `now`.
  void ExpireUnrenewed(Clock::time_point now, OwnershipChange* change) LIVEREC_EXCLUDES(mu_);

  connect::Connector* const connector_;
  const OwnershipOptions options_;

  // Serializes Tick, Release and Leave, whose engine calls run without mu_.
  mutable Mutex op_mu_;
  // The membership stream as this node reads it: its position, when each name's latest
  // record was read, and (time, position read by then) marks for trimming.
  connect::Position read_position_ LIVEREC_GUARDED_BY(op_mu_) = 0;
  std::map<std::string, Clock::time_point> heard_ LIVEREC_GUARDED_BY(op_mu_);
  std::deque<std::pair<Clock::time_point, connect::Position>> read_marks_
      LIVEREC_GUARDED_BY(op_mu_);
  connect::Position trimmed_to_ LIVEREC_GUARDED_BY(op_mu_) = 0;
  Clock::time_point last_trim_ LIVEREC_GUARDED_BY(op_mu_);
  // Members announcing another partition count in the last read, for Tick's error.
  std::string mismatch_ LIVEREC_GUARDED_BY(op_mu_);
  bool leave_announced_ LIVEREC_GUARDED_BY(op_mu_) = false;

  // The state the accessors read; written with op_mu_ held too.
  mutable Mutex mu_;
  bool left_ LIVEREC_GUARDED_BY(mu_) = false;
  std::vector<std::string> members_ LIVEREC_GUARDED_BY(mu_);
  std::vector<std::string> assignment_ LIVEREC_GUARDED_BY(mu_);  // one owner per partition
  std::map<uint32_t, HeldLease> held_ LIVEREC_GUARDED_BY(mu_);
};

}  // namespace liverec::cluster

#endif  // LIVEREC_CLUSTER_OWNERSHIP_H_
