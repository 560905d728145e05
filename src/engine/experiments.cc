#include "engine/experiments.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "common/check.h"
#include "common/random.h"

namespace liverec {
namespace {

// Version 2 adds each experiment's type and interleaving figures; version 3 the error and
// latency figures of the guardrails. Versions 1 and 2 still load.
constexpr uint32_t kExperimentsFormatVersion = 3;

// The histogram bucket of a latency: floor(kLatencyBucketsPerOctave * log2(us)), clamped.
size_t LatencyBucket(uint32_t latency_us) {
  if (latency_us <= 1) return 0;
  const auto b = static_cast<size_t>(kLatencyBucketsPerOctave * std::log2(latency_us));
  return std::min(b, kLatencyBuckets - 1);
}

// The q-quantile of a latency histogram in milliseconds: the upper bound of the bucket that
// holds it (0 with no lists).
double LatencyQuantileMs(const std::vector<uint64_t>& counts, double q) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    seen += counts[b];
    if (seen >= std::max<uint64_t>(rank, 1)) {
      return std::exp2(static_cast<double>(b + 1) / kLatencyBucketsPerOctave) / 1000;
    }
  }
  return std::exp2(static_cast<double>(counts.size()) / kLatencyBucketsPerOctave) / 1000;
}

std::string IntervalText(const Interval& interval) {
  return "[" + std::to_string(interval.lo) + ", " + std::to_string(interval.hi) + "]";
}

// A stable 64-bit hash of a user key (FNV-1a, then mixed): arms count distinct users by it.
uint64_t UserHash(std::string_view user) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : user) h = (h ^ c) * 0x100000001b3ULL;
  return SplitMix64(h);
}

std::string Field(std::string_view field, size_t i, std::string_view sub) {
  return std::string(field) + "[" + std::to_string(i) + "]" + std::string(sub);
}

std::string SaltOf(const ExperimentSpec& spec) { return spec.salt.empty() ? spec.name : spec.salt; }

void PutSpec(const ExperimentSpec& spec, BinaryWriter* out) {
  out->PutString(spec.name);
  out->Put<uint64_t>(spec.arms.size());
  for (const ExperimentArm& arm : spec.arms) {
    out->PutString(arm.name);
    out->PutString(arm.model);
    out->Put(arm.share);
    out->Put<uint8_t>(arm.diversity.has_value());
    out->Put(arm.diversity.value_or(0));
    out->Put<uint8_t>(arm.category_cap.has_value());
    out->Put(arm.category_cap.value_or(0));
    out->PutString(arm.explore);
  }
  out->PutString(spec.learning);
  out->PutString(spec.salt);
  out->PutString(spec.layer);
  out->Put(spec.traffic);
}

Status GetSpec(BinaryReader* in, ExperimentSpec* spec) {
  LIVEREC_RETURN_IF_ERROR(in->GetString(&spec->name));
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  if (n == 0 || n > kMaxArms) return Corruption("experiment: " + std::to_string(n) + " arms");
  spec->arms.resize(n);
  for (ExperimentArm& arm : spec->arms) {
    LIVEREC_RETURN_IF_ERROR(in->GetString(&arm.name));
    LIVEREC_RETURN_IF_ERROR(in->GetString(&arm.model));
    LIVEREC_RETURN_IF_ERROR(in->Get(&arm.share));
    uint8_t has = 0;
    double diversity = 0;
    int64_t cap = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&has));
    LIVEREC_RETURN_IF_ERROR(in->Get(&diversity));
    if (has) arm.diversity = diversity;
    LIVEREC_RETURN_IF_ERROR(in->Get(&has));
    LIVEREC_RETURN_IF_ERROR(in->Get(&cap));
    if (has) arm.category_cap = cap;
    LIVEREC_RETURN_IF_ERROR(in->GetString(&arm.explore));
  }
  LIVEREC_RETURN_IF_ERROR(in->GetString(&spec->learning));
  LIVEREC_RETURN_IF_ERROR(in->GetString(&spec->salt));
  LIVEREC_RETURN_IF_ERROR(in->GetString(&spec->layer));
  return in->Get(&spec->traffic);
}

}  // namespace

