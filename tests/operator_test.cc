// What an operator meets around the server: its log on stderr (log.format, log.requests, the
// request id) read from a real `liverec serve` process, and `liverec config check` compared with
// what `liverec serve --config` says about the same file.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

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

// A user id that must never reach the log at info level.
constexpr const char* kUser = "secret-user-7";

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

class OperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("liverec_operator_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WriteConfig(const std::string& name, const std::string& text) const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Posts a few events of kUser and asks for its recommendations and history, the first with
  // `request_id` as X-Request-ID; returns the X-Request-ID of each answer.
  static std::vector<std::string> Exercise(const ServerProcess& server,
                                           const std::string& request_id) {
    httplib::Client client("127.0.0.1", server.port());
    std::vector<std::string> ids;
    const std::string events = std::string(R"([{"user":")") + kUser +
                               R"(","item":"i1"},{"user":")" + kUser + R"(","item":"i2"}])";
    httplib::Result r = client.Post("/v1/events?wait=learned", {{"X-Request-ID", request_id}},
                                    events, "application/json");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    ids.push_back(r ? r->get_header_value("X-Request-ID") : "");
    for (const std::string& path :
         {std::string("/v1/recommendations?k=5&user=") + kUser, std::string("/v1/users/") + kUser,
          std::string("/v1/no/such/route/") + kUser}) {
      r = client.Get(path);
      EXPECT_TRUE(r) << path;
      ids.push_back(r ? r->get_header_value("X-Request-ID") : "");
    }
    return ids;
  }

  fs::path dir_;
};

TEST_F(OperatorTest, JsonLogIsOneObjectPerLineWithRequestIdsAndNoUserIds) {
  const std::string err = (dir_ / "stderr").string();
  std::vector<std::string> ids;
  {
    ServerProcess server((dir_ / "data").string(), {"--set", "log.format=json"}, RLIM_INFINITY,
                         err);
    ASSERT_GT(server.port(), 0);
    ids = Exercise(server, "trace-0042");
    // Too long to be taken: a new one is made.
    httplib::Client client("127.0.0.1", server.port());
    httplib::Result r = client.Get("/healthz", {{"X-Request-ID", std::string(65, 'a')}});
    ASSERT_TRUE(r && r->status == 200);
    ids.push_back(r->get_header_value("X-Request-ID"));
    r = client.Get("/healthz", {{"X-Request-ID", "<script>"}});
    ASSERT_TRUE(r && r->status == 200);
    ids.push_back(r->get_header_value("X-Request-ID"));
    ASSERT_TRUE(server.Stop());
  }
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(ids[0], "trace-0042");
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i].size(), 32u) << ids[i];
    EXPECT_EQ(ids[i].find_first_not_of("0123456789abcdef"), std::string::npos) << ids[i];
  }
  EXPECT_NE(ids[1], ids[2]);

  const std::string log = ReadFile(err);
  EXPECT_FALSE(Contains(log, kUser)) << log;
  std::istringstream lines(log);
  std::vector<Json> requests;
  std::vector<std::string> messages;
  size_t num_lines = 0;
  for (std::string line; std::getline(lines, line); ++num_lines) {
    Json j;
    ASSERT_NO_THROW(j = Json::parse(line)) << line;
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j["ts"].is_string() && j["level"].is_string() && j["msg"].is_string()) << line;
    messages.push_back(j["msg"]);
    if (j["msg"] == "request") requests.push_back(j);
  }
  for (const char* expected : {"recovered", "listening", "draining and writing a snapshot",
                               "snapshot written", "stopped"}) {
    EXPECT_NE(std::find(messages.begin(), messages.end(), expected), messages.end()) << expected;
  }
  ASSERT_EQ(requests.size(), ids.size()) << log;
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"POST", "/v1/events"},    {"GET", "/v1/recommendations"},
      {"GET", "/v1/users/{id}"}, {"GET", "(no route)"},
      {"GET", "/healthz"},       {"GET", "/healthz"}};
  // A worker writes its line after the answer went out, so the next request's line (another
  // worker's) may come first: lines are matched to requests by their ids.
  std::vector<Json> by_request(ids.size());
  for (const Json& r : requests) {
    const auto it = std::find(ids.begin(), ids.end(), r["request_id"].get<std::string>());
    ASSERT_NE(it, ids.end()) << r;
    by_request[it - ids.begin()] = r;
  }
  requests = by_request;
  for (size_t i = 0; i < requests.size(); ++i) {
    const Json& r = requests[i];
    EXPECT_EQ(r["method"], expected[i].first) << r;
    EXPECT_EQ(r["path"], expected[i].second) << r;
    EXPECT_EQ(r["request_id"], ids[i]) << r;
    EXPECT_EQ(r["key_id"], "") << r;
    EXPECT_EQ(r["level"], "info") << r;
    EXPECT_TRUE(r["duration_ms"].is_number() && r["duration_ms"].get<double>() >= 0) << r;
    EXPECT_TRUE(r["bytes"].is_number_unsigned() && r["bytes"].get<uint64_t>() > 0) << r;
  }
  EXPECT_EQ(requests[0]["status"], 200);
  EXPECT_EQ(requests[3]["status"], 404);
}

