// Rendering of HTTP API v1 answers: native results of liverec/engine.h as JSON text.
//
// Rendering uses nlohmann-json. All output is compact JSON text; strings are escaped, invalid
// UTF-8 in them is replaced by U+FFFD and non-finite numbers render as null, so the output is
// always valid JSON. Keys appear in the order documented below.
//
// Thread safety: free functions; may be called from any thread.
#ifndef LIVEREC_SERVE_JSON_RENDER_H_
#define LIVEREC_SERVE_JSON_RENDER_H_

#include <string>
#include <string_view>
#include <vector>

#include "liverec/engine.h"
#include "serve/request_latency.h"

namespace liverec {

// {"accepted":n,"duplicates":n,"last_seq":n,"rejected":[{"index":i,"field":"..","reason":".."}]}
std::string RenderIngestResult(const IngestResult& result);

// {"recommendation_id":"..","model":"..","fallback":false,"model_version":n,
//  "items":[{"item":"..","score":0.5,"because":[".."]}]}; "because" only when not empty.
// Scores print as the shortest decimal that reads back as the same float (0.1f -> 0.1).
std::string RenderRecommendations(const Recommendations& recommendations);

// {"item":"..","items":[{"item":"..","score":0.5}]}
std::string RenderSimilar(const std::string& item, const std::vector<ScoredItem>& items);

// {"user":"..","num_events":n,"recent":[{"item":"..","timestamp":ms}],
//  "metadata":{"attributes":{"name":"value"}}}
std::string RenderUser(const UserInfo& user);
// {"item", "recommendable", "metadata": null | {"categories", "tags", "text", "properties",
// "available"}} (metadata as PUT /v1/items/{id} takes it).
std::string RenderItem(const ItemInfo& item);
// {"deletion", "user", "state", "requested_unix_ms", "data_erased_ms", "complete_ms"} (the
// times null until reached, user null once unknown), plus "error" when failed.
std::string RenderDeletion(const DeletionInfo& deletion);

// {"events_accepted":n,"events_applied":n,"events_duplicate":n,"events_rejected":n,
//  "num_users":n,"num_items":n,"queue_depth":n,"queue_capacity":n,"last_durable_seq":n,
//  "last_applied_seq":n,"snapshot_seq":n,"metrics_k":n,"default_model":"..",
//  "models":[{"name":"..","type":"..","evaluated":n,"recall":x,"ndcg":x,"memory_bytes":n}]}
std::string RenderStats(const EngineStats& stats);

// What the HTTP layer adds to its /v1/stats: dashboard streams open and allowed, and the recent
// request latencies (serve/request_latency.h).
struct HttpStats {
  size_t streams_open = 0;
  size_t max_streams = 0;
  std::vector<LatencySummary> latency;
};

// RenderStats(stats) with one more key, "http":{"streams_open":n,"max_streams":n,
// "latency":[{"route":"..","count":n,"p50_ms":x,"p90_ms":x,"p99_ms":x,"max_ms":x}]}.
std::string RenderStats(const EngineStats& stats, const HttpStats& http);

// GET /v1/experiments/{name} (and PUT, DELETE): the ExperimentReport; GET /v1/experiments:
// {"experiments": [...]}, by name.
std::string RenderExperiment(const ExperimentReport& experiment);
std::string RenderExperiments(const std::vector<ExperimentReport>& experiments);

// {"snapshots":[<RenderSnapshot>, ...]}
std::string RenderSnapshots(const std::vector<SnapshotEntry>& snapshots);

// {"seq":n,"created_unix_ms":n,"size_bytes":n}
std::string RenderSnapshot(const SnapshotEntry& snapshot);

// {"error":{"code":"..","message":".."}}
std::string RenderError(std::string_view code, std::string_view message);

}  // namespace liverec

#endif  // LIVEREC_SERVE_JSON_RENDER_H_
