// Pseudonyms end to end: a `liverec serve` child with privacy.pseudonymize=true takes and
// answers the client's user ids, while no byte of them reaches the data directory, the
// server's log or /metrics; a restart finds the users again; the directory then refuses raw ids.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_testing.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::ServerProcess;

// Distinctive ids: any copy of them in a file is found by a byte search.
const std::vector<std::string> kPlanted = {"zq-planted-alice-7781", "zq-planted-bob-7782"};

class PrivacyTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    dir_ = root_;
  }

  static std::string Slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The files under `root` whose bytes contain `needle`.
  static std::vector<std::string> FilesHolding(const fs::path& root, const std::string& needle) {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_regular_file() && Slurp(entry.path()).find(needle) != std::string::npos) {
        found.push_back(entry.path().string());
      }
    }
    return found;
  }

  fs::path dir_;
};

TEST_F(PrivacyTest, NoRawUserIdReachesTheDataDirectoryTheLogOrMetrics) {
  const fs::path data = dir_ / "data";
  const std::vector<std::string> on = {"--set", "privacy.pseudonymize=true"};
  {
    ServerProcess server(data, on, RLIM_INFINITY, (dir_ / "serve.err").string());
    ASSERT_GT(server.port(), 0) << Slurp(dir_ / "serve.err");
    httplib::Client client("127.0.0.1", server.port());
    std::string body;
    for (int e = 0; e < 60; ++e) {
      const std::string user = e < 20   ? kPlanted[0]
                               : e < 30 ? kPlanted[1]
                                        : "u" + std::to_string(e);
      body += Json{{"user", user}, {"item", "i" + std::to_string(e % 9)}}.dump() + "\n";
    }
    httplib::Result r = client.Post("/v1/events?wait=learned", body, "application/x-ndjson");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    r = client.Put("/v1/users/" + kPlanted[0], R"({"attributes": {"country": "br"}})",
                   "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    // The API answers in the client's ids: a known user, with its history and metadata.
    r = client.Get("/v1/users/" + kPlanted[0]);
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    const Json user = Json::parse(r->body);
    EXPECT_EQ(user["user"], kPlanted[0]);
    EXPECT_FALSE(user["recent"].empty()) << r->body;
    EXPECT_EQ(user["metadata"]["attributes"]["country"], "br") << r->body;
    r = client.Get("/v1/recommendations?user=" + kPlanted[1] + "&k=3");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    EXPECT_EQ(Json::parse(r->body)["fallback"], false) << r->body;  // its history was found
    r = client.Get("/v1/users/zq-never-seen");
    ASSERT_TRUE(r && r->status == 404);
    EXPECT_NE(r->body.find("zq-never-seen"), std::string::npos) << r->body;
    r = client.Get("/metrics");
    ASSERT_TRUE(r && r->status == 200);
    for (const std::string& id : kPlanted) EXPECT_EQ(r->body.find(id), std::string::npos) << id;
    r = client.Post("/v1/admin/snapshot", "", "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    ASSERT_TRUE(server.Stop());
  }
  for (const std::string& id : kPlanted) {
    EXPECT_EQ(FilesHolding(data, id), std::vector<std::string>{}) << id;
    EXPECT_EQ(Slurp(dir_ / "serve.err").find(id), std::string::npos) << id;
  }
  EXPECT_TRUE(fs::exists(data / "privacy.key"));
  {
    // The same key: the same pseudonyms, so a restart knows the users.
    ServerProcess server(data, on);
    ASSERT_GT(server.port(), 0);
    httplib::Client client("127.0.0.1", server.port());
    httplib::Result r = client.Get("/v1/users/" + kPlanted[1]);
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    EXPECT_EQ(Json::parse(r->body)["user"], kPlanted[1]);
  }
  {
    // The search finds ids where they are: a server without pseudonyms logs them as sent.
    ServerProcess plain(dir_ / "plain");
    ASSERT_GT(plain.port(), 0);
    httplib::Client client("127.0.0.1", plain.port());
    const std::string event = Json{{"user", kPlanted[0]}, {"item", "i1"}}.dump();
    httplib::Result r = client.Post("/v1/events", event, "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    ASSERT_TRUE(plain.Stop());
    EXPECT_FALSE(FilesHolding(dir_ / "plain", kPlanted[0]).empty());
  }
  // The directory holds pseudonyms: raw ids are refused, with the reason on stderr.
  ServerProcess raw(data, {}, RLIM_INFINITY, (dir_ / "raw.err").string());
  EXPECT_EQ(raw.port(), 0);
  EXPECT_FALSE(raw.Stop());
  EXPECT_NE(Slurp(dir_ / "raw.err").find("privacy.pseudonymize"), std::string::npos)
      << Slurp(dir_ / "raw.err");
}

}  // namespace
}  // namespace liverec
