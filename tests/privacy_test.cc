// Pseudonyms end to end: a `liverec serve` child with privacy.pseudonymize=true takes and
// answers the client's user ids, while no byte of them reaches the data directory, the
// server's log or /metrics; a restart finds the users again; the directory then refuses raw ids.
//
// Deletion end to end: after DELETE /v1/users/{id} completes, no byte of the user's id is left
// in the data directory, and every model scores the other users bit for bit as a server that
// was never fed the user does.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
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

  void CheckDeletion(const std::vector<std::string>& extra, bool crash = false);

  // The scores of a server in dir_ / "control" fed `batches`, after a restart: with every model
  // (first) and without seq (second), which is what a live server is compared on.
  std::pair<std::string, std::string> ControlScores(const std::vector<std::string>& batches,
                                                    const std::vector<std::string>& flags);

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

// A seeded stream with a deleted user in the middle of it: 40 users, 25 items, explicit times.
struct Stream {
  std::vector<std::string> batches_with;     // NDJSON, the deleted user's events included
  std::vector<std::string> batches_without;  // the same without them
};

Stream MakeStream(const std::string& victim) {
  Stream stream;
  uint64_t x = 42;
  auto next = [&x] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(x >> 33);
  };
  int64_t time_ms = 1700000000000;
  for (int batch = 0; batch < 8; ++batch) {
    std::string with;
    std::string without;
    for (int e = 0; e < 60; ++e) {
      time_ms += 1000 + next() % 5000;
      // The victim appears from the third batch on, so snapshots exist before it.
      const bool victim_event = batch >= 2 && next() % 6 == 0;
      const std::string user = victim_event ? victim : "u" + std::to_string(next() % 40);
      const Json event = {{"user", user},
                          {"item", "i" + std::to_string((next() % 5) * (next() % 5) + next() % 3)},
                          {"timestamp", time_ms}};
      with += event.dump() + "\n";
      if (!victim_event) without += event.dump() + "\n";
    }
    stream.batches_with.push_back(with);
    stream.batches_without.push_back(without);
  }
  return stream;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t at = 0;
  for (size_t end; (end = text.find('\n', at)) != std::string::npos; at = end + 1) {
    lines.push_back(text.substr(at, end - at));
  }
  return lines;
}

// Every model's list and scores for a few users, as the server answers them.
// `wait=learned` answers once seq has recorded the events, while its steps may still be queued
// on its thread (and so after a deletion's swap, for the records the replay left to the live
// state): a live server is compared without seq, a restarted one (the snapshot at the stop
// waited for the steps) with it.
std::string ScoresOf(httplib::Client& client, bool with_seq = true) {
  httplib::Result r = client.Get("/v1/stats");
  EXPECT_TRUE(r && r->status == 200);
  std::string out;
  std::vector<std::string> models = {""};
  const Json stats = Json::parse(r->body);
  for (const Json& m : stats["models"]) {
    if (!with_seq && m["type"] == "seq") continue;
    models.push_back(m["name"]);
    for (const Json& member : m.value("members", Json::array())) models.push_back(member["name"]);
  }
  // The default, the ensemble and its members, seq, transitions.
  EXPECT_GE(models.size(), with_seq ? 8u : 7u);
  for (const std::string& model : models) {
    for (int u = 0; u < 40; u += 3) {
      std::string target = "/v1/recommendations?k=10&user=u" + std::to_string(u);
      if (!model.empty()) target += "&model=" + model;
      r = client.Get(target);
      EXPECT_TRUE(r && r->status == 200) << target << (r ? r->body : "");
      const Json answer = Json::parse(r->body);
      out += model + " u" + std::to_string(u) + ":";
      for (const Json& item : answer["items"]) {
        out += " " + item["item"].get<std::string>() + "=" + item["score"].dump();
      }
      out += "\n";
    }
  }
  return out;
}

