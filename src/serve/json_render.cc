#include "serve/json_render.h"

#include <array>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/check.h"

namespace liverec {
namespace {

using Json = nlohmann::ordered_json;

// Room for the shortest decimal text of any float.
constexpr size_t kFloatTextBytes = 32;

// A float score as the double whose shortest text is the float's shortest text (0.1f is
// 0.100000001490116..., which would print as such if widened directly); null if not finite.
Json Score(float score) {
  if (!std::isfinite(score)) return nullptr;
  std::array<char, kFloatTextBytes> buf;
  const std::to_chars_result text = std::to_chars(buf.data(), buf.data() + buf.size(), score);
  double v = 0;
  const std::from_chars_result parsed = std::from_chars(buf.data(), text.ptr, v);
  LIVEREC_CHECK(parsed.ec == std::errc()) << std::string_view(buf.data(), text.ptr - buf.data());
  return v;
}

Json Finite(double v) {
  if (!std::isfinite(v)) return nullptr;
  return v;
}

std::string Dump(const Json& json) {
  // Compact, and invalid UTF-8 becomes U+FFFD instead of an exception.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json ScoredItems(const std::vector<ScoredItem>& items, bool with_because) {
  Json out = Json::array();
  for (const ScoredItem& s : items) {
    Json item = {{"item", s.item}, {"score", Score(s.score)}};
    if (with_because && !s.because.empty()) item["because"] = s.because;
    if (with_because && !s.features.empty()) item["features"] = s.features;
    if (with_because && !s.models.empty()) {
      Json models = Json::array();
      for (const auto& [name, term] : s.models) {
        models.push_back({{"model", name}, {"contribution", Score(term)}});
      }
      item["models"] = std::move(models);
    }
    if (s.backfill) item["backfill"] = true;
    if (s.probability != 1) item["probability"] = Finite(s.probability);
    if (!s.team.empty()) item["team"] = s.team;
    out.push_back(std::move(item));
  }
  return out;
}

Json FeedbackJson(const FeedbackStats& f, uint64_t dropped) {
  Json delay = Json::array();
  for (const auto& [bound, count] : f.feedback_delay) {
    delay.push_back({{"le_ms", std::isfinite(bound) && bound < 1e300 ? Json(bound) : Json("+Inf")},
                     {"count", count}});
  }
  Json models = Json::array();
  for (const FeedbackStats::Model& m : f.models) {
    models.push_back({{"name", m.name},
                      {"decisions", m.decisions},
                      {"impressions", m.impressions},
                      {"clicks", m.clicks},
                      {"ctr", Finite(m.ctr)},
                      {"auc", Finite(m.auc)}});
  }
  return {{"decisions", f.decisions},
          {"decisions_dropped", dropped},
          {"open_decisions", f.open_decisions},
          {"joined", f.joined},
          {"late", f.late},
          {"unmatched", f.unmatched},
          {"impressions", f.impressions},
          {"clicks", f.clicks},
          {"feedback_delay", std::move(delay)},
          {"models", std::move(models)}};
}

Json ExperimentJson(const ExperimentReport& e) {
  Json arms = Json::array();
  for (const ArmReport& a : e.arms) {
    arms.push_back(
        {{"name", a.name},
         {"model", a.model},
         {"share", Finite(a.share)},
         {"users", a.users},
         {"decisions", a.decisions},
         {"impressions", a.impressions},
         {"clicks", a.clicks},
         {"ctr", Finite(a.ctr)},
         {"ctr_interval", {Finite(a.ctr_lo), Finite(a.ctr_hi)}},
         {"recall", Finite(a.recall)},
         {"ndcg", Finite(a.ndcg)},
         {"evaluated", a.evaluated},
         {"errors", a.errors},
         {"error_rate", Finite(a.error_rate)},
         {"latency_p50_ms", Finite(a.latency_p50_ms)},
         {"latency_p99_ms", Finite(a.latency_p99_ms)},
         {"slow_share", Finite(a.slow_share)},
         {"stopped_reason", a.stopped_reason.empty() ? Json(nullptr) : Json(a.stopped_reason)}});
  }
  Json out = {{"name", e.name},
              {"type", e.type},
              {"state", e.running ? "running" : "stopped"},
              {"arms", std::move(arms)},
              {"srm_p", Finite(e.srm_p)},
              {"latency_threshold_ms",
               e.latency_threshold_ms == 0 ? Json(nullptr) : Json(Finite(e.latency_threshold_ms))},
              {"winner", e.winner ? Json(*e.winner) : Json(nullptr)},
              {"stopped_reason", e.stopped_reason.empty() ? Json(nullptr) : Json(e.stopped_reason)},
              {"srm_always_valid_p", Finite(e.srm_always_valid_p)},
              {"srm_alarm", e.srm_alarm},
              {"learning", e.learning},
              {"salt", e.salt},
              {"layer", e.layer},
              {"traffic", Finite(e.traffic)},
              {"started_ms", e.started_ms},
              {"stopped_ms", e.stopped_ms == 0 ? Json(nullptr) : Json(e.stopped_ms)}};
  if (e.type == "interleave") {
    out["interleave"] = {
        {"wins", {{e.arms.at(0).name, e.wins[0]}, {e.arms.at(1).name, e.wins[1]}}},
        {"ties", e.ties},
        {"preference", Finite(e.preference)},
        {"preference_interval", {Finite(e.preference_lo), Finite(e.preference_hi)}}};
  }
  return out;
}

Json SnapshotJson(const SnapshotEntry& s) {
  return {{"seq", s.seq}, {"created_unix_ms", s.created_unix_ms}, {"size_bytes", s.size_bytes}};
}

}  // namespace

std::string RenderIngestResult(const IngestResult& result) {
  Json rejected = Json::array();
  for (const IngestError& e : result.rejected) {
    rejected.push_back({{"index", e.index}, {"field", e.field}, {"reason", e.reason}});
  }
  return Dump({{"accepted", result.accepted},
               {"duplicates", result.duplicates},
               {"last_seq", result.last_seq},
               {"rejected", std::move(rejected)}});
}

std::string RenderRecommendations(const Recommendations& r) {
  Json out = {{"recommendation_id", r.recommendation_id},
              {"model", r.model},
              {"fallback", r.fallback},
              {"model_version", r.model_version},
              {"items", ScoredItems(r.items, true)}};
  if (!r.experiment.empty()) {
    out["experiment"] = r.experiment;
    out["arm"] = r.arm;
  }
  if (r.explore != "none") out["explore"] = r.explore;
  return Dump(out);
}

std::string RenderExperiment(const ExperimentReport& e) { return Dump(ExperimentJson(e)); }

std::string RenderExperiments(const std::vector<ExperimentReport>& experiments) {
  Json list = Json::array();
  for (const ExperimentReport& e : experiments) list.push_back(ExperimentJson(e));
  return Dump({{"experiments", std::move(list)}});
}

std::string RenderSimilar(const std::string& item, const std::vector<ScoredItem>& items) {
  return Dump({{"item", item}, {"items", ScoredItems(items, false)}});
}

std::string RenderUser(const UserInfo& user) {
  Json recent = Json::array();
  for (const auto& [item, time_ms] : user.recent) {
    recent.push_back({{"item", item}, {"timestamp", time_ms}});
  }
  Json attributes = Json::object();
  for (const auto& [name, value] : user.metadata.attributes) attributes[name] = value;
  return Dump({{"user", user.user},
               {"num_events", user.num_events},
               {"recent", std::move(recent)},
               {"metadata", {{"attributes", std::move(attributes)}}}});
}

std::string RenderItem(const ItemInfo& item) {
  Json metadata = nullptr;
  if (item.has_metadata) {
    Json properties = Json::object();
    for (const auto& [name, value] : item.metadata.properties) properties[name] = Finite(value);
    metadata = {{"categories", item.metadata.categories},
                {"tags", item.metadata.tags},
                {"text", item.metadata.text},
                {"properties", std::move(properties)},
                {"available", item.metadata.available}};
  }
  return Dump({{"item", item.item},
               {"recommendable", item.recommendable},
               {"metadata", std::move(metadata)}});
}

std::string RenderDeletion(const DeletionInfo& d) {
  const auto ms = [](int64_t v) { return v < 0 ? Json(nullptr) : Json(v); };
  Json out = {{"deletion", d.deletion},
              {"user", d.user.empty() ? Json(nullptr) : Json(d.user)},
              {"state", d.state},
              {"requested_unix_ms", d.requested_unix_ms},
              {"data_erased_ms", ms(d.data_erased_ms)},
              {"complete_ms", ms(d.complete_ms)}};
  if (!d.error.empty()) out["error"] = d.error;
  return Dump(out);
}

namespace {

Json StatsJson(const EngineStats& s) {
  Json models = Json::array();
  for (const ModelStats& m : s.models) {
    Json model = {{"name", m.name},           {"type", m.type},
                  {"evaluated", m.evaluated}, {"recall", Finite(m.recall)},
                  {"ndcg", Finite(m.ndcg)},   {"memory_bytes", m.memory_bytes}};
    if (!m.members.empty()) {
      Json members = Json::array();
      for (const ModelStats::Member& member : m.members) {
        Json weights = Json::array();
        Json rewards = Json::array();
        for (double w : member.weights) weights.push_back(Finite(w));
        for (double r : member.mean_rewards) rewards.push_back(Finite(r));
        members.push_back({{"name", member.name},
                           {"type", member.type},
                           {"weights", std::move(weights)},
                           {"mean_rewards", std::move(rewards)}});
      }
      model["members"] = std::move(members);
      model["judged"] = m.judged;
    }
    models.push_back(std::move(model));
  }
  return Json({{"events_accepted", s.events_accepted},
               {"events_applied", s.events_applied},
               {"events_duplicate", s.events_duplicate},
               {"events_rejected", s.events_rejected},
               {"num_users", s.num_users},
               {"users_forgotten", s.users_forgotten},
               {"retention_cutoff_ms", s.retention_cutoff_ms},
               {"num_items", s.num_items},
               {"items_forgotten", s.items_forgotten},
               {"queue_depth", s.queue_depth},
               {"queue_capacity", s.queue_capacity},
               {"last_durable_seq", s.last_durable_seq},
               {"last_applied_seq", s.last_applied_seq},
               {"snapshot_seq", s.snapshot_seq},
               {"metrics_k", s.metrics_k},
               {"default_model", s.default_model},
               {"models", std::move(models)},
               {"feedback", FeedbackJson(s.feedback, s.decisions_dropped)}});
}

}  // namespace

std::string RenderStats(const EngineStats& s) { return Dump(StatsJson(s)); }

std::string RenderStats(const EngineStats& s, const HttpStats& http) {
  Json stats = StatsJson(s);
  Json latency = Json::array();
  for (const LatencySummary& l : http.latency) {
    latency.push_back({{"route", l.route},
                       {"count", l.count},
                       {"p50_ms", Finite(l.p50_ms)},
                       {"p90_ms", Finite(l.p90_ms)},
                       {"p99_ms", Finite(l.p99_ms)},
                       {"max_ms", Finite(l.max_ms)}});
  }
  stats["http"] = {{"streams_open", http.streams_open},
                   {"max_streams", http.max_streams},
                   {"latency", std::move(latency)}};
  return Dump(stats);
}

std::string RenderSnapshots(const std::vector<SnapshotEntry>& snapshots) {
  Json list = Json::array();
  for (const SnapshotEntry& s : snapshots) list.push_back(SnapshotJson(s));
  return Dump({{"snapshots", std::move(list)}});
}

std::string RenderSnapshot(const SnapshotEntry& snapshot) { return Dump(SnapshotJson(snapshot)); }

std::string RenderError(std::string_view code, std::string_view message) {
  return Dump({{"error", {{"code", std::string(code)}, {"message", std::string(message)}}}});
}

}  // namespace liverec
