// Helpers shared by the event module's tests (test code only).
#ifndef LIVEREC_EVENT_DATASET_TESTING_H_
#define LIVEREC_EVENT_DATASET_TESTING_H_

#include <string>
#include <utility>
#include <vector>

#include "event/dataset.h"

namespace liverec::testing {

// One event with its keys resolved, so datasets with different id numbering compare.
struct Row {
  std::string user;
  std::string item;
  int64_t time_ms;
  float value;
  std::string type;
  std::vector<std::pair<std::string, std::string>> context;
  std::string id;
  friend bool operator==(const Row&, const Row&) = default;
};

inline std::vector<Row> Rows(const Dataset& d) {
  std::vector<Row> rows;
  for (const Event& e : d.events) {
    Row r{d.users.Key(e.user),
          d.items.Key(e.item),
          e.time_ms,
          e.value,
          d.event_types.Key(e.type),
          {},
          e.id == kInvalidId ? "" : d.event_ids.Key(e.id)};
    for (const ContextPair& c : d.ContextOf(e)) {
      r.context.emplace_back(d.context_keys.Key(c.key), d.context_values.Key(c.value));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace liverec::testing

#endif  // LIVEREC_EVENT_DATASET_TESTING_H_
