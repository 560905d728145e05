// libFuzzer entry point: feeds arbitrary bytes through ParseDataset. The first byte picks the
// format, the file name (which drives auto-detection) and a few options; the rest is the file.
// Any crash, sanitizer report or broken Dataset invariant is a finding; error statuses are not.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "event/readers.h"

namespace liverec {
namespace {

constexpr std::array<DataFormat, 4> kFormats = {DataFormat::kAuto, DataFormat::kMovieLens,
                                                DataFormat::kCsv, DataFormat::kJsonl};
constexpr std::array<std::string_view, 4> kNames = {"fuzz", "fuzz.csv", "fuzz.jsonl", "u.data"};
constexpr std::array<TimeUnit, 4> kTimeUnits = {TimeUnit::kAuto, TimeUnit::kSeconds,
                                                TimeUnit::kMilliseconds, TimeUnit::kAuto};
constexpr size_t kSmallMaxEvents = 3;

// What every Dataset the readers return must satisfy.
void CheckInvariants(const Dataset& d, const ReadStats& stats) {
  LIVEREC_CHECK(stats.events == d.events.size());
  LIVEREC_CHECK(stats.events + stats.skipped == stats.lines);
  ItemId max_item_seen = 0;
  UserId max_user_seen = 0;
  for (size_t i = 0; i < d.events.size(); ++i) {
    const Event& e = d.events[i];
    if (i > 0) LIVEREC_CHECK(d.events[i - 1].time_ms <= e.time_ms);
    LIVEREC_CHECK(e.user < d.users.size() && e.item < d.items.size());
    // Ids are assigned in order of first appearance.
    LIVEREC_CHECK(e.user <= max_user_seen + 1 && e.item <= max_item_seen + 1);
    if (i == 0) LIVEREC_CHECK(e.user == 0 && e.item == 0);
    max_user_seen = std::max(max_user_seen, e.user);
    max_item_seen = std::max(max_item_seen, e.item);
    LIVEREC_CHECK(e.type < d.event_types.size());
    LIVEREC_CHECK(e.id == kInvalidId || e.id < d.event_ids.size());
    LIVEREC_CHECK(size_t{e.context_begin} + e.context_size <= d.context.size());
    for (const ContextPair& c : d.ContextOf(e)) {
      LIVEREC_CHECK(c.key < d.context_keys.size() && c.value < d.context_values.size());
    }
    LIVEREC_CHECK(!d.users.Key(e.user).empty() && !d.items.Key(e.item).empty());
  }
}

}  // namespace
}  // namespace liverec

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liverec;
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  ReadOptions options;
  options.format = kFormats[selector & 3];
  options.skip_bad = (selector & 4) != 0;
  options.time_unit = kTimeUnits[(selector >> 3) & 3];
  options.max_events = (selector & 0x20) != 0 ? kSmallMaxEvents : 0;
  const std::string_view name = kNames[(selector >> 6) & 3];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  ReadStats stats;
  StatusOr<Dataset> dataset = ParseDataset(bytes, name, options, &stats);
  if (dataset.ok()) {
    CheckInvariants(*dataset, stats);
    if (options.max_events != 0) LIVEREC_CHECK(dataset->events.size() <= options.max_events);
  } else {
    LIVEREC_CHECK(!dataset.status().message().empty());
  }
  return 0;
}
