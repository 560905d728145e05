// Engine: liverec's online-learning core behind one object — the event log, the apply thread,
// the live models, snapshots and recovery. The HTTP layer (src/serve) and the CLI drive it with
// the native structs below; nothing here knows JSON or HTTP.
//
// Data flow: Ingest validates records and hands them to the bounded ingest queue. The log
// thread appends them to the event log (group commit, fsync per `log.sync`) and acknowledges
// them once durable. The apply thread then, per event, evaluates every live model on it first
// (test-then-train: the online Recall@K and NDCG@K of Stats) and learns from it. Readers
// (Recommend, Similar, GetUser, Stats) see the state after the last applied event; they share a
// reader-writer lock with the apply thread's learning steps, so they never see a torn row.
//
// Durability: an acknowledged event is in the log and survives a crash. Open recovers by
// loading the newest valid snapshot and replaying the log after it; since learning is
// deterministic given the seed and the log order, the recovered state is bit-identical to that
// of an engine that never stopped.
//
// Thread safety: every public method may be called from any thread concurrently.
#ifndef LIVEREC_ENGINE_H_
#define LIVEREC_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "liverec/context.h"
#include "liverec/event.h"
#include "liverec/experiment.h"
#include "liverec/options.h"
#include "liverec/status.h"

namespace liverec {

// Item metadata, as PutItem sets it: each call replaces all of it.
struct ItemMetadata {
  std::vector<std::string> categories;
  std::vector<std::string> tags;
  std::string text;
  std::vector<std::pair<std::string, double>> properties;  // numeric properties, by name
  bool available = true;                                   // false: kept, but never recommended

  bool operator==(const ItemMetadata&) const = default;
};

// User metadata, as PutUser sets it: each call replaces all of it.
struct UserMetadata {
  std::vector<std::pair<std::string, std::string>> attributes;  // (name, value)

