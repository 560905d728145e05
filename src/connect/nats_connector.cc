// The Connector on NATS JetStream (nats-server 2.9 or later, through libnats 3.4).
//
// Layout, all derived from ConnectorOptions::prefix ("liverec" below; JetStream names cannot
// hold '.', so a prefix "a.b" names the stream "a_b" and the buckets "a_b-..."):
//   stream  liverec                 file storage, subjects "liverec.s.>", duplicate window =
//                                   dedup_window. A liverec stream "events.3" is the subject
//                                   "liverec.s.events.3"; a Position is the JetStream stream
//                                   sequence of the record, so positions rise within a subject
//                                   with gaps where other subjects' records sit in between.
//   bucket  liverec-checkpoints     (key-value, file storage, history 1) key "<stream>" holding
//                                   one line "<consumer> <position>" per consumer of that stream
//   bucket  liverec-leases          key "<name>" holding "<token> <ttl_ms> <holder>" (holder empty
//                                   once released); key "=clock" is written to read the
//                                   server's clock ('=' is in no liverec name)
//
// Mechanisms:
//   - Append pipelines. A batch of several records goes through an AsyncPublisher: a JetStream
//     context of its own, serving one Append at a time (the connector keeps a few idle ones
//     for the next), so concurrent Appends neither share acknowledgements nor wait for each
//     other's. Every record but the last is published with js_PublishMsgAsync; libnats calls
//     OnAck on its own thread with each acknowledgement (or refusal) and the message it
//     answers, which the publisher's map of messages in flight turns into the record's index,
//     whose position OnAck sets. The last record is published synchronously (js_PublishMsg):
//     that sends at once what libnats still buffers of the others (its flusher would wait
//     1 ms for more), and since JetStream stores a connection's messages in order, its
//     acknowledgement comes after theirs; js_PublishAsyncComplete then collects any straggler.
//     At most kMaxRecordsInFlight records (libnats' MaxPending) and kMaxBytesInFlight payload
//     bytes await an acknowledgement at once; a publish waits up to options.timeout for room.
//     A refused record (the lowest one, if several) or one not acknowledged within
//     options.timeout fails the Append with a status that names the record and the cause; the
//     records still in flight are taken back from libnats (js_PublishAsyncGetPendingList),
//     which then ignores their acknowledgements. A single record is one synchronous publish.
//     Positions are the acknowledged sequences, in payload order. bench/connect_throughput.sh
//     (10,000-record batches of 120 bytes, 2 appenders, 2 cores): 84,000 to 97,000 records/s
//     over runs, against 10,000 with one synchronous publish per record.
//     What an acknowledgement means: JetStream (2.9, a stream of one replica) acknowledges a
//     record once it has written it to the stream's file store (write(2), flushed in place):
//     it survives the server process being killed. It is not fsynced: nats-server 2.9.10
//     fsyncs its files every 60 s and takes no sync_interval setting, so a crash of the
//     machine or a power loss can lose the last minute of acknowledged records; surviving
//     that needs a replicated stream, acknowledged once a quorum of servers stored the record
//     (require_durable checks file storage only).
//     With a batch id, record i carries the header Nats-Msg-Id "<stream>:<batch id>#<i>": the
//     stream's de-duplication map (one per JetStream stream, hence the liverec stream in the
//     id) answers a repeat with the first sequence and "duplicate", storing nothing; that
//     sequence is the position returned. A batch is not atomic: an append cut short leaves
//     some of its records (with records in flight not necessarily a prefix: one refused, or
//     lost when the connection broke, while later ones were stored), and its repeat with the
//     same batch id completes it (the stored records are recognised, the rest appended).
//   - AppendIfLast sends the first record with the header Nats-Expected-Last-Subject-Sequence
//     = expected_last ("0": the subject holds no record; libnats sends that for ExpectNoMessage),
//     which JetStream checks and stores in one step. Each later record of the batch expects the
//     one before it, so nothing can slip between them; as its sequence is known only from the
//     acknowledgement, these publishes are synchronous, a round trip each (fences are rare). A
//     refused first record means nothing was appended. A later record can only be refused if
//     someone appended to the stream without a fence (Append) meanwhile; then the records before it
//     stay and the error says how many. Redis appends such a batch atomically; JetStream 2.9 has no
//     multi-record publish.
//   - Read pulls from an ephemeral pull consumer per liverec stream (filtered to its subject,
//     starting at after + 1, no acks: the reader keeps its own position, the contract's
//     checkpoints are explicit). The consumer is cached while successive reads continue where
//     the last ended and replaced when a read starts elsewhere. Each read sends one pull
//     request {"batch": n, "no_wait": true[, "expires": wait]} (n = max, at most
//     kMaxReadBatch): JetStream delivers what is there and ends the request with a 404 or 408
//     status once the subject has no more, or after n records; with nothing there it waits up
//     to `wait` for the first. The request is sent to the consumer by hand rather than through
//     natsSubscription_Fetch, whose batch waits for all n records. An idle consumer is
//     dropped by the server after kReaderIdle; a read that finds it gone makes a new one. A
//     consumer that outlived a restart of the server may deliver again what it delivered
//     before (its state is written lazily); records at or below the reader's position are
//     skipped, so a read never returns a record twice.
//   - Last is the sequence of the subject's last message, asked of the stream (its leader).
//   - Checkpoints are a key-value entry per stream, changed by compare-and-swap (a publish
//     expecting the key's last revision), so a commit never moves back and concurrent commits
//     do not lose each other. Durable pull consumers with explicit acks would have to deliver
//     and ack every record up to a checkpoint to move it, and a consumer's ack floor cannot be
//     set to a position; the key-value entry records a position directly, and one read gives
//     Trim every consumer of the stream.
//   - Trim purges the subject below min(min committed + 1, last record) and returns the min
//     committed: the last record of a subject is kept even when every consumer has committed
//     it, so Last stays right and a fence expecting it (or expecting an empty stream) keeps
//     working.
//   - Leases are key-value entries changed by compare-and-swap. Key-value TTLs are per bucket
//     in nats-server 2.9, so the entry holds its ttl and expiry is judged on the server's
//     clock only: an entry expires ttl after the server stored it, and "now" is the stored
//     time of a fresh write to "=clock". No client clock enters, so client clock skew does
//     not matter; a step of the server's clock (or, with a replicated bucket, skew between the
//     servers that lead it over time) shortens or lengthens leases by that much. The fencing
//     token of a new holder is the revision of the entry it replaces + 1: revisions rise in
//     the bucket and every token was set at or below its entry's revision, so each new
//     holder's token is above every earlier one; renewals keep the token, and a release keeps
//     it in the entry. Renewing a lapsed lease is refused ("fenced") even when nobody took it.
//
// Errors: the engine not answering within options.timeout is kUnavailable; a refused fence is
// kFailedPrecondition ("fenced"), and so is a server without JetStream; every other libnats
// error keeps libnats' words (and the JetStream error code) in a message that starts with
// "nats: " and says what failed.
//
// Thread safety: libnats' connection and JetStream contexts are thread-safe; the mutable state
// of the connector, the cache of read consumers and the idle asynchronous publishers, is under
// mutexes. A read takes its consumer out of the cache while it waits, so reads of other streams
// are not held up; an Append takes a publisher for itself, whose state it shares only with
// OnAck, under the publisher's mutex.
#include "connect/nats_connector.h"

