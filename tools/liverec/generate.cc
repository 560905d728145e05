// liverec generate: writes a seeded synthetic drift stream (CSV or JSON Lines).
#include <cstdio>

#include "commands.h"
#include "event/synthetic.h"

namespace liverec::tools {

void AddGenerateCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "generate", "Write a synthetic event stream with planted factors and drift");
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<SyntheticOptions>();
  cmd->add_option("--out", *out, "Output file (.csv or .jsonl)")->required();
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_option("--users", o->num_users, "Number of users")->capture_default_str();
  cmd->add_option("--items", o->num_initial_items, "Items at the start")->capture_default_str();
  cmd->add_option("--events", o->num_events, "Number of events")->capture_default_str();
  cmd->add_option("--dim", o->dim, "Planted latent dimension")->capture_default_str();
  cmd->add_option("--affinity", o->affinity, "Weight of user-item affinity in choices")
      ->capture_default_str();
  cmd->add_option("--events-per-day", o->events_per_day, "Stream-time event rate")
      ->capture_default_str();
  cmd->add_option("--drift-per-day", o->drift_per_day, "Interest drift per day")
      ->capture_default_str();
  cmd->add_option("--new-items-per-day", o->new_items_per_day, "Item arrivals per day")
      ->capture_default_str();
  cmd->add_option("--item-lifetime-days", o->item_lifetime_days, "Item lifetime (0 = forever)")
      ->capture_default_str();
  cmd->add_option("--popularity-wave-days", o->popularity_wave_days,
                  "Width of each item's popularity wave (0 = none)")
      ->capture_default_str();
  cmd->callback([out, o] {
    StatusOr<Dataset> dataset = GenerateSynthetic(*o);
    if (!dataset.ok()) throw CLI::RuntimeError(ReportError(dataset.status()));
    Status status = WriteDataset(*dataset, *out);
    if (!status.ok()) throw CLI::RuntimeError(ReportError(status));
    std::fprintf(stderr, "wrote %zu events, %zu users, %zu items to %s\n", dataset->events.size(),
                 dataset->num_users(), dataset->num_items(), out->c_str());
  });
}

}  // namespace liverec::tools
