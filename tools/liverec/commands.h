// The liverec command-line tool: one file per subcommand, each adding itself to the app.
#ifndef LIVEREC_TOOLS_LIVEREC_COMMANDS_H_
#define LIVEREC_TOOLS_LIVEREC_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "event/dataset.h"
#include "event/readers.h"
#include "liverec/options.h"
#include "liverec/status.h"

namespace liverec::tools {

void AddReplayCommand(CLI::App& app);
void AddGenerateCommand(CLI::App& app);
void AddOptionsCommand(CLI::App& app);
void AddServeCommand(CLI::App& app);
void AddTrainCommand(CLI::App& app);
void AddSimulateCommand(CLI::App& app);
void AddOpeCommand(CLI::App& app);
void AddImportCommand(CLI::App& app);
void AddExportCommand(CLI::App& app);
void AddRoutesCommand(CLI::App& app);
void AddKeysCommand(CLI::App& app);
void AddConfigCommand(CLI::App& app);
void AddTuneCommand(CLI::App& app);

// Reader flags shared by every command that reads a data set (--format, --user-col, ...).
struct DataFlags {
  std::string path;
  std::string format = "auto";
  std::string user_col, item_col, time_col, rating_col, type_col;
  std::string time_unit = "auto";
  bool skip_bad = false;
  size_t max_events = 0;

  void AddTo(CLI::App* cmd);
  StatusOr<ReadOptions> ToReadOptions() const;
};

// Options from, in rising precedence: the table's defaults, --config, LIVEREC_* environment
// variables, the dedicated flags, --set.
struct OptionFlags {
  std::string config;
  std::vector<std::string> sets;

  void AddTo(CLI::App* cmd);
  StatusOr<Options> Load(const std::vector<std::pair<std::string, std::string>>& flags) const;
};

// The data set of --data as replay and tune read it: a file or folder (the reader flags), or
// the embedded synthetic drift stream for an empty path or "synthetic" (seeded by `seed`).
// Prints what was loaded, and how many lines were skipped, to stderr unless `quiet`; sets
// `source` to the path or the stream's name.
StatusOr<Dataset> LoadReplayDataset(const DataFlags& data, uint64_t seed, bool quiet,
                                    std::string* source);

// Prints "error: <message>" to stderr and returns the process exit code for `status`.
int ReportError(const Status& status);

// Writes `text` to `path` atomically (temp file + rename).
Status WriteTextFile(const std::string& path, const std::string& text);

}  // namespace liverec::tools

#endif  // LIVEREC_TOOLS_LIVEREC_COMMANDS_H_
