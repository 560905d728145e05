// The liverec command line, end to end: generate a stream, replay it with every output, and
// reject bad input with a precise message and exit code.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_testing.h"

namespace liverec {
namespace {

namespace fs = std::filesystem;

using testing::CommandResult;
using testing::ReadFile;

// Runs the liverec binary with `args`; stdout and stderr in out.
CommandResult RunCli(const std::string& args) {
  return testing::RunCli(args, testing::kMergeStderr);
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("liverec_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CliTest, GenerateThenReplayWritesReportSeriesAndChart) {
  const fs::path data = dir_ / "stream.csv";
  CommandResult gen = RunCli("generate --out " + data.string() +
                             " --users 200 --items 150 --events 12000 --events-per-day 800 "
                             "--drift-per-day 0.1 --seed 3");
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  const fs::path report = dir_ / "report.json";
  CommandResult replay =
      RunCli("replay --quiet --data " + data.string() +
             " --models popularity,item_knn,mf --protocols online,static,periodic,warm"
             " --set mf.dim=16 --set train.validation_events=300 --report " +
             report.string() + " --series " + (dir_ / "series.csv").string() + " --chart " +
             (dir_ / "chart.svg").string());
  ASSERT_EQ(replay.exit_code, 0) << replay.out;
  EXPECT_NE(replay.out.find("recall@k"), std::string::npos);

  nlohmann::json json = nlohmann::json::parse(ReadFile(report));
  EXPECT_EQ(json["dataset"]["events"], 12000);
  EXPECT_EQ(json["dataset"]["users"], 200);
  ASSERT_EQ(json["results"].size(), 12u);
  for (const auto& r : json["results"]) {
    for (const char* field : {"model", "protocol", "k", "recall", "ndcg", "mrr", "coverage",
                              "events_evaluated", "seconds", "events_per_second"}) {
      EXPECT_TRUE(r.contains(field)) << field;
    }
    EXPECT_EQ(r["k"], 10);
    EXPECT_GT(r["events_evaluated"].get<int>(), 2000);
    EXPECT_GE(r["recall"].get<double>(), 0.0);
    EXPECT_LE(r["recall"].get<double>(), 1.0);
  }
  EXPECT_NE(ReadFile(dir_ / "series.csv").find("window_start_ms"), std::string::npos);
  EXPECT_NE(ReadFile(dir_ / "chart.svg").find("</svg>"), std::string::npos);
}

TEST_F(CliTest, ReportStaysValidJsonWhenThePathHoldsQuotes) {
  const fs::path data = dir_ / "odd \"name\"" / "s.csv";
  fs::create_directories(data.parent_path());
  ASSERT_EQ(
      RunCli("generate --out '" + data.string() + "' --users 30 --items 20 --events 800").exit_code,
      0);
  const fs::path report = dir_ / "report.json";
  CommandResult r = RunCli("replay --quiet --protocols online --models popularity --data '" +
                           data.string() + "' --report " + report.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json json = nlohmann::json::parse(ReadFile(report));
  EXPECT_EQ(json["source"], data.string());
  EXPECT_EQ(json["settings"]["k"], 10);
}

TEST_F(CliTest, MalformedInputNamesFileLineAndField) {
  const fs::path data = dir_ / "bad.csv";
  std::ofstream(data) << "user,item,timestamp\nu1,i1,1700000000\nu2,i2,soon\n";
  CommandResult r = RunCli("replay --quiet --data " + data.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("bad.csv:3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("timestamp"), std::string::npos) << r.out;
}

TEST_F(CliTest, UnknownOptionsAndModelsAreRefusedWithSuggestions) {
  CommandResult r = RunCli("replay --quiet --set mf.dimension=8");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("did you mean 'mf.dim'"), std::string::npos) << r.out;
  r = RunCli("replay --quiet --models knn");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("unknown type 'knn'"), std::string::npos) << r.out;
  r = RunCli("replay --quiet --data " + (dir_ / "missing.csv").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("missing.csv"), std::string::npos) << r.out;
}

TEST_F(CliTest, TuneWritesAConfigThatReplayReads) {
  const fs::path data = dir_ / "stream.csv";
  ASSERT_EQ(RunCli("generate --out " + data.string() +
                   " --users 200 --items 150 --events 6000 --events-per-day 800 --seed 3")
                .exit_code,
            0);
  const fs::path config = dir_ / "tuned.conf";
  CommandResult tune =
      RunCli("tune --quiet --data " + data.string() +
             " --models popularity,knn_long:item_knn --configs 4 --brackets 2 --min-prefix 500"
             " --budget 2m --bootstrap 0 --out " +
             config.string());
  ASSERT_EQ(tune.exit_code, 0) << tune.out;
  EXPECT_NE(tune.out.find("| rung | prefix events |"), std::string::npos) << tune.out;
  const std::string written = ReadFile(config);
  EXPECT_NE(written.find("\npopularity.half_life = "), std::string::npos) << written;
  EXPECT_NE(written.find("\nknn_long.window = "), std::string::npos) << written;
  CommandResult replay =
      RunCli("replay --quiet --data " + data.string() + " --config " + config.string() +
             " --models popularity,knn_long:item_knn --protocols online");
  ASSERT_EQ(replay.exit_code, 0) << replay.out;

  CommandResult bad = RunCli("tune --quiet --data " + data.string() + " --metric auc");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.out.find("metric"), std::string::npos) << bad.out;
}

TEST_F(CliTest, OptionsCommandPrintsTheTableThatDocsConfigHolds) {
  CommandResult r = RunCli("options --markdown");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("`mf.dim`"), std::string::npos);
  // docs/config.md is this output; regenerate it with `liverec options --markdown`.
  EXPECT_EQ(ReadFile("docs/config.md"), r.out);
}

}  // namespace
}  // namespace liverec
