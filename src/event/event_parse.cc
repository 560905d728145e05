#include "event/event_parse.h"

#include <cfloat>
#include <charconv>
#include <climits>
#include <cmath>
#include <limits>
#include <utility>

#include "common/strings.h"

namespace liverec {
namespace {

constexpr size_t kMaxKeptErrors = 10;
constexpr int64_t kMsPerSecond = 1000;
// Event::type is 16 bits.
constexpr size_t kMaxEventTypes = size_t{std::numeric_limits<EventTypeId>::max()} + 1;
constexpr size_t kMaxContextPairsTotal = UINT32_MAX;

}  // namespace

Status EventParse::BadLine(size_t line_no, std::string_view message) {
  Status error = Error(line_no, message);
  if (!options_.skip_bad) return error;
  ++stats_.skipped;
  if (stats_.first_errors.size() < kMaxKeptErrors) stats_.first_errors.push_back(error.message());
  return Status::Ok();
}

Status EventParse::CheckLimits(const LineEvent& e, size_t num_context) const {
  if (dataset_.event_types.size() >= kMaxEventTypes &&
      dataset_.event_types.Find(e.type) == kInvalidId) {
    return InvalidArgument("more than " + std::to_string(kMaxEventTypes) + " distinct event types");
  }
  if (num_context > kMaxContextPairsPerEvent) {
    return InvalidArgument(std::to_string(num_context) + " context pairs; at most " +
                           std::to_string(kMaxContextPairsPerEvent) + " per event");
  }
  if (dataset_.context.size() + num_context > kMaxContextPairsTotal) {
    return InvalidArgument("more than " + std::to_string(kMaxContextPairsTotal) +
                           " context pairs in the data set");
  }
  return Status::Ok();
}

void EventParse::Add(const LineEvent& e) {
  auto type = static_cast<EventTypeId>(dataset_.event_types.GetOrAdd(e.type));
  Event& event = dataset_.Add(e.user, e.item, e.time_ms);
  event.value = e.value;
  event.type = type;
  if (e.has_id) event.id = dataset_.event_ids.GetOrAdd(e.id);
}

Dataset EventParse::Finish() {
  dataset_.SortByTime();
  stats_.events = dataset_.events.size();
  return std::move(dataset_);
}

// Parses straight to float (not through double), so that the shortest text of a float, as
// WriteDataset prints it, reads back as the same float.
bool ParseValue(std::string_view s, float* out) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  float v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
    return false;
  }
  *out = v;
  return true;
}

bool ToFiniteFloat(double v, float* out) {
  if (!std::isfinite(v) || std::fabs(v) > FLT_MAX) return false;
  *out = static_cast<float>(v);
  return true;
}

bool SecondsToMs(int64_t seconds, int64_t* ms) {
  if (seconds > INT64_MAX / kMsPerSecond || seconds < INT64_MIN / kMsPerSecond) return false;
  *ms = seconds * kMsPerSecond;
  return true;
}

}  // namespace liverec
