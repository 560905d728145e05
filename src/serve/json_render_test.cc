// Tests of the rendering of answers: golden outputs, shortest float scores, escaping.
#include "serve/json_render.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/random.h"
#include "serve/event_batch_parser.h"

namespace liverec {
namespace {

TEST(Render, IngestResult) {
  IngestResult r;
  r.accepted = 3;
  r.duplicates = 1;
  r.last_seq = 18446744073709551615u;
  r.rejected = {{1, "value", "expected a number, got string"}, {4, "", "encoded size too big"}};
  EXPECT_EQ(RenderIngestResult(r),
            R"({"accepted":3,"duplicates":1,"last_seq":18446744073709551615,"rejected":[)"
            R"({"index":1,"field":"value","reason":"expected a number, got string"},)"
            R"({"index":4,"field":"","reason":"encoded size too big"}]})");
  EXPECT_EQ(RenderIngestResult(IngestResult{}),
            R"({"accepted":0,"duplicates":0,"last_seq":0,"rejected":[]})");
}

TEST(Render, RecommendationsPrintShortestFloatScoresAndNullForNonFinite) {
  Recommendations r;
  r.recommendation_id = "rec-1";
  r.model = "mf";
  r.fallback = false;
  r.model_version = 77;
  r.items = {{"i1", 0.1f, {"i7", "i9"}},
             {"i2", 1.0f, {}},
             {"i3", -2.5e-7f, {}},
             {"i4", std::numeric_limits<float>::quiet_NaN(), {}},
             {"i5", std::numeric_limits<float>::infinity(), {}}};
  EXPECT_EQ(RenderRecommendations(r),
            R"({"recommendation_id":"rec-1","model":"mf","fallback":false,"model_version":77,)"
            R"("items":[{"item":"i1","score":0.1,"because":["i7","i9"]},)"
            R"({"item":"i2","score":1.0},{"item":"i3","score":-2.5e-07},)"
            R"({"item":"i4","score":null},{"item":"i5","score":null}]})");
}

TEST(Render, RandomScoresReadBackAsTheSameFloat) {
  Random rng(7);
  constexpr int kScores = 1000;
  for (int i = 0; i < kScores; ++i) {
    const float score = std::bit_cast<float>(static_cast<uint32_t>(rng.Next()));
    if (!std::isfinite(score)) continue;
    Recommendations r;
    r.items = {{"i", score, {}}};
    const nlohmann::json parsed = nlohmann::json::parse(RenderRecommendations(r));
    EXPECT_EQ(static_cast<float>(parsed["items"][0]["score"].get<double>()), score);
  }
}

TEST(Render, Similar) {
  EXPECT_EQ(RenderSimilar("i1", {{"i2", 0.5f, {"ignored"}}, {"i3", 0.25f, {}}}),
            R"({"item":"i1","items":[{"item":"i2","score":0.5},{"item":"i3","score":0.25}]})");
  EXPECT_EQ(RenderSimilar("i1", {}), R"({"item":"i1","items":[]})");
}

TEST(Render, User) {
  UserInfo u;
  u.user = "u1";
  u.num_events = 12;
  u.recent = {{"i9", 1700000000123}, {"i3", 1700000000000}};
  u.metadata.attributes = {{"country", "br"}, {"age", "31"}};
  EXPECT_EQ(RenderUser(u),
            R"({"user":"u1","num_events":12,"recent":[{"item":"i9","timestamp":1700000000123},)"
            R"({"item":"i3","timestamp":1700000000000}],)"
            R"("metadata":{"attributes":{"country":"br","age":"31"}}})");
}

TEST(Render, Stats) {
  EngineStats s;
  s.events_accepted = 1;
  s.events_applied = 2;
  s.events_duplicate = 3;
  s.events_rejected = 4;
  s.num_users = 5;
  s.num_items = 6;
  s.queue_depth = 7;
  s.queue_capacity = 8;
  s.last_durable_seq = 9;
  s.last_applied_seq = 10;
  s.snapshot_seq = 11;
  s.metrics_k = 20;
  s.default_model = "mf";
  s.models = {{"mf", "mf", 100, 0.25, 0.125, 4096}, {"pop", "popularity", 0, std::nan(""), 0, 64}};
  EXPECT_EQ(
      RenderStats(s),
      R"({"events_accepted":1,"events_applied":2,"events_duplicate":3,)"
      R"("events_rejected":4,"num_users":5,"users_forgotten":0,"retention_cutoff_ms":0,)"
      R"("num_items":6,"items_forgotten":0,"queue_depth":7,)"
      R"("queue_capacity":8,"last_durable_seq":9,"last_applied_seq":10,"snapshot_seq":11,)"
      R"("metrics_k":20,"default_model":"mf","models":[)"
      R"({"name":"mf","type":"mf","evaluated":100,"recall":0.25,"ndcg":0.125,)"
      R"("memory_bytes":4096},{"name":"pop","type":"popularity","evaluated":0,)"
      R"("recall":null,"ndcg":0.0,"memory_bytes":64}],)"
      R"("feedback":{"decisions":0,"decisions_dropped":0,"open_decisions":0,"joined":0,)"
      R"("late":0,"unmatched":0,"impressions":0,"clicks":0,"feedback_delay":[],"models":[]}})");
}

TEST(Render, Snapshots) {
  const SnapshotEntry a{42, 1700000000000, 1024};
  const SnapshotEntry b{99, 1700000005000, 2048};
  EXPECT_EQ(RenderSnapshot(a), R"({"seq":42,"created_unix_ms":1700000000000,"size_bytes":1024})");
  EXPECT_EQ(RenderSnapshots({a, b}),
            R"({"snapshots":[{"seq":42,"created_unix_ms":1700000000000,"size_bytes":1024},)"
            R"({"seq":99,"created_unix_ms":1700000005000,"size_bytes":2048}]})");
  EXPECT_EQ(RenderSnapshots({}), R"({"snapshots":[]})");
}

TEST(Render, ErrorEscapesQuotesControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(RenderError("not_found", "unknown user 'u1'"),
            R"({"error":{"code":"not_found","message":"unknown user 'u1'"}})");
  const std::string rendered = RenderError("invalid_argument", "a\"b\\c\n\x01\xff\xc3\xa9");
  EXPECT_EQ(rendered,
            "{\"error\":{\"code\":\"invalid_argument\",\"message\":"
            "\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd\xc3\xa9\"}}");
  // And it is valid JSON that reads back.
  const nlohmann::json parsed = nlohmann::json::parse(rendered);
  EXPECT_EQ(parsed["error"]["message"], "a\"b\\c\n\x01\xef\xbf\xbd\xc3\xa9");
}

TEST(Render, IngestErrorsFromAParseRenderAsValidJson) {
  // An unknown key with an escaped control character comes back in the field name.
  ParsedEvents out;
  ASSERT_TRUE(ParseEventBatch(R"([{"user":"u","item":"i","it\u0001me":1}])", 1, &out).ok());
  ASSERT_EQ(out.errors.size(), 1u);
  IngestResult result;
  result.rejected = out.errors;
  const nlohmann::json parsed = nlohmann::json::parse(RenderIngestResult(result));
  EXPECT_EQ(parsed["rejected"][0]["field"], "it\x01me");
}

}  // namespace
}  // namespace liverec