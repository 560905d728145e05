#include "eval/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace liverec {

std::string ReportTable(const ReplayReport& report) {
  std::string out =
      fmt::format("events {}  users {}  items {}  scored events {}\n", report.num_events,
                  report.num_users, report.num_items, report.scored_events);
  if (report.rank.active()) {
    out += fmt::format(
        "re-ranked: diversity {:g} (MMR lambda {:g}), similarity {}, pool {}, category cap {}\n",
        report.rank.diversity, 1 - report.rank.diversity, report.rank.similarity, report.rank.pool,
        report.rank.category_cap);
  }
  out += fmt::format(
      "{:<12} {:<9} {:>9} {:>17} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} "
      "{:>10}\n",
      "model", "protocol", "recall@k", "recall interval", "ild@k", "cats@k", "ndcg@k", "mrr", "auc",
      "coverage", "cold rec", "warm rec", "evaluated", "seconds", "events/s");
  for (const RunResult& r : report.results) {
    // AUC exists only where events were ranked among candidates ("-" otherwise, e.g. loo);
    // ILD only where a similarity measured it, categories only where items have some.
    const std::string auc =
        r.metrics.auc_events > 0 ? fmt::format("{:.4f}", r.metrics.auc) : std::string("-");
    const bool measured = r.diversity.lists > 0;
    const std::string ild = measured ? fmt::format("{:.4f}", r.diversity.ild) : std::string("-");
    const std::string cats = measured && r.ild_similarity == "category"
                                 ? fmt::format("{:.2f}", r.diversity.categories)
                                 : std::string("-");
    const std::string interval =
        r.intervals.resamples > 0
            ? fmt::format("[{:.4f}, {:.4f}]", r.intervals.recall.low, r.intervals.recall.high)
            : std::string("-");
    out += fmt::format(
        "{:<12} {:<9} {:>9.4f} {:>17} {:>7} {:>7} {:>8.4f} {:>8.4f} {:>8} {:>8.4f} {:>9.4f} "
        "{:>9.4f} {:>9} {:>8.2f} {:>10.0f}\n",
        r.model, ProtocolName(r.protocol), r.metrics.recall, interval, ild, cats, r.metrics.ndcg,
        r.metrics.mrr, auc, r.coverage, r.metrics.cold_recall, r.metrics.warm_recall,
        r.metrics.events, r.seconds, r.events_per_second);
  }
  if (std::any_of(report.results.begin(), report.results.end(), [](const RunResult& r) {
        return r.diversity.lists > 0 && r.ild_similarity != "category";
      })) {
    out +=
        "ild@k without item categories is measured with rank.similarity (JSON: "
        "ild_similarity)\n";
  }
  const auto with_interval =
      std::find_if(report.results.begin(), report.results.end(),
                   [](const RunResult& r) { return r.intervals.resamples > 0; });
  if (with_interval != report.results.end()) {
    out += fmt::format(
        "recall interval: {:g} % bootstrap percentile interval over users ({} resamples)\n",
        100 * with_interval->intervals.level, with_interval->intervals.resamples);
  }
  if (std::any_of(report.results.begin(), report.results.end(),
                  [](const RunResult& r) { return r.protocol == Protocol::kLoo; })) {
    out +=
        "loo rows: recall@k is HR@k, evaluated counts users (one test item each, ranked "
        "against all items), events/s is users/s\n";
  }
  return out;
}

