#include "cluster/ownership.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace liverec::cluster {
namespace {

using connect::Lease;
using connect::Position;
using connect::Record;

// How many membership records one Read asks for; a backlog takes several.
constexpr size_t kReadBatch = 512;

std::string LeaseName(uint32_t partition) { return "partition." + std::to_string(partition); }

// splitmix64's finalizer: FNV-1a alone mixes its last bytes poorly into the high bits, which
// decide the order of weights.
uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t WeightOfHash(uint32_t partition, uint64_t node_hash) {
  return Mix64(node_hash ^ Mix64(partition));
}

// A membership record: "alive <node> <partitions>" or "leave <node>".
struct Announcement {
  bool alive = false;
  std::string node;
  uint32_t partitions = 0;
};

std::string AliveRecord(const OwnershipOptions& options) {
  return "alive " + options.node + " " + std::to_string(options.partitions);
}

// False for a record of another form: a later version's records are skipped, not errors, so
// nodes of two versions can share the stream during a rolling upgrade.
bool ParseAnnouncement(std::string_view payload, Announcement* out) {
  const size_t space = payload.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view kind = payload.substr(0, space);
  std::string_view rest = payload.substr(space + 1);
  if (kind == "leave") {
    if (rest.empty() || rest.find(' ') != std::string_view::npos) return false;
    *out = Announcement{false, std::string(rest), 0};
    return true;
  }
  if (kind != "alive") return false;
  const size_t second = rest.find(' ');
  if (second == std::string_view::npos || second == 0) return false;
  const std::string_view count = rest.substr(second + 1);
  uint32_t partitions = 0;
  const auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), partitions);
  if (error != std::errc() || end != count.data() + count.size()) return false;
  *out = Announcement{true, std::string(rest.substr(0, second)), partitions};
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<PartitionOwnership>> PartitionOwnership::Create(
    connect::Connector* connector, OwnershipOptions options) {
  LIVEREC_RETURN_IF_ERROR(connect::CheckName("node", options.node));
  if (options.partitions == 0 || options.partitions > kMaxPartitions) {
    return InvalidArgument("partitions " + std::to_string(options.partitions) + ": must be 1 to " +
                           std::to_string(kMaxPartitions));
  }
  if (options.lease_ttl.count() <= 0) {
    return InvalidArgument("lease_ttl " + std::to_string(options.lease_ttl.count()) +
                           " ms: must be positive");
  }
  if (connector == nullptr) return InvalidArgument("connector: null");
  return std::unique_ptr<PartitionOwnership>(new PartitionOwnership(connector, std::move(options)));
}

PartitionOwnership::PartitionOwnership(connect::Connector* connector, OwnershipOptions options)
    : connector_(connector), options_(std::move(options)) {}

Status PartitionOwnership::Tick(OwnershipChange* change) {
  change->acquired.clear();
  change->lost.clear();
  MutexLock op(&op_mu_);
  {
    MutexLock lock(&mu_);
    if (left_) {
      return FailedPrecondition("node '" + options_.node + "' has left the cluster");
    }
  }
  Status status = Heartbeat();
  if (status.ok()) status = ReadMembers();
  if (!status.ok()) {
    ExpireUnrenewed(Clock::now(), change);
    return status;
  }
  UpdateMembers(Clock::now());
  LIVEREC_RETURN_IF_ERROR(RenewHeld(change));
  LIVEREC_RETURN_IF_ERROR(AcquireAssigned(change));
  LIVEREC_RETURN_IF_ERROR(TrimMembers());
  if (!mismatch_.empty()) {
    return FailedPrecondition("node '" + options_.node + "' has " +
                              std::to_string(options_.partitions) +
                              " partitions, but these members announce another count and are "
                              "left out: " +
                              mismatch_);
  }
  return Status::Ok();
}

Status PartitionOwnership::Heartbeat() {
  const std::vector<std::string> payload = {AliveRecord(options_)};
  std::vector<Position> positions;
  return connector_->Append(kMembersStream, "", payload, &positions)
      .WithPrefix("node '" + options_.node + "': heartbeat on '" + std::string(kMembersStream) +
                  "'");
}

Status PartitionOwnership::ReadMembers() {
  mismatch_.clear();
  std::map<std::string, uint32_t> mismatched;
  while (true) {
    std::vector<Record> records;
    LIVEREC_RETURN_IF_ERROR(connector_
                                ->Read(kMembersStream, read_position_, kReadBatch,
                                       std::chrono::milliseconds(0), &records)
                                .WithPrefix("node '" + options_.node + "': reading '" +
                                            std::string(kMembersStream) + "' after " +
                                            std::to_string(read_position_)));
    // Stamped when the read returns: the records existed by then, which is all this node
    // knows of their age.
    const Clock::time_point now = Clock::now();
    for (const Record& record : records) {
      read_position_ = record.position;
      Announcement announcement;
      if (!ParseAnnouncement(record.payload, &announcement)) continue;
      if (!announcement.alive) {
        heard_.erase(announcement.node);
        mismatched.erase(announcement.node);
      } else if (announcement.partitions != options_.partitions) {
        heard_.erase(announcement.node);
        mismatched[announcement.node] = announcement.partitions;
      } else {
        heard_[announcement.node] = now;
        mismatched.erase(announcement.node);
      }
    }
    read_marks_.emplace_back(now, read_position_);
    if (records.size() < kReadBatch) break;
  }
  for (const auto& [node, partitions] : mismatched) {
    if (!mismatch_.empty()) mismatch_ += ", ";
    mismatch_ += "'" + node + "' (" + std::to_string(partitions) + ")";
  }
  return Status::Ok();
}

