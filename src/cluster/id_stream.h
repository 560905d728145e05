// SharedIds: names (user or item keys) to dense ids 0, 1, 2, ... that every node of a cluster
// agrees on, through one id stream of the engine (docs/cluster.md, "What is left", item 2).
//
// The rule: a name's id is the number of distinct names that occur in the stream before its
// first occurrence. Every node reads the stream in the same order, so every node counts the
// same. A node that meets names it does not know appends them (Resolve); two nodes that add the
// same new name at once both append it, and readers ignore every occurrence after the first, so
// ids stay dense: no holes, whatever the races.
//
//   node a: Resolve({"u7", "u9"})  --ids.users-->  [... "u3" | "u7","u9" | "u9","u4" ...]
//   node b: Resolve({"u9", "u4"})                    ids: u3=5, u7=6, u9=7, u4=8 on every node
//
// Resolve appends its new names (one batch: one record, or several when they do not fit in one)
// and then reads the stream up to its own last record, so records other nodes appended before it
// are counted first and the ids it returns are final. A node never gives an id from its own
// guess.
//
// The record (the payload of one stream record; little-endian, version 1):
//   u8  format             1
//   u32 name count         1 .. kMaxIdRecordNames
//   then for each name:    u32 length (1 .. kMaxIdNameBytes), then that many bytes (any bytes)
//   nothing after the last name; the whole record at most kMaxIdRecordBytes.
// A name may occur in several records, and twice in one record; only its first occurrence counts.
// Reading a record that breaks the format gives Corruption naming the stream and the position,
// and the map stays as it was before that record; every later read stops at that record again
// (skipping it could count differently on a node of a newer format), so an operator must look.
//
// Batch ids: "<node>/<stream>/<nonce>-<n>", with <nonce> 16 hex digits drawn at construction
// from std::random_device and n counting this object's appends. A retry of an append inside
// Resolve reuses its batch id, so a timeout whose append did land appends nothing more. The
// nonce keeps batch ids unique across restarts of a node: a counter alone would start again at 0,
// and the engine would take a restarted node's first batches for the ones it appended before
// (within the de-duplication window) and append nothing. Resolve checks that its names are known
// after reading to its record, so even a reused batch id cannot give a wrong id (kInternal).
//
// The id stream must never be trimmed: a node that starts fresh reads it from the beginning.
//
// Thread safety: every method may be called from several threads at once. One mutex guards the
// map and the position; no engine call is made while it is held. Concurrent Resolve calls on one
// object do not append the same new name twice: a name one call is appending is left to it, and
// the others wait for its record (or, if it fails, append the name themselves). Records read by
// concurrent calls are applied once each, in stream order. The connector is shared by all of
// them; a CatchUp that waits holds a Redis connector's connection for its wait, so a node that
// waits in CatchUp should give that SharedIds a Connector of its own.
#ifndef LIVEREC_CLUSTER_ID_STREAM_H_
#define LIVEREC_CLUSTER_ID_STREAM_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/mutex.h"
#include "common/serialize.h"
#include "common/thread_annotations.h"
#include "connect/connector.h"
#include "liverec/status.h"

namespace liverec::cluster {

// The longest name: the event layer's longest key (kMaxEventRecordStringBytes), so every key an
// event may carry can be given an id.
inline constexpr size_t kMaxIdNameBytes = 65536;
// The most names in one record, and its most bytes: half of nats-server's default max_payload
// (1 MB), leaving room for headers. Resolve splits its new names into records within both.
inline constexpr size_t kMaxIdRecordNames = 65536;
inline constexpr size_t kMaxIdRecordBytes = size_t{512} << 10;
// The most names a stream may hold: ids are uint32_t, and the largest stays kInvalidId.
inline constexpr uint64_t kMaxSharedIds = uint64_t{0xffffffff};

// The bytes of a record holding `names`. Requires 1 to kMaxIdRecordNames names of 1 to
// kMaxIdNameBytes bytes, kMaxIdRecordBytes in all (IdRecordBytes tells).
std::string EncodeIdRecord(std::span<const std::string> names);
// The size EncodeIdRecord would give.
size_t IdRecordBytes(std::span<const std::string> names);
// Sets `*names` to the names of a record. Corruption saying what is wrong and where (unknown
// format, truncated count or name, no names, too many names, an empty or too long name, trailing
// bytes, a record over kMaxIdRecordBytes); `*names` is then cleared.
Status DecodeIdRecord(std::string_view payload, std::vector<std::string>* names);

// The cluster's id streams of users and items.
inline constexpr std::string_view kUserIdsStream = "ids.users";
inline constexpr std::string_view kItemIdsStream = "ids.items";

// 16 hex digits from std::random_device: the part of a node's batch ids that keeps them unique
// across its restarts (see "Batch ids" above).
std::string DrawBatchNonce();

class SharedIds {
 public:
  // `connector` outlives this object. `stream` is the id stream ("ids.users"), `node` this
  // node's name, both valid connector names (connect::CheckName; Resolve reports them otherwise).
  SharedIds(connect::Connector* connector, std::string stream, std::string node);
  SharedIds(const SharedIds&) = delete;
  SharedIds& operator=(const SharedIds&) = delete;