Status ExperimentSet::Check(const ExperimentSpec& spec,
                            const std::function<bool(std::string_view)>& model_exists) const {
  if (spec.name.empty()) return InvalidArgument("name: expected a non-empty string");
  if (spec.name.find('/') != std::string::npos || spec.name.size() > 128) {
    return InvalidArgument("name: expected at most 128 bytes without '/'");
  }
  if (spec.type != "ab" && spec.type != kInterleave) {
    return InvalidArgument("type: expected ab or interleave, got '" + spec.type + "'");
  }
  const bool interleave = spec.type == kInterleave;
  if (interleave && spec.arms.size() != 2) {
    return InvalidArgument("arms: an interleave experiment has exactly 2 arms, got " +
                           std::to_string(spec.arms.size()));
  }
  if (spec.arms.empty() || spec.arms.size() > kMaxArms) {
    return InvalidArgument("arms: expected 1.." + std::to_string(kMaxArms) + " arms, got " +
                           std::to_string(spec.arms.size()));
  }
  std::vector<double> shares;
  for (size_t i = 0; i < spec.arms.size(); ++i) {
    const ExperimentArm& arm = spec.arms[i];
    if (arm.name.empty())
      return InvalidArgument(Field("arms", i, ".name") + ": expected a non-empty string");
    for (size_t j = 0; j < i; ++j) {
      if (spec.arms[j].name == arm.name) {
        return InvalidArgument(Field("arms", i, ".name") + ": '" + arm.name + "' given twice");
      }
    }
    if (!model_exists(arm.model)) {
      return InvalidArgument(Field("arms", i, ".model") + ": no live model '" + arm.model +
                             "' (an instance of engine.models or an ensemble's member)");
    }
    if (arm.diversity && !(*arm.diversity >= 0 && *arm.diversity <= 1)) {
      return InvalidArgument(Field("arms", i, ".diversity") + ": expected a number in [0, 1]");
    }
    if (arm.category_cap && *arm.category_cap < 0) {
      return InvalidArgument(Field("arms", i, ".category_cap") + ": expected an integer >= 0");
    }
    if (!arm.explore.empty() && interleave) {
      return InvalidArgument(Field("arms", i, ".explore") +
                             ": not with interleave (the team draft is the list's randomness)");
    }
    if (!arm.explore.empty()) {
      if (Status s = ExploreSpec::Parse(arm.explore).status(); !s.ok()) {
        return InvalidArgument(Field("arms", i, ".") + s.message());
      }
    }
    shares.push_back(arm.share);
  }
  // An interleave experiment serves every user from both arms: shares do not apply.
  if (Status s = interleave ? Status::Ok() : BucketCounts(shares).status(); !s.ok()) {
    std::string message = s.message();
    if (message.rfind("shares[", 0) == 0) {
      const size_t close = message.find(']');
      return InvalidArgument("arms" + message.substr(6, close - 5) + ".share" +
                             message.substr(close + 1));
    }
    return InvalidArgument("arms: shares " + message.substr(message.find(':') + 2));
  }
  if (spec.learning != kPooledLearning && spec.learning != kIsolatedLearning &&
      spec.learning != kWarmStartLearning) {
    return InvalidArgument("learning: expected pooled, isolated or warm_start, got '" +
                           spec.learning + "'");
  }
  if (interleave && spec.learning != kPooledLearning) {
    return InvalidArgument(
        "learning: an interleave experiment learns pooled (both arms serve "
        "every user)");
  }
  if (!(spec.traffic > 0 && spec.traffic <= 1)) {
    return InvalidArgument("traffic: expected a number in (0, 1]");
  }
  const Experiment* existing = Find(spec.name);
  if (existing != nullptr && existing->running) {
    const ExperimentSpec& old = existing->spec;
    bool prefix = spec.arms.size() >= old.arms.size();
    for (size_t i = 0; prefix && i < old.arms.size(); ++i) {
      prefix = spec.arms[i].name == old.arms[i].name;
    }
    if (!prefix) {
      std::string names;
      for (const ExperimentArm& arm : old.arms) names += (names.empty() ? "" : ", ") + arm.name;
      return InvalidArgument("arms: an experiment's arms are never removed or renamed (had " +
                             names + ")");
    }
    if (SaltOf(spec) != SaltOf(old) || LayerOf(spec) != LayerOf(old)) {
      return InvalidArgument("salt: a running experiment keeps its salt and layer (stop it first)");
    }
    if (spec.type != old.type) {
      return InvalidArgument("type: a running experiment keeps its type");
    }
    if (spec.learning != old.learning) {
      return InvalidArgument("learning: a running experiment keeps its learning mode");
    }
  }
  const std::string layer = LayerOf(spec);
  if (auto it = layers_.find(layer); it != layers_.end()) {
    double taken = 0;
    for (size_t s = 1; s < it->second.slots.size(); ++s) {
      if (it->second.slots[s] == spec.name) continue;
      taken += it->second.allocation.BucketsOf(static_cast<uint32_t>(s)) /
               static_cast<double>(kAssignmentBuckets);
    }
    if (taken + spec.traffic > 1 + 1e-9) {
      return FailedPrecondition("traffic: layer '" + layer + "' has " + std::to_string(1 - taken) +
                                " of its users free, asked for " + std::to_string(spec.traffic));
    }
  }
  return Status::Ok();
}

