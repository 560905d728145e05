// liverec routes: the HTTP routes the server answers, one "METHOD /path" a line, from the
// router's own table; the contract test compares them with api/openapi.yaml.
#include <cstdio>

#include "commands.h"
#include "serve/http_server.h"

namespace liverec::tools {

void AddRoutesCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("routes", "List the HTTP routes the server answers");
  cmd->callback([] {
    for (const std::string& route : HttpRoutes()) std::printf("%s\n", route.c_str());
  });
}

}  // namespace liverec::tools
