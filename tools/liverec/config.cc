// liverec config check FILE: validates a config file as `liverec serve --config FILE` would,
// without a data directory: the file's lines (Options::LoadConfigFile: syntax, names, types,
// ranges, each error with its line), then what the engine checks at start from the options
// alone (model instances and their options, event types, the default and fallback models,
// re-ranking) through the same EngineState::Create and Recommender::Validate that Engine::Open
// calls. Environment variables are not applied: the file is what is checked.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "commands.h"
#include "engine/engine_state.h"
#include "engine/recommender.h"

namespace liverec::tools {
namespace {

Status RunConfigCheck(const std::string& path) {
  Options options;
  LIVEREC_RETURN_IF_ERROR(options.LoadConfigFile(path));
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<EngineState> state,
                           EngineState::Create(options, Context{}));
  const Recommender recommender(RecommenderOptions::FromOptions(options, /*id_nonce=*/0), *state);
  LIVEREC_RETURN_IF_ERROR(recommender.Validate());
  std::printf("ok\n");
  return Status::Ok();
}

}  // namespace

void AddConfigCommand(CLI::App& app) {
  CLI::App* config = app.add_subcommand("config", "Work with config files");
  config->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  CLI::App* check = config->add_subcommand(
      "check",
      "Validate a config file with the server's checks: prints ok (exit 0) or the "
      "first error with its line (non-zero exit)");
  check->add_option("file", *path, "The config file (`option = value` lines)")->required();
  check->callback([path] {
    Status status = RunConfigCheck(*path);
    if (!status.ok()) std::exit(ReportError(status));
  });
}

}  // namespace liverec::tools