std::string ExperimentSet::LayerOf(const ExperimentSpec& spec) const {
  return spec.layer.empty() ? spec.name : spec.layer;
}

std::vector<double> ExperimentSet::LayerShares(const Layer& layer, std::string_view experiment,
                                               double traffic) const {
  std::vector<double> shares(layer.slots.size(), 0);
  double used = 0;
  for (size_t s = 1; s < layer.slots.size(); ++s) {
    shares[s] = layer.slots[s] == experiment
                    ? traffic
                    : layer.allocation.BucketsOf(static_cast<uint32_t>(s)) /
                          static_cast<double>(kAssignmentBuckets);
    used += shares[s];
  }
  shares[0] = std::max(0.0, 1 - used);
  return shares;
}

std::vector<double> ExperimentSet::ServingShares(const Experiment& e) {
  std::vector<double> shares;
  for (const ExperimentArm& arm : e.spec.arms) shares.push_back(arm.share);
  for (size_t a = 1; a < e.arms.size(); ++a) {
    if (e.arms[a].stopped_reason.empty()) continue;
    shares[0] += shares[a];
    shares[a] = 0;
  }
  return shares;
}

void ExperimentSet::Put(const ExperimentSpec& put, int64_t time_ms) {
  ExperimentSpec spec = put;
  if (spec.type == kInterleave) {
    for (ExperimentArm& arm : spec.arms) arm.share = 0.5;  // half of each list, to every user
  }
  auto it = experiments_.find(spec.name);
  const bool ramp = it != experiments_.end() && it->second.running;
  if (!ramp) {
    if (it != experiments_.end()) experiments_.erase(it);
    Experiment& e = experiments_[spec.name];
    e.spec = spec;
    e.started_ms = time_ms;
    e.arms.resize(spec.arms.size());
    e.allocation = BucketAllocation::Create(ServingShares(e)).value();
  } else {
    Experiment& e = it->second;
    e.spec = spec;
    e.arms.resize(spec.arms.size());
    LIVEREC_CHECK(e.allocation.Ramp(ServingShares(e)).ok());
  }
  Experiment& e = experiments_.find(spec.name)->second;
  // The SRM tests compare the users served since now with the shares from now on.
  RestartSrm(&e);

  const std::string layer_name = LayerOf(spec);
  Layer& layer = layers_[layer_name];
  if (layer.slots.empty()) {
    layer.slots.push_back("");
    layer.allocation = BucketAllocation::Create(std::vector<double>{1.0}).value();
  }
  if (std::find(layer.slots.begin(), layer.slots.end(), spec.name) == layer.slots.end()) {
    layer.slots.push_back(spec.name);
  }
  LIVEREC_CHECK(layer.allocation.Ramp(LayerShares(layer, spec.name, spec.traffic)).ok());
}

