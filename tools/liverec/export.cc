// liverec export: the event log of a data directory as NDJSON on stdout, one line per record in
// sequence order, read with the log's own reader (every checksum checked; a corrupt record
// stops the export with an error naming the file and offset, never a silent gap).
//
// Each line is {"seq": N, "kind": K, ...}: "event" with "event" (the object POST /v1/events
// takes), "put_item" with "item" and "metadata" (the body of PUT /v1/items/{id}),
// "delete_item" with "item", "put_user" with "user" and "metadata", "rollback" with "to_seq",
// "decision" with the served list, "put_experiment" with "experiment" (the body of
// PUT /v1/experiments/{name}, plus its name) and "time_ms", "stop_experiment" with "name" and
// "time_ms". With --events, only the events, each as the bare object POST /v1/events takes.
//
// The log keeps what no snapshot has folded away yet (snapshot.keep bounds how far back). A
// sealed log (storage.key_file) needs the server's keys: --set storage.key_file=... or --config.
// Exporting the directory of a running server reads up to its last complete record.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "engine/log_entry.h"
#include "engine/snapshots.h"
#include "store/log_reader.h"

namespace liverec::tools {
namespace {

using Json = nlohmann::ordered_json;

Json EventJson(const EventRecord& e) {
  Json out = {{"user", e.user}, {"item", e.item}};
  if (!e.type.empty()) out["type"] = e.type;
  out["value"] = e.value;
  out["timestamp"] = e.time_ms;
  if (!e.context.empty()) {
    Json context = Json::object();
    for (const auto& [key, value] : e.context) context[key] = value;
    out["context"] = std::move(context);
  }
  if (!e.id.empty()) out["id"] = e.id;
  if (!e.recommendation_id.empty()) out["recommendation_id"] = e.recommendation_id;
  return out;
}

Json ItemMetadataJson(const ItemMetadata& m) {
  Json properties = Json::object();
  for (const auto& [name, value] : m.properties) properties[name] = value;
  return {{"categories", m.categories},
          {"tags", m.tags},
          {"text", m.text},
          {"properties", std::move(properties)},
          {"available", m.available}};
}

Json ExperimentJson(const ExperimentSpec& spec) {
  Json arms = Json::array();
  for (const ExperimentArm& a : spec.arms) {
    Json arm = {{"name", a.name}, {"model", a.model}, {"share", a.share}};
    if (a.diversity) arm["diversity"] = *a.diversity;
    if (a.category_cap) arm["category_cap"] = *a.category_cap;
    if (!a.explore.empty()) arm["explore"] = a.explore;
    arms.push_back(std::move(arm));
  }
  Json out = {{"name", spec.name}, {"arms", std::move(arms)}, {"learning", spec.learning}};
  if (!spec.salt.empty()) out["salt"] = spec.salt;
  if (!spec.layer.empty()) out["layer"] = spec.layer;
  out["traffic"] = spec.traffic;
  return out;
}

Json RecordJson(uint64_t seq, const LogEntry& entry) {
  Json out = {{"seq", seq}};
  switch (entry.kind) {
    case LogEntryKind::kEvent:
      out["kind"] = "event";
      out["event"] = EventJson(entry.event);
      break;
    case LogEntryKind::kPutItem:
      out["kind"] = "put_item";
      out["item"] = entry.key;
      out["metadata"] = ItemMetadataJson(entry.item);
      break;
    case LogEntryKind::kDeleteItem:
      out["kind"] = "delete_item";
      out["item"] = entry.key;
      break;
    case LogEntryKind::kPutUser: {
      out["kind"] = "put_user";
      out["user"] = entry.key;
      Json attributes = Json::object();
      for (const auto& [name, value] : entry.user.attributes) attributes[name] = value;
      out["metadata"] = {{"attributes", std::move(attributes)}};
      break;
    }
    case LogEntryKind::kRollback:
      out["kind"] = "rollback";
      out["to_seq"] = entry.rollback_seq;
      break;
    case LogEntryKind::kErased:
      out["kind"] = "erased";
      break;
    case LogEntryKind::kDeleteUser:
      out["kind"] = "delete_user";
      out["user"] = entry.key;
      out["deletion"] = entry.deletion;
      break;
    case LogEntryKind::kUnlearned:
      out["kind"] = "unlearned";
      out["deletion"] = entry.deletion;
      break;
    case LogEntryKind::kDecision: {
      const DecisionRecord& d = entry.decision;
      out["kind"] = "decision";
      Json items = Json::array();
      for (const DecisionRecord::Shown& s : d.items) {
        items.push_back({{"item", s.item}, {"score", s.score}, {"probability", s.probability}});
      }
      out["decision"] = {{"recommendation_id", d.recommendation_id},
                         {"user", d.user},
                         {"time_ms", d.time_ms},
                         {"model", d.model},
                         {"model_version", d.model_version},
                         {"experiment", d.experiment},
                         {"arm", d.arm},
                         {"explore", d.explore},
                         {"items", std::move(items)}};
      break;
    }
    case LogEntryKind::kPutExperiment:
      out["kind"] = "put_experiment";
      out["experiment"] = ExperimentJson(entry.experiment);
      out["time_ms"] = entry.time_ms;
      break;
    case LogEntryKind::kStopExperiment:
      out["kind"] = "stop_experiment";
      out["name"] = entry.experiment.name;
      out["time_ms"] = entry.time_ms;
      break;
  }
  return out;
}

std::string Dump(const Json& json) {
  // Keys are bytes from clients: invalid UTF-8 becomes U+FFFD instead of an exception.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Status Export(const std::string& data_dir, const OptionFlags& option_flags, bool events_only) {
  // The options only for storage.key_file and storage.old_key_files: a sealed log opens.
  LIVEREC_ASSIGN_OR_RETURN(Options options, option_flags.Load({}));
  LIVEREC_ASSIGN_OR_RETURN(std::shared_ptr<const Keyring> keys, LoadStorageKeys(options));
  const DataDir dir(data_dir, keys);
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader,
                           LogReader::Open(dir.log(), 0, dir.keys()));
  LogRecord record;
  LogEntry entry;
  size_t records = 0;
  size_t events = 0;
  while (true) {
    LIVEREC_ASSIGN_OR_RETURN(const bool more, reader->Next(&record));
    if (!more) break;
    LIVEREC_RETURN_IF_ERROR(DecodeLogEntry(record.payload, &entry)
                                .WithPrefix("log record " + std::to_string(record.seq)));
    ++records;
    const bool is_event = entry.kind == LogEntryKind::kEvent;
    events += is_event ? 1 : 0;
    if (events_only && !is_event) continue;
    const std::string line =
        Dump(events_only ? EventJson(entry.event) : RecordJson(record.seq, entry)) + "\n";
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      return IOError("cannot write to stdout");
    }
  }
  if (std::fflush(stdout) != 0) return IOError("cannot write to stdout");
  std::fprintf(stderr, "export: %zu records (%zu events)%s\n", records, events,
               reader->torn_tail_bytes() > 0 ? ", a torn tail at the end left out" : "");
  return Status::Ok();
}

}  // namespace

void AddExportCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("export", "Print the event log of a data directory as NDJSON");
  auto data_dir = std::make_shared<std::string>();
  auto events_only = std::make_shared<bool>(false);
  auto option_flags = std::make_shared<OptionFlags>();
  cmd->add_option("--data-dir", *data_dir, "The server's data directory (serve.data_dir)")
      ->required();
  cmd->add_flag("--events", *events_only,
                "Only the events, each as the object POST /v1/events takes");
  // The server's options (--config, --set): storage.key_file opens a sealed log.
  option_flags->AddTo(cmd);
  cmd->callback([data_dir, events_only, option_flags] {
    const Status status = Export(*data_dir, *option_flags, *events_only);
    if (!status.ok()) throw CLI::RuntimeError(ReportError(status));
  });
}

}  // namespace liverec::tools