  bool operator==(const UserMetadata&) const = default;
};

// What Ingest waits for before returning.
enum class IngestWait {
  kDurable,  // the events are in the log under the sync policy (the default acknowledgement)
  kLearned,  // ... and every live model has learned them (read-your-writes)
  kQueued,   // enqueued only: the log has them soon, but a crash before may lose them (the
             // engine's own decision records; no last_seq)
};

// One rejected record of a batch.
struct IngestError {
  size_t index = 0;   // position in the batch, 0-based
  std::string field;  // "user", "timestamp", "context.device", ... ("" = the whole record)
  std::string reason;
};

struct IngestResult {
  size_t accepted = 0;    // records acknowledged (durable, or learned with kLearned)
  size_t duplicates = 0;  // with kLearned: accepted records whose id was seen before (not
                          // learned again); 0 with kDurable, which does not wait to know
  uint64_t last_seq = 0;  // log sequence number of the last accepted record (0: none)
  std::vector<IngestError> rejected;
};

struct RecommendRequest {
  std::string user;
  size_t k = 10;
  std::string model;         // a live model instance; "" = the default model
  bool exclude_seen = true;  // leave out items the user already consumed
  // Only items in at least one of these categories; empty = any.
  std::vector<std::string> categories;
  // Items never listed (external keys; unknown ones are ignored).
  std::vector<std::string> exclude;
  // Paging: the answer is items [offset, offset + k) of the ranked list, backfill included;
  // at most serve.max_k. Pages are consistent while the state does not change (no learning in
  // between) and without exploration, whose draw is seeded per answer.
  size_t offset = 0;
  bool explain = false;  // fill ScoredItem::because, ::features and ::models
  // Re-ranking for this request (rank.* options when negative): the MMR weight of novelty in
  // [0, 1], and the most items per category (0 = no cap).
  double diversity = -1;
  int64_t category_cap = -1;
  // Exploration for this request (ExploreSpec::Parse: "epsilon:0.05", "softmax:0.5",
  // "squarecb:10"); "" = none, or the experiment arm's.
  std::string explore;
};

struct ScoredItem {
  std::string item;
  float score = 0;
  std::vector<std::string> because;  // with explain: the user's recent items that led here
  // With explain: the item's metadata features that count most for it with this user, as an
  // fm model weighs them, highest first ("category:space", "tag:live", "token:mars").
  std::vector<std::string> features = {};
  // With explain, when an ensemble ranked the item: each member's term in the item's score
  // (its weighted standardized score, or its weighted reciprocal rank under rrf fusion),
  // largest first; the terms sum to the item's score.
  std::vector<std::pair<std::string, float>> models = {};
  bool backfill = false;  // true: the model had too few items; this one is from the fallback
  // The probability the serving policy had of placing this item here, given the items above
  // (1 without exploration).
  double probability = 1;
  // In an interleave experiment's list: the arm whose list placed this item ("" otherwise).
  std::string team = {};
};

struct Recommendations {
  std::string recommendation_id;  // cite it in later events to close the feedback loop
  std::string model;              // the instance that produced the list
  bool fallback = false;          // true: unknown user, the list is the popularity fallback
  uint64_t model_version = 0;     // the log sequence number the state reflects
  std::vector<ScoredItem> items;
  std::string experiment;        // the running experiment serving the user; "" = none
  std::string arm;               // its arm
  std::string explore = "none";  // the exploration policy that drew the list
};

// A user's recent history, newest first.
struct UserInfo {
  std::string user;
  uint64_t num_events = 0;
  std::vector<std::pair<std::string, int64_t>> recent;  // (item, event time ms)
  UserMetadata metadata;
};

// An item as the engine knows it: the metadata PutItem last set (empty without one), and
// whether it may be recommended (not deleted, not put unavailable).
struct ItemInfo {
  std::string item;
  bool has_metadata = false;
  ItemMetadata metadata;
  bool recommendable = true;
};

// Live test-then-train quality of one model on the traffic evaluated so far.
struct ModelStats {
  std::string name;
  std::string type;
  uint64_t evaluated = 0;  // events ranked (a sample of the traffic, see metrics.sample_rate)
  double recall = 0;       // mean Recall@K (hit rate)
  double ndcg = 0;         // mean NDCG@K
  uint64_t memory_bytes = 0;
  // For an ensemble: its members, with the weights they have in its scores now and their mean
  // prequential reward (the share of judged events each ranked in its estimated top K), per
  // user segment (ensemble.segments), and the number of events judged.
  struct Member {
    std::string name;
    std::string type;
    std::vector<double> weights;
    std::vector<double> mean_rewards;
  };
  std::vector<Member> members = {};
  uint64_t judged = 0;
};

struct EngineStats {
  uint64_t events_accepted = 0;   // records acknowledged (all time: derived from the log)
  uint64_t events_applied = 0;    // events learned (all time, including recovery)
  uint64_t events_duplicate = 0;  // skipped as repeated ids (all time)
  uint64_t events_rejected = 0;   // since start
  uint64_t num_users = 0;         // users known now (forgotten ones excluded)
  uint64_t users_forgotten = 0;   // forgotten as idle (engine.user_idle_ttl), all time
  uint64_t items_forgotten = 0;   // forgotten as idle (engine.item_idle_ttl), all time
  // privacy.retention: the cut-off (stream time, ms) of the last completed run, whose older
  // events and decisions are erased and unlearned; 0 before the first run (since start).
  int64_t retention_cutoff_ms = 0;
  uint64_t num_items = 0;    // items known now (forgotten ones excluded)
  uint64_t queue_depth = 0;  // records accepted but not yet applied
  uint64_t queue_capacity = 0;
  uint64_t last_durable_seq = 0;
  uint64_t last_applied_seq = 0;  // the model version
  uint64_t snapshot_seq = 0;      // last applied seq of the newest snapshot (0: none)
  uint32_t metrics_k = 10;
  std::string default_model;
  std::vector<ModelStats> models;
  FeedbackStats feedback;          // decisions and their join with events
  uint64_t decisions_dropped = 0;  // not recorded: the queue was full (since start)
};

// A snapshot: a model version that can be listed and rolled back to.
struct SnapshotEntry {
  uint64_t seq = 0;  // last applied event-log sequence number it holds
  int64_t created_unix_ms = 0;
  uint64_t size_bytes = 0;
};

// A user's deletion (DeleteUser): the user's data erased from the data directory, then the
// models replayed without the user.
struct DeletionInfo {
  std::string deletion;  // its id
  // The user's id as the client sent it; empty once the engine no longer knows it (a deletion
  // completed before the last restart: the data directory keeps no trace of the user).
  std::string user;
  // "pending": serving no longer uses the user's history, metadata or rows; "data_erased": no
  // record of the user is left in the log or snapshots; "complete": every model was replayed
  // without the user as well; "failed": see error (the deletion is retried at the next start).
  std::string state;
  int64_t requested_unix_ms = 0;
  int64_t data_erased_ms = -1;  // milliseconds from the request to data_erased; -1: not yet
  int64_t complete_ms = -1;     // milliseconds from the request to complete; -1: not yet
  std::string error;
};

// What Open found and did, for the operator's log.
struct RecoveryInfo {
  uint64_t snapshot_seq = 0;                   // the snapshot loaded (0: none)
  uint64_t replayed_records = 0;               // log records applied after it
  uint64_t dropped_tail_bytes = 0;             // torn tail cut off the log
  uint64_t dropped_tail_first_seq = 0;         // the first record lost with it (0: none)
  std::vector<std::string> skipped_snapshots;  // "path: reason" of corrupt ones passed over
  double seconds = 0;                          // the whole of Open, of which:
  double snapshot_seconds = 0;                 //   reading, checking and loading the snapshot
  double replay_seconds = 0;                   //   replaying the log after it
};

class Engine {
 public:
  // Opens the engine on options `serve.data_dir` (created if missing) and recovers its state.
  // If the directory holds neither snapshots nor log records and `init_snapshot` is not empty,
  // starts from that snapshot file (written by `liverec train`). Errors: InvalidArgument for
  // bad options; Corruption (naming file and offset) for a damaged log or init snapshot;
  // IOError; FailedPrecondition if another engine holds the directory.
  static StatusOr<std::unique_ptr<Engine>> Open(const Options& options, const Context& context,
                                                const std::string& init_snapshot,
                                                RecoveryInfo* info);

