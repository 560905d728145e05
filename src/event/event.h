// Event: one feedback event after the edge resolved its keys to dense ids, as the models learn
// it. Internal: the public API takes EventRecord (liverec/event.h), whose strings the engine
// interns.
#ifndef LIVEREC_EVENT_EVENT_H_
#define LIVEREC_EVENT_EVENT_H_

#include <cstdint>

#include "common/types.h"

namespace liverec {

// Interned event type ("view", "click", "rating", ...); 0 is the default type of a stream
// that names none. Weights and negative types are the engine's policy, not the event's.
using EventTypeId = uint16_t;
inline constexpr EventTypeId kDefaultEventType = 0;

// One context key-value of an event ("device" = "mobile"), both interned by the Dataset
// (or, in the server, by the engine) into dense ids.
struct ContextPair {
  uint32_t key = 0;
  uint32_t value = 0;
  friend bool operator==(const ContextPair&, const ContextPair&) = default;
};

// One feedback event after the edge has resolved its keys. 40 bytes; the context pairs live
// in the owner's arena at [context_begin, context_begin + context_size).
struct Event {
  int64_t time_ms = 0;  // event time, Unix milliseconds (stream time, not wall time)
  UserId user = kInvalidId;
  ItemId item = kInvalidId;
  float value = 1.0f;  // rating, or 1 for implicit feedback
  EventTypeId type = kDefaultEventType;
  uint16_t context_size = 0;
  uint32_t context_begin = 0;
  uint32_t id = kInvalidId;  // index of the optional idempotency key in the owner's id table
  // How much the event counts, from the engine's event-type policy: > 0 is positive feedback
  // scaled by it (count models add it; mf learns a positive), < 0 is negative feedback (skip,
  // dislike: mf learns the item as a negative, count models ignore it). Datasets use 1.
  float weight = 1.0f;
};

}  // namespace liverec

#endif  // LIVEREC_EVENT_EVENT_H_
