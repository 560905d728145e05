// Engine::Impl's read side (engine_impl.h): recommendations and the decisions they log (with
// the engine's time to answer, and the requests an experiment arm failed), users, experiments,
// stats and the state's fingerprint. Readers take the state's read lock; writes of experiments
// go through the log as every write does.
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "engine/engine_impl.h"

namespace liverec {

StatusOr<Recommendations> Engine::Impl::Recommend(const RecommendRequest& client_request) const {
  const auto start = std::chrono::steady_clock::now();
  RecommendRequest pseudonymous;
  if (pseudonyms_.enabled()) {
    pseudonymous = client_request;
    pseudonymous.user = pseudonyms_.Of(client_request.user);
  }
  const RecommendRequest& request = pseudonyms_.enabled() ? pseudonymous : client_request;
  // The arm serving a request that fails, for the error-rate guardrail. A malformed request
  // (InvalidArgument) is the client's failure, not the arm's.
  std::string experiment;
  std::string arm;
  StatusOr<Recommendations> out = [&] {
    ReadLock lock(&state_mu_);
    StatusOr<Recommendations> served = recommender_->Recommend(request);
    if (!served.ok() && record_decisions_ && request.model.empty() &&
        served.status().code() != StatusCode::kInvalidArgument) {
      if (auto assigned = state_->feedback().experiments().Assign(request.user)) {
        experiment = assigned->spec->name;
        if (assigned->spec->type != kInterleave) arm = assigned->arm_spec().name;
      }
    }
    return served;
  }();
  if (!record_decisions_) return out;
  // At least 1: 0 stands for "not measured" in the log.
  const auto latency_us = static_cast<uint32_t>(std::clamp<int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                            start)
          .count(),
      1, UINT32_MAX));
  if (out.ok()) {
    RecordDecision(request.user, *out, latency_us);
  } else if (!experiment.empty()) {
    RecordFailure(request.user, experiment, arm, out.status(), latency_us);
  }
  return out;
}

void Engine::Impl::RecordFailure(const std::string& user, const std::string& experiment,
                                 const std::string& arm, const Status& status,
                                 uint32_t latency_us) const {
  LogEntry entry;
  entry.kind = LogEntryKind::kDecision;
  DecisionRecord& d = entry.decision;
  d.user = user;
  d.time_ms = context_.clock->NowMs();
  d.experiment = experiment;
  d.arm = arm;
  d.latency_us = latency_us;
  d.error = std::string(StatusCodeName(status.code())) + ": " + status.message();
  d.error.resize(std::min(d.error.size(), kMaxDecisionErrorBytes));
  SubmitDecision(std::move(entry));
}

void Engine::Impl::RecordDecision(const std::string& user, const Recommendations& served,
                                  uint32_t latency_us) const {
  LogEntry entry;
  entry.kind = LogEntryKind::kDecision;
  DecisionRecord& d = entry.decision;
  d.recommendation_id = served.recommendation_id;
  d.user = user;
  d.time_ms = context_.clock->NowMs();
  d.model = served.model;
  d.model_version = served.model_version;
  d.experiment = served.experiment;
  d.arm = served.arm;
  d.explore = served.explore;
  for (const ScoredItem& item : served.items) {
    d.items.push_back(DecisionRecord::Shown{item.item, item.score, item.probability, item.team});
  }
  d.latency_us = latency_us;
  SubmitDecision(std::move(entry));
}

