// Encryption at rest end to end: a `liverec serve` child with storage.key_file seals its log and
// snapshots, so a planted item id and text appear in no byte of the data directory, while the
// API answers them; a restart with a new key and the old one as storage.old_key_files reads
// both and writes under the new one, after which the new key alone opens the newest state; a
// restart without the key, or with another, is refused with the reason on stderr; a control
// server without a key writes the same ids in plain text.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_testing.h"
#include "store/sealing.h"
#include "store/secret_file.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::ServerProcess;

// Distinctive strings: any copy of them in a file is found by a byte search.
constexpr std::string_view kPlantedItem = "zq-planted-item-9931";
constexpr std::string_view kPlantedText = "zq-planted-text-4417";

class EncryptionTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    dir_ = root_;
    ASSERT_TRUE(WriteSecretFile((dir_ / "a.key").string(), std::string(64, 'a') + "\n").ok());
    ASSERT_TRUE(WriteSecretFile((dir_ / "b.key").string(), std::string(64, 'b') + "\n").ok());
    ASSERT_TRUE(WriteSecretFile((dir_ / "c.key").string(), std::string(64, 'c') + "\n").ok());
  }

  static std::string Slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The files under `root` whose bytes contain `needle`.
  static std::vector<std::string> FilesHolding(const fs::path& root, std::string_view needle) {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_regular_file() && Slurp(entry.path()).find(needle) != std::string::npos) {
        found.push_back(entry.path().string());
      }
    }
    return found;
  }
  std::vector<std::string> Keys(const std::string& current, const std::string& old = "") const {
    std::vector<std::string> args = {"--set", "storage.key_file=" + (dir_ / current).string()};
    if (!old.empty()) {
      args.insert(args.end(), {"--set", "storage.old_key_files=" + (dir_ / old).string()});
    }
    return args;
  }

  // Posts events naming the planted item among others, puts its text, takes a snapshot.
  static void Feed(int port, int first_event) {
    httplib::Client client("127.0.0.1", port);
    std::string body;
    for (int e = first_event; e < first_event + 60; ++e) {
      const std::string item = e % 3 == 0 ? std::string(kPlantedItem) : "i" + std::to_string(e % 9);
      body += Json{{"user", "u" + std::to_string(e % 7)}, {"item", item}}.dump() + "\n";
    }
    httplib::Result r = client.Post("/v1/events?wait=learned", body, "application/x-ndjson");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    r = client.Put("/v1/items/" + std::string(kPlantedItem),
                   Json{{"text", std::string(kPlantedText)}}.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    r = client.Post("/v1/admin/snapshot", "", "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  }

  // The planted item as the server answers it: its text, read back from sealed files.
  static void ExpectPlantedItem(int port) {
    httplib::Client client("127.0.0.1", port);
    httplib::Result r = client.Get("/v1/items/" + std::string(kPlantedItem));
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    EXPECT_EQ(Json::parse(r->body)["metadata"]["text"], std::string(kPlantedText)) << r->body;
  }

  void ExpectRefused(const fs::path& data, const std::vector<std::string>& args,
                     const std::string& reason) {
    const fs::path err = dir_ / "refused.err";
    ServerProcess server(data, args, RLIM_INFINITY, err.string());
    EXPECT_EQ(server.port(), 0);
    EXPECT_FALSE(server.Stop());
    EXPECT_NE(Slurp(err).find(reason), std::string::npos) << Slurp(err);
  }

  fs::path dir_;
};

TEST_F(EncryptionTest, PlantedIdsAreAbsentFromTheDataDirectoryAndKeysRotateOnRestart) {
  const fs::path data = dir_ / "data";
  {
    ServerProcess server(data, Keys("a.key"), RLIM_INFINITY, (dir_ / "a.err").string());
    ASSERT_GT(server.port(), 0) << Slurp(dir_ / "a.err");
    Feed(server.port(), 0);
    ExpectPlantedItem(server.port());
    ASSERT_TRUE(server.Stop());
  }
  EXPECT_FALSE(fs::is_empty(data / "log"));
  EXPECT_FALSE(fs::is_empty(data / "snapshots"));
  EXPECT_EQ(FilesHolding(data, kPlantedItem), std::vector<std::string>{});
  EXPECT_EQ(FilesHolding(data, kPlantedText), std::vector<std::string>{});

  // Without the key, or with another one alone, the directory does not open.
  Secret256 key_a;
  key_a.fill(0xaa);
  const std::string key_a_id = KeyIdText(SealingKeyId(key_a));
  ExpectRefused(data, {}, "storage.key_file");
  ExpectRefused(data, Keys("c.key"), "no key for key id " + key_a_id);

  {
    // Rotation: B seals from now on, A still opens what it sealed.
    ServerProcess server(data, Keys("b.key", "a.key"), RLIM_INFINITY, (dir_ / "b.err").string());
    ASSERT_GT(server.port(), 0) << Slurp(dir_ / "b.err");
    ExpectPlantedItem(server.port());
    Feed(server.port(), 60);
    ASSERT_TRUE(server.Stop());
  }
  {
    // The snapshot written under B at shutdown covers the whole log: B alone starts.
    ServerProcess server(data, Keys("b.key"), RLIM_INFINITY, (dir_ / "b-only.err").string());
    ASSERT_GT(server.port(), 0) << Slurp(dir_ / "b-only.err");
    ExpectPlantedItem(server.port());
    ASSERT_TRUE(server.Stop());
  }
  EXPECT_EQ(FilesHolding(data, kPlantedItem), std::vector<std::string>{});
  EXPECT_EQ(FilesHolding(data, kPlantedText), std::vector<std::string>{});

  // The control: the same traffic without a key leaves the ids in the files.
  const fs::path plain = dir_ / "plain";
  {
    ServerProcess server(plain);
    ASSERT_GT(server.port(), 0);
    Feed(server.port(), 0);
    ASSERT_TRUE(server.Stop());
  }
  EXPECT_FALSE(FilesHolding(plain / "log", kPlantedItem).empty());
  EXPECT_FALSE(FilesHolding(plain / "snapshots", kPlantedText).empty());
}

}  // namespace
}  // namespace liverec
