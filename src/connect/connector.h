// Connector: the one interface through which liverec uses an existing stream engine (Redis
// Streams, NATS JetStream) as its log of record when it runs as several nodes. Bytes only:
// nothing here knows about events, models or partitions' meaning; the cluster above decides
// which streams exist and what their records hold.
//
// What an engine provides, in liverec's words:
//   - streams: named, append-only sequences of opaque records. Every record has a Position,
//     increasing in append order within its stream (not necessarily contiguous: NATS numbers
//     records across all streams of one JetStream stream). Position 0 is "before the first".
//   - durable appends: Append returns once the engine holds the records as durably as it is
//     configured to (Redis: AOF with appendfsync always; NATS: file storage), so the caller
//     may acknowledge them. A batch carries an id; appending a batch id again within the
//     engine's de-duplication window appends nothing and returns the first positions.
//   - reads by position: Read returns the records after a position, in order. A reader keeps
//     its own position (in its snapshot), so a new owner of a stream continues exactly where
//     the last checkpoint ended, whatever the former owner read meanwhile.
//   - conditional appends: AppendIfLast appends only while the stream's last record is the
//     one the caller expects. That is the fence: an owner that takes over a stream first writes
//     a record of its own, and a paused former owner that wakes fails its next write.
//   - checkpoints: each consumer (a node) records up to where it has made a stream durable in
//     its own state (Commit); Trim drops what every consumer has committed.
//   - leases: a named lease held by one holder until its time to live runs out; every change
//     of holder raises its fencing token.
//
// Open a connector by URL: "redis://HOST:PORT" (redis_connector.h), "nats://HOST:PORT"
// (nats_connector.h).
//
// Thread safety: a Connector may be used from several threads at once; calls on one object
// are serialized where the engine's client needs it (Redis: one connection per object). A
// thread that blocks in Read should use a Connector of its own.
#ifndef LIVEREC_CONNECT_CONNECTOR_H_
#define LIVEREC_CONNECT_CONNECTOR_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "liverec/status.h"

namespace liverec::connect {

// A record's place in its stream; 0 is before the first record.
using Position = uint64_t;

struct Record {
  Position position = 0;
  std::string payload;
};

// A held lease. `token` is the fencing token: it rises each time the lease changes holder,
// never when its holder renews it.
struct Lease {
  std::string name;
  std::string holder;
  uint64_t token = 0;
};

struct ConnectorOptions {
  // How long one command may take before the connector gives up with kUnavailable.
  std::chrono::milliseconds timeout{5000};
  // Names are prefixed with this, so several clusters can share one engine (Redis keys
  // "<prefix>:...", NATS stream, subjects and buckets derived from it).
  std::string prefix = "liverec";
  // How long the engine remembers a batch id for de-duplication.
  std::chrono::milliseconds dedup_window{120000};
  // Refuse to open unless the engine makes appends durable before answering (Redis:
  // appendonly yes with appendfsync always; NATS: the stream's file storage).
  bool require_durable = true;
  // The largest record this connector appends (max_record_bytes), when the engine takes that
  // much; larger ones are refused before they reach the engine.
  size_t max_record_bytes = size_t{16} << 20;
};

// The public methods check their arguments (names, batch ids, ttls) and then call the
// engine's Do* method, so no unchecked name reaches an engine, whichever engine it is.
class Connector {
 public:
  virtual ~Connector() = default;

  // Opens a connection to the engine at `url` ("redis://HOST:PORT", "nats://HOST:PORT").
  // kInvalidArgument for a URL of another form, kUnavailable when the engine does not answer,
  // kFailedPrecondition when `options.require_durable` and the engine is not durable.
  static StatusOr<std::unique_ptr<Connector>> Open(std::string_view url,
                                                   const ConnectorOptions& options);

  // "redis" or "nats".
  virtual std::string_view engine() const = 0;

  // The largest payload one record may hold: ConnectorOptions::max_record_bytes or less when
  // the engine takes less. An append of a larger one fails (kOutOfRange). Callers with larger
  // values cut them into several records (cluster/round_log.h does).
  virtual size_t max_record_bytes() const = 0;

  // Appends `payloads` to `stream` as one batch and sets `*positions` (one per payload). With a
  // non-empty `batch_id` the batch is appended at most once within the de-duplication window:
  // a repeat appends nothing and returns the positions of the first append.
  Status Append(std::string_view stream, std::string_view batch_id,
                std::span<const std::string> payloads, std::vector<Position>* positions);