Status ExperimentSet::CheckStop(std::string_view name) const {
  const Experiment* e = Find(name);
  if (e == nullptr || !e->running) {
    return NotFound("experiment '" + std::string(name) + "' is not running");
  }
  return Status::Ok();
}

Status ExperimentSet::Stop(std::string_view name, int64_t time_ms) {
  LIVEREC_RETURN_IF_ERROR(CheckStop(name));
  Experiment* e = Find(name);
  e->running = false;
  e->stopped_ms = time_ms;
  e->stopped_reason = "stopped by the operator";
  Layer& layer = layers_.find(LayerOf(e->spec))->second;
  LIVEREC_CHECK(layer.allocation.Ramp(LayerShares(layer, name, 0)).ok());
  return Status::Ok();
}

const ExperimentSet::Experiment* ExperimentSet::Find(std::string_view name) const {
  auto it = experiments_.find(name);
  return it == experiments_.end() ? nullptr : &it->second;
}

ExperimentSet::Experiment* ExperimentSet::Find(std::string_view name) {
  auto it = experiments_.find(name);
  return it == experiments_.end() ? nullptr : &it->second;
}

std::optional<ExperimentSet::Assignment> ExperimentSet::Assign(std::string_view user) const {
  for (const auto& [layer_name, layer] : layers_) {
    uint32_t slot = 0;
    if (layer.allocation.BucketsOf(0) == 0 && layer.slots.size() == 2) {
      slot = 1;  // one experiment takes the whole layer: no need to hash
    } else {
      slot = layer.allocation.ArmOf(AssignmentBucket("layer:" + layer_name, user));
    }
    if (slot == 0) continue;
    const Experiment* e = Find(layer.slots[slot]);
    if (e == nullptr || !e->running) continue;
    const uint32_t arm = e->allocation.ArmOf(AssignmentBucket(SaltOf(e->spec), user));
    return Assignment{&e->spec, arm};
  }
  return std::nullopt;
}

ExperimentSet::Arm* ExperimentSet::FindArm(std::string_view experiment, std::string_view arm,
                                           Experiment** owner) {
  Experiment* e = Find(experiment);
  if (e == nullptr) return nullptr;
  for (size_t a = 0; a < e->spec.arms.size(); ++a) {
    if (e->spec.arms[a].name == arm) {
      *owner = e;
      return &e->arms[a];
    }
  }
  return nullptr;
}

void ExperimentSet::OnDecision(std::string_view experiment, std::string_view arm,
                               std::string_view user, uint32_t latency_us, bool failed,
                               int64_t time_ms) {
  if (Experiment* e = Find(experiment); e != nullptr && e->spec.type == kInterleave) {
    const uint64_t hash = UserHash(user);
    for (Arm& a : e->arms) {  // an interleaved list serves the user from both arms
      ++(failed ? a.errors : a.decisions);
      a.failed.Add(failed ? 1 : 0);
      if (!failed && latency_us > 0) ++a.latency_counts[LatencyBucket(latency_us)];
      a.users.insert(hash);
    }
    return;
  }
  Experiment* e = nullptr;
  Arm* a = FindArm(experiment, arm, &e);
  if (a == nullptr) return;  // the experiment was replaced since
  ++(failed ? a->errors : a->decisions);
  const auto index = static_cast<size_t>(a - e->arms.data());
  // The guardrails compare arms over the same period: outcomes after a stop are not counted.
  if (e->running && a->stopped_reason.empty()) {
    a->failed.Add(failed ? 1 : 0);
    if (!failed && latency_us > 0) AddLatency(e, index, latency_us);
    CheckGuardrails(e, time_ms);
  }
  const uint64_t hash = UserHash(user);
  a->users.insert(hash);
  // The SRM tests compare the arms' users with the current allocation. A decision served just
  // before a ramp or a stop (in flight while it was applied) followed the old one: it counts
  // for the figures, not for the tests.
  if (!e->running || e->allocation.ArmOf(AssignmentBucket(SaltOf(e->spec), user)) != index) return;
  if (a->srm_users.insert(hash).second) {
    e->srm->Add(static_cast<uint32_t>(index));
  }
}

