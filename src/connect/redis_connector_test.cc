// What the Redis connector does on Redis itself: the settings it insists on, the consumer
// groups an operator sees, trimming by MINID, and a restart of Redis under a live connector.
#include "connect/redis_connector.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

#include "connect/engine_process_testing.h"

namespace liverec::connect {
namespace {

using testing::EngineProcess;
using Strings = std::vector<std::string>;

// A plain hiredis connection, to look at what the connector left in Redis.
class RedisClient {
 public:
  explicit RedisClient(int port) : context_(redisConnect("127.0.0.1", port)) {}
  ~RedisClient() { redisFree(context_); }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // The reply as text: a string or status as is, an integer in decimal, an array as its
  // elements joined by spaces (nested arrays in brackets).
  std::string Command(const Strings& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (reply == nullptr) return "(no reply)";
    std::string text = Text(*reply);
    freeReplyObject(reply);
    return text;
  }

 private:
  static std::string Text(const redisReply& reply) {
    switch (reply.type) {
      case REDIS_REPLY_INTEGER:
        return std::to_string(reply.integer);
      case REDIS_REPLY_NIL:
        return "(nil)";
      case REDIS_REPLY_ARRAY: {
        std::string text;
        for (size_t i = 0; i < reply.elements; ++i) {
          if (i > 0) text += " ";
          const redisReply& e = *reply.element[i];
          text += e.type == REDIS_REPLY_ARRAY ? "[" + Text(e) + "]" : Text(e);
        }
        return text;
      }
      default:
        return std::string(reply.str, reply.len);
    }
  }

  redisContext* context_;
};

class RedisConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.ready()) << redis_.output(); }
  EngineProcess redis_{EngineProcess::kRedis};
};

TEST_F(RedisConnectorTest, RefusesARedisThatWouldLoseAcknowledgedAppends) {
  RedisClient client(redis_.port());
  ASSERT_EQ(client.Command({"CONFIG", "SET", "appendfsync", "everysec"}), "OK");
  auto refused = Connector::Open(redis_.url(), ConnectorOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("appendfsync"), std::string::npos)
      << refused.status().message();
  ConnectorOptions relaxed;
  relaxed.require_durable = false;
  EXPECT_TRUE(Connector::Open(redis_.url(), relaxed).ok());

  ASSERT_EQ(client.Command({"CONFIG", "SET", "appendfsync", "always"}), "OK");
  ASSERT_EQ(client.Command({"CONFIG", "SET", "appendonly", "no"}), "OK");
  refused = Connector::Open(redis_.url(), ConnectorOptions{});
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("appendonly"), std::string::npos);
}

TEST_F(RedisConnectorTest, CheckpointsAreConsumerGroupsAndTrimmingIsByMinId) {
  auto connector = Connector::Open(redis_.url(), ConnectorOptions{});
  ASSERT_TRUE(connector.ok()) << connector.status().ToString();
  std::vector<Position> positions;
  ASSERT_TRUE((*connector)->Append("events.0", "", Strings(10, "e"), &positions).ok());
  EXPECT_EQ(positions.front(), 1u);
  EXPECT_EQ(positions.back(), 10u);
  ASSERT_TRUE((*connector)->Commit("events.0", "node-a", 7).ok());
  ASSERT_TRUE((*connector)->Commit("events.0", "node-b", 4).ok());

  RedisClient client(redis_.port());
  // An operator reads each node's position in the stream's own consumer groups.
  const std::string groups = client.Command({"XINFO", "GROUPS", "liverec:s:events.0"});
  EXPECT_NE(groups.find("name node-a"), std::string::npos) << groups;
  EXPECT_NE(groups.find("last-delivered-id 1-6"), std::string::npos) << groups;
  EXPECT_NE(groups.find("last-delivered-id 1-3"), std::string::npos) << groups;
  // Its lag too: node-a has 3 of the 10 records to go, node-b 6.
  EXPECT_NE(groups.find("entries-read 7 lag 3"), std::string::npos) << groups;
  EXPECT_NE(groups.find("entries-read 4 lag 6"), std::string::npos) << groups;

  auto trimmed = (*connector)->Trim("events.0");
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*trimmed, 4u);
  EXPECT_EQ(client.Command({"XLEN", "liverec:s:events.0"}), "6");
  // A prefix keeps clusters apart on one Redis.
  ConnectorOptions other;
  other.prefix = "staging";
  auto staging = Connector::Open(redis_.url(), other);
  ASSERT_TRUE(staging.ok());
  auto last = (*staging)->Last("events.0");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 0u);
}

TEST_F(RedisConnectorTest, ALiveConnectorCarriesOnAfterRedisRestarts) {
  auto connector = Connector::Open(redis_.url(), ConnectorOptions{});
  ASSERT_TRUE(connector.ok()) << connector.status().ToString();
  std::vector<Position> positions;
  ASSERT_TRUE((*connector)->Append("events.0", "b1", Strings{"one"}, &positions).ok());
  redis_.Kill();
  // While Redis is down, calls fail as unavailable, and nothing is appended.
  const Status down = (*connector)->Append("events.0", "b2", Strings{"two"}, &positions);
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down.ToString();
  redis_.Start();
  ASSERT_TRUE(redis_.ready()) << redis_.output();
  // Redis forgot the scripts; the connector connects again and loads them again.
  const Status up = (*connector)->Append("events.0", "b2", Strings{"two"}, &positions);
  ASSERT_TRUE(up.ok()) << up.ToString();
  EXPECT_EQ(positions, std::vector<Position>{2});
  std::vector<Record> records;
  ASSERT_TRUE((*connector)->Read("events.0", 0, 10, std::chrono::milliseconds(0), &records).ok());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].payload, "two");
}

}  // namespace
}  // namespace liverec::connect
