// LogEntry: one record of the engine's event log — an event, a change of item or user
// metadata, a rollback, a decision (a list served), or an experiment started, ramped or
// stopped — and its binary codec. The store's log frames and checksums these
// bytes without knowing what they hold; docs/formats/log_entry.md has the byte-level spec.
//
// Entries carry external keys only (never dense ids), so a log replays into any id map.
//
// Thread safety: free functions on values.
#ifndef LIVEREC_ENGINE_LOG_ENTRY_H_
#define LIVEREC_ENGINE_LOG_ENTRY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "event/event_record.h"
#include "liverec/engine.h"
#include "liverec/experiment.h"
#include "liverec/status.h"

namespace liverec {

// The first byte of every entry. Values are part of the format: never reuse one.
enum class LogEntryKind : uint8_t {
  kEvent = 1,           // EventRecord (event/event_record.h) follows, with its own version byte
  kPutItem = 2,         // item key + ItemMetadata
  kDeleteItem = 3,      // item key
  kPutUser = 4,         // user key + UserMetadata
  kRollback = 5,        // u64 sequence number of the snapshot to return to
  kDecision = 6,        // DecisionRecord
  kPutExperiment = 7,   // ExperimentSpec + the time it was put
  kStopExperiment = 8,  // experiment name + the time it was stopped
  kErased = 9,          // nothing: a record whose content a user's deletion erased
  kDeleteUser = 10,     // user key + deletion id: forget the user (DELETE /v1/users/{id})
  kUnlearned = 11,      // deletion id: the models were replayed without its user from here on
};

// A list the engine served, as the feedback loop joins events to it.
struct DecisionRecord {
  struct Shown {
    std::string item;
    float score = 0;
    double probability = 1;  // of this item at this position given the items above
    std::string team = {};   // interleaving: the arm whose list placed it; "" = none
    bool operator==(const Shown&) const = default;
  };
  std::string recommendation_id;
  std::string user;
  int64_t time_ms = 0;  // the server clock when served
  std::string model;    // the instance (or member) that ranked it
  uint64_t model_version = 0;
  std::string experiment;  // "" = none
  std::string arm;
  std::string explore;  // the exploration policy (ExploreSpec::ToString); "none"
  std::vector<Shown> items;
  // The engine's time to answer (its read lock's wait included), in microseconds, at least 1;
  // 0 = not measured (entries before version 3).
  uint32_t latency_us = 0;
  // Non-empty: the request failed for this experiment arm (the status, "not_found: ..."); no
  // items and no recommendation id. Only failures an arm may cause are recorded.
  std::string error;

  bool operator==(const DecisionRecord&) const = default;
};

// A failed request's DecisionRecord::error keeps at most this many bytes of the status.
inline constexpr size_t kMaxDecisionErrorBytes = 512;

// The version byte after the kind of every non-event entry, as Encode writes it. Decode also
// reads version 1, whose decisions have no teams and whose experiments no type, and version 2,
// whose decisions have no latency or error (docs/formats).
inline constexpr uint8_t kLogEntryVersion = 3;

struct LogEntry {
  LogEntryKind kind = LogEntryKind::kEvent;
  EventRecord event;  // kEvent
  // kPutItem, kDeleteItem: item key; kPutUser, kDeleteUser: user key
  std::string key;
  std::string deletion;       // kDeleteUser, kUnlearned: the deletion's id
  ItemMetadata item;          // kPutItem
  UserMetadata user;          // kPutUser
  uint64_t rollback_seq = 0;  // kRollback
  DecisionRecord decision;    // kDecision
  ExperimentSpec experiment;  // kPutExperiment; kStopExperiment: its name only
  int64_t time_ms = 0;        // kPutExperiment, kStopExperiment

  bool operator==(const LogEntry&) const = default;
};

// OK if `metadata` can be logged: strings at most kMaxEventRecordStringBytes, at most
// kMaxEventRecordContextPairs elements in each list, finite properties. The message names the
// field ("tags[3]: longer than 65536 bytes").
Status ValidateItemMetadata(const ItemMetadata& metadata);
Status ValidateUserMetadata(const UserMetadata& metadata);
// OK if the strings of `decision` are within kMaxEventRecordStringBytes, it shows at most
// kMaxEventRecordContextPairs items and its numbers are finite.
Status ValidateDecision(const DecisionRecord& decision);
// The same for an experiment: strings within the limit, at most kMaxEventRecordContextPairs
// arms, finite numbers. (What the engine accepts is ExperimentSet's to check.)
Status ValidateExperimentSpecLimits(const ExperimentSpec& spec);

// Appends the encoding of `entry`. Requires its parts to pass the Validate functions (a bug of
// the caller aborts).
void EncodeLogEntry(const LogEntry& entry, std::string* out);

// Decodes exactly one entry occupying all of `bytes`. Corruption naming the field for an
// unknown kind or version, truncation, over-long lengths, trailing bytes.
Status DecodeLogEntry(std::string_view bytes, LogEntry* out);

}  // namespace liverec

#endif  // LIVEREC_ENGINE_LOG_ENTRY_H_
