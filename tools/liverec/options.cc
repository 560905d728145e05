// liverec options: lists every option of the one option table (docs/config.md is its output).
#include "liverec/options.h"

#include <cstdio>

#include "commands.h"

namespace liverec::tools {

void AddOptionsCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("options", "List every option with its default and meaning");
  auto markdown = std::make_shared<bool>(false);
  cmd->add_flag("--markdown", *markdown, "Print the table as Markdown (docs/config.md)");
  cmd->callback([markdown] {
    if (*markdown) {
      std::fputs(OptionTableMarkdown().c_str(), stdout);
      return;
    }
    for (const OptionSpec& spec : AllOptions()) {
      std::printf("%-30s %-10s %s\n", std::string(spec.name).c_str(),
                  std::string(spec.default_value).c_str(), std::string(spec.help).c_str());
    }
  });
}

}  // namespace liverec::tools