void PartitionOwnership::UpdateMembers(Clock::time_point now) {
  std::vector<std::string> members = {options_.node};
  for (auto it = heard_.begin(); it != heard_.end();) {
    if (now - it->second >= options_.lease_ttl) {
      it = heard_.erase(it);
      continue;
    }
    if (it->first != options_.node) members.push_back(it->first);
    ++it;
  }
  std::sort(members.begin(), members.end());
  MutexLock lock(&mu_);
  if (members == members_) return;
  assignment_ = Assignment(options_.partitions, members);
  members_ = std::move(members);
}

Status PartitionOwnership::RenewHeld(OwnershipChange* change) {
  std::vector<std::pair<uint32_t, Lease>> leases;
  {
    MutexLock lock(&mu_);
    for (const auto& [partition, held] : held_) leases.emplace_back(partition, held.lease);
  }
  for (const auto& [partition, lease] : leases) {
    const Clock::time_point sent = Clock::now();
    const Status status = connector_->Renew(lease, options_.lease_ttl);
    MutexLock lock(&mu_);
    if (status.ok()) {
      held_[partition].renewed_at = sent;
      continue;
    }
    if (status.code() == StatusCode::kFailedPrecondition) {
      held_.erase(partition);
      change->lost.push_back(partition);
      continue;
    }
    // The engine did not answer: every further call would wait out the timeout too.
    lock.Unlock();
    ExpireUnrenewed(Clock::now(), change);
    return status.WithPrefix("node '" + options_.node + "': renewing '" + lease.name + "'");
  }
  return Status::Ok();
}

Status PartitionOwnership::AcquireAssigned(OwnershipChange* change) {
  std::vector<uint32_t> wanted;
  {
    MutexLock lock(&mu_);
    for (uint32_t p = 0; p < options_.partitions; ++p) {
      if (assignment_[p] == options_.node && held_.count(p) == 0) wanted.push_back(p);
    }
  }
  for (const uint32_t partition : wanted) {
    const Clock::time_point sent = Clock::now();
    StatusOr<Lease> lease =
        connector_->Acquire(LeaseName(partition), options_.node, options_.lease_ttl);
    if (!lease.ok()) {
      // Its former owner still holds it: handing it over, or not yet expired.
      if (lease.status().code() == StatusCode::kAlreadyExists) continue;
      return lease.status().WithPrefix("node '" + options_.node + "': acquiring '" +
                                       LeaseName(partition) + "'");
    }
    change->acquired.push_back(HeldPartition{partition, *lease});
    MutexLock lock(&mu_);
    held_[partition] = HeldLease{std::move(lease).value(), sent};
  }
  return Status::Ok();
}

Status PartitionOwnership::TrimMembers() {
  const Clock::time_point now = Clock::now();
  // The newest mark read at least lease_ttl ago: every record up to it is older than that.
  Position old_enough = 0;
  while (!read_marks_.empty() && now - read_marks_.front().first >= options_.lease_ttl) {
    old_enough = read_marks_.front().second;
    read_marks_.pop_front();
  }
  if (old_enough != 0) {
    // Keep the mark: it is still the newest old enough one until a later mark ages.
    read_marks_.emplace_front(now - options_.lease_ttl, old_enough);
  }
  if (old_enough <= trimmed_to_ || now - last_trim_ < options_.lease_ttl) return Status::Ok();
  const std::string where =
      "node '" + options_.node + "': trimming '" + std::string(kMembersStream) + "'";
  LIVEREC_RETURN_IF_ERROR(
      connector_->Commit(kMembersStream, kMembersTrimConsumer, old_enough).WithPrefix(where));
  LIVEREC_RETURN_IF_ERROR(connector_->Trim(kMembersStream).status().WithPrefix(where));
  trimmed_to_ = old_enough;
  last_trim_ = now;
  return Status::Ok();
}