TEST_F(OperatorTest, KeyIdIsLoggedAndRequestLinesCanBeTurnedOff) {
  const std::string data = (dir_ / "data").string();
  const CommandResult added = RunCli("keys add --role read --data-dir " + data);
  ASSERT_EQ(added.exit_code, 0);
  const std::string key = added.out.substr(0, added.out.find('\n'));
  // lrk_<id>_<secret>
  const std::string key_id = key.substr(4, key.find('_', 4) - 4);
  const std::string err = (dir_ / "stderr").string();
  for (const bool requests : {true, false}) {
    {
      ServerProcess server(data, {"--set", requests ? "log.requests=true" : "log.requests=false"},
                           RLIM_INFINITY, err);
      ASSERT_GT(server.port(), 0);
      httplib::Client client("127.0.0.1", server.port());
      httplib::Result r = client.Get("/v1/stats", {{"Authorization", "Bearer " + key}});
      ASSERT_TRUE(r && r->status == 200);
      EXPECT_EQ(r->get_header_value("X-Request-ID").size(), 32u);
      r = client.Get("/v1/stats");
      ASSERT_TRUE(r && r->status == 401);
      EXPECT_EQ(r->get_header_value("X-Request-ID").size(), 32u);
      ASSERT_TRUE(server.Stop());
    }
    const std::string log = ReadFile(err);
    EXPECT_FALSE(Contains(log, key)) << log;
    EXPECT_TRUE(Contains(log, "liverec: recovered ")) << log;
    if (requests) {
      EXPECT_TRUE(Contains(log, "request method=GET path=/v1/stats status=200 ")) << log;
      EXPECT_TRUE(Contains(log, " key_id=" + key_id + "\n")) << log;
      EXPECT_TRUE(Contains(log, "status=401 ")) << log;
    } else {
      EXPECT_FALSE(Contains(log, "request method=")) << log;
    }
  }
}

TEST_F(OperatorTest, ConfigCheckSaysOkOrTheServersErrorWithItsLine) {
  const std::string good = WriteConfig("good.conf",
                                       "# defaults\n"
                                       "serve.port = 9090\n"
                                       "engine.models = popularity,mf_wide:mf\n"
                                       "engine.default_model = mf_wide\n"
                                       "mf_wide.dim = 16\n"
                                       "log.format = json\n");
  CommandResult result = RunCli("config check " + good, testing::kMergeStderr);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "ok\n");

  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"serve.port = 1\n\nserve.port = eighty\n",
       ":3: option 'serve.port': expected an integer, got 'eighty'"},
      {"log.format = xml\n", ":1: option 'log.format': expected one of text|json, got 'xml'"},
      {"serve.prot = 1\n", ":1: unknown option 'serve.prot'; did you mean 'serve.port'?"},
      {"engine.models = mf_wide:mf\nmf_wide.dim = wide\n",
       ":2: for 'mf_wide.dim': option 'mf.dim': expected an integer, got 'wide'"},
      {"engine.default_model = nope\n",
       "engine: model 'nope' is neither in engine.models nor a member of an ensemble there"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = WriteConfig("bad" + std::to_string(i) + ".conf", cases[i].text);
    result = RunCli("config check " + path, testing::kMergeStderr);
    EXPECT_NE(result.exit_code, 0) << cases[i].text;
    EXPECT_TRUE(Contains(result.out, cases[i].error)) << result.out;
    // The server refuses the same file with the same words.
    const CommandResult served =
        RunCli("serve --port 0 --data-dir " + (dir_ / "data").string() + " --config " + path,
               testing::kMergeStderr);
    EXPECT_NE(served.exit_code, 0);
    EXPECT_EQ(served.out, result.out) << cases[i].text;
  }
  result = RunCli("config check " + (dir_ / "missing.conf").string(), testing::kMergeStderr);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_TRUE(Contains(result.out, "cannot open config file")) << result.out;
}

}  // namespace
}  // namespace liverec