  // Sets `*ids` to one id per name, (*ids)[i] the id of names[i] (names may repeat). The names
  // this object has not read in the stream yet are appended to it first, then the stream is read
  // up to the appended record(s); nothing is appended when every name is known. (A node that
  // lags behind the stream appends again names other nodes added: harmless, and CatchUp keeps
  // it rare.)
  // kInvalidArgument for an empty name or one longer than kMaxIdNameBytes ("names[3]: ..."),
  // before any engine call; kResourceExhausted when the stream would hold more than
  // kMaxSharedIds names; kCorruption for a bad record in the stream; the connector's errors
  // (kUnavailable ...). On error `*ids` is cleared; names appended before the error are counted
  // by a later Resolve or CatchUp like any other node's.
  Status Resolve(std::span<const std::string> names, std::vector<uint32_t>* ids);

  // Reads the records appended since the last one read, by any node: at least every record the
  // engine acknowledged before the call. When there is none, waits up to `wait` for the first
  // (0: does not wait). kCorruption for a bad record (the records before it are counted),
  // kResourceExhausted past kMaxSharedIds names.
  Status CatchUp(std::chrono::milliseconds wait);

  // The id of `name`, if the records read so far give it one.
  std::optional<uint32_t> Find(std::string_view name) const;
  // The name of `id`; requires id < size(). The reference stays valid for this object's life.
  const std::string& Name(uint32_t id) const;
  // The number of ids given: ids are 0 .. size()-1.
  size_t size() const;
  // The position of the last record read (0: none).
  connect::Position position() const;

  // Writes the names (in id order), the position and the stream's name, for a node's snapshot.
  void Save(BinaryWriter* out) const;
  // Restores what Save wrote into an object that has read nothing yet (kFailedPrecondition
  // otherwise); a later CatchUp or Resolve continues after the saved position. kCorruption naming
  // what is wrong in the bytes, kInvalidArgument for the ids of another stream; on error the
  // object is unchanged.
  Status Load(BinaryReader* in);

 private:
  // Appends `names` (new, distinct) as one batch and reads the stream up to its last record.
  Status AppendAndRead(const std::vector<std::string>& names, const std::string& batch_id)
      LIVEREC_EXCLUDES(mu_);
  // Reads until the record at `target`, which the engine holds, is applied (another thread may
  // apply it first).
  Status ReadUpTo(connect::Position target) LIVEREC_EXCLUDES(mu_);
  // Applies the records after position_, in order; records at or before it were applied by
  // another reader and are skipped. Stops at a record that cannot be applied.
  Status ApplyLocked(const std::vector<connect::Record>& records) LIVEREC_REQUIRES(mu_);
  std::string NextBatchId() LIVEREC_REQUIRES(mu_);

  connect::Connector* const connector_;
  const std::string stream_;
  const std::string node_;
  const std::string nonce_;

  mutable Mutex mu_;
  // Notified when names stop being in flight (their append ended, well or not).
  std::condition_variable in_flight_done_;
  // names_[id] is the name of id. A deque, so that names never move: ids_ keys are views of
  // them, and Name's references stay valid while names are added.
  std::deque<std::string> names_ LIVEREC_GUARDED_BY(mu_);
  std::unordered_map<std::string_view, uint32_t> ids_ LIVEREC_GUARDED_BY(mu_);
  connect::Position position_ LIVEREC_GUARDED_BY(mu_) = 0;
  // Names a Resolve of this object is appending now; other calls wait for them.
  std::unordered_set<std::string> in_flight_ LIVEREC_GUARDED_BY(mu_);
  uint64_t next_batch_ LIVEREC_GUARDED_BY(mu_) = 0;
};

}  // namespace liverec::cluster

#endif  // LIVEREC_CLUSTER_ID_STREAM_H_