void PartitionOwnership::ExpireUnrenewed(Clock::time_point now, OwnershipChange* change) {
  MutexLock lock(&mu_);
  for (auto it = held_.begin(); it != held_.end();) {
    if (now - it->second.renewed_at >= options_.lease_ttl) {
      change->lost.push_back(it->first);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<uint32_t> PartitionOwnership::ToHandOver() const {
  MutexLock lock(&mu_);
  std::vector<uint32_t> partitions;
  for (const auto& [partition, held] : held_) {
    if (assignment_[partition] != options_.node) partitions.push_back(partition);
  }
  return partitions;
}

Status PartitionOwnership::Release(uint32_t partition) {
  if (partition >= options_.partitions) {
    return InvalidArgument("partition " + std::to_string(partition) + ": must be below " +
                           std::to_string(options_.partitions));
  }
  MutexLock op(&op_mu_);
  Lease lease;
  {
    MutexLock lock(&mu_);
    const auto it = held_.find(partition);
    if (it == held_.end()) {
      return NotFound("partition " + std::to_string(partition) + " is not held by node '" +
                      options_.node + "'");
    }
    lease = it->second.lease;
  }
  LIVEREC_RETURN_IF_ERROR(connector_->Release(lease).WithPrefix(
      "node '" + options_.node + "': releasing '" + lease.name + "'"));
  MutexLock lock(&mu_);
  held_.erase(partition);
  return Status::Ok();
}

Status PartitionOwnership::Leave() {
  MutexLock op(&op_mu_);
  {
    MutexLock lock(&mu_);
    left_ = true;
  }
  Status first_error;
  if (!leave_announced_) {
    // Announced before the releases, so that a node which finds a lease free also finds this
    // node gone and counts the partition as its own.
    const std::vector<std::string> payload = {"leave " + options_.node};
    std::vector<Position> positions;
    first_error = connector_->Append(kMembersStream, "", payload, &positions)
                      .WithPrefix("node '" + options_.node + "': announcing its leave");
    leave_announced_ = first_error.ok();
  }
  std::vector<Lease> leases;
  {
    MutexLock lock(&mu_);
    for (const auto& [partition, held] : held_) leases.push_back(held.lease);
  }
  for (size_t i = 0; i < leases.size(); ++i) {
    const Status status = connector_->Release(leases[i]);
    if (!status.ok()) {
      if (first_error.ok()) {
        first_error =
            status.WithPrefix("node '" + options_.node + "': releasing '" + leases[i].name + "'");
      }
      continue;
    }
    MutexLock lock(&mu_);
    for (auto it = held_.begin(); it != held_.end(); ++it) {
      if (it->second.lease.name == leases[i].name) {
        held_.erase(it);
        break;
      }
    }
  }
  MutexLock lock(&mu_);
  members_.clear();
  return first_error;
}

std::vector<HeldPartition> PartitionOwnership::held() const {
  MutexLock lock(&mu_);
  std::vector<HeldPartition> held;
  for (const auto& [partition, lease] : held_)
    held.push_back(HeldPartition{partition, lease.lease});
  return held;
}

std::vector<std::string> PartitionOwnership::members() const {
  MutexLock lock(&mu_);
  return members_;
}

uint64_t PartitionOwnership::Weight(uint32_t partition, std::string_view node) {
  return WeightOfHash(partition, Fnv1a64(node));
}

std::vector<std::string> PartitionOwnership::Assignment(uint32_t partitions,
                                                        std::span<const std::string> members) {
  std::vector<std::string> nodes(members.begin(), members.end());
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  std::vector<std::string> owner(partitions);
  if (nodes.empty()) return owner;

  struct Pair {
    uint64_t weight;
    uint32_t node_idx;
    uint32_t partition;
  };
  std::vector<Pair> pairs;
  pairs.reserve(static_cast<size_t>(partitions) * nodes.size());
  for (uint32_t n = 0; n < nodes.size(); ++n) {
    const uint64_t node_hash = Fnv1a64(nodes[n]);
    for (uint32_t p = 0; p < partitions; ++p) {
      pairs.push_back(Pair{WeightOfHash(p, node_hash), n, p});
    }
  }
  // Ties (equal 64-bit weights) are broken by name, then partition, so the order is total.
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    if (a.node_idx != b.node_idx) return a.node_idx < b.node_idx;
    return a.partition < b.partition;
  });

  // Every node may take `quota` partitions, and the first `extra` nodes to reach it one more.
  // No partition is left over: one is refused only by a node that is full, and when all are,
  // they hold quota * N + extra = P.
  const uint32_t num_nodes = static_cast<uint32_t>(nodes.size());
  const uint32_t quota = partitions / num_nodes;
  const uint32_t extra = partitions % num_nodes;
  std::vector<uint32_t> load(nodes.size(), 0);
  uint32_t above_quota = 0;
  std::vector<bool> taken(partitions, false);
  for (const Pair& pair : pairs) {
    if (taken[pair.partition]) continue;
    uint32_t& node_load = load[pair.node_idx];
    if (node_load == quota) {
      if (above_quota == extra) continue;
      ++above_quota;
    } else if (node_load > quota) {
      continue;
    }
    ++node_load;
    taken[pair.partition] = true;
    owner[pair.partition] = nodes[pair.node_idx];
  }
  return owner;
}

std::string PartitionOwnership::AssignedNode(uint32_t partition, uint32_t partitions,
                                             std::span<const std::string> members) {
  if (partition >= partitions) return "";
  return Assignment(partitions, members)[partition];
}

}  // namespace liverec::cluster
