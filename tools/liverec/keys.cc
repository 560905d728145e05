// liverec keys: API keys of a data directory (serve/key_store.h). A running server picks up
// every change on its next request; `add` prints the key once, and only its hash is stored.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "commands.h"
#include "serve/key_store.h"

namespace liverec::tools {
namespace {

struct KeysFlags {
  std::string data_dir = "./liverec-data";
  std::string role;
  std::string name;
  std::string id;
};

Status RunAdd(const KeysFlags& flags) {
  LIVEREC_ASSIGN_OR_RETURN(Role role, ParseRole(flags.role, "--role"));
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  ApiKey added;
  LIVEREC_ASSIGN_OR_RETURN(std::string key,
                           AddKey(flags.data_dir, role, flags.name, now_s, &added));
  std::printf("%s\n", key.c_str());
  std::fprintf(stderr, "liverec: key %s (role %s) added to %s; this is the only time it is shown\n",
               added.id.c_str(), RoleName(added.role), KeyFilePath(flags.data_dir).c_str());
  return Status::Ok();
}

Status RunList(const KeysFlags& flags) {
  bool exists = false;
  LIVEREC_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, ReadKeyFile(flags.data_dir, &exists));
  std::printf("%-16s  %-6s  %-20s  %s\n", "id", "role", "created", "name");
  for (const ApiKey& key : keys) {
    const time_t created = static_cast<time_t>(key.created_s);
    std::tm tm{};
    gmtime_r(&created, &tm);
    char when[32];
    std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::printf("%-16s  %-6s  %-20s  %s\n", key.id.c_str(), RoleName(key.role), when,
                key.name.c_str());
  }
  return Status::Ok();
}

Status RunRevoke(const KeysFlags& flags) {
  LIVEREC_RETURN_IF_ERROR(RevokeKey(flags.data_dir, flags.id));
  std::fprintf(stderr, "liverec: key %s revoked\n", flags.id.c_str());
  return Status::Ok();
}

void AddDataDir(CLI::App* cmd, KeysFlags* flags) {
  cmd->add_option("--data-dir", flags->data_dir, "Data directory of the server (serve.data_dir)")
      ->capture_default_str();
}

}  // namespace

void AddKeysCommand(CLI::App& app) {
  auto flags = std::make_shared<KeysFlags>();
  CLI::App* keys = app.add_subcommand("keys", "Create, list and revoke API keys");
  keys->require_subcommand(1);

  CLI::App* add = keys->add_subcommand("add", "Create a key, print it once and store its hash");
  AddDataDir(add, flags.get());
  add->add_option("--role", flags->role, "read, ingest or admin")->required();
  add->add_option("--name", flags->name, "A label for `keys list` (letters, digits, . _ -)");
  add->callback([flags] {
    Status status = RunAdd(*flags);
    if (!status.ok()) std::exit(ReportError(status));
  });

  CLI::App* list = keys->add_subcommand("list", "List keys: id, role, creation time, name");
  AddDataDir(list, flags.get());
  list->callback([flags] {
    Status status = RunList(*flags);
    if (!status.ok()) std::exit(ReportError(status));
  });

  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke a key by its id (see `keys list`)");
  AddDataDir(revoke, flags.get());
  revoke->add_option("id", flags->id, "The key's id")->required();
  revoke->callback([flags] {
    Status status = RunRevoke(*flags);
    if (!status.ok()) std::exit(ReportError(status));
  });
}

}  // namespace liverec::tools