void Engine::Impl::SubmitDecision(LogEntry entry) const {
  if (!ValidateDecision(entry.decision)
           .ok()) {  // a user key over the limit: nothing can join it anyway
    decisions_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::vector<LogEntry> entries;
  entries.push_back(std::move(entry));
  uint64_t last_seq = 0;
  if (!pipeline_->Submit(std::move(entries), IngestWait::kQueued, &last_seq, nullptr).ok()) {
    decisions_dropped_.fetch_add(1, std::memory_order_relaxed);
  }
}

StatusOr<UserInfo> Engine::Impl::GetUser(const std::string& user, size_t max_recent) const {
  StatusOr<UserInfo> info = [&] {
    ReadLock lock(&state_mu_);
    return recommender_->GetUser(pseudonyms_.Of(user), max_recent);
  }();
  if (!pseudonyms_.enabled()) return info;
  if (!info.ok()) return Status(info.status().code(), "user '" + user + "' is unknown");
  info->user = user;  // the client's id, not its pseudonym
  return info;
}

StatusOr<ExperimentReport> Engine::Impl::PutExperiment(const ExperimentSpec& spec) {
  LIVEREC_RETURN_IF_ERROR(ValidateExperimentSpecLimits(spec));
  MutexLock serialize(&experiments_mu_);
  {
    ReadLock lock(&state_mu_);
    LIVEREC_RETURN_IF_ERROR(state_->feedback().experiments().Check(
        spec,
        [this](std::string_view name) { return static_cast<bool>(state_->FindModel(name)); }));
  }
  LogEntry entry;
  entry.kind = LogEntryKind::kPutExperiment;
  entry.experiment = spec;
  entry.time_ms = context_.clock->NowMs();
  LIVEREC_RETURN_IF_ERROR(SubmitOne(std::move(entry)));
  return GetExperiment(spec.name);
}

StatusOr<ExperimentReport> Engine::Impl::GetExperiment(const std::string& name) const {
  ReadLock lock(&state_mu_);
  std::optional<ExperimentReport> report = state_->feedback().experiments().Report(name);
  if (!report) return NotFound("experiment '" + name + "' was never started");
  return *std::move(report);
}

StatusOr<ExperimentReport> Engine::Impl::StopExperiment(const std::string& name) {
  MutexLock serialize(&experiments_mu_);
  {
    ReadLock lock(&state_mu_);
    LIVEREC_RETURN_IF_ERROR(state_->feedback().experiments().CheckStop(name));
  }
  LogEntry entry;
  entry.kind = LogEntryKind::kStopExperiment;
  entry.experiment.name = name;
  entry.time_ms = context_.clock->NowMs();
  LIVEREC_RETURN_IF_ERROR(SubmitOne(std::move(entry)));
  return GetExperiment(name);
}

EngineStats Engine::Impl::Stats() const {
  EngineStats stats;
  stats.events_accepted = events_accepted_.load();
  stats.events_rejected = events_rejected_.load();
  stats.queue_depth = pipeline_->in_flight();
  stats.last_durable_seq = pipeline_->last_durable_seq();
  stats.queue_capacity = pipeline_->queue_capacity();
  stats.snapshot_seq = snapshot_seq_.load();
  stats.metrics_k = evaluator_->k();
  stats.default_model = recommender_->options().default_model;
  stats.decisions_dropped = decisions_dropped_.load(std::memory_order_relaxed);
  stats.retention_cutoff_ms = retention_cutoff_ms_.load();
  const std::vector<LiveCounters> counters = evaluator_->counters();
  ReadLock lock(&state_mu_);
  stats.events_applied = state_->events_applied();
  stats.events_duplicate = state_->events_duplicate();
  stats.num_users = state_->users().num_live();
  stats.users_forgotten = state_->users_forgotten();
  stats.items_forgotten = state_->items_forgotten();
  stats.num_items = state_->items().num_live();
  stats.last_applied_seq = state_->last_applied_seq();
  stats.feedback = state_->feedback().Stats();
  const std::vector<ModelSlot>& models = state_->models();
  for (size_t m = 0; m < models.size(); ++m) {
    ModelStats& ms = stats.models.emplace_back();
    ms.name = models[m].name;
    ms.type = models[m].type;
    ms.evaluated = counters[m].evaluated;
    if (ms.evaluated > 0) {
      ms.recall = counters[m].hits / static_cast<double>(ms.evaluated);
      ms.ndcg = counters[m].ndcg / static_cast<double>(ms.evaluated);
    }
    ms.memory_bytes = models[m].model->MemoryBytes();
    const MemberList* composite = models[m].capabilities.members;
    if (composite == nullptr) continue;
    for (const MemberInfo& info : composite->Members()) {
      ms.members.push_back(
          {std::string(info.name), std::string(info.type), info.weights, info.mean_rewards});
    }
    ms.judged = composite->judged_events();
  }
  return stats;
}

std::string Engine::Impl::Fingerprint() const {
  std::vector<SnapshotSection> sections;
  {
    ReadLock lock(&state_mu_);
    state_->Save(&sections);
  }
  std::string out;
  for (const SnapshotSection& s : sections) {
    out += s.name;
    out.push_back('\0');
    out += std::to_string(s.payload.size());
    out.push_back('\0');
    out += s.payload;
  }
  return out;
}

}  // namespace liverec