#include <nats/nats.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "connect/engine_values.h"

namespace liverec::connect {

namespace {

using std::chrono::milliseconds;

constexpr int64_t kNanosPerMilli = 1'000'000;
// The most records one Read pulls; the read inbox buffers this many (see kMaxPendingBytes).
constexpr size_t kMaxReadBatch = 1024;
// The read inbox's byte limit, the most libnats takes: room for kMaxReadBatch records of the
// server's default 1 MB max_payload.
constexpr int kMaxPendingBytes = INT_MAX;
// How long the server keeps a read consumer nobody pulls from.
constexpr milliseconds kReaderIdle{60000};
// How long libnats waits between attempts to reconnect to a server that went away; it tries
// without end (each call meanwhile gives up after ConnectorOptions::timeout), so a connector
// outlives a restart of the server.
constexpr milliseconds kReconnectWait{250};
// An Append of several records publishes them asynchronously (see the top comment) with at
// most this many awaiting their acknowledgement (libnats' MaxPending of the publisher's
// context; a batch of 10,000 goes out whole, measured a little faster than 1024 or 4096) ...
constexpr int64_t kMaxRecordsInFlight = 16384;
// ... and at most this many payload bytes (a larger record goes alone), so the copies libnats
// keeps until the acknowledgement stay bounded whatever the record size.
constexpr size_t kMaxBytesInFlight = size_t{16} << 20;
// Idle asynchronous publishers a connector keeps for later Appends; more are made while more
// threads append at once, and those beyond this are dropped when their Append ends.
constexpr size_t kMaxIdlePublishers = 4;
// Compare-and-swap attempts before a contended key gives up with kUnavailable.
constexpr int kMaxCasAttempts = 64;
// The key written to read the server's clock; liverec names cannot hold '='.
constexpr std::string_view kClockKey = "=clock";
constexpr std::string_view kStatusHeader = "Status";
constexpr std::string_view kDescriptionHeader = "Description";
constexpr std::string_view kKvOperationHeader = "KV-Operation";

template <typename T, void (*Destroy)(T*)>
struct Destroyer {
  void operator()(T* p) const { Destroy(p); }
};
using MsgPtr = std::unique_ptr<natsMsg, Destroyer<natsMsg, natsMsg_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Destroyer<jsPubAck, jsPubAck_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Destroyer<jsStreamInfo, jsStreamInfo_Destroy>>;
using ConsumerInfoPtr =
    std::unique_ptr<jsConsumerInfo, Destroyer<jsConsumerInfo, jsConsumerInfo_Destroy>>;
using MetaPtr = std::unique_ptr<jsMsgMetaData, Destroyer<jsMsgMetaData, jsMsgMetaData_Destroy>>;
using SubPtr =
    std::unique_ptr<natsSubscription, Destroyer<natsSubscription, natsSubscription_Destroy>>;
using OptionsPtr = std::unique_ptr<natsOptions, Destroyer<natsOptions, natsOptions_Destroy>>;
using KvPtr = std::unique_ptr<kvStore, Destroyer<kvStore, kvStore_Destroy>>;

bool IsTransportFailure(natsStatus s) {
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_RESPONDERS:
    case NATS_SYS_ERROR:
      return true;
    default:
      return false;
  }
}

// "nats: <what>: <libnats' text> (<detail>)", coded by the kind of failure. `detail` is
// the server's or libnats' explanation; by default libnats' last error on this thread.
Status NatsError(std::string_view what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0),
                 std::optional<std::string_view> detail = std::nullopt) {
  std::string message = "nats: " + std::string(what) + ": " + natsStatus_GetText(s);
  if (!detail.has_value()) {
    natsStatus last_status = NATS_OK;
    const char* last = nats_GetLastError(&last_status);
    if (last != nullptr && last_status == s) detail = last;
  }
  if (detail.has_value() && !detail->empty() && *detail != natsStatus_GetText(s)) {
    message += " (" + std::string(*detail) + ")";
  }
  if (jerr != 0) message += " [JetStream error " + std::to_string(static_cast<int>(jerr)) + "]";
  // Checked first: libnats reports a server without JetStream as "no responders" too.
  if (jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr) {
    return FailedPrecondition(message + "; is JetStream enabled on the server?");
  }
  if (IsTransportFailure(s)) return Unavailable(std::move(message));
  if (s == NATS_MAX_PAYLOAD) return OutOfRange(std::move(message));
  if (s == NATS_ERR) return FailedPrecondition(std::move(message));
  return Internal(std::move(message));
}

// JetStream stream and bucket names cannot hold '.'.
std::string EngineName(std::string_view prefix) {
  std::string name(prefix);
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

std::string_view MsgData(natsMsg* msg) {
  return std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
}

std::optional<std::string_view> Header(natsMsg* msg, std::string_view key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, std::string(key).c_str(), &value) != NATS_OK || value == nullptr) {
    return std::nullopt;
  }
  return std::string_view(value);
}

// A key-value entry read straight from the bucket's stream.
struct KvEntry {
  bool exists = false;     // false: never written, or deleted by an operator
  uint64_t revision = 0;   // for compare-and-swap; 0 when the key has no message at all
  int64_t created_ns = 0;  // the server's clock when it stored the entry
  std::string value;
};

// A JetStream context for asynchronous publishes, used by one Append at a time. libnats calls
// OnAck on a thread of its own, with the publisher as closure, once for each record published
// through it (acknowledged, refused, or never: then the Append times out and takes its records
// back with js_PublishAsyncGetPendingList). The message pointer OnAck gets is the one the
// Append published, which `in_flight` maps to the record's index.
struct AsyncPublisher {
  AsyncPublisher() = default;
  AsyncPublisher(const AsyncPublisher&) = delete;
  AsyncPublisher& operator=(const AsyncPublisher&) = delete;
  ~AsyncPublisher() { jsCtx_Destroy(js); }

