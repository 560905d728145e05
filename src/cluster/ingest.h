// ClusterIngest: a node's write path in a cluster (docs/cluster.md, "What is left", item 1).
// Any node takes a batch of client events and turns it into records of the partitions' event
// streams, which every partition's owner learns (cluster_learner.h):
//
//   records --type weights, times--> names --SharedIds ids.users, ids.items--> ids
//     --UserPartition(user)--> one group per partition, in record order
//     --Append(events.<p>, batch id)--> positions; acknowledged once every group is appended
//
// The names are resolved before anything is appended (new ones are appended to the id streams
// first), so every event record carries ids that every node agrees on. A group is one append of
// EncodeEventBatch records, each within the engine's record size, under one batch id of this
// node ("<node>/events/<nonce>-<n>", the nonce drawn at Open, n counting this object's
// groups). A failed append is tried again under the same batch id, so an append that landed
// although its answer was lost is not appended twice.
//
// What an acknowledgement means: the engine holds every event of the batch durably (as the
// connector's Append, connector.h). When Ingest fails, the groups appended before the failure
// stay (Receipt::positions says which): a client that retries the batch appends those events
// again, under new batch ids, and they are learned twice. Client event ids are not carried
// yet, so the cluster cannot recognise such a repeat (docs/cluster.md).
//
// Thread safety: Ingest may be called from several threads at once; the connectors and the
// id maps are shared by the calls.
#ifndef LIVEREC_CLUSTER_INGEST_H_
#define LIVEREC_CLUSTER_INGEST_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/id_stream.h"
#include "common/mutex.h"
#include "connect/connector.h"
#include "liverec/event.h"
#include "liverec/status.h"

namespace liverec::cluster {

struct ClusterIngestOptions {
  std::string node;         // this node's name
  uint32_t partitions = 0;  // cluster.partitions, > 0
  // The weight of an event of `type` (the engine's event-type policy, engine.event_types); an
  // error rejects the record, with the error's message. Null: every type weighs 1.
  std::function<StatusOr<float>(std::string_view type)> weight;
  // The time given to a record without one (time_ms 0), Unix milliseconds. Null: the system
  // clock.
  std::function<int64_t()> now_ms;
};

class ClusterIngest {
 public:
  // What one Ingest did.
  struct Receipt {
    size_t accepted = 0;  // events appended
    // Records refused before anything was appended: (index in the batch, why).
    std::vector<std::pair<size_t, std::string>> rejected;
    // For each partition appended to, the position of its last record: the events are learned
    // once the partition's rounds cover it (ClusterLearner::ended). In partition order.
    std::vector<std::pair<uint32_t, connect::Position>> positions;
  };

  // Opens two connections to the engine at `url`: one for the event streams, one for the id
  // streams. kInvalidArgument for options out of range (no node name, no partitions), or the
  // connector's errors.
  static StatusOr<std::unique_ptr<ClusterIngest>> Open(std::string_view url,
                                                       const connect::ConnectorOptions& engine,
                                                       ClusterIngestOptions options);

  // Appends `records` to their partitions' event streams and returns once the engine holds all
  // of them; `*receipt` says what happened. Records rejected by their type are left out; the
  // rest go on. An error of the engine (or of the id streams) is returned after the groups
  // appended before it (in *receipt).
  Status Ingest(std::span<const ValidEventRecord> records, Receipt* receipt);

  // The id maps, as this node has read them (the learner's and the server's names).
  const SharedIds& users() const { return *users_; }
  const SharedIds& items() const { return *items_; }

 private:
  ClusterIngest(ClusterIngestOptions options, std::unique_ptr<connect::Connector> events,
                std::unique_ptr<connect::Connector> ids);

  // The next group's batch id.
  std::string NextBatchId();

  const ClusterIngestOptions options_;
  const std::unique_ptr<connect::Connector> events_;
  const std::unique_ptr<connect::Connector> ids_;
  const std::unique_ptr<SharedIds> users_;  // on ids_
  const std::unique_ptr<SharedIds> items_;  // on ids_
  const std::string batch_prefix_;          // "<node>/events/<nonce>-"
  Mutex mu_;
  uint64_t next_batch_ LIVEREC_GUARDED_BY(mu_) = 0;
};

}  // namespace liverec::cluster

#endif  // LIVEREC_CLUSTER_INGEST_H_
