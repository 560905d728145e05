// The dashboard's server side against the real server on 127.0.0.1: its embedded files, the
// stats stream (events, the serve.max_streams cap, the end of every stream at Stop), the
// request latencies of /v1/stats, and the page's own writes passing the Origin check. Streams
// are read with httplib's content receiver; tests wait on the events themselves, never on time.
#include "serve/dashboard.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine_testing.h"
#include "liverec/engine.h"
#include "serve/http_server.h"
#include "serve/request_latency.h"
#include "server_testing.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

using Json = nlohmann::json;

constexpr const char* kHost = "127.0.0.1";
// Generous: the sanitizer builds are slow and every durable write waits for an fsync.
constexpr time_t kClientTimeoutS = 60;
constexpr int64_t kStartMs = 1'700'000'000'000;

TEST(NearestRankTest, PicksTheCeilRankedValue) {
  std::vector<float> values;
  for (int v = 100; v >= 1; --v) values.push_back(static_cast<float>(v));
  EXPECT_EQ(NearestRank(&values, 0.5), 50);
  EXPECT_EQ(NearestRank(&values, 0.9), 90);
  EXPECT_EQ(NearestRank(&values, 0.99), 99);
  EXPECT_EQ(NearestRank(&values, 1.0), 100);
  std::vector<float> none;
  EXPECT_EQ(NearestRank(&none, 0.5), 0);
}

TEST(RequestLatenciesTest, KeepsTheLastSamplesOfEachRoute) {
  RequestLatencies latencies;
  for (size_t i = 0; i < kLatencySamples; ++i) latencies.Record(LatencyRoute::kSimilar, 100);
  for (size_t i = 0; i < kLatencySamples; ++i) latencies.Record(LatencyRoute::kSimilar, 1);
  latencies.Record(LatencyRoute::kEvents, 7);
  const std::vector<LatencySummary> s = latencies.Snapshot();
  ASSERT_EQ(s.size(), static_cast<size_t>(LatencyRoute::kNumRoutes));
  EXPECT_EQ(s[0].route, "recommendations");
  EXPECT_EQ(s[0].count, 0u);
  EXPECT_EQ(s[0].p99_ms, 0);
  EXPECT_EQ(s[1].route, "similar");
  EXPECT_EQ(s[1].count, 2 * kLatencySamples);
  EXPECT_EQ(s[1].max_ms, 1);  // the older 100 ms samples left the ring
  EXPECT_EQ(s[2].p50_ms, 7);
}

TEST(IsOwnOriginWriteTest, SameOriginPassesOnLoopbackOrWithKeys) {
  EXPECT_TRUE(IsOwnOriginWrite("http://127.0.0.1:8080", "127.0.0.1:8080", false, false));
  EXPECT_TRUE(IsOwnOriginWrite("http://localhost:8080", "localhost:8080", false, false));
  EXPECT_TRUE(IsOwnOriginWrite("http://[::1]:8080", "[::1]:8080", false, false));
  EXPECT_TRUE(IsOwnOriginWrite("https://localhost", "localhost", true, false));
  // A name that resolves here (DNS rebinding) is not loopback: only a key lets it write.
  EXPECT_FALSE(
      IsOwnOriginWrite("http://rebound.example:8080", "rebound.example:8080", false, false));
  EXPECT_TRUE(IsOwnOriginWrite("http://rec.example:8080", "rec.example:8080", false, true));
  // Another origin, scheme or port is never the page's own.
  EXPECT_FALSE(IsOwnOriginWrite("http://evil.example", "127.0.0.1:8080", false, true));
  EXPECT_FALSE(IsOwnOriginWrite("https://127.0.0.1:8080", "127.0.0.1:8080", false, false));
  EXPECT_FALSE(IsOwnOriginWrite("http://127.0.0.1:8081", "127.0.0.1:8080", false, false));
  EXPECT_FALSE(IsOwnOriginWrite("http://127.0.0.1:8080", "", false, true));
}

