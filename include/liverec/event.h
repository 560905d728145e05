// EventRecord: one feedback event as a client sends it, the unit Engine::Ingest takes. Users
// and items are the client's own string keys; the engine interns them and logs the record as
// it is.
//
// ValidEventRecord: an EventRecord that passed the one validation of an event (the checks of
// ValidateEventRecord in src/event/event_record.h). Only ValidEventRecord::Make creates one, so
// a function that takes it needs no check of its own: the edge that parsed the record validated
// it, once, and said which field was wrong if it was not.
//
// Thread safety: plain values.
#ifndef LIVEREC_EVENT_H_
#define LIVEREC_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "liverec/field_error.h"

namespace liverec {

struct EventRecord {
  std::string user;     // the user's key, non-empty
  std::string item;     // the item's key, non-empty
  std::string type;     // an event type of engine.event_types ("view", "purchase"); "" = untyped
  float value = 1;      // a rating, or 1 for implicit feedback
  int64_t time_ms = 0;  // event time in Unix milliseconds; 0 = when the engine receives it
  std::vector<std::pair<std::string, std::string>> context;  // (key, value), in client order
  std::string id;                 // client-supplied event id; empty = absent
  std::string recommendation_id;  // the recommendation this event answers; empty = absent

  bool operator==(const EventRecord&) const = default;
};

class ValidEventRecord {
 public:
  // `record` as a valid record, or nullopt with *error set to its first invalid field (its
  // FieldError: field, reason, code).
  static std::optional<ValidEventRecord> Make(EventRecord record, FieldError* error);

  const EventRecord& operator*() const { return record_; }
  const EventRecord* operator->() const { return &record_; }
  // Moves the record out (this object is left empty and must not be used again).
  EventRecord Release() && { return std::move(record_); }

 private:
  explicit ValidEventRecord(EventRecord record) : record_(std::move(record)) {}
  EventRecord record_;
};

}  // namespace liverec

#endif  // LIVEREC_EVENT_H_
