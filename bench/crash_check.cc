// liverec-crash-check: the verdict of one crash-loop cycle (bench/crash_loop.sh) on a data
// directory a killed `liverec serve` left behind.
//
//   liverec-crash-check --data-dir DIR --acknowledged FILE --refused FILE [--fingerprint]
//                       [--set key=value ...]
//
// FILE lists event ids, one a line: those the server acknowledged (200), and those it refused
// (4xx or 5xx, so the client may not count on them). Checks that every acknowledged id is in
// the log exactly once (0 lost, 0 doubled) and that no refused id is (0 resurrected). With
// --fingerprint, also that the state recovered from the newest snapshot and the log after it
// is bit-identical to a fresh replay of the whole log (a copy, without snapshots). Prints one
// line of counts; exits 1 on any violation.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unordered_map>

#include "engine/log_entry.h"
#include "liverec/engine.h"
#include "store/log_reader.h"

namespace {

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

liverec::StatusOr<std::string> Fingerprint(const std::string& data_dir,
                                           const std::vector<std::string>& sets) {
  liverec::Options options;
  LIVEREC_RETURN_IF_ERROR(options.Set("serve.data_dir", data_dir));
  for (const std::string& set : sets) LIVEREC_RETURN_IF_ERROR(options.SetAssignment(set));
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<liverec::Engine> engine,
                           liverec::Engine::Open(options, liverec::Context{}, "", nullptr));
  return engine->StateFingerprint();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Checks a data directory left by a killed server against what clients were told"};
  std::string data_dir;
  std::string acknowledged_path;
  std::string refused_path;
  bool fingerprint = false;
  std::vector<std::string> sets;
  app.add_option("--data-dir", data_dir)->required();
  app.add_option("--acknowledged", acknowledged_path)->required();
  app.add_option("--refused", refused_path)->required();
  app.add_flag("--fingerprint", fingerprint, "Also compare recovery with a fresh replay");
  app.add_option("--set", sets, "Engine option key=value (as the server had them)");
  CLI11_PARSE(app, argc, argv);

  std::unordered_map<std::string, int> logged;
  {
    liverec::StatusOr<std::unique_ptr<liverec::LogReader>> reader =
        liverec::LogReader::Open(data_dir + "/log", 1);
    if (!reader.ok()) {
      std::fprintf(stderr, "liverec-crash-check: %s\n", reader.status().message().c_str());
      return 1;
    }
    liverec::LogRecord record;
    liverec::LogEntry entry;
    while (true) {
      liverec::StatusOr<bool> more = (*reader)->Next(&record);
      if (!more.ok()) {
        std::fprintf(stderr, "liverec-crash-check: %s\n", more.status().message().c_str());
        return 1;
      }
      if (!*more) break;
      if (!liverec::DecodeLogEntry(record.payload, &entry).ok()) {
        std::fprintf(stderr, "liverec-crash-check: undecodable record %llu\n",
                     static_cast<unsigned long long>(record.seq));
        return 1;
      }
      if (entry.kind == liverec::LogEntryKind::kEvent) ++logged[entry.event.id];
    }
  }
  size_t lost = 0;
  size_t doubled = 0;
  size_t resurrected = 0;
  const std::vector<std::string> acknowledged = ReadLines(acknowledged_path);
  for (const std::string& id : acknowledged) {
    auto it = logged.find(id);
    if (it == logged.end()) {
      if (lost++ == 0) std::fprintf(stderr, "lost: %s\n", id.c_str());
    } else if (it->second != 1) {
      if (doubled++ == 0) std::fprintf(stderr, "logged %d times: %s\n", it->second, id.c_str());
    }
  }
  const std::vector<std::string> refused = ReadLines(refused_path);
  for (const std::string& id : refused) {
    if (logged.count(id) != 0 && resurrected++ == 0) {
      std::fprintf(stderr, "refused but logged: %s\n", id.c_str());
    }
  }
  bool identical = true;
  if (fingerprint) {
    liverec::StatusOr<std::string> recovered = Fingerprint(data_dir, sets);
    const std::string replay_dir = data_dir + ".replay";
    std::filesystem::remove_all(replay_dir);
    std::filesystem::create_directories(replay_dir);
    std::filesystem::copy(data_dir + "/log", replay_dir + "/log");
    liverec::StatusOr<std::string> replayed = Fingerprint(replay_dir, sets);
    std::filesystem::remove_all(replay_dir);
    if (!recovered.ok() || !replayed.ok()) {
      std::fprintf(stderr, "liverec-crash-check: %s\n",
                   (!recovered.ok() ? recovered.status() : replayed.status()).message().c_str());
      return 1;
    }
    identical = *recovered == *replayed;
  }
  std::printf("logged=%zu acknowledged=%zu lost=%zu doubled=%zu refused=%zu resurrected=%zu%s\n",
              logged.size(), acknowledged.size(), lost, doubled, refused.size(), resurrected,
              fingerprint ? (identical ? " state=identical" : " state=DIFFERENT") : "");
  return lost == 0 && doubled == 0 && resurrected == 0 && identical ? 0 : 1;
}
