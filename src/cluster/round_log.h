// The round log: how the partitions of a cluster publish their rounds (docs/cluster.md).
//
// Each partition p has a stream `deltas.<p>` on the engine, and only its owner writes to it.
// A record there says "partition p has ended round r": the events of `events.<p>` up to
// `events_upto` are learned, and `delta` is what learning them changed (the model's
// RoundLearner bytes; opaque here). Round r of the whole cluster is the r-th round record of
// every partition. The records are the round boundaries: a round holds the events of
// `events.<p>` after the previous round's `events_upto` and up to its own, whatever the owner's
// clock or whoever owned the partition before.
//
// Every record is appended with Connector::AppendIfLast on the last record its writer read
// or wrote, so the stream has one writer at a time:
//   - a new owner (it has just acquired the partition's lease) first appends a takeover
//     record that repeats the last round record's round and events_upto; a former owner
//     that was paused (SIGSTOP) and wakes then fails its next append (FailedPrecondition,
//     "fenced") and never publishes a stale round;
//   - events a former owner learned and did not publish are in no round: the new owner learns
//     them in its first round, so every event is learned once.
//
//   PartitionWriter::TakeOver  (the owner)   --deltas.<p>-->   RoundReader::Next  (every node)
//     Publish(events_upto, delta)                                round r: one record per
//                                                                partition, in partition order
//
// A delta larger than one engine record holds (Connector::max_record_bytes: NATS refuses
// records above its max_payload, 1 MB by default) is cut into pieces: part records, each
// appended fenced like any other, then the round record with the last piece. The round's
// delta is its parts' pieces and its own, in order. Parts that no round record follows (their
// writer was fenced out or died) are dropped by the takeover that follows them.
//
// The record (little-endian): u8 format (1), u8 kind (1 takeover, 2 round, 3 part), u64
// round, u64 events_upto, u64 token (the lease's fencing token), u16 node length, node bytes,
// u32 delta length, delta bytes (none for a takeover). A takeover's round is the last round
// ended (0 before the first); a part's round is the round it is part of, and its events_upto
// that of the round before (where its round starts), so that a takeover after it knows where
// to continue. Reading checks each record against the one before it: a round record ends the
// next round, neither round nor events_upto nor token goes back, and a record of another
// holder follows a takeover; a stream that breaks this gives Corruption naming the stream and
// the position.
//
// Thread safety: a PartitionWriter and a RoundReader are each used by one thread at a time.
#ifndef LIVEREC_CLUSTER_ROUND_LOG_H_
#define LIVEREC_CLUSTER_ROUND_LOG_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/serialize.h"
#include "connect/connector.h"
#include "liverec/status.h"

namespace liverec::cluster {

// The stream of partition p's round log ("deltas.3") and of its events ("events.3").
std::string DeltasStream(uint32_t partition);
std::string EventsStream(uint32_t partition);

// Bounds a decoder holds records to, so bytes from the engine cannot ask for more.
inline constexpr size_t kMaxRoundDeltaBytes = size_t{1} << 30;

struct RoundRecord {
  enum Kind : uint8_t { kTakeover = 1, kRound = 2, kPart = 3 };
  Kind kind = kRound;
  // kRound: the round it ends; kTakeover: the last round ended; kPart: the round it is part of.
  uint64_t round = 0;
  // events.<p> learned through this round (kPart: through the round before).
  connect::Position events_upto = 0;
  uint64_t token = 0;  // the writer's lease token
  std::string node;    // the writer
  // kRound: the model's change in this round (as read from RoundReader: whole; as recorded:
  // the last piece); kPart: a piece of it.
  std::string delta;
};

std::string EncodeRoundRecord(const RoundRecord& record);
// Corruption naming what is wrong (format, kind, a truncated field, trailing bytes, a node
// name the connector would refuse).
Status DecodeRoundRecord(std::string_view payload, RoundRecord* out);
// Ok when `next` may follow `last` on one partition's round log (see above); Corruption
// saying why not.
Status CheckRoundSequence(const RoundRecord& last, const RoundRecord& next);

// The owner's side of one partition's round log.
class PartitionWriter {
 public:
  // Takes over the round log of `partition` for `node`, holding `lease` (just acquired):
  // reads the stream's last record and appends a takeover record fenced on it.
  // FailedPrecondition ("fenced") when another writer appended meanwhile: acquire again and
  // retry, or the lease was lost. On Ok, last() is where the new owner continues: learn the
  // events of events.<p> after last().events_upto as round last().round + 1.
  static StatusOr<PartitionWriter> TakeOver(connect::Connector* connector, uint32_t partition,
                                            std::string node, const connect::Lease& lease);

