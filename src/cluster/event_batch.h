// The records of `events.<p>`: a batch of one partition's events, as the node that accepted
// them appended it, with the ids the cluster's id streams gave their user and item.
//
// Format (little-endian): u8 format (1), u32 count, then per event i64 time_ms, u32 user,
// u32 item, f32 value, u16 type, f32 weight (26 bytes). Context pairs and idempotency keys
// are not carried yet: a model that reads an event's context sees none in a cluster.
#ifndef LIVEREC_CLUSTER_EVENT_BATCH_H_
#define LIVEREC_CLUSTER_EVENT_BATCH_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event/event.h"
#include "liverec/status.h"

namespace liverec::cluster {

inline constexpr size_t kMaxEventsPerBatch = size_t{1} << 20;
// The size of a record of n events: kEventBatchHeaderBytes + n * kEventBatchEventBytes.
inline constexpr size_t kEventBatchHeaderBytes = 1 + 4;
inline constexpr size_t kEventBatchEventBytes = 8 + 4 + 4 + 4 + 2 + 4;

std::string EncodeEventBatch(std::span<const Event> events);
// Appends the record's events to *out; Corruption naming what is wrong (format, a count above
// kMaxEventsPerBatch or beyond the bytes, an invalid id, a value that is not finite, trailing
// bytes), with *out as it was.
Status DecodeEventBatch(std::string_view payload, std::vector<Event>* out);

}  // namespace liverec::cluster

#endif  // LIVEREC_CLUSTER_EVENT_BATCH_H_
