// Dataset: a whole event stream in memory, with the id maps that resolve its keys.
//
// Readers (readers.h) and the synthetic generator (synthetic.h) produce a Dataset already in
// stream order: stably sorted by time (ties keep file order) and renumbered so that user and
// item ids are assigned in order of first appearance in time. Hence the items seen before
// event e are exactly the ids below the largest item id seen so far plus one, which replay
// and negative sampling rely on.
//
// Memory layout: events are 32-byte structs; context pairs of event e live in
// context[e.context_begin, e.context_begin + e.context_size).
#ifndef LIVEREC_EVENT_DATASET_H_
#define LIVEREC_EVENT_DATASET_H_

#include <span>
#include <string>
#include <vector>

#include "event/event.h"
#include "feature/id_map.h"

namespace liverec {

struct Dataset {
  std::vector<Event> events;
  std::vector<ContextPair> context;  // arena of all events' context pairs
  IdMap users;
  IdMap items;
  IdMap event_types;     // id kDefaultEventType is the stream's first type (or "" if none)
  IdMap context_keys;    // "device", "click_os", ...
  IdMap context_values;  // "mobile", "17", ...
  IdMap event_ids;       // optional idempotency keys (Event::id indexes it)

  std::span<const ContextPair> ContextOf(const Event& e) const {
    return std::span<const ContextPair>(context).subspan(e.context_begin, e.context_size);
  }
  size_t num_users() const { return users.size(); }
  size_t num_items() const { return items.size(); }

  // Appends an event from external keys; returns a reference to fill in value/type/context.
  Event& Add(std::string_view user_key, std::string_view item_key, int64_t time_ms);
  // Appends a context pair to the last added event.
  void AddContext(std::string_view key, std::string_view value);

  // Stable-sorts events by time_ms and renumbers users and items by first appearance.
  void SortByTime();
};

}  // namespace liverec

#endif  // LIVEREC_EVENT_DATASET_H_
