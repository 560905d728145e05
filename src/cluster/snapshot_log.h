// The snapshots of a partition's copy, on the stream `snapshots.<p>` of the engine, so that
// whichever node takes partition p over next starts from the last one instead of replaying the
// partition's whole history (docs/cluster.md, "Snapshots").
//
// A snapshot is the copy as a round ended: its Save bytes, the node's round reader after the
// round (RoundReader::Save) and every partition's events position through the round. A copy's
// state at a round's end is the same on whichever node computed it (cluster_learner.h), so a
// snapshot needs no fencing: two nodes that write the same round write the same bytes, and a
// reader takes the last complete one. The owner writes one every `snapshot_rounds` rounds.
//
// A snapshot larger than one engine record travels in pieces, appended as one batch under the
// batch id "snapshot-<round>" (a retry, or another node's write of the same round within the
// engine's de-duplication window, appends nothing). Each record (little-endian, format 1):
//   u8 format 1, u32 partition, u64 round, u32 piece index, u32 piece count (>= 1),
//   u64 body bytes, u32 body CRC32C, then the piece's bytes (the body cut in order).
// The body: u32 tag "LSNP", u32 version 1, u32 partitions, u64 round, string reader, u64
// events position per partition, string model (strings: u64 length, then the bytes).
// Once a snapshot is appended, the records before it are trimmed (consumer "snapshots"), so the
// stream holds the last snapshot and at most a piece-wise one after it.
#ifndef LIVEREC_CLUSTER_SNAPSHOT_LOG_H_
#define LIVEREC_CLUSTER_SNAPSHOT_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connect/connector.h"
#include "liverec/status.h"

namespace liverec::cluster {

struct PartitionSnapshot {
  uint32_t partition = 0;
  uint64_t round = 0;  // the copy as this round ended (>= 1)
  // events.<q> through the round, for every partition q of the cluster.
  std::vector<connect::Position> events_upto;
  std::string reader;  // RoundReader::Save after the round
  std::string model;   // the copy's Model::Save
};

std::string SnapshotsStream(uint32_t partition);

// The records of `snapshot`, each at most `max_record_bytes` (at least 64).
std::vector<std::string> EncodeSnapshotRecords(const PartitionSnapshot& snapshot,
                                               size_t max_record_bytes);

// One record as read.
struct SnapshotPiece {
  uint32_t partition = 0;
  uint64_t round = 0;
  uint32_t index = 0;
  uint32_t count = 0;
  uint64_t body_bytes = 0;
  uint32_t body_crc = 0;
  std::string bytes;
};
// Corruption naming what is wrong (format, a field out of range, a piece larger than the body).
Status DecodeSnapshotPiece(std::string_view payload, SnapshotPiece* piece);
// The snapshot in a whole body (the pieces' bytes in order); Corruption naming what is wrong.
Status DecodeSnapshotBody(std::string_view body, PartitionSnapshot* snapshot);

// Appends `snapshot` to its stream, then trims the stream's records before it. The connector's
// errors; a failed trim leaves older snapshots, which readers skip.
Status WriteSnapshot(connect::Connector* connector, const PartitionSnapshot& snapshot);

// The last complete snapshot of partition p in a cluster of `partitions` (nullopt when there
// is none). Corruption, naming the stream and position, for a record that breaks the format or
// a snapshot of another partition or cluster size.
StatusOr<std::optional<PartitionSnapshot>> ReadLastSnapshot(connect::Connector* connector,
                                                            uint32_t partition,
                                                            uint32_t partitions);

}  // namespace liverec::cluster

#endif  // LIVEREC_CLUSTER_SNAPSHOT_LOG_H_