void ExperimentSet::AddLatency(Experiment* e, size_t index, uint32_t latency_us) {
  Arm& arm = e->arms[index];
  ++arm.latency_counts[LatencyBucket(latency_us)];
  if (e->latency_threshold_us > 0) {
    arm.slow.Add(latency_us > e->latency_threshold_us ? 1 : 0);
    return;
  }
  if (index != 0) return;  // a treatment's lists count once the threshold is set
  e->calibration.push_back(latency_us);
  if (e->calibration.size() < kLatencyCalibrationDecisions) return;
  // The p99: the latency that 99 % of the calibration lists do not exceed.
  const size_t rank = (e->calibration.size() * 99 + 99) / 100 - 1;
  std::nth_element(e->calibration.begin(), e->calibration.begin() + rank, e->calibration.end());
  e->latency_threshold_us = e->calibration[rank];
  e->calibration.clear();
  e->calibration.shrink_to_fit();
}

void ExperimentSet::OnClosed(std::string_view experiment, std::string_view arm,
                             uint64_t impressions, uint64_t clicked, int64_t time_ms) {
  Experiment* e = nullptr;
  Arm* a = FindArm(experiment, arm, &e);
  if (a == nullptr) return;
  a->impressions += impressions;
  a->clicks += clicked;
  for (uint64_t i = 0; i < impressions; ++i) a->ctr.Add(i < clicked ? 1 : 0);
  if (e->running) CheckGuardrails(e, time_ms);
}

int ExperimentSet::ArmIndex(std::string_view experiment, std::string_view arm) const {
  const Experiment* e = Find(experiment);
  if (e == nullptr) return -1;
  for (size_t a = 0; a < e->spec.arms.size(); ++a) {
    if (e->spec.arms[a].name == arm) return static_cast<int>(a);
  }
  return -1;
}

void ExperimentSet::OnInterleavedClosed(std::string_view experiment,
                                        const std::array<uint64_t, 2>& impressions,
                                        const std::array<uint64_t, 2>& clicks) {
  Experiment* e = Find(experiment);
  if (e == nullptr || e->spec.type != kInterleave) return;
  for (size_t t = 0; t < 2; ++t) {
    Arm& arm = e->arms[t];
    arm.impressions += impressions[t];
    arm.clicks += clicks[t];
    for (uint64_t i = 0; i < impressions[t]; ++i) arm.ctr.Add(i < clicks[t] ? 1 : 0);
  }
  if (clicks[0] == clicks[1]) {
    if (clicks[0] > 0) ++e->ties;
    return;
  }
  const size_t winner = clicks[1] > clicks[0] ? 1 : 0;
  ++e->wins[winner];
  e->preference.Add(static_cast<double>(winner));
}

void ExperimentSet::OnEvaluated(std::string_view experiment, std::string_view arm,
                                uint32_t position) {
  Experiment* e = nullptr;
  Arm* a = FindArm(experiment, arm, &e);
  if (a == nullptr) return;
  ++a->evaluated;
  if (position > 0) {
    ++a->hits;
    a->gain += 1 / std::log2(1.0 + position);
  }
}

void ExperimentSet::RestartSrm(Experiment* e) {
  e->srm = std::make_unique<SequentialSrm>(ServingShares(*e));
  for (Arm& arm : e->arms) arm.srm_users.clear();
}