  // Appends `payloads` only if the last record of `stream` is at `expected_last` (0: the
  // stream holds no record); kFailedPrecondition ("fenced") otherwise, with nothing appended.
  Status AppendIfLast(std::string_view stream, Position expected_last,
                      std::span<const std::string> payloads, std::vector<Position>* positions);

  // Appends to `*out` the records of `stream` after `after`, in order, at most `max`. When
  // there are none, waits up to `wait` for the first one (0: does not wait). A read sees every
  // record whose append was acknowledged before the read began.
  Status Read(std::string_view stream, Position after, size_t max, std::chrono::milliseconds wait,
              std::vector<Record>* out);

  // The position of the last record of `stream` (0 if none was ever appended).
  StatusOr<Position> Last(std::string_view stream);

  // Records that `consumer` holds everything of `stream` up to `upto` in its own durable state.
  // A commit never moves back: a lower `upto` than the recorded one is ignored.
  Status Commit(std::string_view stream, std::string_view consumer, Position upto);
  // The position `consumer` last committed on `stream` (0 if none).
  StatusOr<Position> Committed(std::string_view stream, std::string_view consumer);
  // Drops the records of `stream` that every consumer that ever committed on it has committed,
  // and returns the position up to which the stream is trimmed now (0 if no consumer).
  StatusOr<Position> Trim(std::string_view stream);

  // Takes the lease `name` for `holder` for `ttl` when it is free, expired, or already held by
  // `holder` (then it is renewed and keeps its token). kAlreadyExists when another holder has
  // it; the message names that holder.
  StatusOr<Lease> Acquire(std::string_view name, std::string_view holder,
                          std::chrono::milliseconds ttl);
  // Extends a held lease by `ttl` from now; kFailedPrecondition ("fenced") when it expired
  // and another holder (or another token) has it since, or it lapsed.
  Status Renew(const Lease& lease, std::chrono::milliseconds ttl);
  // Gives the lease up, if `lease` still holds it; a lease held by another is left alone.
  Status Release(const Lease& lease);

 protected:
  // The engine's side of each method above, called with checked arguments: every name valid,
  // every ttl positive, `*positions` empty and `payloads` not empty (Append, AppendIfLast),
  // `max` above 0 (Read).
  virtual Status DoAppend(std::string_view stream, std::string_view batch_id,
                          std::span<const std::string> payloads,
                          std::vector<Position>* positions) = 0;
  virtual Status DoAppendIfLast(std::string_view stream, Position expected_last,
                                std::span<const std::string> payloads,
                                std::vector<Position>* positions) = 0;
  virtual Status DoRead(std::string_view stream, Position after, size_t max,
                        std::chrono::milliseconds wait, std::vector<Record>* out) = 0;
  virtual StatusOr<Position> DoLast(std::string_view stream) = 0;
  virtual Status DoCommit(std::string_view stream, std::string_view consumer, Position upto) = 0;
  virtual StatusOr<Position> DoCommitted(std::string_view stream, std::string_view consumer) = 0;
  virtual StatusOr<Position> DoTrim(std::string_view stream) = 0;
  virtual StatusOr<Lease> DoAcquire(std::string_view name, std::string_view holder,
                                    std::chrono::milliseconds ttl) = 0;
  virtual Status DoRenew(const Lease& lease, std::chrono::milliseconds ttl) = 0;
  virtual Status DoRelease(const Lease& lease) = 0;

 private:
  // kOutOfRange naming the first of `payloads` above max_record_bytes().
  Status CheckRecordSizes(std::string_view stream, std::span<const std::string> payloads) const;
};

// kInvalidArgument ("<field> 'name': ...") unless `name` is 1 to kMaxNameBytes of
// [A-Za-z0-9_-] in dot-separated parts ("events.3"): stream, lease, consumer and holder names,
// safe as a Redis key part and as NATS subject tokens. Connector's public methods check every
// name before it reaches the engine.
inline constexpr size_t kMaxNameBytes = 200;
Status CheckName(std::string_view field, std::string_view name);
// The same for a batch id, which may also hold '/' and ':' ("node-a/17"); empty means none.
Status CheckBatchId(std::string_view batch_id);

}  // namespace liverec::connect

#endif  // LIVEREC_CONNECT_CONNECTOR_H_
