// Parsers of the HTTP API v1 request bodies other than events: item and user metadata, the
// rollback request and experiments, each one JSON object, into the native structs of
// liverec/engine.h.
//
// Duplicate keys are errors ("given twice"), never "last one wins". Errors are InvalidArgument
// whose message names the field ("categories[1]: expected a string, got number") or, for
// malformed JSON, the byte ("byte 17: invalid JSON: ...").
//
// Thread safety: free functions; may be called from any thread.
#ifndef LIVEREC_SERVE_REQUEST_PARSERS_H_
#define LIVEREC_SERVE_REQUEST_PARSERS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "liverec/engine.h"
#include "liverec/status.h"

namespace liverec {

// PUT /v1/items/{id}: {"categories": ["news"], "tags": ["a"], "text": "..",
// "properties": {"price": 9.5}, "available": true}. Every field is optional (null = absent);
// categories and tags are non-empty strings; property values are numbers. InvalidArgument
// naming the field for unknown fields, wrong types and duplicates ("categories[1]: expected a
// string, got number"), or the byte for malformed JSON.
StatusOr<ItemMetadata> ParseItemMetadata(std::string_view body);

// PUT /v1/users/{id}: {"attributes": {"country": "br", "age": 31}}; attribute values are
// strings, numbers or booleans and become strings (7 -> "7", 0.5 -> "0.5", true -> "true").
// Errors as above.
StatusOr<UserMetadata> ParseUserMetadata(std::string_view body);

// POST /v1/snapshots/rollback: {"seq": 42}; seq is a required non-negative integer.
StatusOr<uint64_t> ParseRollbackRequest(std::string_view body);

// PUT /v1/experiments/{name}: {"arms": [{"name": "control", "model": "ensemble", "share": 0.5,
// "diversity": 0.2, "category_cap": 2, "explore": "epsilon:0.05"}, ...], "learning": "pooled",
// "salt": "s", "layer": "home", "traffic": 0.5, "type": "ab"}. arms is required, and each arm's
// name, model and share (but for "type": "interleave", whose arms need none); the rest is
// optional (null = absent). The spec's name is `name` (from the path).
// Errors as above ("arms[1].share: expected a number, got string"); what the engine accepts
// (shares summing to 1, live models) is Engine::PutExperiment's to check.
StatusOr<ExperimentSpec> ParseExperimentSpec(std::string_view body, std::string_view name);

// The most ids one list parameter (exclude=, category=) may carry over all its values.
inline constexpr size_t kMaxListParamValues = 1000;

// A list query parameter: each of `values` (the parameter given once or repeated,
// `exclude=a,b&exclude=c`) is a comma-separated list; the ids in order. InvalidArgument naming
// `name` for an empty id ("exclude: empty id at position 2 of 'a,,b'") or more than
// kMaxListParamValues ids. The values are already percent-decoded: an id holding a comma cannot
// be listed.
StatusOr<std::vector<std::string>> ParseListParam(std::string_view name,
                                                  const std::vector<std::string>& values);

}  // namespace liverec

#endif  // LIVEREC_SERVE_REQUEST_PARSERS_H_