std::string ReportJson(const ReplayReport& report, const std::string& extra_json) {
  nlohmann::ordered_json root;
  root["dataset"] = {{"events", report.num_events},
                     {"users", report.num_users},
                     {"items", report.num_items},
                     {"scored_events", report.scored_events},
                     {"scored_from_ms", report.scored_from_ms}};
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const RunResult& r : report.results) {
    nlohmann::ordered_json row = {
        {"model", r.model},
        {"type", r.type},
        {"protocol", ProtocolName(r.protocol)},
        {"k", r.k},
        {"recall", r.metrics.recall},
        {"ndcg", r.metrics.ndcg},
        {"mrr", r.metrics.mrr},
        {"auc", r.metrics.auc},
        {"auc_events", r.metrics.auc_events},
        {"coverage", r.coverage},
        {"events_evaluated", r.metrics.events},
        {"seconds", r.seconds},
        {"events_per_second", r.events_per_second},
        {"cold", {{"events", r.metrics.cold_events}, {"recall", r.metrics.cold_recall}}},
        {"warm", {{"events", r.metrics.warm_events}, {"recall", r.metrics.warm_recall}}},
        {"repeats_skipped", r.repeats_skipped},
        {"train_seconds", r.train_seconds},
        {"batch_epochs", r.batch_epochs},
        {"validation_curve", r.validation_curve},
        {"rebuilds", r.rebuilds},
        {"ild", r.diversity.ild},
        {"ild_lists", r.diversity.lists},
        {"ild_similarity", r.ild_similarity},
        {"categories_per_list", r.diversity.categories}};
    if (r.intervals.resamples > 0) {
      const MetricIntervals& ci = r.intervals;
      row["intervals"] = {{"level", ci.level},
                          {"resamples", ci.resamples},
                          {"users", ci.users},
                          {"recall", {ci.recall.low, ci.recall.high}},
                          {"ndcg", {ci.ndcg.low, ci.ndcg.high}},
                          {"mrr", {ci.mrr.low, ci.mrr.high}}};
    }
    if (r.protocol == Protocol::kLoo) {
      row["hr"] = r.metrics.recall;  // the name the leave-last-out literature uses
      row["users_evaluated"] = r.metrics.events;
    }
    results.push_back(std::move(row));
  }
  root["rank"] = {{"diversity", report.rank.diversity},       {"lambda", 1 - report.rank.diversity},
                  {"similarity", report.rank.similarity},     {"pool", report.rank.pool},
                  {"category_cap", report.rank.category_cap}, {"reranked", report.rank.active()}};
  root["results"] = std::move(results);
  root["verdict"] = OnlineVerdict(report);
  if (!extra_json.empty()) {
    nlohmann::ordered_json extra = nlohmann::ordered_json::parse(extra_json);
    for (auto& [key, value] : extra.items()) root[key] = value;
  }
  return root.dump(2) + "\n";
}

std::string SeriesCsv(const ReplayReport& report) {
  std::string out = "window_start_ms,window_end_ms,model,protocol,events,recall,ndcg,mrr\n";
  for (const RunResult& r : report.results) {
    for (const WindowPoint& p : r.series) {
      out += fmt::format("{},{},{},{},{},{:.6f},{:.6f},{:.6f}\n", p.start_ms, p.end_ms, r.model,
                         ProtocolName(r.protocol), p.events, p.recall, p.ndcg, p.mrr);
    }
  }
  return out;
}

std::string OnlineVerdict(const ReplayReport& report) {
  // model -> protocol -> recall
  std::map<std::string, std::map<Protocol, double>> recall;
  std::vector<std::string> order;
  for (const RunResult& r : report.results) {
    if (!recall.count(r.model)) order.push_back(r.model);
    recall[r.model][r.protocol] = r.metrics.recall;
  }
  std::string out;
  for (const std::string& model : order) {
    const auto& by = recall[model];
    std::vector<std::pair<Protocol, double>> frozen;
    for (Protocol p : {Protocol::kStatic, Protocol::kPeriodic}) {
      if (by.count(p)) frozen.emplace_back(p, by.at(p));
    }
    for (Protocol learner : {Protocol::kOnline, Protocol::kWarm}) {
      if (!by.count(learner) || frozen.empty()) continue;
      const double mine = by.at(learner);
      std::string parts;
      bool beats_all = true;
      for (auto [p, r] : frozen) {
        beats_all = beats_all && mine > r;
        parts += fmt::format("{}{} {:.4f} ({:+.1f}%)", parts.empty() ? "" : ", ", ProtocolName(p),
                             r, r > 0 ? 100.0 * (mine - r) / r : 0.0);
      }
      out += fmt::format("{} {}: Recall {:.4f} {} {}. ", model, ProtocolName(learner), mine,
                         beats_all ? "beats" : "does NOT beat all of", parts);
    }
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace liverec
