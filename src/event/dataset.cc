#include "event/dataset.h"

#include <algorithm>
#include <numeric>

#include "common/check.h"

namespace liverec {

Event& Dataset::Add(std::string_view user_key, std::string_view item_key, int64_t time_ms) {
  Event& e = events.emplace_back();
  e.user = users.GetOrAdd(user_key);
  e.item = items.GetOrAdd(item_key);
  e.time_ms = time_ms;
  e.context_begin = static_cast<uint32_t>(context.size());
  return e;
}

void Dataset::AddContext(std::string_view key, std::string_view value) {
  LIVEREC_CHECK(!events.empty());
  Event& e = events.back();
  LIVEREC_CHECK(e.context_begin + e.context_size == context.size());
  LIVEREC_CHECK(e.context_size < UINT16_MAX) << "too many context pairs";
  context.push_back({context_keys.GetOrAdd(key), context_values.GetOrAdd(value)});
  ++e.context_size;
}

namespace {

// Renumbers `ids` (a field of every event) in order of first appearance; rebuilds `map`.
template <typename Field>
void Renumber(std::vector<Event>& events, IdMap& map, Field field) {
  std::vector<uint32_t> new_id(map.size(), kInvalidId);
  IdMap renumbered;
  for (Event& e : events) {
    uint32_t& id = e.*field;
    if (new_id[id] == kInvalidId) new_id[id] = renumbered.GetOrAdd(map.Key(id));
    id = new_id[id];
  }
  // Keys that no event uses (none today) keep ids after the used ones.
  for (uint32_t old = 0; old < map.size(); ++old) {
    if (new_id[old] == kInvalidId) renumbered.GetOrAdd(map.Key(old));
  }
  map = std::move(renumbered);
}

}  // namespace

void Dataset::SortByTime() {
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.time_ms < b.time_ms; });
  Renumber(events, users, &Event::user);
  Renumber(events, items, &Event::item);
}

}  // namespace liverec