  // Drains the queue, snapshots (if anything was applied since the last one) and stops.
  ~Engine();

  // Enqueues `records` (time_ms 0 = now), then waits for them per `wait`. Records the engine's
  // policy refuses (an event type not in engine.event_types) are rejected (result->rejected,
  // indexed into `records`) and the rest go on. ResourceExhausted when the queue has no room
  // for the batch (nothing is enqueued: retry later); Unavailable after shutdown began; IOError
  // if the log failed (the engine then refuses every later write).
  Status Ingest(std::vector<ValidEventRecord> records, IngestWait wait, IngestResult* result);
  // The same for records not yet validated: each is validated (ValidEventRecord::Make) and the
  // invalid ones are rejected with their field, then the rest are ingested as above.
  Status Ingest(std::vector<EventRecord> records, IngestWait wait, IngestResult* result);

  // Counts `n` records that the edge rejected before Ingest (malformed JSON fields) in
  // Stats().events_rejected.
  void CountRejected(size_t n);

  // How many more events the ingest queue could take now: a hint for refusing a body before
  // parsing it (other clients race for the same room; Ingest decides).
  size_t QueueRoom() const;
  // engine.queue_capacity: a batch of more events can never be enqueued.
  size_t QueueCapacity() const;

  // OK while the event log accepts writes; once an append or fsync failed (a full disk), that
  // error: every later write is refused with it, and the operator must act (free space,
  // restart).
  Status WriteHealth() const;

  // Top-k items for a user. InvalidArgument for k == 0 or k > serve.max_k, or a bad explore;
  // NotFound for an unknown model name. A request that names no model, from a user of a
  // running experiment, is served by the user's arm (its model and ranking settings). With
  // feedback.record_decisions the answer is logged as a decision (see liverec/experiment.h).
  StatusOr<Recommendations> Recommend(const RecommendRequest& request) const;