void ExperimentSet::CheckGuardrails(Experiment* e, int64_t time_ms) {
  const size_t treatments = e->arms.size() - 1;
  if (treatments == 0 || e->spec.type == kInterleave) return;
  const double alpha = kExperimentAlpha / static_cast<double>(treatments);
  const Arm& control = e->arms[0];
  const std::string returned = "; its users went back to the control at " + std::to_string(time_ms);
  bool stopped = false;
  for (size_t t = 1; t < e->arms.size(); ++t) {
    Arm& arm = e->arms[t];
    if (!arm.stopped_reason.empty()) continue;
    const Interval ctr = DifferenceSequence(arm.ctr, control.ctr, alpha, kExperimentTightestAt);
    const Interval failed =
        DifferenceSequence(arm.failed, control.failed, alpha, kExperimentTightestAt);
    const Interval slow = DifferenceSequence(arm.slow, control.slow, alpha, kExperimentTightestAt);
    if (ctr.hi < 0) {
      arm.stopped_reason =
          "ctr: worse than the control (difference interval " + IntervalText(ctr) + ")" + returned;
    } else if (failed.lo > 0) {
      arm.stopped_reason =
          "error_rate: more failed requests than the control (difference "
          "interval " +
          IntervalText(failed) + ")" + returned;
    } else if (slow.lo > 0) {
      arm.stopped_reason = "latency_p99: more lists slower than the control's p99 (" +
                           std::to_string(e->latency_threshold_us) +
                           " us) than the control's (difference interval " + IntervalText(slow) +
                           ")" + returned;
    } else {
      continue;
    }
    stopped = true;
  }
  if (stopped) {
    LIVEREC_CHECK(e->allocation.Ramp(ServingShares(*e)).ok());
    RestartSrm(e);
  }
}

ExperimentReport ExperimentSet::MakeReport(const Experiment& e) const {
  ExperimentReport r;
  r.name = e.spec.name;
  r.type = e.spec.type;
  r.running = e.running;
  r.learning = e.spec.learning;
  r.salt = SaltOf(e.spec);
  r.layer = LayerOf(e.spec);
  r.traffic = e.spec.traffic;
  r.stopped_reason = e.stopped_reason;
  r.started_ms = e.started_ms;
  r.stopped_ms = e.stopped_ms;
  for (size_t a = 0; a < e.arms.size(); ++a) {
    const Arm& arm = e.arms[a];
    ArmReport& out = r.arms.emplace_back();
    out.name = e.spec.arms[a].name;
    out.model = e.spec.arms[a].model;
    out.share = e.spec.arms[a].share;
    out.users = arm.users.size();
    out.decisions = arm.decisions;
    out.impressions = arm.impressions;
    out.clicks = arm.clicks;
    out.ctr = arm.impressions == 0 ? 0 : static_cast<double>(arm.clicks) / arm.impressions;
    const Interval ci = ConfidenceSequence(arm.ctr, kExperimentAlpha, kExperimentTightestAt);
    out.ctr_lo = ci.lo;
    out.ctr_hi = ci.hi;
    out.evaluated = arm.evaluated;
    out.recall = arm.evaluated == 0 ? 0 : static_cast<double>(arm.hits) / arm.evaluated;
    out.ndcg = arm.evaluated == 0 ? 0 : arm.gain / arm.evaluated;
    out.errors = arm.errors;
    const uint64_t requests = arm.decisions + arm.errors;
    out.error_rate = requests == 0 ? 0 : static_cast<double>(arm.errors) / requests;
    out.latency_p50_ms = LatencyQuantileMs(arm.latency_counts, 0.5);
    out.latency_p99_ms = LatencyQuantileMs(arm.latency_counts, 0.99);
    out.slow_share = arm.slow.n() == 0 ? 0 : arm.slow.mean();
    out.stopped_reason = arm.stopped_reason;
  }
  r.latency_threshold_ms = e.latency_threshold_us / 1000.0;
  if (e.spec.type == kInterleave) {
    // No shares to check; the preference decides (Radlinski et al.: the arm whose items draw
    // more of a list's clicks wins it).
    r.wins = e.wins;
    r.ties = e.ties;
    r.preference = e.preference.n() == 0 ? 0.5 : e.preference.mean();
    const Interval ci = ConfidenceSequence(e.preference, kExperimentAlpha, kInterleaveTightestAt);
    r.preference_lo = ci.lo;
    r.preference_hi = ci.hi;
    if (ci.lo > 0.5) r.winner = e.spec.arms[1].name;
    if (ci.hi < 0.5) r.winner = e.spec.arms[0].name;
    return r;
  }
  const std::vector<double> shares = ServingShares(e);
  r.srm_p = ChiSquarePValue(e.srm->counts(), shares);
  r.srm_always_valid_p = e.srm->p_value();
  r.srm_alarm = r.srm_p < kSrmAlarmP && r.srm_always_valid_p < kSrmAlarmP;
  const size_t treatments = e.arms.size() - 1;
  if (treatments > 0) {
    const double alpha = kExperimentAlpha / static_cast<double>(treatments);
    double best_lo = 0;
    bool control_best = true;
    for (size_t t = 1; t < e.arms.size(); ++t) {
      // A treatment the guardrail stopped lost; what its last outcomes say no longer counts.
      if (!e.arms[t].stopped_reason.empty()) continue;
      const Interval diff =
          DifferenceSequence(e.arms[t].ctr, e.arms[0].ctr, alpha, kExperimentTightestAt);
      if (diff.lo > best_lo) {
        best_lo = diff.lo;
        r.winner = e.spec.arms[t].name;
      }
      control_best &= diff.hi < 0;
    }
    if (!r.winner && control_best) r.winner = e.spec.arms[0].name;
  }
  return r;
}

