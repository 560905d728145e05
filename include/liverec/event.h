// EventRecord: one feedback event as a client sends it, the unit Engine::Ingest takes. Users
// and items are the client's own string keys; the engine interns them, validates the record
// once (ValidateEventRecord, with a FieldError naming the field) and logs it as it is.
//
// Thread safety: a plain value.
#ifndef LIVEREC_EVENT_H_
#define LIVEREC_EVENT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace liverec

#endif  // LIVEREC_EVENT_H_
