#include "cluster/ingest.h"

#include <algorithm>
#include <chrono>

#include "cluster/event_batch.h"
#include "cluster/round_log.h"
#include "common/strings.h"
#include "model/partitioned.h"

namespace liverec::cluster {
namespace {

// Attempts of one group's append while the engine does not answer (kUnavailable): a timeout
// may hide an append that landed, and a later attempt, under the same batch id, then appends
// nothing.
constexpr int kAppendAttempts = 3;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

StatusOr<std::unique_ptr<ClusterIngest>> ClusterIngest::Open(
    std::string_view url, const connect::ConnectorOptions& engine, ClusterIngestOptions options) {
  if (options.node.empty()) return InvalidArgument("cluster ingest: no node name");
  if (options.partitions == 0) return InvalidArgument("cluster ingest: partitions must be > 0");
  LIVEREC_RETURN_IF_ERROR(connect::CheckName("node", options.node));
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<connect::Connector> events,
                           connect::Connector::Open(url, engine));
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<connect::Connector> ids,
                           connect::Connector::Open(url, engine));
  return std::unique_ptr<ClusterIngest>(
      new ClusterIngest(std::move(options), std::move(events), std::move(ids)));
}

ClusterIngest::ClusterIngest(ClusterIngestOptions options,
                             std::unique_ptr<connect::Connector> events,
                             std::unique_ptr<connect::Connector> ids)
    : options_(std::move(options)),
      events_(std::move(events)),
      ids_(std::move(ids)),
      users_(std::make_unique<SharedIds>(ids_.get(), std::string(kUserIdsStream), options_.node)),
      items_(std::make_unique<SharedIds>(ids_.get(), std::string(kItemIdsStream), options_.node)),
      batch_prefix_(StrCat(options_.node, "/events/", DrawBatchNonce(), "-")) {}

std::string ClusterIngest::NextBatchId() {
  MutexLock lock(&mu_);
  return StrCat(batch_prefix_, next_batch_++);
}

Status ClusterIngest::Ingest(std::span<const ValidEventRecord> records, Receipt* receipt) {
  *receipt = Receipt{};
  // Weights and times first: a record refused by its type names nothing in the id streams.
  std::vector<size_t> kept;
  std::vector<float> weights;
  kept.reserve(records.size());
  weights.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    float weight = 1;
    if (options_.weight) {
      StatusOr<float> w = options_.weight(records[i]->type);
      if (!w.ok()) {
        receipt->rejected.emplace_back(i, w.status().message());
        continue;
      }
      weight = *w;
    }
    kept.push_back(i);
    weights.push_back(weight);
  }
  if (kept.empty()) return Status::Ok();
  std::vector<std::string> user_names;
  std::vector<std::string> item_names;
  user_names.reserve(kept.size());
  item_names.reserve(kept.size());
  for (const size_t i : kept) {
    user_names.push_back(records[i]->user);
    item_names.push_back(records[i]->item);
  }
  std::vector<uint32_t> user_ids;
  std::vector<uint32_t> item_ids;
  LIVEREC_RETURN_IF_ERROR(users_->Resolve(user_names, &user_ids));
  LIVEREC_RETURN_IF_ERROR(items_->Resolve(item_names, &item_ids));

  const int64_t now_ms = options_.now_ms ? options_.now_ms() : SystemNowMs();
  std::vector<std::vector<Event>> groups(options_.partitions);
  for (size_t k = 0; k < kept.size(); ++k) {
    const EventRecord& record = *records[kept[k]];
    Event event;
    event.time_ms = record.time_ms != 0 ? record.time_ms : now_ms;
    event.user = user_ids[k];
    event.item = item_ids[k];
    event.value = record.value;
    event.weight = weights[k];
    groups[UserPartition(record.user, options_.partitions)].push_back(event);
  }

  // A group's records, each within the engine's record size (at least one event each: an
  // engine that cannot take one refuses the append).
  const size_t room = events_->max_record_bytes();
  const size_t per_record = std::clamp<size_t>(
      room > kEventBatchHeaderBytes ? (room - kEventBatchHeaderBytes) / kEventBatchEventBytes : 0,
      1, kMaxEventsPerBatch);
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    const std::span<const Event> group(groups[p]);
    if (group.empty()) continue;
    std::vector<std::string> payloads;
    for (size_t begin = 0; begin < group.size(); begin += per_record) {
      payloads.push_back(
          EncodeEventBatch(group.subspan(begin, std::min(per_record, group.size() - begin))));
    }
    const std::string batch_id = NextBatchId();
    const std::string stream = EventsStream(p);
    std::vector<connect::Position> positions;
    Status status;
    for (int attempt = 0; attempt < kAppendAttempts; ++attempt) {
      status = events_->Append(stream, batch_id, payloads, &positions);
      if (status.code() != StatusCode::kUnavailable) break;
    }
    LIVEREC_RETURN_IF_ERROR(status.WithPrefix(StrCat("append to ", stream)));
    receipt->accepted += group.size();
    receipt->positions.emplace_back(p, positions.back());
  }
  return Status::Ok();
}

}  // namespace liverec::cluster