const ExperimentSpec* ExperimentSet::FindSpec(std::string_view name) const {
  const Experiment* e = Find(name);
  return e == nullptr ? nullptr : &e->spec;
}

std::optional<ExperimentReport> ExperimentSet::Report(std::string_view name) const {
  const Experiment* e = Find(name);
  if (e == nullptr) return std::nullopt;
  return MakeReport(*e);
}

std::vector<ExperimentReport> ExperimentSet::Reports() const {
  std::vector<ExperimentReport> out;
  for (const auto& [name, e] : experiments_) out.push_back(MakeReport(e));
  return out;
}

void ExperimentSet::Save(BinaryWriter* out) const {
  out->Put(kExperimentsFormatVersion);
  out->Put<uint64_t>(experiments_.size());
  for (const auto& [name, e] : experiments_) {
    PutSpec(e.spec, out);
    out->PutString(e.spec.type);
    out->Put(e.wins[0]);
    out->Put(e.wins[1]);
    out->Put(e.ties);
    e.preference.Save(out);
    out->Put<uint8_t>(e.running);
    out->PutString(e.stopped_reason);
    out->Put(e.started_ms);
    out->Put(e.stopped_ms);
    e.allocation.Save(out);
    for (const Arm& arm : e.arms) {
      out->Put(arm.decisions);
      out->Put(arm.impressions);
      out->Put(arm.clicks);
      out->Put(arm.evaluated);
      out->Put(arm.hits);
      out->Put(arm.gain);
      arm.ctr.Save(out);
      // Sorted, so that the bytes depend on the set only, not on how it was built.
      for (const std::unordered_set<uint64_t>* set : {&arm.users, &arm.srm_users}) {
        std::vector<uint64_t> users(set->begin(), set->end());
        std::sort(users.begin(), users.end());
        out->PutVector(users);
      }
      out->PutString(arm.stopped_reason);
      out->Put(arm.errors);
      arm.failed.Save(out);
      arm.slow.Save(out);
      out->PutVector(arm.latency_counts);
    }
    e.srm->Save(out);
    out->Put(e.latency_threshold_us);
    out->PutVector(e.calibration);
  }
  out->Put<uint64_t>(layers_.size());
  for (const auto& [name, layer] : layers_) {
    out->PutString(name);
    out->Put<uint64_t>(layer.slots.size());
    for (const std::string& slot : layer.slots) out->PutString(slot);
    layer.allocation.Save(out);
  }
}