std::pair<std::string, std::string> PrivacyTest::ControlScores(
    const std::vector<std::string>& batches, const std::vector<std::string>& flags) {
  {
    ServerProcess control(dir_ / "control", flags);
    EXPECT_GT(control.port(), 0);
    httplib::Client client("127.0.0.1", control.port());
    for (const std::string& batch : batches) {
      httplib::Result r = client.Post("/v1/events?wait=learned", batch, "application/x-ndjson");
      EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    }
    EXPECT_TRUE(control.Stop());
  }
  ServerProcess control(dir_ / "control", flags);
  EXPECT_GT(control.port(), 0);
  httplib::Client client("127.0.0.1", control.port());
  return {ScoresOf(client), ScoresOf(client, /*with_seq=*/false)};
}

// Deletes a user from a server given `extra` flags and compares it with a control server.
// With `crash`, the server is killed (SIGKILL) right after the 202 and started again: the
// deletion resumes from its record, wherever the kill found it.
void PrivacyTest::CheckDeletion(const std::vector<std::string>& extra, bool crash) {
  const std::string victim = "zq-deleted-carol-5521";
  const Stream stream = MakeStream(victim);
  // Snapshots every 100 records, so some precede the victim and some hold it; no decisions
  // logged by the comparison's requests.
  // Every model type: the default ensemble (popularity, item_knn, mf, fm), and seq and
  // transitions beside it.
  std::vector<std::string> flags = {"--set", "snapshot.interval_events=100",
                                    "--set", "feedback.record_decisions=false",
                                    "--set", "engine.models=ensemble,seq,transitions"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  const fs::path data = dir_ / "data";
  std::string undeleted_scores;
  std::string deleted_scores;
  {
    ServerProcess server(data, flags, RLIM_INFINITY, (dir_ / "deleted.err").string());
    ASSERT_GT(server.port(), 0) << Slurp(dir_ / "deleted.err");
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(std::chrono::seconds(90));
    for (const std::string& batch : stream.batches_with) {
      httplib::Result r = client.Post("/v1/events?wait=learned", batch, "application/x-ndjson");
      ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    }
    httplib::Result r = client.Put("/v1/users/" + victim, R"({"attributes": {"city": "zq-town"}})",
                                   "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    // The search finds it before (a sealed directory shows nothing readable at all).
    EXPECT_EQ(FilesHolding(data, victim).empty(), !extra.empty());
    undeleted_scores = ScoresOf(client, /*with_seq=*/false);

    r = client.Delete("/v1/users/" + victim);
    ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "no answer");
    const Json accepted = Json::parse(r->body);
    EXPECT_EQ(accepted["state"], "pending");
    EXPECT_EQ(accepted["user"], victim);
    const std::string id = accepted["deletion"];
    // Serving stops using the user at once.
    r = client.Get("/v1/users/" + victim);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << r->body;
    if (crash) server.Kill();

    std::unique_ptr<ServerProcess> resumed;
    if (crash) {
      resumed = std::make_unique<ServerProcess>(data, flags, RLIM_INFINITY,
                                                (dir_ / "resumed.err").string());
      ASSERT_GT(resumed->port(), 0) << Slurp(dir_ / "resumed.err");
    }
    httplib::Client now("127.0.0.1", crash ? resumed->port() : server.port());
    now.set_read_timeout(std::chrono::seconds(90));
    r = now.Get("/v1/deletions/" + id + "?wait_ms=60000");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    const Json done = Json::parse(r->body);
    ASSERT_EQ(done["state"], "complete") << r->body;
    // A restart keeps no trace of who it was.
    EXPECT_EQ(done["user"], crash ? Json(nullptr) : Json(victim)) << r->body;
    EXPECT_GE(done["data_erased_ms"].get<int64_t>(), 0);
    EXPECT_GE(done["complete_ms"].get<int64_t>(), done["data_erased_ms"].get<int64_t>());
    deleted_scores = ScoresOf(now, /*with_seq=*/false);
    r = now.Get("/v1/deletions/zq-no-such-deletion");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    ASSERT_TRUE(crash ? resumed->Stop() : server.Stop());
  }
  // (a) Not one byte of the id in any file of the data directory.
  EXPECT_EQ(FilesHolding(data, victim), std::vector<std::string>{});
  EXPECT_EQ(FilesHolding(data, "zq-town"), std::vector<std::string>{});

  // (b) Every model, bit for bit, as a server that never saw the user.
  const auto [control_scores, control_live_scores] = ControlScores(stream.batches_without, flags);
  EXPECT_EQ(deleted_scores, control_live_scores);
  EXPECT_NE(undeleted_scores, control_live_scores);  // the user did sway the other users' lists

  // A restart recovers the same state from the erased log and the rewritten snapshots.
  ServerProcess restarted(data, flags);
  ASSERT_GT(restarted.port(), 0);
  httplib::Client client("127.0.0.1", restarted.port());
  EXPECT_EQ(ScoresOf(client), control_scores);
  httplib::Result r = client.Get("/v1/users/" + victim);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(PrivacyTest, DeletionErasesTheUsersDataAndInfluence) { CheckDeletion({}); }

// The same with the data directory sealed (storage.key_file): the rewritten segments and the
// snapshots written again are sealed too.
TEST_F(PrivacyTest, DeletionErasesTheUsersDataAndInfluenceWhenSealed) {
  const std::string key = (dir_ / "storage.key").string();
  testing::WriteFile(key, "6f1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff0\n");
  CheckDeletion({"--set", "storage.key_file=" + key});
}

// Killed right after the 202 (while the records are erased or the models replayed), the server
// starts again and finishes the deletion from its record, which names the user in the log only.
TEST_F(PrivacyTest, DeletionResumesAfterACrash) { CheckDeletion({}, /*crash=*/true); }

TEST_F(PrivacyTest, RetentionErasesAndUnlearnsOldEvents) {
  // Three hours of events; the first hour's users appear in nothing later. The last event comes
  // ten minutes after the others, so whenever the server looked at the clock before, the last
  // run's cut-off is the last event's time minus the retention.
  constexpr int64_t kHourMs = 3600000;
  const int64_t start_ms = 1700000000000;
  std::string all;
  std::string kept;
  int64_t last_ms = 0;
  for (int e = 0; e < 360; ++e) {
    const int64_t time_ms = start_ms + e * 30000 + (e == 359 ? 600000 : 0);
    const std::string user = time_ms < start_ms + kHourMs ? "zq-early-" + std::to_string(e % 7)
                                                          : "u" + std::to_string(e % 23);
    const Json event = {
        {"user", user}, {"item", "i" + std::to_string((e * 7) % 19)}, {"timestamp", time_ms}};
    all += event.dump() + "\n";
    last_ms = time_ms;
  }
  const int64_t cutoff_ms = last_ms - kHourMs;
  for (const std::string& line : SplitLines(all)) {
    if (Json::parse(line)["timestamp"].get<int64_t>() >= cutoff_ms) kept += line + "\n";
  }
  const std::vector<std::string> flags = {
      "--set", "snapshot.interval_events=100",           "--set", "feedback.record_decisions=false",
      "--set", "engine.models=ensemble,seq,transitions", "--set", "privacy.retention=1h"};
  const fs::path data = dir_ / "data";
  std::string retained_scores;
  {
    ServerProcess server(data, flags, RLIM_INFINITY, (dir_ / "retained.err").string());
    ASSERT_GT(server.port(), 0) << Slurp(dir_ / "retained.err");
    httplib::Client client("127.0.0.1", server.port());
    httplib::Result r = client.Post("/v1/events?wait=learned", all, "application/x-ndjson");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    // The deletion thread looks at the stream's clock once a second: wait for its run.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int64_t seen = 0;
    while (seen != cutoff_ms && std::chrono::steady_clock::now() < deadline) {
      r = client.Get("/v1/stats");
      ASSERT_TRUE(r && r->status == 200);
      seen = Json::parse(r->body)["retention_cutoff_ms"].get<int64_t>();
    }
    ASSERT_EQ(seen, cutoff_ms);
    retained_scores = ScoresOf(client, /*with_seq=*/false);
    r = client.Get("/v1/users/zq-early-3");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    ASSERT_TRUE(server.Stop());
  }
  for (int u = 0; u < 7; ++u) {
    EXPECT_EQ(FilesHolding(data, "zq-early-" + std::to_string(u)), std::vector<std::string>{});
  }
  EXPECT_EQ(ControlScores({kept}, flags).second, retained_scores);
}

}  // namespace
}  // namespace liverec