TEST(DashboardAssetsTest, PageScriptAndStyleAreEmbeddedSortedByName) {
  const std::span<const DashboardAsset> assets = DashboardAssets();
  ASSERT_EQ(assets.size(), 3u);
  for (size_t i = 1; i < assets.size(); ++i) EXPECT_LT(assets[i - 1].name, assets[i].name);
  const DashboardAsset* page = FindDashboardAsset("index.html");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_NE(page->bytes.find("/ui/app.js"), std::string_view::npos);
  EXPECT_NE(FindDashboardAsset("app.js"), nullptr);
  EXPECT_EQ(FindDashboardAsset("app.j"), nullptr);
  EXPECT_EQ(FindDashboardAsset("../index.html"), nullptr);
}

// Reads GET /v1/stats/stream on a client thread: each event's JSON is kept, and the reader
// goes on until Close (or the server ends the stream).
class StreamReader {
 public:
  explicit StreamReader(int port) : client_(kHost, port) {
    client_.set_tcp_nodelay(true);
    client_.set_read_timeout(kClientTimeoutS, 0);
    thread_ = std::thread([this] {
      httplib::Result result = client_.Get(
          "/v1/stats/stream",
          [this](const httplib::Response& response) {
            std::lock_guard lock(mu_);
            status_ = response.status;
            content_type_ = response.get_header_value("Content-Type");
            cv_.notify_all();
            return true;
          },
          [this](const char* data, size_t n) {
            std::lock_guard lock(mu_);
            buffer_.append(data, n);
            for (size_t end = buffer_.find("\n\n"); end != std::string::npos;
                 end = buffer_.find("\n\n")) {
              const std::string block = buffer_.substr(0, end);
              buffer_.erase(0, end + 2);
              if (block.rfind("data: ", 0) == 0) events_.push_back(Json::parse(block.substr(6)));
            }
            cv_.notify_all();
            return !closing_;
          });
      std::lock_guard lock(mu_);
      if (status_ == 0 && result) status_ = result->status;
      if (result && status_ != 200) body_ = result->body;
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~StreamReader() {
    Close();
    thread_.join();
  }

  // Waits for `n` events (or the end of the stream); the events read so far.
  std::vector<Json> WaitForEvents(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return events_.size() >= n || ended_; });
    return events_;
  }
  // Waits for the end of the answer; its status.
  int WaitForEnd() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ended_; });
    return status_;
  }
  // Makes the reader stop at the next event.
  void Close() {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  std::string content_type() {
    std::lock_guard lock(mu_);
    return content_type_;
  }
  std::string body() {
    std::lock_guard lock(mu_);
    return body_;
  }

 private:
  httplib::Client client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;        // guarded by mu_
  std::vector<Json> events_;  // guarded by mu_
  int status_ = 0;            // guarded by mu_
  std::string content_type_;  // guarded by mu_
  std::string body_;          // guarded by mu_
  bool closing_ = false;      // guarded by mu_
  bool ended_ = false;        // guarded by mu_
  std::thread thread_;
};

class DashboardTest : public testing::InProcessServerTest {
 protected:
  httplib::Client Client() const {
    httplib::Client client(kHost, port_);
    client.set_tcp_nodelay(true);
    client.set_read_timeout(kClientTimeoutS, 0);
    return client;
  }

  Json GetJson(const std::string& path) {
    httplib::Result r = Client().Get(path);
    EXPECT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : "no answer");
    return r ? Json::parse(r->body, nullptr, false) : Json();
  }

  void Learn(int num_users) {
    Json events = Json::array();
    for (int u = 0; u < num_users; ++u) {
      for (int i = 0; i <= u % 4; ++i) {
        events.push_back({{"user", "u" + std::to_string(u)},
                          {"item", "i" + std::to_string(i)},
                          {"timestamp", kStartMs + u * 10 + i}});
      }
    }
    httplib::Result r = Client().Post("/v1/events?wait=learned", events.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  }
};