  jsCtx* js = nullptr;
  Mutex mu;
  // Signalled when a record is acknowledged or refused; the Append waits on it for room.
  std::condition_variable acked;
  // The state of the Append using the publisher.
  // Record index by published message.
  std::unordered_map<const natsMsg*, size_t> in_flight LIVEREC_GUARDED_BY(mu);
  size_t bytes_in_flight LIVEREC_GUARDED_BY(mu) = 0;  // payload bytes of `in_flight`
  // Set by acknowledgements.
  std::vector<Position>* positions LIVEREC_GUARDED_BY(mu) = nullptr;
  // The first record refused, if any, and why.
  std::optional<size_t> failed_record LIVEREC_GUARDED_BY(mu);
  natsStatus failed_status LIVEREC_GUARDED_BY(mu) = NATS_OK;
  jsErrCode failed_code LIVEREC_GUARDED_BY(mu) = static_cast<jsErrCode>(0);
  std::string failed_text LIVEREC_GUARDED_BY(mu);
};

// The status of the Append whose first refused record is named by `what`.
Status Refusal(const AsyncPublisher& publisher, std::string_view what)
    LIVEREC_REQUIRES(publisher.mu) {
  return NatsError(what, publisher.failed_status, publisher.failed_code, publisher.failed_text);
}

// libnats' jsPubAckHandler of every AsyncPublisher; owns `msg`.
void OnAck(jsCtx* /*js*/, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
  auto* publisher = static_cast<AsyncPublisher*>(closure);
  {
    MutexLock lock(&publisher->mu);
    const auto it = publisher->in_flight.find(msg);
    if (it != publisher->in_flight.end()) {
      const size_t record = it->second;
      publisher->in_flight.erase(it);
      publisher->bytes_in_flight -= static_cast<size_t>(natsMsg_GetDataLength(msg));
      if (ack != nullptr) {
        // A duplicate's acknowledgement carries the sequence of the record first stored.
        (*publisher->positions)[record] = ack->Sequence;
      } else if (!publisher->failed_record.has_value() || record < *publisher->failed_record) {
        publisher->failed_record = record;
        publisher->failed_status = error != nullptr ? error->Err : NATS_ERR;
        publisher->failed_code = error != nullptr ? error->ErrCode : static_cast<jsErrCode>(0);
        publisher->failed_text =
            error != nullptr && error->ErrText != nullptr ? error->ErrText : "";
      }
      publisher->acked.notify_one();
    }
  }
  natsMsg_Destroy(msg);
}

// The connector. Thread-safe (see the top comment): libnats objects are, `readers_` is under
// `readers_mu_`, `idle_publishers_` under `publishers_mu_`, and an AsyncPublisher serves one
// Append at a time.
class NatsConnector final : public Connector {
 public:
  NatsConnector(natsConnection* nc, jsCtx* js, const ConnectorOptions& options)
      : nc_(nc),
        js_(js),
        options_(options),
        stream_name_(EngineName(options.prefix)),
        subject_prefix_(options.prefix + ".s."),
        checkpoints_bucket_(EngineName(options.prefix) + "-checkpoints"),
        leases_bucket_(EngineName(options.prefix) + "-leases") {}

  ~NatsConnector() override {
    std::map<std::string, std::unique_ptr<Reader>, std::less<>> readers;
    {
      MutexLock lock(&readers_mu_);
      readers.swap(readers_);
    }
    for (auto& [stream, reader] : readers) DropReader(std::move(reader));
    // No Append runs now, so no publisher has a record in flight or an OnAck under way.
    MutexLock lock(&publishers_mu_);
    idle_publishers_.clear();
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }

  NatsConnector(const NatsConnector&) = delete;
  NatsConnector& operator=(const NatsConnector&) = delete;

  // Creates the stream and buckets, or checks the existing ones.
  Status Setup() {
    LIVEREC_RETURN_IF_ERROR(EnsureStream());
    LIVEREC_RETURN_IF_ERROR(EnsureBucket(checkpoints_bucket_));
    return EnsureBucket(leases_bucket_);
  }

  std::string_view engine() const override { return "nats"; }

  // The server's max_payload (1 MB by default) counts a message's headers too; an append's
  // (Nats-Msg-Id with a stream and batch id of at most kMaxNameBytes each,
  // Nats-Expected-Last-Subject-Sequence) fit in kHeaderRoom.
  size_t max_record_bytes() const override {
    constexpr int64_t kHeaderRoom = 1024;
    const auto engine =
        static_cast<size_t>(std::max<int64_t>(natsConnection_GetMaxPayload(nc_) - kHeaderRoom, 0));
    return std::min(options_.max_record_bytes, engine);
  }

