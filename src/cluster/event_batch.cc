#include "cluster/event_batch.h"

#include <cmath>

#include "common/serialize.h"

namespace liverec::cluster {
namespace {

constexpr uint8_t kEventFormat = 1;

}  // namespace

std::string EncodeEventBatch(std::span<const Event> events) {
  BinaryWriter out;
  out.Put<uint8_t>(kEventFormat);
  out.Put<uint32_t>(static_cast<uint32_t>(events.size()));
  for (const Event& event : events) {
    out.Put<int64_t>(event.time_ms);
    out.Put<uint32_t>(event.user);
    out.Put<uint32_t>(event.item);
    out.Put<float>(event.value);
    out.Put<uint16_t>(event.type);
    out.Put<float>(event.weight);
  }
  return out.Release();
}

Status DecodeEventBatch(std::string_view payload, std::vector<Event>* out) {
  BinaryReader in(payload);
  uint8_t format = 0;
  uint32_t count = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&format).WithPrefix("event batch format"));
  if (format != kEventFormat) {
    return Corruption("event batch format " + std::to_string(format) + ", expected " +
                      std::to_string(kEventFormat));
  }
  LIVEREC_RETURN_IF_ERROR(in.Get(&count).WithPrefix("event batch count"));
  if (count > kMaxEventsPerBatch || count * kEventBatchEventBytes != in.remaining()) {
    return Corruption("event batch of " + std::to_string(count) + " events in " +
                      std::to_string(in.remaining()) + " bytes, expected " +
                      std::to_string(kEventBatchEventBytes) + " bytes each (at most " +
                      std::to_string(kMaxEventsPerBatch) + " events)");
  }
  std::vector<Event> events(count);
  for (uint32_t i = 0; i < count; ++i) {
    Event& event = events[i];
    // The sizes were checked above: these reads cannot run short.
    (void)in.Get(&event.time_ms);
    (void)in.Get(&event.user);
    (void)in.Get(&event.item);
    (void)in.Get(&event.value);
    (void)in.Get(&event.type);
    (void)in.Get(&event.weight);
    const std::string at = "event batch event " + std::to_string(i) + ": ";
    if (event.user == kInvalidId || event.item == kInvalidId) {
      return Corruption(at + "an invalid " + (event.user == kInvalidId ? "user" : "item") + " id");
    }
    if (!std::isfinite(event.value) || !std::isfinite(event.weight)) {
      return Corruption(at + (std::isfinite(event.value) ? "weight" : "value") +
                        " is not a finite number");
    }
  }
  out->insert(out->end(), events.begin(), events.end());
  return Status::Ok();
}

}  // namespace liverec::cluster