  // Starts the experiment, or ramps the running one of that name (new shares, added arms);
  // logged, and applied when this returns. InvalidArgument naming the field, FailedPrecondition
  // when its layer has no room. Answers the experiment's report.
  StatusOr<ExperimentReport> PutExperiment(const ExperimentSpec& spec);
  // NotFound for an experiment never started.
  StatusOr<ExperimentReport> GetExperiment(const std::string& name) const;
  std::vector<ExperimentReport> ListExperiments() const;
  // Stops a running experiment (its users return to the default serving); its figures stay
  // readable. NotFound when it is not running.
  StatusOr<ExperimentReport> StopExperiment(const std::string& name);

  // The k items most similar to `item` (item_knn similarity); NotFound for an unknown item.
  StatusOr<std::vector<ScoredItem>> Similar(const std::string& item, size_t k) const;

  // Item and user metadata; logged like events, so durable when these return OK.
  Status PutItem(const std::string& item, const ItemMetadata& metadata);
  // The item is never recommended again (its learned state stays). NotFound if unknown.
  Status DeleteItem(const std::string& item);
  Status PutUser(const std::string& user, const UserMetadata& metadata);
  // NotFound for a user with neither events nor metadata.
  StatusOr<UserInfo> GetUser(const std::string& user, size_t max_recent) const;
  // NotFound for an item with neither events nor metadata.
  StatusOr<ItemInfo> GetItem(const std::string& item) const;

  // Deletes a user: from this call's return on, recommendations no longer use the user's
  // history, metadata or model rows; in the background every record naming the user is erased
  // from the log (kept sequence numbers), the snapshots holding them are deleted, and the
  // models are replayed from the newest snapshot before the user's first record, without the
  // user, and swapped in (docs/http_api.md, "Deleting a user"). Deletions run one at a time,
  // survive a restart (a pending one starts again) and accept any id (a user whose events are
  // only in the log is erased the same way). Returns the deletion as it stands
  // ("pending"). InvalidArgument for an empty id.
  StatusOr<DeletionInfo> DeleteUser(const std::string& user);
  // A deletion by id; with wait_ms > 0, waits up to that long for it to be complete (or
  // failed). NotFound for an unknown id.
  StatusOr<DeletionInfo> GetDeletion(const std::string& deletion, int64_t wait_ms) const;

  EngineStats Stats() const;

  // Writes a snapshot of the current state now; returns it.
  StatusOr<SnapshotEntry> TakeSnapshot();
  StatusOr<std::vector<SnapshotEntry>> ListSnapshots() const;
  // Replaces the live state with that of snapshot `seq` and writes it as a new snapshot at the
  // current sequence number (so recovery keeps the rollback). Events logged after `seq` stay in
  // the log but are not learned by the rolled-back state. NotFound for an unknown seq.
  Status Rollback(uint64_t seq);

  // Reads storage.key_file (and storage.old_key_files) again without stopping: records and
  // snapshots written from now on are sealed with the new current key, while every key in use
  // until now stays readable (a restart then needs the old one in storage.old_key_files until a
  // snapshot under the new key covers the log). Turning sealing on works as at a start; turning
  // it off is refused (FailedPrecondition). `liverec serve` calls it on SIGHUP.
  Status ReloadStorageKeys();

  // True once recovery finished and the apply thread runs (a readiness probe asks this).
  bool ready() const;

  // The bytes of the whole learned state (id maps, models, histories, metadata): equal bytes
  // mean equal state. For tests and `liverec` consistency checks.
  std::string StateFingerprint() const;

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  class Impl;

  // Tests only: learning stops until the returned pause is destroyed, by the thread that made
  // it. Events are still logged, acknowledged and queued, so the queue fills as it would behind
  // slow learning (what a server under an ingest flood sees).
  class LearningPause {
   public:
    ~LearningPause();
    LearningPause(const LearningPause&) = delete;
    LearningPause& operator=(const LearningPause&) = delete;

   private:
    friend class Engine;
    explicit LearningPause(Impl* impl);
    Impl* impl_;
  };
  std::unique_ptr<LearningPause> PauseLearningForTesting();

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_H_
