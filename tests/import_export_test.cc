// `liverec import` and `liverec export` end to end: a data set posted to a real `liverec serve`
// process through the API, counted event by event, and the server's log read back as NDJSON.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_testing.h"

namespace liverec {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

using testing::CommandResult;
using testing::ReadFile;
using testing::RunCli;
using testing::ServerProcess;

class ImportExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("liverec_import_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Json Stats(const ServerProcess& server) const {
    httplib::Client client("127.0.0.1", server.port());
    httplib::Result r = client.Get("/v1/stats");
    EXPECT_TRUE(r && r->status == 200);
    return r ? Json::parse(r->body) : Json();
  }

  fs::path dir_;
};

TEST_F(ImportExportTest, EveryEventIsCountedAndTheServerAgreesThenExportGivesThemBack) {
  // MovieLens u.data: user, item, rating, timestamp (seconds), tab-separated.
  const fs::path data = dir_ / "u.data";
  {
    std::ofstream out(data);
    for (int i = 0; i < 250; ++i) {
      out << (i % 17) << '\t' << (i % 23) << '\t' << (1 + i % 5) << '\t' << 880000000 + i << '\n';
    }
  }
  ServerProcess server(dir_ / "server");
  ASSERT_GT(server.port(), 0);
  const CommandResult imported = RunCli(
      "import " + data.string() + " --url " + server.url() + " --batch 100", dir_ / "import.err");
  ASSERT_EQ(imported.exit_code, 0) << imported.out << ReadFile(dir_ / "import.err");
  const Json summary = Json::parse(imported.out);
  EXPECT_EQ(summary["read"], 250);
  EXPECT_EQ(summary["accepted"], 250);
  EXPECT_EQ(summary["rejected"], 0);
  EXPECT_EQ(summary["not_sent"], 0);
  EXPECT_EQ(summary["batches"], 3);
  EXPECT_TRUE(ReadFile(dir_ / "import.err").find("import: 250/250 events sent") !=
              std::string::npos)
      << ReadFile(dir_ / "import.err");
  EXPECT_EQ(Stats(server)["events_accepted"], 250);
  ASSERT_TRUE(server.Stop());

  const CommandResult exported =
      RunCli("export --data-dir " + (dir_ / "server").string(), dir_ / "export.err");
  ASSERT_EQ(exported.exit_code, 0) << ReadFile(dir_ / "export.err");
  std::istringstream lines(exported.out);
  std::string line;
  std::vector<Json> events;
  uint64_t last_seq = 0;
  while (std::getline(lines, line)) {
    const Json record = Json::parse(line);
    EXPECT_GT(record["seq"].get<uint64_t>(), last_seq) << line;
    last_seq = record["seq"];
    if (record["kind"] == "event") events.push_back(record["event"]);
  }
  ASSERT_EQ(events.size(), 250u);
  // Stream order: the file's first line is the oldest.
  EXPECT_EQ(events[0]["user"], "0");
  EXPECT_EQ(events[0]["item"], "0");
  EXPECT_EQ(events[0]["value"], 1.0);
  EXPECT_EQ(events[0]["timestamp"], 880000000000);
  EXPECT_EQ(events[0]["type"], "rating");

  // --events: bare event objects, each one POST /v1/events takes.
  const CommandResult bare =
      RunCli("export --events --data-dir " + (dir_ / "server").string(), dir_ / "export2.err");
  ASSERT_EQ(bare.exit_code, 0);
  std::istringstream bare_lines(bare.out);
  ASSERT_TRUE(std::getline(bare_lines, line));
  EXPECT_EQ(Json::parse(line), events[0]);
}

TEST_F(ImportExportTest, RejectedEventsAreCountedAndNamedAndTheExitCodeSaysSo) {
  // JSON Lines: the reader takes the second event, the server refuses it (its timestamp is
  // past engine.max_future).
  const fs::path data = dir_ / "events.jsonl";
  {
    std::ofstream out(data);
    out << R"({"user":"u1","item":"a","timestamp":1700000000000})" << '\n';
    out << R"({"user":"u2","item":"b","timestamp":99999999999999})" << '\n';
    out << R"({"user":"u3","item":"c","timestamp":1700000000001})" << '\n';
  }
  ServerProcess server(dir_ / "server");
  ASSERT_GT(server.port(), 0);
  const CommandResult imported =
      RunCli("import " + data.string() + " --url " + server.url(), dir_ / "import.err");
  EXPECT_EQ(imported.exit_code, 1) << imported.out;
  const Json summary = Json::parse(imported.out);
  EXPECT_EQ(summary["read"], 3);
  EXPECT_EQ(summary["accepted"], 2);
  EXPECT_EQ(summary["rejected"], 1);
  const std::string err = ReadFile(dir_ / "import.err");
  EXPECT_NE(err.find("event 2 rejected: timestamp: "), std::string::npos) << err;
  EXPECT_EQ(Stats(server)["events_accepted"], 2);
}

TEST_F(ImportExportTest, AServerThatIsNotThereStopsTheImportSayingWhatWasNotSent) {
  const fs::path data = dir_ / "u.data";
  {
    std::ofstream out(data);
    out << "1\t2\t3\t880000000\n";
  }
  // Port 1 (tcpmux): nothing listens there on a test machine.
  const CommandResult imported =
      RunCli("import " + data.string() + " --url http://127.0.0.1:1", dir_ / "import.err");
  EXPECT_EQ(imported.exit_code, 1);
  const std::string err = ReadFile(dir_ / "import.err");
  EXPECT_NE(err.find("import stopped with 1 events not sent"), std::string::npos) << err;
}

TEST_F(ImportExportTest, ExportOfAMissingLogIsEmptyAndOfACorruptOneAnError) {
  const CommandResult empty =
      RunCli("export --data-dir " + (dir_ / "none").string(), dir_ / "export.err");
  EXPECT_EQ(empty.exit_code, 0);
  EXPECT_EQ(empty.out, "");

  const fs::path data = dir_ / "u.data";
  {
    std::ofstream out(data);
    for (int i = 0; i < 100; ++i) out << i << "\t7\t4\t" << 880000000 + i << '\n';
  }
  ServerProcess server(dir_ / "server");
  ASSERT_GT(server.port(), 0);
  ASSERT_EQ(
      RunCli("import " + data.string() + " --url " + server.url(), dir_ / "import.err").exit_code,
      0);
  ASSERT_TRUE(server.Stop());
  // One byte flipped in the middle of the log: a record whose checksum fails, with valid ones
  // after it, is corruption, never a silent gap.
  std::vector<fs::path> segments;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_ / "server" / "log")) {
    segments.push_back(e.path());
  }
  ASSERT_EQ(segments.size(), 1u);
  std::fstream segment(segments[0], std::ios::in | std::ios::out | std::ios::binary);
  const std::streamoff middle = static_cast<std::streamoff>(fs::file_size(segments[0]) / 2);
  segment.seekg(middle);
  char byte = 0;
  segment.get(byte);
  segment.seekp(middle);
  segment.put(static_cast<char>(byte ^ 0x5a));
  segment.close();
  const CommandResult bad =
      RunCli("export --data-dir " + (dir_ / "server").string(), dir_ / "bad.err");
  EXPECT_EQ(bad.exit_code, 1);
  const std::string err = ReadFile(dir_ / "bad.err");
  EXPECT_EQ(err.rfind("error: ", 0), 0u) << err;
  EXPECT_NE(err.find(segments[0].filename().string()), std::string::npos) << err;
}

}  // namespace
}  // namespace liverec
