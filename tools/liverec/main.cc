// liverec: the command-line entry point. Subcommands live in their own files.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "common/log.h"

namespace liverec::tools {

void DataFlags::AddTo(CLI::App* cmd) {
  cmd->add_option("--format", format, "Input format: auto, movielens, csv, jsonl")
      ->capture_default_str();
  cmd->add_option("--user-col", user_col, "CSV column of the user key (default: guessed)");
  cmd->add_option("--item-col", item_col, "CSV column of the item key (default: guessed)");
  cmd->add_option("--time-col", time_col, "CSV column of the timestamp (default: guessed)");
  cmd->add_option("--time-unit", time_unit, "Unit of CSV timestamps: s, ms or auto")
      ->capture_default_str();
  cmd->add_option("--rating-col", rating_col, "CSV column of the rating / value (optional)");
  cmd->add_option("--type-col", type_col, "CSV column of the event type (optional)");
  cmd->add_flag("--skip-bad", skip_bad, "Count and skip malformed lines instead of failing");
  cmd->add_option("--max-events", max_events, "Read at most this many events (0 = all)");
}

StatusOr<ReadOptions> DataFlags::ToReadOptions() const {
  ReadOptions o;
  LIVEREC_ASSIGN_OR_RETURN(o.format, ParseDataFormat(format));
  o.user_col = user_col;
  o.item_col = item_col;
  o.time_col = time_col;
  o.rating_col = rating_col;
  o.type_col = type_col;
  if (time_unit == "s") {
    o.time_unit = TimeUnit::kSeconds;
  } else if (time_unit == "ms") {
    o.time_unit = TimeUnit::kMilliseconds;
  } else if (time_unit != "auto") {
    return InvalidArgument("--time-unit: expected s, ms or auto, got '" + time_unit + "'");
  }
  o.skip_bad = skip_bad;
  o.max_events = max_events;
  return o;
}

void OptionFlags::AddTo(CLI::App* cmd) {
  cmd->add_option("--config", config, "Config file of `option = value` lines");
  cmd->add_option("--set", sets, "Set an option: --set mf.dim=32 (repeatable)");
}

StatusOr<Options> OptionFlags::Load(
    const std::vector<std::pair<std::string, std::string>>& flags) const {
  Options options;
  if (!config.empty()) LIVEREC_RETURN_IF_ERROR(options.LoadConfigFile(config));
  LIVEREC_RETURN_IF_ERROR(options.LoadEnvironment(&std::getenv));
  for (const auto& [key, value] : flags) LIVEREC_RETURN_IF_ERROR(options.Set(key, value));
  for (const std::string& assignment : sets) {
    LIVEREC_RETURN_IF_ERROR(options.SetAssignment(assignment).WithPrefix("--set"));
  }
  return options;
}

int ReportError(const Status& status) {
  // Once `serve` chose log.format=json, its last words are a JSON line too.
  if (GetLogFormat() == LogFormat::kJson) {
    Log(LogLevel::kError, status.message());
  } else {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
  }
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

Status WriteTextFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return IOError("cannot write " + tmp);
    out << text;
    out.close();
    if (!out) return IOError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return IOError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace liverec::tools

int main(int argc, char** argv) {
  CLI::App app{"liverec: a recommender engine that learns online from every event"};
  app.require_subcommand(1);
  liverec::tools::AddServeCommand(app);
  liverec::tools::AddTrainCommand(app);
  liverec::tools::AddReplayCommand(app);
  liverec::tools::AddGenerateCommand(app);
  liverec::tools::AddOptionsCommand(app);
  liverec::tools::AddSimulateCommand(app);
  liverec::tools::AddOpeCommand(app);
  liverec::tools::AddImportCommand(app);
  liverec::tools::AddExportCommand(app);
  liverec::tools::AddRoutesCommand(app);
  liverec::tools::AddKeysCommand(app);
  liverec::tools::AddConfigCommand(app);
  liverec::tools::AddTuneCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