Status ExperimentSet::Load(BinaryReader* in) {
  uint32_t version = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&version));
  if (version < 1 || version > kExperimentsFormatVersion) {
    return Corruption("experiments: format version " + std::to_string(version));
  }
  std::map<std::string, Experiment, std::less<>> experiments;
  uint64_t n = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  for (uint64_t i = 0; i < n; ++i) {
    ExperimentSpec spec;
    LIVEREC_RETURN_IF_ERROR(GetSpec(in, &spec));
    Experiment& e = experiments[spec.name];
    e.spec = std::move(spec);
    if (version >= 2) {
      LIVEREC_RETURN_IF_ERROR(in->GetString(&e.spec.type));
      LIVEREC_RETURN_IF_ERROR(in->Get(&e.wins[0]));
      LIVEREC_RETURN_IF_ERROR(in->Get(&e.wins[1]));
      LIVEREC_RETURN_IF_ERROR(in->Get(&e.ties));
      LIVEREC_RETURN_IF_ERROR(e.preference.Load(in));
    }
    uint8_t running = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&running));
    e.running = running != 0;
    LIVEREC_RETURN_IF_ERROR(in->GetString(&e.stopped_reason));
    LIVEREC_RETURN_IF_ERROR(in->Get(&e.started_ms));
    LIVEREC_RETURN_IF_ERROR(in->Get(&e.stopped_ms));
    LIVEREC_ASSIGN_OR_RETURN(e.allocation, BucketAllocation::Load(in));
    if (e.allocation.num_arms() != e.spec.arms.size()) {
      return Corruption("experiments: '" + e.spec.name + "' allocation and arms disagree");
    }
    e.arms.resize(e.spec.arms.size());
    for (Arm& arm : e.arms) {
      LIVEREC_RETURN_IF_ERROR(in->Get(&arm.decisions));
      LIVEREC_RETURN_IF_ERROR(in->Get(&arm.impressions));
      LIVEREC_RETURN_IF_ERROR(in->Get(&arm.clicks));
      LIVEREC_RETURN_IF_ERROR(in->Get(&arm.evaluated));
      LIVEREC_RETURN_IF_ERROR(in->Get(&arm.hits));
      LIVEREC_RETURN_IF_ERROR(in->Get(&arm.gain));
      LIVEREC_RETURN_IF_ERROR(arm.ctr.Load(in));
      for (std::unordered_set<uint64_t>* set : {&arm.users, &arm.srm_users}) {
        std::vector<uint64_t> users;
        LIVEREC_RETURN_IF_ERROR(in->GetVector(&users));
        set->insert(users.begin(), users.end());
      }
      LIVEREC_RETURN_IF_ERROR(in->GetString(&arm.stopped_reason));
      if (version >= 3) {
        LIVEREC_RETURN_IF_ERROR(in->Get(&arm.errors));
        LIVEREC_RETURN_IF_ERROR(arm.failed.Load(in));
        LIVEREC_RETURN_IF_ERROR(arm.slow.Load(in));
        LIVEREC_RETURN_IF_ERROR(in->GetVector(&arm.latency_counts));
        if (arm.latency_counts.size() != kLatencyBuckets) {
          return Corruption("experiments: '" + e.spec.name + "' latency histogram of " +
                            std::to_string(arm.latency_counts.size()) + " buckets");
        }
      }
    }
    e.srm = std::make_unique<SequentialSrm>(ServingShares(e));
    LIVEREC_RETURN_IF_ERROR(e.srm->Load(in));
    if (version >= 3) {
      LIVEREC_RETURN_IF_ERROR(in->Get(&e.latency_threshold_us));
      LIVEREC_RETURN_IF_ERROR(in->GetVector(&e.calibration));
      if (e.calibration.size() >= kLatencyCalibrationDecisions) {
        return Corruption("experiments: '" + e.spec.name + "' calibration of " +
                          std::to_string(e.calibration.size()) + " lists");
      }
    }
  }
  std::map<std::string, Layer, std::less<>> layers;
  LIVEREC_RETURN_IF_ERROR(in->Get(&n));
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    LIVEREC_RETURN_IF_ERROR(in->GetString(&name));
    Layer& layer = layers[name];
    uint64_t slots = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&slots));
    if (slots == 0 || slots > kMaxArms) return Corruption("experiments: layer slots");
    layer.slots.resize(slots);
    for (std::string& slot : layer.slots) LIVEREC_RETURN_IF_ERROR(in->GetString(&slot));
    LIVEREC_ASSIGN_OR_RETURN(layer.allocation, BucketAllocation::Load(in));
    if (layer.allocation.num_arms() != slots) return Corruption("experiments: layer allocation");
  }
  experiments_ = std::move(experiments);
  layers_ = std::move(layers);
  return Status::Ok();
}

}  // namespace liverec