 private:
  Status DoAppend(std::string_view stream, std::string_view batch_id,
                  std::span<const std::string> payloads,
                  std::vector<Position>* positions) override {
    const std::string subject = Subject(stream);
    if (payloads.size() == 1) {
      std::string msg_id;
      const jsPubOptions po = AppendOptions(stream, batch_id, 0, &msg_id);
      LIVEREC_ASSIGN_OR_RETURN(const uint64_t sequence,
                               Publish(subject, payloads[0], po, "append to '" + subject + "'"));
      positions->push_back(sequence);
      return Status::Ok();
    }
    LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<AsyncPublisher> publisher, TakePublisher());
    positions->assign(payloads.size(), 0);
    const Status status = AppendAsync(*publisher, subject, stream, batch_id, payloads, positions);
    PutPublisher(std::move(publisher));
    if (!status.ok()) positions->clear();
    return status;
  }

  Status DoAppendIfLast(std::string_view stream, Position expected_last,
                        std::span<const std::string> payloads,
                        std::vector<Position>* positions) override {
    const std::string subject = Subject(stream);
    Position expected = expected_last;
    for (size_t i = 0; i < payloads.size(); ++i) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      if (expected == 0) {
        po.ExpectNoMessage = true;
      } else {
        po.ExpectLastSubjectSeq = expected;
      }
      jsErrCode jerr = static_cast<jsErrCode>(0);
      auto sequence = Publish(subject, payloads[i], po, "append to '" + subject + "'", &jerr);
      if (!sequence.ok()) {
        if (jerr != JSStreamWrongLastSequenceErr) return sequence.status();
        return FailedPrecondition("nats: fenced: stream '" + std::string(stream) +
                                  "' does not end at " + std::to_string(expected) + " (record " +
                                  std::to_string(i) + " of " + std::to_string(payloads.size()) +
                                  ", " + std::to_string(i) +
                                  " appended before it): " + sequence.status().message());
      }
      positions->push_back(*sequence);
      expected = *sequence;
    }
    return Status::Ok();
  }

  Status DoRead(std::string_view stream, Position after, size_t max, milliseconds wait,
                std::vector<Record>* out) override {
    const size_t before = out->size();
    LIVEREC_RETURN_IF_ERROR(ReadOnce(stream, after, max, wait, out));
    if (out->size() != before || wait.count() > 0) return Status::Ok();
    // A pull may answer "no messages" for a record whose publish was acknowledged a moment
    // before: the consumer learns of new records asynchronously. A read must see every record
    // acknowledged before it began, so when the subject holds one after `after`, pull again
    // and wait for it.
    LIVEREC_ASSIGN_OR_RETURN(const Position last, DoLast(stream));
    if (last <= after) return Status::Ok();
    return ReadOnce(stream, after, max, options_.timeout, out);
  }

  Status ReadOnce(std::string_view stream, Position after, size_t max, milliseconds wait,
                  std::vector<Record>* out) {
    const size_t batch = std::min(max, kMaxReadBatch);
    std::unique_ptr<Reader> reader = TakeReader(stream, after);
    for (bool retried = false;; retried = true) {
      if (reader == nullptr) {
        LIVEREC_ASSIGN_OR_RETURN(reader, NewReader(stream, after));
      }
      const size_t before = out->size();
      bool consumer_gone = false;
      size_t repeated = 0;
      Status status = Pull(*reader, batch, wait, out, &consumer_gone, &repeated);
      // A pull that brought only records the reader had is followed by one for the rest.
      while (status.ok() && out->size() == before && repeated > 0) {
        repeated = 0;
        status = Pull(*reader, batch, wait, out, &consumer_gone, &repeated);
      }
      if (status.ok()) {
        PutReader(stream, std::move(reader));
        return status;
      }
      DropReader(std::move(reader));
      // A consumer the server dropped for idleness (or lost in a restart) is made again, once,
      // if this read got nothing from it yet.
      if (!consumer_gone || retried || out->size() != before) return status;
    }
  }

  StatusOr<Position> DoLast(std::string_view stream) override {
    const std::string subject = Subject(stream);
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s =
        js_GetLastMsg(&raw, js_, stream_name_.c_str(), subject.c_str(), nullptr, &jerr);
    MsgPtr msg(raw);
    if (s == NATS_NOT_FOUND) return Position{0};
    if (s != NATS_OK) return NatsError("last record of '" + subject + "'", s, jerr);
    return natsMsg_GetSequence(msg.get());
  }

  Status DoCommit(std::string_view stream, std::string_view consumer, Position upto) override {
    const std::string key = KvSubject(checkpoints_bucket_, stream);
    for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
      LIVEREC_ASSIGN_OR_RETURN(const KvEntry entry, KvGet(checkpoints_bucket_, key));
      LIVEREC_ASSIGN_OR_RETURN(Checkpoints checkpoints, ReadCheckpoints(entry, key));
      const auto it = checkpoints.find(consumer);
      if (it != checkpoints.end() && it->second >= upto) return Status::Ok();
      checkpoints[std::string(consumer)] = upto;
      LIVEREC_ASSIGN_OR_RETURN(const bool swapped,
                               KvSwap(key, FormatCheckpoints(checkpoints), entry.revision));
      if (swapped) return Status::Ok();
    }
    return Contended(key);
  }

  StatusOr<Position> DoCommitted(std::string_view stream, std::string_view consumer) override {
    const std::string key = KvSubject(checkpoints_bucket_, stream);
    LIVEREC_ASSIGN_OR_RETURN(const KvEntry entry, KvGet(checkpoints_bucket_, key));
    LIVEREC_ASSIGN_OR_RETURN(const Checkpoints checkpoints, ReadCheckpoints(entry, key));
    const auto it = checkpoints.find(consumer);
    return it == checkpoints.end() ? Position{0} : it->second;
  }

  StatusOr<Position> DoTrim(std::string_view stream) override {
    const std::string key = KvSubject(checkpoints_bucket_, stream);
    LIVEREC_ASSIGN_OR_RETURN(const KvEntry entry, KvGet(checkpoints_bucket_, key));
    LIVEREC_ASSIGN_OR_RETURN(const Checkpoints checkpoints, ReadCheckpoints(entry, key));
    if (checkpoints.empty()) return Position{0};
    Position upto = checkpoints.begin()->second;
    for (const auto& [consumer, position] : checkpoints) upto = std::min(upto, position);
    LIVEREC_ASSIGN_OR_RETURN(const Position last, Last(stream));
    // Purge below `keep_from`; the last record always stays (see the top comment).
    const Position keep_from = std::min(upto + 1, last);
    if (keep_from <= 1) return upto;
    const std::string subject = Subject(stream);
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subject.c_str();
    o.Stream.Purge.Sequence = keep_from;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_PurgeStream(js_, stream_name_.c_str(), &o, &jerr);
    if (s != NATS_OK) {
      return NatsError("purge '" + subject + "' below " + std::to_string(keep_from), s, jerr);
    }
    return upto;
  }

  StatusOr<Lease> DoAcquire(std::string_view name, std::string_view holder,
                            milliseconds ttl) override {
    const std::string key = KvSubject(leases_bucket_, name);
    for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
      LIVEREC_ASSIGN_OR_RETURN(const KvEntry entry, KvGet(leases_bucket_, key));
      LIVEREC_ASSIGN_OR_RETURN(const LeaseValue current, ReadLease(entry, key));
      LeaseValue next{entry.revision + 1, static_cast<uint64_t>(ttl.count()), std::string(holder)};
      if (current.holder == holder) {
        next.token = current.token;  // a renewal keeps its token
      } else if (!current.holder.empty()) {
        LIVEREC_ASSIGN_OR_RETURN(const int64_t now_ns, ServerNowNs());
        const int64_t expiry_ns =
            entry.created_ns + static_cast<int64_t>(current.ttl_ms) * kNanosPerMilli;
        if (now_ns < expiry_ns) {
          return AlreadyExists("nats: lease '" + std::string(name) + "' is held by '" +
                               current.holder + "' (token " + std::to_string(current.token) +
                               ") for another " +
                               std::to_string((expiry_ns - now_ns) / kNanosPerMilli) + " ms");
        }
      }
      LIVEREC_ASSIGN_OR_RETURN(const bool swapped, KvSwap(key, FormatLease(next), entry.revision));
      if (swapped) return Lease{std::string(name), std::string(holder), next.token};
    }
    return Contended(key);
  }

  Status DoRenew(const Lease& lease, milliseconds ttl) override {
    const std::string key = KvSubject(leases_bucket_, lease.name);
    LIVEREC_ASSIGN_OR_RETURN(const KvEntry entry, KvGet(leases_bucket_, key));
    LIVEREC_ASSIGN_OR_RETURN(LeaseValue current, ReadLease(entry, key));
    const auto fenced = [&](std::string_view why) {
      return FailedPrecondition("nats: fenced: lease '" + lease.name + "' of '" + lease.holder +
                                "' (token " + std::to_string(lease.token) + ") " +
                                std::string(why));
    };
    if (current.holder != lease.holder || current.token != lease.token) {
      return fenced(current.holder.empty() ? "was released"
                                           : "is held by '" + current.holder + "' (token " +
                                                 std::to_string(current.token) + ")");
    }
    LIVEREC_ASSIGN_OR_RETURN(const int64_t now_ns, ServerNowNs());
    if (now_ns >= entry.created_ns + static_cast<int64_t>(current.ttl_ms) * kNanosPerMilli) {
      return fenced("lapsed");
    }
    current.ttl_ms = static_cast<uint64_t>(ttl.count());
    LIVEREC_ASSIGN_OR_RETURN(const bool swapped, KvSwap(key, FormatLease(current), entry.revision));
    return swapped ? Status::Ok() : fenced("changed while it was renewed");
  }

  Status DoRelease(const Lease& lease) override {
    const std::string key = KvSubject(leases_bucket_, lease.name);
    for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
      LIVEREC_ASSIGN_OR_RETURN(const KvEntry entry, KvGet(leases_bucket_, key));
      LIVEREC_ASSIGN_OR_RETURN(LeaseValue current, ReadLease(entry, key));
      if (current.holder != lease.holder || current.token != lease.token) return Status::Ok();
      // The token stays in the released entry; the next holder's is above the revision.
      current.holder.clear();
      current.ttl_ms = 0;
      LIVEREC_ASSIGN_OR_RETURN(const bool swapped,
                               KvSwap(key, FormatLease(current), entry.revision));
      if (swapped) return Status::Ok();
    }
    return Contended(key);
  }

  // A read consumer: an ephemeral pull consumer and the inbox its records arrive on.
  struct Reader {
    std::string consumer;      // the server-assigned consumer name
    std::string next_subject;  // where pull requests go
    std::string inbox;
    SubPtr sub;
    Position after = 0;  // the consumer delivers the records after this next
  };

  std::string Subject(std::string_view stream) const {
    return subject_prefix_ + std::string(stream);
  }
  static std::string KvSubject(std::string_view bucket, std::string_view key) {
    return "$KV." + std::string(bucket) + "." + std::string(key);
  }

  static Status Contended(std::string_view key) {
    return Unavailable("nats: '" + std::string(key) + "' changed under " +
                       std::to_string(kMaxCasAttempts) + " compare-and-swap attempts in a row");
  }

  Status EnsureStream() {
    const std::string subjects = subject_prefix_ + ">";
    const int64_t dedup_ns = options_.dedup_window.count() * kNanosPerMilli;
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&raw, js_, stream_name_.c_str(), nullptr, &jerr);
    StreamInfoPtr info(raw);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      const char* subject_list[] = {subjects.c_str()};
      cfg.Name = stream_name_.c_str();
      cfg.Subjects = subject_list;
      cfg.SubjectsLen = 1;
      cfg.Storage = js_FileStorage;
      cfg.Retention = js_LimitsPolicy;
      cfg.Discard = js_DiscardOld;
      cfg.Duplicates = dedup_ns;
      raw = nullptr;
      jerr = static_cast<jsErrCode>(0);
      s = js_AddStream(&raw, js_, &cfg, nullptr, &jerr);
      info.reset(raw);
      if (s == NATS_OK) return Status::Ok();
      if (jerr != JSStreamNameExistErr) {
        return NatsError("create stream '" + stream_name_ + "'", s, jerr);
      }
      // Another connector created it meanwhile: check that one below.
      raw = nullptr;
      s = js_GetStreamInfo(&raw, js_, stream_name_.c_str(), nullptr, &jerr);
      info.reset(raw);
    }
    if (s != NATS_OK) return NatsError("stream '" + stream_name_ + "'", s, jerr);
    jsStreamConfig* cfg = info->Config;
    if (options_.require_durable && cfg->Storage != js_FileStorage) {
      return FailedPrecondition("nats: stream '" + stream_name_ +
                                "' keeps its records in memory; require_durable wants file "
                                "storage");
    }
    const bool has_subjects = std::any_of(cfg->Subjects, cfg->Subjects + cfg->SubjectsLen,
                                          [&](const char* subject) { return subjects == subject; });
    if (!has_subjects) {
      return FailedPrecondition("nats: stream '" + stream_name_ + "' exists without subjects '" +
                                subjects + "' (another prefix mapping to the same name?)");
    }
    if (cfg->Duplicates == dedup_ns) return Status::Ok();
    cfg->Duplicates = dedup_ns;
    jsStreamInfo* updated = nullptr;
    s = js_UpdateStream(&updated, js_, cfg, nullptr, &jerr);
    jsStreamInfo_Destroy(updated);
    if (s != NATS_OK) {
      return NatsError("set the duplicate window of stream '" + stream_name_ + "'", s, jerr);
    }
    return Status::Ok();
  }

  Status EnsureBucket(const std::string& bucket) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket.c_str();
    cfg.History = 1;
    cfg.StorageType = js_FileStorage;
    kvStore* raw = nullptr;
    natsStatus s = js_CreateKeyValue(&raw, js_, &cfg);
    KvPtr kv(raw);
    if (s == NATS_OK) return Status::Ok();
    if (IsTransportFailure(s)) return NatsError("create bucket '" + bucket + "'", s);
    // It exists with another configuration (made by hand, or another version): use it if it
    // is durable enough.
    jsStreamInfo* info_raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const std::string stream = "KV_" + bucket;
    s = js_GetStreamInfo(&info_raw, js_, stream.c_str(), nullptr, &jerr);
    StreamInfoPtr info(info_raw);
    if (s != NATS_OK) return NatsError("bucket '" + bucket + "'", s, jerr);
    if (options_.require_durable && info->Config->Storage != js_FileStorage) {
      return FailedPrecondition("nats: bucket '" + bucket +
                                "' keeps its entries in memory; require_durable wants file "
                                "storage");
    }
    return Status::Ok();
  }

  // The publish options of record `index` of an Append: with a batch id, the header
  // Nats-Msg-Id "<stream>:<batch id>#<index>", kept in `*msg_id`.
  static jsPubOptions AppendOptions(std::string_view stream, std::string_view batch_id,
                                    size_t index, std::string* msg_id) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (!batch_id.empty()) {
      *msg_id = std::string(stream) + ":" + std::string(batch_id) + "#" + std::to_string(index);
      po.MsgId = msg_id->c_str();
    }
    return po;
  }

  // Appends `payloads` (two or more) through `publisher`, setting `*positions` (sized to
  // match, all 0) from the acknowledgements. Records but the last are published
  // asynchronously; the last one synchronously, which also sends at once what libnats still
  // buffers of the others (its flusher would wait up to 1 ms), and whose acknowledgement,
  // JetStream storing a connection's messages in order, comes after theirs. Then it waits for
  // the rest. Returns at the first failure, leaving records in flight to PutPublisher.
  Status AppendAsync(AsyncPublisher& publisher, const std::string& subject, std::string_view stream,
                     std::string_view batch_id, std::span<const std::string> payloads,
                     std::vector<Position>* positions) {
    const size_t count = payloads.size();
    const auto what = [&](size_t record) {
      std::string text = "append to '" + subject + "': record " + std::to_string(record) + " of " +
                         std::to_string(count);
      if (!batch_id.empty()) text += " of batch '" + std::string(batch_id) + "'";
      return text;
    };
    {
      MutexLock lock(&publisher.mu);
      publisher.positions = positions;
    }
    const size_t last = count - 1;
    for (size_t i = 0; i < last; ++i) {
      const std::string& payload = payloads[i];
      if (payload.size() > static_cast<size_t>(INT_MAX)) {
        return OutOfRange("nats: " + what(i) + ": a record of " + std::to_string(payload.size()) +
                          " bytes");
      }
      {
        MutexLock lock(&publisher.mu);
        const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
        bool room = true;
        while (room && !publisher.failed_record.has_value() && publisher.bytes_in_flight > 0 &&
               publisher.bytes_in_flight + payload.size() > kMaxBytesInFlight) {
          room = lock.WaitUntil(&publisher.acked, deadline);
        }
        room = room || publisher.bytes_in_flight + payload.size() <= kMaxBytesInFlight;
        if (publisher.failed_record.has_value()) {
          return Refusal(publisher, what(*publisher.failed_record));
        }
        if (!room) {
          return Unavailable("nats: " + what(i) + ": " +
                             std::to_string(publisher.in_flight.size()) +
                             " records before it not acknowledged within " +
                             std::to_string(options_.timeout.count()) + " ms");
        }
      }
      natsMsg* raw = nullptr;
      natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, payload.data(),
                                    static_cast<int>(payload.size()));
      MsgPtr msg(raw);
      if (s != NATS_OK) return NatsError(what(i), s);
      std::string msg_id;
      jsPubOptions po = AppendOptions(stream, batch_id, i, &msg_id);
      {
        // Before the publish: its acknowledgement may come before js_PublishMsgAsync returns.
        MutexLock lock(&publisher.mu);
        publisher.in_flight.emplace(msg.get(), i);
        publisher.bytes_in_flight += payload.size();
      }
      s = js_PublishMsgAsync(publisher.js, &raw, &po);
      if (s != NATS_OK) {
        // libnats kept no reference to the message, and OnAck will not see it.
        MutexLock lock(&publisher.mu);
        publisher.in_flight.erase(msg.get());
        publisher.bytes_in_flight -= payload.size();
        return NatsError(what(i), s);
      }
      (void)msg.release();  // libnats owns it now (and OnAck may have destroyed it already)
    }
    {
      MutexLock lock(&publisher.mu);
      if (publisher.failed_record.has_value()) {
        return Refusal(publisher, what(*publisher.failed_record));
      }
    }
    std::string msg_id;
    const jsPubOptions po = AppendOptions(stream, batch_id, last, &msg_id);
    const StatusOr<uint64_t> sequence = Publish(subject, payloads[last], po, what(last));
    if (!sequence.ok()) {
      MutexLock lock(&publisher.mu);
      if (publisher.failed_record.has_value()) {
        return Refusal(publisher, what(*publisher.failed_record));
      }
      if (publisher.in_flight.empty()) return sequence.status();
      // Likely the same cause (the server gone, say) holds up the records before it too.
      return Status(sequence.status().code(), sequence.status().message() + "; " +
                                                  std::to_string(publisher.in_flight.size()) +
                                                  " records before it not acknowledged yet");
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = options_.timeout.count();
    const natsStatus s = js_PublishAsyncComplete(publisher.js, &wait);
    MutexLock lock(&publisher.mu);
    (*positions)[last] = *sequence;
    if (publisher.failed_record.has_value()) {
      return Refusal(publisher, what(*publisher.failed_record));
    }
    if (s != NATS_OK || !publisher.in_flight.empty()) {
      const auto unacknowledged = std::find(positions->begin(), positions->end(), Position{0});
      return NatsError(
          what(static_cast<size_t>(unacknowledged - positions->begin())),
          s != NATS_OK ? s : NATS_TIMEOUT, static_cast<jsErrCode>(0),
          "not acknowledged within " + std::to_string(options_.timeout.count()) + " ms");
    }
    return Status::Ok();
  }

  // An idle publisher, or a new one.
  StatusOr<std::unique_ptr<AsyncPublisher>> TakePublisher() {
    {
      MutexLock lock(&publishers_mu_);
      if (!idle_publishers_.empty()) {
        std::unique_ptr<AsyncPublisher> publisher = std::move(idle_publishers_.back());
        idle_publishers_.pop_back();
        return publisher;
      }
    }
    auto publisher = std::make_unique<AsyncPublisher>();
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = options_.timeout.count();
    o.PublishAsync.MaxPending = kMaxRecordsInFlight;
    o.PublishAsync.AckHandler = OnAck;
    o.PublishAsync.AckHandlerClosure = publisher.get();
    // A publish finding kMaxRecordsInFlight unacknowledged waits this long for one.
    o.PublishAsync.StallWait = options_.timeout.count();
    const natsStatus s = natsConnection_JetStream(&publisher->js, nc_, &o);
    if (s != NATS_OK) return NatsError("JetStream context for appends", s);
    return publisher;
  }

  // Ends the Append using `publisher` and keeps it for another (or drops it).
  void PutPublisher(std::unique_ptr<AsyncPublisher> publisher) {
    // After a failure, take back the records still awaiting an acknowledgement: libnats drops
    // acknowledgements that come for them later.
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, publisher->js) == NATS_OK) {
      natsMsgList_Destroy(&pending);
    }
    // libnats counts a record pending until OnAck returns; wait for calls under way.
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = options_.timeout.count();
    const natsStatus s = js_PublishAsyncComplete(publisher->js, &wait);
    {
      MutexLock lock(&publisher->mu);
      publisher->in_flight.clear();
      publisher->bytes_in_flight = 0;
      publisher->positions = nullptr;
      publisher->failed_record.reset();
      publisher->failed_status = NATS_OK;
      publisher->failed_code = static_cast<jsErrCode>(0);
      publisher->failed_text.clear();
    }
    if (s != NATS_OK) {
      // An OnAck call did not end: libnats may still call it with this publisher, so it is
      // neither reused nor freed (nor its context destroyed). Not seen to happen.
      (void)publisher.release();
      return;
    }
    MutexLock lock(&publishers_mu_);
    if (idle_publishers_.size() < kMaxIdlePublishers) {
      idle_publishers_.push_back(std::move(publisher));
    }
  }

  // Publishes one record and returns its stream sequence (the first one for a duplicate).
  StatusOr<uint64_t> Publish(const std::string& subject, std::string_view payload,
                             const jsPubOptions& po, std::string_view what,
                             jsErrCode* jerr_out = nullptr) {
    if (payload.size() > static_cast<size_t>(INT_MAX)) {
      return OutOfRange("nats: " + std::string(what) + ": a record of " +
                        std::to_string(payload.size()) + " bytes");
    }
    natsMsg* raw_msg = nullptr;
    natsStatus s = natsMsg_Create(&raw_msg, subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    MsgPtr msg(raw_msg);
    if (s != NATS_OK) return NatsError(what, s);
    jsPubOptions options = po;
    jsPubAck* raw_ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_PublishMsg(&raw_ack, js_, msg.get(), &options, &jerr);
    PubAckPtr ack(raw_ack);
    if (jerr_out != nullptr) *jerr_out = jerr;
    if (s != NATS_OK) return NatsError(what, s, jerr);
    return ack->Sequence;
  }

  // The latest entry of `subject` ("$KV.<bucket>.<key>"), read from the stream's leader.
  StatusOr<KvEntry> KvGet(const std::string& bucket, const std::string& subject) {
    const std::string stream = "KV_" + bucket;
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetLastMsg(&raw, js_, stream.c_str(), subject.c_str(), nullptr, &jerr);
    MsgPtr msg(raw);
    KvEntry entry;
    if (s == NATS_NOT_FOUND) return entry;
    if (s != NATS_OK) return NatsError("read '" + subject + "'", s, jerr);
    entry.revision = natsMsg_GetSequence(msg.get());
    entry.created_ns = natsMsg_GetTime(msg.get());
    // A delete or purge marker (an operator's `nats kv del`) is an absent key with a revision.
    if (Header(msg.get(), kKvOperationHeader).has_value()) return entry;
    entry.exists = true;
    entry.value = std::string(MsgData(msg.get()));
    return entry;
  }

  // Writes `value` to `subject` if its latest revision is still `revision` (0: no message).
  // false when it is not.
  StatusOr<bool> KvSwap(const std::string& subject, std::string_view value, uint64_t revision) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (revision == 0) {
      po.ExpectNoMessage = true;
    } else {
      po.ExpectLastSubjectSeq = revision;
    }
    jsErrCode jerr = static_cast<jsErrCode>(0);
    auto sequence = Publish(subject, value, po, "write '" + subject + "'", &jerr);
    if (sequence.ok()) return true;
    if (jerr == JSStreamWrongLastSequenceErr) return false;
    return sequence.status();
  }

  static StatusOr<Checkpoints> ReadCheckpoints(const KvEntry& entry, std::string_view key) {
    if (!entry.exists) return Checkpoints{};
    auto checkpoints = ParseCheckpoints(entry.value);
    if (!checkpoints) {
      return Corruption("nats: '" + std::string(key) + "' holds no checkpoints: '" +
                        entry.value.substr(0, 64) + "'");
    }
    return std::move(*checkpoints);
  }

  static StatusOr<LeaseValue> ReadLease(const KvEntry& entry, std::string_view key) {
    if (!entry.exists) return LeaseValue{};
    auto lease = ParseLease(entry.value);
    if (!lease) {
      return Corruption("nats: '" + std::string(key) + "' holds no lease: '" +
                        entry.value.substr(0, 64) + "'");
    }
    return std::move(*lease);
  }

  // The server's clock now: the time it stores a fresh write at. A later writer's entry may be
  // read instead of ours; its time is still no later than this call's end.
  StatusOr<int64_t> ServerNowNs() {
    const std::string subject = KvSubject(leases_bucket_, kClockKey);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    LIVEREC_RETURN_IF_ERROR(Publish(subject, "", po, "write '" + subject + "'").status());
    LIVEREC_ASSIGN_OR_RETURN(const KvEntry entry, KvGet(leases_bucket_, subject));
    if (entry.created_ns == 0) {
      return Internal("nats: '" + subject + "' has no timestamp after a write");
    }
    return entry.created_ns;
  }

  // The cached reader of `stream` if it stands at `after`; a reader elsewhere is dropped.
  std::unique_ptr<Reader> TakeReader(std::string_view stream, Position after) {
    std::unique_ptr<Reader> reader;
    {
      MutexLock lock(&readers_mu_);
      const auto it = readers_.find(stream);
      if (it == readers_.end()) return nullptr;
      reader = std::move(it->second);
      readers_.erase(it);
    }
    if (reader->after == after) return reader;
    DropReader(std::move(reader));
    return nullptr;
  }

  void PutReader(std::string_view stream, std::unique_ptr<Reader> reader) {
    std::unique_ptr<Reader> extra;
    {
      MutexLock lock(&readers_mu_);
      std::unique_ptr<Reader>& slot = readers_[std::string(stream)];
      // Two threads read the same stream at once: keep one reader.
      extra = std::move(slot);
      slot = std::move(reader);
    }
    if (extra != nullptr) DropReader(std::move(extra));
  }

  // Deletes the reader's consumer (best effort: the server drops it after kReaderIdle anyway).
  void DropReader(std::unique_ptr<Reader> reader) {
    if (reader == nullptr) return;
    natsSubscription_Unsubscribe(reader->sub.get());
    js_DeleteConsumer(js_, stream_name_.c_str(), reader->consumer.c_str(), nullptr, nullptr);
  }

  StatusOr<std::unique_ptr<Reader>> NewReader(std::string_view stream, Position after) {
    const std::string subject = Subject(stream);
    auto reader = std::make_unique<Reader>();
    reader->after = after;
    natsInbox* inbox = nullptr;
    natsStatus s = natsInbox_Create(&inbox);
    if (s != NATS_OK) return NatsError("create an inbox", s);
    reader->inbox = inbox;
    natsInbox_Destroy(inbox);
    natsSubscription* raw_sub = nullptr;
    s = natsConnection_SubscribeSync(&raw_sub, nc_, reader->inbox.c_str());
    reader->sub.reset(raw_sub);
    if (s != NATS_OK) return NatsError("subscribe to '" + reader->inbox + "'", s);
    s = natsSubscription_SetPendingLimits(reader->sub.get(), static_cast<int>(2 * kMaxReadBatch),
                                          kMaxPendingBytes);
    if (s != NATS_OK) return NatsError("set the limits of '" + reader->inbox + "'", s);

    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.DeliverPolicy = js_DeliverByStartSequence;
    cfg.OptStartSeq = after + 1;
    cfg.AckPolicy = js_AckNone;
    cfg.FilterSubject = subject.c_str();
    cfg.InactiveThreshold = kReaderIdle.count() * kNanosPerMilli;
    jsConsumerInfo* raw_info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&raw_info, js_, stream_name_.c_str(), &cfg, nullptr, &jerr);
    ConsumerInfoPtr info(raw_info);
    if (s != NATS_OK) return NatsError("create a consumer of '" + subject + "'", s, jerr);
    reader->consumer = info->Name;
    reader->next_subject = "$JS.API.CONSUMER.MSG.NEXT." + stream_name_ + "." + reader->consumer;
    return reader;
  }

  // One pull request of up to `batch` records; see the top comment. Sets `*consumer_gone`
  // when the consumer no longer exists, and counts in `*repeated` the records skipped as
  // delivered before.
  Status Pull(Reader& reader, size_t batch, milliseconds wait, std::vector<Record>* out,
              bool* consumer_gone, size_t* repeated) {
    std::string request = "{\"batch\":" + std::to_string(batch) + ",\"no_wait\":true";
    if (wait.count() > 0)
      request += ",\"expires\":" + std::to_string(wait.count() * kNanosPerMilli);
    request += "}";
    const std::string what = "read from consumer '" + reader.consumer + "'";
    natsStatus s = natsConnection_PublishRequestString(nc_, reader.next_subject.c_str(),
                                                       reader.inbox.c_str(), request.c_str());
    if (s != NATS_OK) return NatsError(what, s);
    const auto deadline = std::chrono::steady_clock::now() + wait + options_.timeout;
    for (size_t count = 0; count < batch;) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return NatsError(what, NATS_TIMEOUT);
      natsMsg* raw = nullptr;
      s = natsSubscription_NextMsg(&raw, reader.sub.get(), left.count());
      MsgPtr msg(raw);
      if (s != NATS_OK) return NatsError(what, s);
      const auto status =
          natsMsg_GetDataLength(msg.get()) == 0 ? Header(msg.get(), kStatusHeader) : std::nullopt;
      if (!status.has_value()) {
        jsMsgMetaData* raw_meta = nullptr;
        s = natsMsg_GetMetaData(&raw_meta, msg.get());
        MetaPtr meta(raw_meta);
        if (s != NATS_OK) return NatsError(what + ": a record's metadata", s);
        // A consumer's delivered state is written lazily; after a restart of the server it
        // can start again below what it had delivered. What the reader has is not read twice.
        // (It still counts against the request's batch, which the server ends after n.)
        ++count;
        if (meta->Sequence.Stream <= reader.after) {
          ++*repeated;
          continue;
        }
        out->push_back(Record{meta->Sequence.Stream, std::string(MsgData(msg.get()))});
        reader.after = meta->Sequence.Stream;
        continue;
      }
      const std::string_view code = *status;
      if (code.starts_with("100")) continue;  // an idle heartbeat
      // 404: nothing there; 408: the request ended (the records ran out, or `wait` did).
      if (code.starts_with("404") || code.starts_with("408")) return Status::Ok();
      // 503: no responder, the consumer is gone; 409: the server ended the request (the
      // consumer was deleted, or a limit).
      *consumer_gone = code.starts_with("503") || code.starts_with("409");
      const auto description = Header(msg.get(), kDescriptionHeader);
      return Unavailable("nats: " + what + ": status " + std::string(code) +
                         (description ? " " + std::string(*description) : std::string()));
    }
    return Status::Ok();
  }

  natsConnection* const nc_;
  jsCtx* const js_;
  const ConnectorOptions options_;
  const std::string stream_name_;     // the JetStream stream
  const std::string subject_prefix_;  // "<prefix>.s."
  const std::string checkpoints_bucket_;
  const std::string leases_bucket_;

  Mutex readers_mu_;
  // Read consumers by liverec stream; a Read takes its out meanwhile.
  std::map<std::string, std::unique_ptr<Reader>, std::less<>> readers_
      LIVEREC_GUARDED_BY(readers_mu_);

  Mutex publishers_mu_;
  // Asynchronous publishers no Append uses now.
  std::vector<std::unique_ptr<AsyncPublisher>> idle_publishers_ LIVEREC_GUARDED_BY(publishers_mu_);
};

}  // namespace

