#include "connect/engine_values.h"

#include <gtest/gtest.h>

namespace liverec::connect {
namespace {

TEST(EngineValuesTest, AnEngineUrlIsASchemeAHostAndAPort) {
  auto redis = ParseEngineUrl("redis://127.0.0.1:6379");
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  EXPECT_EQ(redis->scheme, "redis");
  EXPECT_EQ(redis->host, "127.0.0.1");
  EXPECT_EQ(redis->port, 6379);
  auto nats = ParseEngineUrl("nats://stream-1.internal:4222/");
  ASSERT_TRUE(nats.ok()) << nats.status().ToString();
  EXPECT_EQ(nats->host, "stream-1.internal");
  auto v6 = ParseEngineUrl("redis://[::1]:6379");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "[::1]");

  const auto reason = [](std::string_view url) {
    auto parsed = ParseEngineUrl(url);
    EXPECT_FALSE(parsed.ok()) << url;
    return parsed.ok() ? std::string() : parsed.status().message();
  };
  EXPECT_NE(reason("kafka://h:9092").find("unknown scheme 'kafka'"), std::string::npos);
  EXPECT_NE(reason("redis://h").find("no HOST:PORT"), std::string::npos);
  EXPECT_NE(reason("redis://h:0").find("PORT is not a number from 1 to 65535"), std::string::npos);
  EXPECT_NE(reason("redis://h:+80").find("PORT"), std::string::npos);
  EXPECT_NE(reason("redis://user:pw@h:6379").find("HOST"), std::string::npos);
  EXPECT_NE(reason("h:6379").find("no scheme"), std::string::npos);
}

TEST(EngineValuesTest, LeaseValuesRoundTripAndForeignOnesAreRefused) {
  const LeaseValue lease{17, 5000, "node-a"};
  const auto parsed = ParseLease(FormatLease(lease));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->token, 17u);
  EXPECT_EQ(parsed->ttl_ms, 5000u);
  EXPECT_EQ(parsed->holder, "node-a");
  const auto released = ParseLease("18 5000 ");
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(released->holder, "");
  for (const char* foreign : {"", "17", "17 5000", "x 5000 node-a", "17 -1 node-a",
                              "17 5000 node a", "99999999999999999999999 1 a"}) {
    EXPECT_FALSE(ParseLease(foreign).has_value()) << foreign;
  }
}

TEST(EngineValuesTest, CheckpointsRoundTripAndForeignOnesAreRefused) {
  const Checkpoints checkpoints = {{"node-a", 7}, {"node-b", 1234567890123}};
  const auto parsed = ParseCheckpoints(FormatCheckpoints(checkpoints));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, checkpoints);
  EXPECT_TRUE(ParseCheckpoints("")->empty());
  for (const char* foreign : {"node-a 7", "node-a\n", "node-a x\n", "bad name 7\n", " 7\n"}) {
    EXPECT_FALSE(ParseCheckpoints(foreign).has_value()) << foreign;
  }
}

}  // namespace
}  // namespace liverec::connect
