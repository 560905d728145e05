// liverec options: lists every option of the one option table (docs/config.md is its output;
// --conf writes a config file of commented defaults, the Debian package's conffile).
#include "liverec/options.h"

#include <cstdio>
#include <string>
#include <string_view>

#include "commands.h"

namespace liverec::tools {
namespace {

// Comment lines are wrapped to this many columns.
constexpr size_t kConfColumns = 100;

// Appends `text` as '#' comment lines wrapped at kConfColumns.
void AppendComment(std::string_view text, std::string* out) {
  std::string line = "#";
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(start, end - start);
    if (line.size() > 1 && line.size() + 1 + word.size() > kConfColumns) {
      *out += line + "\n";
      line = "#";
    }
    line += " ";
    line += word;
    start = end + 1;
  }
  *out += line + "\n";
}

// A config file that LoadConfigFile reads as no override at all: every option, its help, and
// its default as a commented `name = value` line to uncomment.
std::string OptionTableConfigFile() {
  std::string out;
  AppendComment(
      "liverec configuration (`liverec serve --config FILE`): one `option = value` per line; "
      "lines starting with # are comments. Written by `liverec options --conf`: every option at "
      "its default, commented out. Check a change with `liverec config check FILE`.",
      &out);
  for (const OptionSpec& spec : AllOptions()) {
    out += "\n";
    AppendComment(std::string(spec.name) + ": " + std::string(spec.help), &out);
    out += "# " + std::string(spec.name) + " = " + std::string(spec.default_value) + "\n";
  }
  return out;
}

}  // namespace

void AddOptionsCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("options", "List every option with its default and meaning");
  auto markdown = std::make_shared<bool>(false);
  auto conf = std::make_shared<bool>(false);
  cmd->add_flag("--markdown", *markdown, "Print the table as Markdown (docs/config.md)");
  cmd->add_flag("--conf", *conf,
                "Print a config file (--config) with every option commented out at its default");
  cmd->callback([markdown, conf] {
    if (*markdown) {
      std::fputs(OptionTableMarkdown().c_str(), stdout);
      return;
    }
    if (*conf) {
      std::fputs(OptionTableConfigFile().c_str(), stdout);
      return;
    }
    for (const OptionSpec& spec : AllOptions()) {
      std::printf("%-30s %-10s %s\n", std::string(spec.name).c_str(),
                  std::string(spec.default_value).c_str(), std::string(spec.help).c_str());
    }
  });
}

}  // namespace liverec::tools