StatusOr<std::unique_ptr<Connector>> OpenNatsConnector(const std::string& host, int port,
                                                       const ConnectorOptions& options) {
  const std::string url = "nats://" + host + ":" + std::to_string(port);
  LIVEREC_RETURN_IF_ERROR(CheckName("prefix", options.prefix));
  if (options.timeout.count() <= 0) {
    return InvalidArgument("timeout: " + std::to_string(options.timeout.count()) +
                           " ms; expected a positive duration");
  }
  natsOptions* raw_opts = nullptr;
  natsStatus s = natsOptions_Create(&raw_opts);
  OptionsPtr opts(raw_opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts.get(), url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), "liverec");
  // The connect timeout; a failed first connect is not retried (no RetryOnFailedConnect), so
  // an engine that does not answer fails Open at once. Once connected, libnats reconnects on
  // its own, and each call meanwhile gives up after options.timeout.
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), options.timeout.count());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), kReconnectWait.count());
  if (s != NATS_OK) return NatsError("options for " + url, s);

  natsConnection* nc = nullptr;
  s = natsConnection_Connect(&nc, opts.get());
  if (s != NATS_OK) {
    natsConnection_Destroy(nc);
    return NatsError("connect to " + url, s);
  }
  jsOptions js_opts;
  jsOptions_Init(&js_opts);
  js_opts.Wait = options.timeout.count();
  jsCtx* js = nullptr;
  s = natsConnection_JetStream(&js, nc, &js_opts);
  if (s != NATS_OK) {
    natsConnection_Destroy(nc);
    return NatsError("JetStream context for " + url, s);
  }
  auto connector = std::make_unique<NatsConnector>(nc, js, options);
  LIVEREC_RETURN_IF_ERROR(connector->Setup());
  return std::unique_ptr<Connector>(std::move(connector));
}

}  // namespace liverec::connect