TEST_F(DashboardTest, RootServesThePageAndUiItsFilesWithTheirTypes) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  httplib::Result page = Client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_NE(page->body.find(R"(<script src="/ui/app.js">)"), std::string::npos);
  httplib::Result script = Client().Get("/ui/app.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(script->body, FindDashboardAsset("app.js")->bytes);
  httplib::Result missing = Client().Get("/ui/nothing.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("no dashboard file /ui/nothing.js"), std::string::npos);
}

TEST_F(DashboardTest, StreamSendsTheStatsAtOnceThenEverySecond) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_NO_FATAL_FAILURE(Learn(12));
  StreamReader reader(port_);
  const std::vector<Json> events = reader.WaitForEvents(2);
  ASSERT_EQ(events.size(), 2u) << reader.body();
  EXPECT_EQ(reader.content_type(), "text/event-stream");
  const Json stats = GetJson("/v1/stats");
  for (const Json& event : events) {
    for (const char* field : {"events_accepted", "events_applied", "num_users", "num_items",
                              "queue_depth", "last_applied_seq", "models"}) {
      EXPECT_EQ(event[field], stats[field]) << field;
    }
    EXPECT_EQ(event["http"]["streams_open"], 1);
  }
  EXPECT_EQ(stats["http"]["streams_open"], 1);
  EXPECT_EQ(stats["http"]["max_streams"], 8);
}

TEST_F(DashboardTest, MaxEventsEndsTheStreamAfterThatMany) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  httplib::Result r = Client().Get("/v1/stats/stream?max_events=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  size_t events = 0;
  for (size_t at = r->body.find("data: {"); at != std::string::npos;
       at = r->body.find("data: {", at + 1)) {
    ++events;
  }
  EXPECT_EQ(events, 2u) << r->body;
  httplib::Result bad = Client().Get("/v1/stats/stream?max_events=0");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("max_events"), std::string::npos) << bad->body;
}

TEST_F(DashboardTest, StreamsBeyondMaxStreamsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.max_streams=1"}));
  StreamReader first(port_);
  ASSERT_EQ(first.WaitForEvents(1).size(), 1u);
  httplib::Result second = Client().Get("/v1/stats/stream");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 429);
  EXPECT_NE(second->body.find("serve.max_streams=1"), std::string::npos) << second->body;
  EXPECT_EQ(second->get_header_value("Retry-After"), "1");
}

TEST_F(DashboardTest, StopEndsOpenStreams) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  StreamReader a(port_);
  StreamReader b(port_);
  ASSERT_EQ(a.WaitForEvents(1).size(), 1u);
  ASSERT_EQ(b.WaitForEvents(1).size(), 1u);
  // Run returns only once every connection thread is done: a stream that outlived Stop would
  // hold this join (and the test) forever.
  StopServer();
  EXPECT_EQ(a.WaitForEnd(), 200);
  EXPECT_EQ(b.WaitForEnd(), 200);
}

TEST_F(DashboardTest, StatsReportTheLatencyOfRecentRequests) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_NO_FATAL_FAILURE(Learn(12));
  constexpr int kRequests = 5;
  for (int i = 0; i < kRequests; ++i) GetJson("/v1/recommendations?user=u1&k=3");
  const Json stats = GetJson("/v1/stats");
  const Json& latency = stats["http"]["latency"];
  ASSERT_EQ(latency.size(), 4u);
  EXPECT_EQ(latency[0]["route"], "recommendations");
  EXPECT_EQ(latency[0]["count"], kRequests);
  EXPECT_GT(latency[0]["p50_ms"].get<double>(), 0);
  EXPECT_LE(latency[0]["p50_ms"].get<double>(), latency[0]["p99_ms"].get<double>());
  EXPECT_LE(latency[0]["p99_ms"].get<double>(), latency[0]["max_ms"].get<double>());
  EXPECT_EQ(latency[2]["route"], "events");
  EXPECT_EQ(latency[2]["count"], 1);
  EXPECT_EQ(latency[1]["count"], 0);
}

TEST_F(DashboardTest, ThePagesOwnOriginMayWriteAndAnotherMayNot) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string own = "http://127.0.0.1:" + std::to_string(port_);
  httplib::Result ours = Client().Post("/v1/admin/snapshot", {{"Origin", own}}, "", "");
  ASSERT_TRUE(ours);
  EXPECT_EQ(ours->status, 200) << ours->body;
  httplib::Result theirs =
      Client().Post("/v1/admin/snapshot", {{"Origin", "http://evil.example"}}, "", "");
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->status, 403) << theirs->body;
}

}  // namespace
}  // namespace liverec
