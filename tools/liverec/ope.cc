// liverec ope: off-policy evaluation of a model on a server's logged decisions — what its
// lists would have earned, from the lists the server served with recorded probabilities
// (exploration) and the clicks they got (eval/logged_decisions.h, experiment/off_policy.h).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "eval/logged_decisions.h"
#include "experiment/off_policy.h"

namespace liverec::tools {
namespace {

using Json = nlohmann::json;

// Below this many effective lists the first position's weights rest on a handful of lists: the
// intervals are not to be trusted (docs/quality.md shows DR confidently wrong there).
constexpr double kMinEffectiveLists = 100;

struct OpeFlags {
  std::string data_dir;
  std::string model;
  size_t positions = 1;
  double level = 0.95;
  bool json = false;
  OptionFlags options;
};

Json EstimateJson(const PolicyEstimate& e, double per) {
  return {{"clicks_per_list", e.value},
          {"interval", {e.lo, e.hi}},
          {"ctr", e.value / per},
          {"ctr_interval", {e.lo / per, e.hi / per}}};
}

Status RunOpe(const OpeFlags& flags) {
  if (flags.positions == 0) return InvalidArgument("--positions: expected at least 1");
  if (!(flags.level > 0 && flags.level < 1)) return InvalidArgument("--level: expected (0, 1)");
  LIVEREC_ASSIGN_OR_RETURN(Options options, flags.options.Load({}));
  LIVEREC_ASSIGN_OR_RETURN(
      LoggedDecisions logged,
      ReadLoggedDecisions(flags.data_dir, options, Context{}, flags.model, flags.positions));
  const OffPolicyReport r = EstimateOffPolicy(logged.lists, flags.level);
  const double per = static_cast<double>(flags.positions);
  if (flags.json) {
    const Json out = {
        {"model", flags.model},
        {"positions", flags.positions},
        {"level", flags.level},
        {"records", logged.records},
        {"lists", r.lists},
        {"matched", r.matched},
        {"effective_lists", r.effective_lists},
        {"reliable", r.effective_lists >= kMinEffectiveLists},
        {"logged", {{"clicks_per_list", r.logged_value}, {"ctr", r.logged_value / per}}},
        {"ips", EstimateJson(r.ips, per)},
        {"snips", EstimateJson(r.snips, per)},
        {"dr", EstimateJson(r.dr, per)}};
    std::printf("%s\n", out.dump(2).c_str());
    return Status::Ok();
  }
  std::printf("model %s, first %zu position(s), %llu decisions (%llu log records from %llu)\n",
              flags.model.c_str(), flags.positions, static_cast<unsigned long long>(r.lists),
              static_cast<unsigned long long>(logged.records),
              static_cast<unsigned long long>(logged.first_seq));
  std::printf("first item as the model's in %llu lists; effective lists %.1f\n",
              static_cast<unsigned long long>(r.matched), r.effective_lists);
  if (r.effective_lists < kMinEffectiveLists) {
    std::printf(
        "warning: fewer than %.0f effective lists: the logged lists rarely agree with the "
        "model's, so these estimates rest on a few lists; log with more exploration\n",
        kMinEffectiveLists);
  }
  std::printf("%-9s %10s  %s\n", "estimator", "ctr", "interval");
  std::printf("%-9s %10.5f\n", "logged", r.logged_value / per);
  for (const auto& [name, e] :
       {std::pair{"ips", r.ips}, std::pair{"snips", r.snips}, std::pair{"dr", r.dr}}) {
    std::printf("%-9s %10.5f  [%.5f, %.5f]\n", name, e.value / per, e.lo / per, e.hi / per);
  }
  return Status::Ok();
}

}  // namespace

void AddOpeCommand(CLI::App& app) {
  auto flags = std::make_shared<OpeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "ope",
      "Off-policy evaluation: estimate a model's CTR on the decisions a server logged (IPS, "
      "SNIPS and doubly robust, with intervals), from the exploration probabilities it "
      "recorded. Give the server's options (--config, --set) so the same models are built.");
  cmd->add_option("--data-dir", flags->data_dir, "The server's data directory")->required();
  cmd->add_option("--model", flags->model,
                  "The model (an instance or ensemble member) to "
                  "evaluate")
      ->required();
  cmd->add_option("--positions", flags->positions,
                  "Evaluate the first this many positions of each list (deeper estimates "
                  "widen quickly; docs/quality.md)")
      ->capture_default_str();
  cmd->add_option("--level", flags->level, "Level of the intervals")->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print JSON");
  flags->options.AddTo(cmd);
  cmd->callback([flags] {
    const Status status = RunOpe(*flags);
    if (!status.ok()) throw CLI::RuntimeError(ReportError(status));
  });
}

}  // namespace liverec::tools