  // Ends round last().round + 1 with the events of events.<p> up to `events_upto` (not below
  // last().events_upto) and their `delta`, in one record or, when the delta is larger than
  // one record holds, in parts and a round record. FailedPrecondition ("fenced") when another
  // owner has taken the partition over: drop it and publish nothing more. Other errors (the
  // engine unavailable) leave the round unpublished, some of its records perhaps appended;
  // Publish may then be retried with the same arguments (other ones are InvalidArgument until
  // the round is published): a retry finds its own records and appends none twice.
  Status Publish(connect::Position events_upto, std::string_view delta);

  uint32_t partition() const { return partition_; }
  // The last takeover or round record this writer appended, without its delta.
  const RoundRecord& last() const { return last_; }
  // The position of the last record it appended (a part of a round not yet published, or
  // last()).
  connect::Position last_position() const { return last_position_; }
  // The most delta bytes one record of this writer holds: what the connector takes, less the
  // record's own fields.
  size_t piece_bytes() const { return piece_bytes_; }

 private:
  PartitionWriter(connect::Connector* connector, uint32_t partition, std::string stream)
      : connector_(connector), partition_(partition), stream_(std::move(stream)) {}
  // Reads the payload of the record at `position`.
  Status ReadPayload(connect::Position position, std::string* payload);
  // Reads the record at `position`, the stream's last, into *out (position 0: none).
  Status ReadLast(connect::Position position, RoundRecord* out);
  // Appends the record of `header`'s fields and `delta` fenced on last_position_ and moves
  // last_position_ to it. On FailedPrecondition, looks whether the stream's last record is
  // this very record (an earlier attempt landed and its answer was lost) and takes it as
  // appended if so.
  Status AppendNext(const RoundRecord& header, std::string_view delta);

  connect::Connector* connector_;
  uint32_t partition_;
  std::string stream_;
  size_t piece_bytes_ = 0;
  RoundRecord last_;
  connect::Position last_position_ = 0;
  // The round being published while Publish has not completed it: its events_upto, its
  // delta's size and hash (a retry must bring the same), and how many pieces are appended.
  struct Publishing {
    connect::Position events_upto = 0;
    size_t delta_bytes = 0;
    size_t delta_hash = 0;
    size_t pieces_appended = 0;
  };
  std::optional<Publishing> publishing_;
};

// Every node's side: follows all partitions' round logs and hands out whole rounds.
class RoundReader {
 public:
  // Reads the round logs of `partitions` partitions from their starts.
  RoundReader(connect::Connector* connector, uint32_t partitions);

  // When every partition has published round next_round(), sets *round to their round
  // records in partition order, moves on to the next round and returns true. Otherwise reads
  // what is new, waiting up to `wait` on the first partition that has not published it, and
  // returns false when the round is still incomplete. Corruption on a record that breaks the
  // sequence (above), naming the stream and position; the reader stays where it was.
  StatusOr<bool> Next(std::chrono::milliseconds wait, std::vector<RoundRecord>* round);

  uint32_t partitions() const { return static_cast<uint32_t>(logs_.size()); }
  // The round Next hands out next (1 for the first).
  uint64_t next_round() const { return next_round_; }
  // The last round record handed out for `partition`, without its delta (round 0, events_upto
  // 0 before any).
  const RoundRecord& ended(uint32_t partition) const { return logs_[partition].ended; }

  // The reader's place, for a node's snapshot: Load continues where Save was, reading each
  // stream after the position of the last round handed out.
  void Save(BinaryWriter* out) const;
  Status Load(BinaryReader* in);

 private:
  struct Log {
    std::string stream;
    connect::Position read = 0;  // the last record read
    RoundRecord last;            // and its decoding
    bool has_last = false;
    connect::Position ended_position = 0;                           // position of `ended`
    RoundRecord ended;                                              // the last round handed out
    std::vector<std::pair<connect::Position, RoundRecord>> rounds;  // read, not handed out
    std::string pieces;  // the delta pieces of the parts read since `last` that was no part
  };
  // Reads the records of log p after log.read, waiting up to `wait` for the first.
  Status ReadMore(uint32_t p, std::chrono::milliseconds wait);

  connect::Connector* connector_;
  std::vector<Log> logs_;
  uint64_t next_round_ = 1;
};

}  // namespace liverec::cluster

#endif  // LIVEREC_CLUSTER_ROUND_LOG_H_
