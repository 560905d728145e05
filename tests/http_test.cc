// HTTP API v1 against the real server: an Engine on a temporary directory, an HttpServer bound to
// an ephemeral port of 127.0.0.1 and running in its own thread, and httplib clients that check
// status codes, headers and JSON bodies. Tests synchronize only through the API itself
// (?wait=learned answers after the models learned the batch) and by joining threads.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <future>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/engine_testing.h"
#include "liverec/engine.h"
#include "serve/http_server.h"
#include "server_testing.h"
#include "store/store_testing.h"

namespace liverec {
namespace {

using Json = nlohmann::json;

constexpr const char* kJsonType = "application/json";
constexpr const char* kNdjsonType = "application/x-ndjson";
constexpr const char* kHost = "127.0.0.1";
// Generous: the sanitizer builds are slow and every durable write waits for an fsync.
constexpr time_t kClientTimeoutS = 60;
constexpr int64_t kStartMs = 1'700'000'000'000;

// One HTTP answer, decoded.
struct Answer {
  int status = 0;    // 0: no answer (connection error)
  std::string text;  // the raw body
  Json body;         // the body parsed as JSON; discarded() if it is not JSON
  std::string content_type;
  std::string retry_after;
};

std::ostream& operator<<(std::ostream& os, const Answer& a) {
  return os << "HTTP " << a.status << " " << a.text;
}

// The error message of a JSON error body ("" if the body is not one).
std::string ErrorMessage(const Answer& a) {
  if (!a.body.is_object() || !a.body.contains("error")) return "";
  return a.body["error"].value("message", "");
}

std::string ErrorCode(const Answer& a) {
  if (!a.body.is_object() || !a.body.contains("error")) return "";
  return a.body["error"].value("code", "");
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

Json Event(const std::string& user, const std::string& item, int64_t time_ms,
           const std::string& id = "") {
  Json e = {{"user", user}, {"item", item}, {"timestamp", time_ms}};
  if (!id.empty()) e["id"] = id;
  return e;
}

// The item ids of a recommendations or similar-items answer, in order.
std::vector<std::string> ItemsOf(const Answer& a) {
  std::vector<std::string> out;
  if (!a.body.is_object() || !a.body.contains("items")) return out;
  for (const Json& it : a.body["items"]) out.push_back(it["item"].get<std::string>());
  return out;
}

// `text` compressed as a gzip stream (what a client sends with Content-Encoding: gzip).
std::string Gzip(const std::string& text) {
  z_stream z{};
  constexpr int kGzipWindowBits = 15 + 16;  // 15-bit window, gzip header
  constexpr int kMemLevel = 8;
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, kGzipWindowBits, kMemLevel,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A client on a plain socket, for requests no well-behaved HTTP library sends: partial headers,
// a Content-Length the body never reaches, bytes trickled slowly.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, kHost, &addr.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    // A bound on a test that would otherwise hang, not a synchronization.
    timeval tv{kClientTimeoutS, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool Send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Reads one answer: its status line, headers and Content-Length body. "" if the server
  // closed the connection (or the bound passed) before a whole answer came.
  std::string ReadAnswer() {
    while (true) {
      const size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        const size_t at = buffer_.find("Content-Length: ");
        if (at != std::string::npos && at < end) length = std::stoul(buffer_.substr(at + 16));
        if (buffer_.size() >= end + 4 + length) {
          std::string answer = buffer_.substr(0, end + 4 + length);
          buffer_.erase(0, end + 4 + length);
          return answer;
        }
      }
      char chunk[4096];
      const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (got <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }
  // True if an answer (or the close) is waiting to be read.
  bool Readable() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  // True once the server closed the connection (reads until end of stream).
  bool ClosedByServer() {
    char chunk[4096];
    while (true) {
      const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (got == 0) return true;
      if (got < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

int StatusOf(const std::string& answer) {
  return answer.size() > 12 ? std::atoi(answer.c_str() + 9) : 0;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// True if an executable `name` is in a directory of $PATH.
bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

class HttpTest : public testing::InProcessServerTest {
 protected:
  std::unique_ptr<httplib::Client> NewClient() const {
    auto client = std::make_unique<httplib::Client>(kHost, port_);
    // Debian's libcpp-httplib leaves Nagle's algorithm on: without this every request waits
    // for a delayed ACK (STYLE.md, habit 8).
    client->set_tcp_nodelay(true);
    client->set_connection_timeout(kClientTimeoutS, 0);
    client->set_read_timeout(kClientTimeoutS, 0);
    client->set_write_timeout(kClientTimeoutS, 0);
    return client;
  }

  static Answer Decode(const httplib::Result& result) {
    Answer a;
    if (!result) return a;
    a.status = result->status;
    a.text = result->body;
    a.body = Json::parse(a.text, nullptr, /*allow_exceptions=*/false);
    a.content_type = result->get_header_value("Content-Type");
    a.retry_after = result->get_header_value("Retry-After");
    return a;
  }

  Answer Get(const std::string& path) const { return Decode(NewClient()->Get(path)); }
  Answer Delete(const std::string& path) const { return Decode(NewClient()->Delete(path)); }
  Answer Post(const std::string& path, const std::string& body,
              const char* content_type = kJsonType) const {
    return Decode(NewClient()->Post(path, body, content_type));
  }
  Answer Put(const std::string& path, const std::string& body) const {
    return Decode(NewClient()->Put(path, body, kJsonType));
  }

  // Posts `events` as a JSON array with ?wait=learned and expects every one accepted.
  void Learn(const Json& events) {
    const Answer a = Post("/v1/events?wait=learned", events.dump());
    ASSERT_EQ(a.status, 200) << a;
    ASSERT_EQ(a.body["accepted"], events.size()) << a;
  }

  Json Stats() const {
    const Answer a = Get("/v1/stats");
    EXPECT_EQ(a.status, 200) << a;
    return a.body;
  }

  // Others view a then b (five users), one user views c: item_knn learns that b follows a.
  void LearnCoViews() {
    Json events = Json::array();
    for (int u = 0; u < kCoViewers; ++u) {
      events.push_back(Event("o" + std::to_string(u), "a", kStartMs + u * 10));
      events.push_back(Event("o" + std::to_string(u), "b", kStartMs + u * 10 + 1));
    }
    events.push_back(Event("o9", "c", kStartMs + 500));
    Learn(events);
  }
  static constexpr int kCoViewers = 5;

  // Users o0..o7: user u views items i0..iu, so i0 is the most popular and i7 the least; the
  // user "new" views i0.
  void LearnCatalogue() {
    Json events = Json::array();
    for (int u = 0; u < kCatalogueItems; ++u) {
      for (int j = 0; j <= u; ++j) {
        events.push_back(
            Event("o" + std::to_string(u), "i" + std::to_string(j), kStartMs + u * 10 + j));
      }
    }
    events.push_back(Event("new", "i0", kStartMs + 1000));
    Learn(events);
  }
  static constexpr int kCatalogueItems = 8;
};

// --- POST /v1/events ---

TEST_F(HttpTest, JsonArrayAndNdjsonBodiesAreBothIngested) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Json array = Json::array(
      {Event("u1", "a", kStartMs), Event("u1", "b", kStartMs + 1), Event("u2", "a", kStartMs + 2)});
  Answer a = Post("/v1/events?wait=learned", array.dump());
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.content_type, kJsonType);
  EXPECT_EQ(a.body["accepted"], 3);
  EXPECT_EQ(a.body["duplicates"], 0);
  EXPECT_EQ(a.body["last_seq"], 3);
  EXPECT_TRUE(a.body["rejected"].empty()) << a;

  // NDJSON: "\n" and "\r\n" line ends, a blank line skipped, integer ids become strings.
  const std::string ndjson = Event("u3", "c", kStartMs + 3).dump() + "\r\n\n" +
                             R"({"user":7,"item":8,"timestamp":)" + std::to_string(kStartMs + 4) +
                             "}\n";
  a = Post("/v1/events?wait=learned", ndjson, kNdjsonType);
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.body["accepted"], 2);
  EXPECT_EQ(a.body["last_seq"], 5);

  const Json stats = Stats();
  EXPECT_EQ(stats["events_applied"], 5);
  EXPECT_EQ(stats["events_accepted"], 5);
  EXPECT_EQ(stats["num_users"], 4);  // u1 u2 u3 7
  EXPECT_EQ(stats["num_items"], 4);  // a b c 8
  EXPECT_EQ(Get("/v1/users/7").body["recent"][0]["item"], "8");
}

TEST_F(HttpTest, RejectedEntriesNameTheirIndexFieldAndReason) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string body = "[" + Event("u", "a", kStartMs).dump() +
                           R"(,{"user":"u","item":"b","value":"high"})"
                           R"(,{"usr":"u","item":"c"})"
                           R"(,{"item":"d"})"
                           "," +
                           Event("u", "e", kStartMs + 1).dump() + "]";
  const Answer a = Post("/v1/events?wait=learned", body);
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.body["accepted"], 2);
  const Json& rejected = a.body["rejected"];
  ASSERT_EQ(rejected.size(), 3u) << a;
  EXPECT_EQ(rejected[0]["index"], 1);
  EXPECT_EQ(rejected[0]["field"], "value");
  EXPECT_TRUE(Contains(rejected[0]["reason"].get<std::string>(), "expected a number"))
      << rejected[0];
  EXPECT_EQ(rejected[1]["index"], 2);
  EXPECT_EQ(rejected[1]["field"], "usr");
  EXPECT_TRUE(Contains(rejected[1]["reason"].get<std::string>(), "unknown field")) << rejected[1];
  // "did you mean" names the known field.
  EXPECT_TRUE(Contains(rejected[1]["reason"].get<std::string>(), "\"user\"")) << rejected[1];
  EXPECT_EQ(rejected[2]["index"], 3);
  EXPECT_EQ(rejected[2]["field"], "user");
  EXPECT_EQ(rejected[2]["reason"], "missing");

  const Json stats = Stats();
  EXPECT_EQ(stats["events_applied"], 2);
  EXPECT_EQ(stats["events_rejected"], 3);
}

// The engine numbers its rejections among the records the parser let through; the server must
// report them at their position in the body, merged with the parser's in body order.
TEST_F(HttpTest, RejectionsByParserAndEngineKeepTheirPositionsInTheBody) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"engine.unknown_event_types=reject"}));
  const std::string body = "[" + Json({{"user", "u"}, {"item", "a"}, {"value", "x"}}).dump() + "," +
                           Event("u", "b", kStartMs).dump() + "," +
                           Json({{"user", "u"}, {"item", "c"}, {"type", "clik"}}).dump() + "," +
                           Json({{"user", "u"}}).dump() + "," +
                           Json({{"user", "u"}, {"item", "d"}, {"type", "view"}}).dump() + "]";
  const Answer a = Post("/v1/events?wait=learned", body);
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.body["accepted"], 2);
  const Json& rejected = a.body["rejected"];
  ASSERT_EQ(rejected.size(), 3u) << a;
  EXPECT_EQ(rejected[0]["index"], 0);
  EXPECT_EQ(rejected[0]["field"], "value");
  EXPECT_EQ(rejected[1]["index"], 2);
  EXPECT_EQ(rejected[1]["field"], "type");
  EXPECT_TRUE(Contains(rejected[1]["reason"].get<std::string>(), "clik")) << rejected[1];
  EXPECT_EQ(rejected[2]["index"], 3);
  EXPECT_EQ(rejected[2]["field"], "item");
  EXPECT_EQ(Stats()["events_rejected"], 3);
}

TEST_F(HttpTest, BatchWithEveryEntryRejectedIsABadRequest) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Answer a =
      Post("/v1/events?wait=learned", R"([{"user":"u"},{"user":"u","item":"a","timestamp":-1}])");
  EXPECT_EQ(a.status, 400) << a;
  EXPECT_EQ(a.body["accepted"], 0);
  ASSERT_EQ(a.body["rejected"].size(), 2u) << a;
  EXPECT_EQ(a.body["rejected"][0]["field"], "item");
  EXPECT_EQ(a.body["rejected"][1]["index"], 1);
  EXPECT_EQ(a.body["rejected"][1]["field"], "timestamp");
  EXPECT_EQ(Stats()["events_applied"], 0);
}

TEST_F(HttpTest, UnknownWaitModeIsABadRequestNamingWait) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Answer a = Post("/v1/events?wait=soon", Json::array({Event("u", "a", kStartMs)}).dump());
  EXPECT_EQ(a.status, 400) << a;
  EXPECT_TRUE(Contains(ErrorMessage(a), "wait")) << a;
  EXPECT_EQ(Stats()["events_accepted"], 0);
}

TEST_F(HttpTest, LearnedEventIsReflectedInTheNextRecommendation) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  // Unknown user: the popularity fallback, all-time counts a = b = 5, c = 1.
  Answer before = Get("/v1/recommendations?user=new");
  ASSERT_EQ(before.status, 200) << before;
  EXPECT_EQ(before.body["fallback"], true);
  EXPECT_EQ(before.body["model"], "popularity");
  EXPECT_EQ(before.body["model_version"], 2 * kCoViewers + 1);
  const std::vector<std::string> popular = ItemsOf(before);
  ASSERT_EQ(popular.size(), 3u) << before;
  EXPECT_EQ(std::set<std::string>(popular.begin(), popular.begin() + 2),
            (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(popular[2], "c");
  EXPECT_FLOAT_EQ(before.body["items"][0]["score"].get<float>(), kCoViewers);
  EXPECT_FLOAT_EQ(before.body["items"][2]["score"].get<float>(), 1);
  EXPECT_EQ(before.body["recommendation_id"].get<std::string>().size(), 16u);

  // The user's first event is a; once learned, the ensemble (the default) offers b first and
  // never a again (exclude_seen).
  Learn(Json::array({Event("new", "a", kStartMs + 1000)}));
  const Answer after = Get("/v1/recommendations?user=new");
  ASSERT_EQ(after.status, 200) << after;
  EXPECT_EQ(after.body["fallback"], false);
  EXPECT_EQ(after.body["model"], "ensemble");
  // The events, the first answer's decision and the new event.
  EXPECT_EQ(after.body["model_version"], 2 * kCoViewers + 3);
  const std::vector<std::string> items = ItemsOf(after);
  ASSERT_FALSE(items.empty()) << after;
  EXPECT_EQ(items[0], "b");
  for (const std::string& item : items) EXPECT_NE(item, "a");
  // Its member item_knn, asked by name, scores b by cosine: co(a, b) / sqrt(n_a n_b) with
  // n_a = 6 (the new user too), n_b = 5.
  const Answer knn = Get("/v1/recommendations?user=new&model=item_knn");
  ASSERT_EQ(knn.status, 200) << knn;
  EXPECT_EQ(knn.body["model"], "item_knn");
  ASSERT_EQ(ItemsOf(knn).at(0), "b") << knn;
  EXPECT_NEAR(knn.body["items"][0]["score"].get<double>(), kCoViewers / std::sqrt(6.0 * 5.0), 1e-5);
  // exclude_seen=false offers a back; with k=1 only one item.
  const Answer with_seen = Get("/v1/recommendations?user=new&exclude_seen=false&k=10");
  ASSERT_EQ(with_seen.status, 200) << with_seen;
  const std::vector<std::string> all = ItemsOf(with_seen);
  EXPECT_NE(std::find(all.begin(), all.end(), "a"), all.end()) << with_seen;
  EXPECT_EQ(ItemsOf(Get("/v1/recommendations?user=new&k=1")).size(), 1u);
  // A named model answers for itself.
  EXPECT_EQ(Get("/v1/recommendations?user=new&model=mf").body["model"], "mf");
}

TEST_F(HttpTest, RepostedBatchIsCountedAsDuplicatesAndNotLearnedAgain) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kBatch = 4;
  Json batch = Json::array();
  for (int i = 0; i < kBatch; ++i) {
    batch.push_back(Event("u" + std::to_string(i), "a", kStartMs + i, "id-" + std::to_string(i)));
  }
  Answer first = Post("/v1/events?wait=learned", batch.dump());
  ASSERT_EQ(first.status, 200) << first;
  EXPECT_EQ(first.body["accepted"], kBatch);
  EXPECT_EQ(first.body["duplicates"], 0);
  EXPECT_EQ(Stats()["events_applied"], kBatch);

  const Answer second = Post("/v1/events?wait=learned", batch.dump());
  ASSERT_EQ(second.status, 200) << second;
  EXPECT_EQ(second.body["accepted"], kBatch);
  EXPECT_EQ(second.body["duplicates"], kBatch);
  const Json stats = Stats();
  EXPECT_EQ(stats["events_applied"], kBatch);
  EXPECT_EQ(stats["events_duplicate"], kBatch);
  // Popularity counted each event once.
  const Answer recs = Get("/v1/recommendations?user=nobody");
  ASSERT_EQ(recs.status, 200) << recs;
  EXPECT_FLOAT_EQ(recs.body["items"][0]["score"].get<float>(), kBatch);
}

// --- GET /v1/recommendations ---

TEST_F(HttpTest, RecommendationRequestErrorsNameTheParameter) {
  constexpr int kMaxK = 50;
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.max_k=50"}));
  LearnCoViews();
  auto expect_error = [&](const std::string& query, int status, std::string_view name) {
    const Answer a = Get("/v1/recommendations" + query);
    EXPECT_EQ(a.status, status) << query << " -> " << a;
    EXPECT_EQ(a.content_type, kJsonType) << query;
    EXPECT_TRUE(Contains(ErrorMessage(a), name)) << query << " -> " << a;
  };
  expect_error("", 400, "user");
  expect_error("?k=3", 400, "user");
  expect_error("?user=", 400, "user");
  expect_error("?user=o1&k=0", 400, "k");
  expect_error("?user=o1&k=abc", 400, "k");
  expect_error("?user=o1&k=-1", 400, "k");
  expect_error("?user=o1&k=" + std::to_string(kMaxK + 1), 400, "k");
  expect_error("?user=o1&model=nosuch", 404, "nosuch");
  expect_error("?user=o1&exclude_seen=maybe", 400, "exclude_seen");
  expect_error("?user=o1&explain=perhaps", 400, "explain");
  EXPECT_EQ(ErrorCode(Get("/v1/recommendations?user=o1&k=0")), "invalid_argument");
  EXPECT_EQ(ErrorCode(Get("/v1/recommendations?user=o1&model=nosuch")), "not_found");
  // The largest k allowed is fine.
  EXPECT_EQ(Get("/v1/recommendations?user=o1&k=" + std::to_string(kMaxK)).status, 200);
}

TEST_F(HttpTest, CategoryFilterKeepsOnlyItemsOfThatCategory) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Json events = Json::array();
  for (int u = 0; u < kCoViewers; ++u) {
    for (const char* item : {"a", "b", "c", "d"}) {
      events.push_back(Event("o" + std::to_string(u), item, kStartMs + u * 10));
    }
  }
  events.push_back(Event("new", "a", kStartMs + 100));
  Learn(events);
  ASSERT_EQ(Put("/v1/items/b", R"({"categories":["news"]})").status, 200);
  ASSERT_EQ(Put("/v1/items/c", R"({"categories":["sports","news"]})").status, 200);
  ASSERT_EQ(Put("/v1/items/d", R"({"categories":["sports"]})").status, 200);

  const Answer any = Get("/v1/recommendations?user=new");
  ASSERT_EQ(any.status, 200) << any;
  std::vector<std::string> items = ItemsOf(any);
  EXPECT_EQ(std::set<std::string>(items.begin(), items.end()),
            (std::set<std::string>{"b", "c", "d"}));
  items = ItemsOf(Get("/v1/recommendations?user=new&category=news"));
  EXPECT_EQ(std::set<std::string>(items.begin(), items.end()), (std::set<std::string>{"b", "c"}));
  items = ItemsOf(Get("/v1/recommendations?user=new&category=sports"));
  EXPECT_EQ(std::set<std::string>(items.begin(), items.end()), (std::set<std::string>{"c", "d"}));
  const Answer none = Get("/v1/recommendations?user=new&category=weather");
  ASSERT_EQ(none.status, 200) << none;
  EXPECT_TRUE(none.body["items"].empty()) << none;

  // A PUT replaces all of an item's metadata: d leaves sports.
  ASSERT_EQ(Put("/v1/items/d", R"({"categories":["news"]})").status, 200);
  items = ItemsOf(Get("/v1/recommendations?user=new&category=sports"));
  EXPECT_EQ(items, std::vector<std::string>{"c"});
}

TEST_F(HttpTest, SeveralCategoriesKeepItemsInAnyOfThem) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Json events = Json::array();
  for (int u = 0; u < kCoViewers; ++u) {
    for (const char* item : {"a", "b", "c", "d", "e"}) {
      events.push_back(Event("o" + std::to_string(u), item, kStartMs + u * 10));
    }
  }
  events.push_back(Event("new", "a", kStartMs + 100));
  Learn(events);
  ASSERT_EQ(Put("/v1/items/b", R"({"categories":["news"]})").status, 200);
  ASSERT_EQ(Put("/v1/items/c", R"({"categories":["sports","news"]})").status, 200);
  ASSERT_EQ(Put("/v1/items/d", R"({"categories":["sports"]})").status, 200);
  ASSERT_EQ(Put("/v1/items/e", R"({"categories":["weather"]})").status, 200);

  auto set_of = [this](const std::string& query) {
    const std::vector<std::string> items = ItemsOf(Get("/v1/recommendations?user=new" + query));
    return std::set<std::string>(items.begin(), items.end());
  };
  EXPECT_EQ(set_of("&category=news,weather"), (std::set<std::string>{"b", "c", "e"}));
  EXPECT_EQ(set_of("&category=news&category=weather"), (std::set<std::string>{"b", "c", "e"}));
  EXPECT_EQ(set_of("&category=sports,nosuch"), (std::set<std::string>{"c", "d"}));
  EXPECT_TRUE(set_of("&category=nosuch,none").empty());
  const Answer empty_id = Get("/v1/recommendations?user=new&category=news,");
  EXPECT_EQ(empty_id.status, 400) << empty_id;
  EXPECT_EQ(ErrorMessage(empty_id), "category: empty id at position 2 of 'news,'");
}

TEST_F(HttpTest, ExcludedItemsAreNeverListedNotEvenAsBackfill) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCatalogue();
  for (const std::string model : {"", "&model=item_knn", "&model=popularity"}) {
    const std::string query = "/v1/recommendations?user=new&k=20" + model;
    const std::vector<std::string> all = ItemsOf(Get(query));
    ASSERT_GE(all.size(), 3u) << model;
    const Answer answer = Get(query + "&exclude=" + all[0] + "," + all[2] + ",nosuch");
    ASSERT_EQ(answer.status, 200) << answer;
    const std::vector<std::string> got = ItemsOf(answer);
    EXPECT_EQ(std::count(got.begin(), got.end(), all[0]), 0) << model << answer;
    EXPECT_EQ(std::count(got.begin(), got.end(), all[2]), 0) << model << answer;
    EXPECT_EQ(got.size(), all.size() - 2) << model << answer;
    if (model == "&model=popularity") {
      // Counts rank each item alone: the list is the same list without the two.
      std::vector<std::string> expected = all;
      expected.erase(expected.begin() + 2);
      expected.erase(expected.begin());
      EXPECT_EQ(got, expected);
    }
  }
  // A fallback user (no history), and the exclusion of every item.
  std::string every;
  for (const std::string& item : ItemsOf(Get("/v1/recommendations?user=nobody&k=100"))) {
    every += (every.empty() ? "" : ",") + item;
  }
  const Answer none = Get("/v1/recommendations?user=nobody&k=100&exclude=" + every);
  ASSERT_EQ(none.status, 200) << none;
  EXPECT_TRUE(none.body["items"].empty()) << none;
}

TEST_F(HttpTest, OffsetPagesThroughTheListWithoutRepeatsOrGaps) {
  constexpr int kMaxK = 50;
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.max_k=50"}));
  LearnCatalogue();
  const std::vector<std::string> whole = ItemsOf(Get("/v1/recommendations?user=new&k=6"));
  ASSERT_GE(whole.size(), 4u);
  std::vector<std::string> paged;
  for (size_t offset = 0; offset < whole.size(); offset += 2) {
    const Answer page = Get("/v1/recommendations?user=new&k=2&offset=" + std::to_string(offset));
    ASSERT_EQ(page.status, 200) << page;
    for (const std::string& item : ItemsOf(page)) paged.push_back(item);
  }
  EXPECT_EQ(paged, whole);
  const Answer past = Get("/v1/recommendations?user=new&k=2&offset=" + std::to_string(kMaxK));
  ASSERT_EQ(past.status, 200) << past;
  EXPECT_TRUE(past.body["items"].empty()) << past;
  const Answer bad = Get("/v1/recommendations?user=new&offset=-1");
  EXPECT_EQ(bad.status, 400) << bad;
  EXPECT_EQ(ErrorMessage(bad).rfind("offset: ", 0), 0u) << bad;
  EXPECT_EQ(Get("/v1/recommendations?user=new&offset=" + std::to_string(kMaxK + 1)).status, 400);
}

TEST_F(HttpTest, ExplainListsTheHistoryItemsBehindARecommendation) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  Learn(Json::array({Event("new", "a", kStartMs + 1000)}));
  const Answer plain = Get("/v1/recommendations?user=new");
  ASSERT_EQ(plain.status, 200) << plain;
  ASSERT_FALSE(plain.body["items"].empty()) << plain;
  EXPECT_FALSE(plain.body["items"][0].contains("because")) << plain;

  const Answer explained = Get("/v1/recommendations?user=new&explain=true");
  ASSERT_EQ(explained.status, 200) << explained;
  ASSERT_FALSE(explained.body["items"].empty()) << explained;
  EXPECT_EQ(explained.body["items"][0]["item"], "b");
  EXPECT_EQ(explained.body["items"][0]["because"], Json::array({"a"})) << explained;
}

// --- /v1/items ---

TEST_F(HttpTest, SimilarItemsOfAKnownItemAndNotFoundForAnUnknownOne) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  const Answer a = Get("/v1/items/a/similar");
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.body["item"], "a");
  const std::vector<std::string> items = ItemsOf(a);
  ASSERT_FALSE(items.empty()) << a;
  EXPECT_EQ(items[0], "b");
  for (const std::string& item : items) EXPECT_NE(item, "a");
  // Cosine with n_a = n_b = co(a, b) = 5.
  EXPECT_NEAR(a.body["items"][0]["score"].get<double>(), 1.0, 1e-5);

  const Answer unknown = Get("/v1/items/zzz/similar");
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_TRUE(Contains(ErrorMessage(unknown), "zzz")) << unknown;
  EXPECT_EQ(Get("/v1/items/a/similar?k=0").status, 400);
  EXPECT_EQ(Get("/v1/items/a/similar?k=1").body["items"].size(), 1u);
}

TEST_F(HttpTest, PutItemRejectsBadMetadataNamingTheFieldAndAcceptsGoodMetadata) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto expect_bad = [&](const std::string& body, std::string_view name) {
    const Answer a = Put("/v1/items/x", body);
    EXPECT_EQ(a.status, 400) << body << " -> " << a;
    EXPECT_EQ(ErrorCode(a), "invalid_argument") << a;
    EXPECT_TRUE(Contains(ErrorMessage(a), name)) << body << " -> " << a;
  };
  expect_bad(R"({"categories":["news",3]})", "categories[1]");
  expect_bad(R"({"properties":{"price":"cheap"}})", "price");
  expect_bad(R"({"available":"yes"})", "available");
  expect_bad(R"({"colour":"red"})", "colour");
  expect_bad(R"({"categories":)", "byte");
  // Nothing was created by the bad requests.
  EXPECT_EQ(Stats()["num_items"], 0);

  const Answer good = Put("/v1/items/x", R"({"categories":["news"],"tags":["t"],"text":"hello",)"
                                         R"("properties":{"price":9.5},"available":true})");
  ASSERT_EQ(good.status, 200) << good;
  EXPECT_EQ(good.body, Json({{"item", "x"}}));
  EXPECT_EQ(Stats()["num_items"], 1);
}

TEST_F(HttpTest, DeletedItemIsNoLongerRecommended) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  Learn(Json::array({Event("new", "a", kStartMs + 1000)}));
  ASSERT_EQ(ItemsOf(Get("/v1/recommendations?user=new")).at(0), "b");

  const Answer deleted = Delete("/v1/items/b");
  ASSERT_EQ(deleted.status, 200) << deleted;
  EXPECT_EQ(deleted.body, Json({{"item", "b"}, {"deleted", true}}));
  for (const char* query : {"/v1/recommendations?user=new", "/v1/recommendations?user=new&model=mf",
                            "/v1/recommendations?user=new&model=popularity",
                            "/v1/recommendations?user=stranger", "/v1/items/a/similar"}) {
    const Answer a = Get(query);
    ASSERT_EQ(a.status, 200) << query << " -> " << a;
    for (const std::string& item : ItemsOf(a)) EXPECT_NE(item, "b") << query;
  }

  const Answer unknown = Delete("/v1/items/never-seen");
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(ErrorCode(unknown), "not_found");
}

TEST_F(HttpTest, UnavailableItemIsKeptButNotRecommended) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  Learn(Json::array({Event("new", "a", kStartMs + 1000)}));
  ASSERT_EQ(Put("/v1/items/b", R"({"available":false})").status, 200);
  for (const std::string& item : ItemsOf(Get("/v1/recommendations?user=new"))) {
    EXPECT_NE(item, "b");
  }
  EXPECT_EQ(Stats()["num_items"], 3);
  ASSERT_EQ(Put("/v1/items/b", R"({"available":true})").status, 200);
  EXPECT_EQ(ItemsOf(Get("/v1/recommendations?user=new")).at(0), "b");
}

TEST_F(HttpTest, PercentEncodedIdsInPathsAndQueriesAreDecoded) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Learn(Json::array({Event("a b", "caf\u00e9", kStartMs), Event("o", "caf\u00e9", kStartMs + 1),
                     Event("o", "tea", kStartMs + 2)}));
  const Answer user = Get("/v1/users/a%20b");
  ASSERT_EQ(user.status, 200) << user;
  EXPECT_EQ(user.body["user"], "a b");
  EXPECT_EQ(user.body["recent"][0]["item"], "caf\u00e9");
  const Answer recs = Get("/v1/recommendations?user=a%20b");
  ASSERT_EQ(recs.status, 200) << recs;
  EXPECT_EQ(recs.body["fallback"], false);
  EXPECT_EQ(ItemsOf(recs), std::vector<std::string>{"tea"});
  const Answer similar = Get("/v1/items/caf%C3%A9/similar");
  ASSERT_EQ(similar.status, 200) << similar;
  EXPECT_EQ(similar.body["item"], "caf\u00e9");
  EXPECT_EQ(ItemsOf(similar), std::vector<std::string>{"tea"});
}

// --- /v1/users ---

TEST_F(HttpTest, UserProfileShowsRecentHistoryNewestFirstAndAttributes) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Learn(Json::array({Event("u", "x", kStartMs), Event("u", "y", kStartMs + 1000),
                     Event("u", "z", kStartMs + 2000)}));
  const Answer put = Put("/v1/users/u", R"({"attributes":{"country":"br","age":31,"vip":true}})");
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_EQ(put.body, Json({{"user", "u"}}));

  const Answer a = Get("/v1/users/u");
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.body["user"], "u");
  EXPECT_EQ(a.body["num_events"], 3);
  const Json recent = Json::array({{{"item", "z"}, {"timestamp", kStartMs + 2000}},
                                   {{"item", "y"}, {"timestamp", kStartMs + 1000}},
                                   {{"item", "x"}, {"timestamp", kStartMs}}});
  EXPECT_EQ(a.body["recent"], recent) << a;
  EXPECT_EQ(a.body["metadata"]["attributes"],
            Json({{"country", "br"}, {"age", "31"}, {"vip", "true"}}))
      << a;
  const Answer limited = Get("/v1/users/u?limit=2");
  ASSERT_EQ(limited.status, 200) << limited;
  EXPECT_EQ(limited.body["recent"].size(), 2u);
  EXPECT_EQ(limited.body["recent"][0]["item"], "z");
  EXPECT_EQ(Get("/v1/users/u?limit=0").status, 400);

  // Metadata alone makes a user known.
  ASSERT_EQ(Put("/v1/users/quiet", R"({"attributes":{"plan":"free"}})").status, 200);
  const Answer quiet = Get("/v1/users/quiet");
  ASSERT_EQ(quiet.status, 200) << quiet;
  EXPECT_EQ(quiet.body["num_events"], 0);
  EXPECT_TRUE(quiet.body["recent"].empty());

  const Answer bad = Put("/v1/users/u", R"({"attributes":{"tags":["a"]}})");
  EXPECT_EQ(bad.status, 400) << bad;
  EXPECT_TRUE(Contains(ErrorMessage(bad), "tags")) << bad;

  const Answer unknown = Get("/v1/users/nobody");
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_TRUE(Contains(ErrorMessage(unknown), "nobody")) << unknown;
}

// --- Limits and malformed requests ---

TEST_F(HttpTest, BodyOverMaxBodyBytesIsRefusedWith413AndAJsonError) {
  constexpr size_t kMaxBodyBytes = 4096;
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.max_body_bytes=4096"}));
  Json events = Json::array();
  while (events.dump().size() <= kMaxBodyBytes) {
    events.push_back(Event("u", "item-" + std::to_string(events.size()), kStartMs));
  }
  const Answer a = Post("/v1/events?wait=learned", events.dump());
  EXPECT_EQ(a.status, 413) << a;
  EXPECT_EQ(a.content_type, kJsonType);
  EXPECT_EQ(ErrorCode(a), "too_large") << a;
  EXPECT_TRUE(Contains(ErrorMessage(a), "max_body_bytes")) << a;
  EXPECT_EQ(Stats()["events_accepted"], 0);
  // A body under the limit goes through.
  events.erase(events.size() - 1);
  while (events.dump().size() > kMaxBodyBytes) events.erase(events.size() - 1);
  const Answer fits = Post("/v1/events?wait=learned", events.dump());
  EXPECT_EQ(fits.status, 200) << fits;
  EXPECT_EQ(fits.body["accepted"], events.size());
}

TEST_F(HttpTest, BatchOverMaxBatchEventsIsRefusedWith413) {
  constexpr int kMaxBatch = 5;
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.max_batch_events=5"}));
  Json events = Json::array();
  for (int i = 0; i <= kMaxBatch; ++i) events.push_back(Event("u", "a", kStartMs + i));
  const Answer a = Post("/v1/events?wait=learned", events.dump());
  EXPECT_EQ(a.status, 413) << a;
  EXPECT_EQ(ErrorCode(a), "too_large") << a;
  EXPECT_TRUE(Contains(ErrorMessage(a), std::to_string(kMaxBatch))) << a;
  EXPECT_EQ(Stats()["events_accepted"], 0);
  events.erase(events.size() - 1);
  EXPECT_EQ(Post("/v1/events?wait=learned", events.dump()).status, 200);
}

// Issue 14, case 8: a batch larger than the whole queue can never be enqueued, so retrying it
// (429) would be a lie: it is 413, and a batch that fits is accepted whole.
TEST_F(HttpTest, BatchLargerThanTheWholeQueueIs413NotRetryable) {
  constexpr int kCapacity = 3;
  ASSERT_NO_FATAL_FAILURE(StartServer({"engine.queue_capacity=3"}));
  Json events = Json::array();
  for (int i = 0; i <= kCapacity; ++i) events.push_back(Event("u", "a", kStartMs + i));
  for (const std::string& body : {events.dump(), [&] {
                                    std::string ndjson;
                                    for (const Json& e : events) ndjson += e.dump() + "\n";
                                    return ndjson;
                                  }()}) {
    const Answer a = Post("/v1/events?wait=learned", body);
    EXPECT_EQ(a.status, 413) << a;
    EXPECT_EQ(a.retry_after, "");
    EXPECT_EQ(ErrorCode(a), "too_large") << a;
    EXPECT_TRUE(Contains(ErrorMessage(a), "engine.queue_capacity=3")) << a;
  }
  EXPECT_EQ(Stats()["events_accepted"], 0);
  events.erase(events.size() - 1);
  const Answer fits = Post("/v1/events?wait=learned", events.dump());
  EXPECT_EQ(fits.status, 200) << fits;
  EXPECT_EQ(Stats()["events_applied"], kCapacity);
}

// Issue 16: under a flood the queue has some room, but not enough for a body. The 429 is decided
// from the body's Content-Length and the size of the events read lately, before the body is
// read: here its client never sends it.
TEST_F(HttpTest, ABodyTheQueueHasNoRoomForIsRefusedFromItsContentLengthUnread) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"engine.queue_capacity=100"}));
  auto ndjson = [](int first, int n) {
    std::string body;
    for (int i = first; i < first + n; ++i) {
      body += Event("u" + std::to_string(i), "a", kStartMs + i).dump() + "\n";
    }
    return body;
  };
  ASSERT_EQ(Post("/v1/events?wait=learned", ndjson(0, 10), kNdjsonType).status, 200);
  const std::string refused = ndjson(100, 50);
  std::future<Answer> fits;
  {
    const auto pause = engine_->PauseLearningForTesting();
    const Answer queued = Post("/v1/events", ndjson(10, 90), kNdjsonType);
    ASSERT_EQ(queued.status, 200) << queued;
    ASSERT_EQ(engine_->QueueRoom(), 10u);
    RawConnection raw(port_);
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.Send(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: " + std::string(kNdjsonType) +
        "\r\nContent-Length: " + std::to_string(refused.size()) + "\r\n\r\n"));
    const std::string answer = raw.ReadAnswer();
    EXPECT_EQ(StatusOf(answer), 429) << answer;
    EXPECT_TRUE(Contains(answer, "Retry-After: ")) << answer;
    EXPECT_TRUE(Contains(answer, "room for 10 events")) << answer;
    EXPECT_TRUE(raw.ClosedByServer());
    // A body that fits the room is taken; it answers once learned, after the pause.
    fits = std::async(std::launch::async, [&] {
      return Post("/v1/events?wait=learned", ndjson(100, 10), kNdjsonType);
    });
  }
  const Answer fitted = fits.get();
  EXPECT_EQ(fitted.status, 200) << fitted;
  // Learning went on (everything queued before the last body is learned): the body refused
  // unread is taken whole when it is sent again.
  const Answer retried = Post("/v1/events?wait=learned", refused, kNdjsonType);
  EXPECT_EQ(retried.status, 200) << retried;
  EXPECT_EQ(retried.body["accepted"], 50);
  EXPECT_EQ(Stats()["events_applied"], 160);
}

// A refused body must not spoil the client's connection: the server answers and closes it
// (Connection: close, the body was left unread), and the client's next request is answered.
TEST_F(HttpTest, KeepAliveConnectionSurvivesARefusedBody) {
  constexpr size_t kMaxBodyBytes = 4096;
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.max_body_bytes=4096"}));
  auto client = NewClient();
  client->set_keep_alive(true);
  Json big = Json::array();
  while (big.dump().size() <= kMaxBodyBytes) big.push_back(Event("u", "a", kStartMs));
  Answer a = Decode(client->Post("/v1/events", big.dump(), kJsonType));
  EXPECT_EQ(a.status, 413) << a;
  a = Decode(client->Post("/v1/events", "{]", kJsonType));
  EXPECT_EQ(a.status, 400) << a;
  a = Decode(client->Post("/v1/events?wait=learned",
                          Json::array({Event("u", "a", kStartMs)}).dump(), kJsonType));
  EXPECT_EQ(a.status, 200) << a;
  a = Decode(client->Get("/v1/stats"));
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.body["events_applied"], 1);
}

TEST_F(HttpTest, MalformedJsonIsABadRequest) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (const std::string& body : {std::string(R"([{"user":"u","item":"a")"), std::string("{]"),
                                  std::string("42"), std::string("")}) {
    const Answer a = Post("/v1/events", body);
    EXPECT_EQ(a.status, 400) << "body '" << body << "' -> " << a;
    EXPECT_EQ(ErrorCode(a), "invalid_argument") << a;
    EXPECT_FALSE(ErrorMessage(a).empty()) << a;
  }
  EXPECT_EQ(Stats()["events_accepted"], 0);
}

TEST_F(HttpTest, UnknownRouteIsNotFoundWithAJsonBody) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Answer a = Get("/v1/nowhere");
  EXPECT_EQ(a.status, 404) << a;
  EXPECT_EQ(a.content_type, kJsonType);
  EXPECT_EQ(ErrorCode(a), "not_found") << a;
  EXPECT_TRUE(Contains(ErrorMessage(a), "/v1/nowhere")) << a;
}

// Issue 14, case 8: a known path with another method is 405 with the methods it allows.
TEST_F(HttpTest, WrongMethodOnAKnownPathIs405WithAllow) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const httplib::Result del = NewClient()->Delete("/v1/stats");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  EXPECT_EQ(del->get_header_value("Allow"), "GET, OPTIONS");
  EXPECT_EQ(ErrorCode(Decode(del)), "method_not_allowed") << del->body;
  const httplib::Result item = NewClient()->Post("/v1/items/x", "{}", kJsonType);
  ASSERT_TRUE(item);
  EXPECT_EQ(item->status, 405);
  EXPECT_EQ(item->get_header_value("Allow"), "PUT, GET, DELETE, OPTIONS");
  EXPECT_EQ(Get("/v1/events").status, 405);
  EXPECT_EQ(Post("/v1/recommendations?user=u", "{}").status, 405);
}

// --- Health, stats, metrics ---

TEST_F(HttpTest, HealthAndReadinessAnswer200) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Answer health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, Json({{"status", "ok"}}));
  const Answer ready = Get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, Json({{"status", "ready"}}));
}

TEST_F(HttpTest, StatsListEveryFieldWithTheLiveModels) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"engine.queue_capacity=1000"}));
  LearnCoViews();
  const Json stats = Stats();
  for (const char* field :
       {"events_accepted", "events_applied", "events_duplicate", "events_rejected", "num_users",
        "num_items", "queue_depth", "queue_capacity", "last_durable_seq", "last_applied_seq",
        "snapshot_seq", "metrics_k", "default_model", "models"}) {
    EXPECT_TRUE(stats.contains(field)) << field << " in " << stats;
  }
  constexpr int kEvents = 2 * kCoViewers + 1;
  EXPECT_EQ(stats["events_applied"], kEvents);
  EXPECT_EQ(stats["last_applied_seq"], kEvents);
  EXPECT_EQ(stats["last_durable_seq"], kEvents);
  EXPECT_EQ(stats["queue_depth"], 0);
  EXPECT_EQ(stats["queue_capacity"], 1000);
  EXPECT_EQ(stats["num_users"], kCoViewers + 1);
  EXPECT_EQ(stats["num_items"], 3);
  EXPECT_EQ(stats["metrics_k"], 10);
  EXPECT_EQ(stats["default_model"], "ensemble");
  std::set<std::string> names;
  for (const Json& m : stats["models"]) {
    names.insert(m["name"].get<std::string>());
    for (const char* field : {"type", "evaluated", "recall", "ndcg", "memory_bytes"}) {
      EXPECT_TRUE(m.contains(field)) << field << " in " << m;
    }
    // metrics.sample_rate = 1: every event was ranked before it was learned.
    EXPECT_EQ(m["evaluated"], kEvents) << m;
  }
  EXPECT_EQ(names, (std::set<std::string>{"ensemble"}));
}

// engine.item_idle_ttl: items no event named for an hour of stream time are forgotten; stats
// and metrics count them, no answer names them, and their ids go to new items.
TEST_F(HttpTest, IdleItemsAreForgottenCountedAndNeverServed) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"engine.item_idle_ttl=1h"}));
  constexpr int64_t kHourMs = 3600 * 1000;
  Learn(Json::array({Event("u1", "old1", kStartMs), Event("u2", "old2", kStartMs + 1000),
                     Event("u3", "old1", kStartMs + 2000)}));
  EXPECT_EQ(Stats()["items_forgotten"], 0);
  Learn(Json::array({Event("u4", "fresh", kStartMs + 2 * kHourMs)}));
  Json stats = Stats();
  EXPECT_EQ(stats["items_forgotten"], 2) << stats;
  EXPECT_EQ(stats["num_items"], 1) << stats;
  const Answer metrics = Get("/metrics");
  EXPECT_TRUE(Contains(metrics.text, "\nliverec_items_forgotten_total 2\n")) << metrics.text;
  EXPECT_EQ(ItemsOf(Get("/v1/recommendations?user=nobody&model=popularity")),
            std::vector<std::string>{"fresh"});
  const Answer u1 = Get("/v1/users/u1");
  ASSERT_EQ(u1.status, 200) << u1;
  EXPECT_TRUE(u1.body["recent"].empty()) << u1;  // its only item is gone

  // A new item takes a freed id, as a new item.
  Learn(Json::array({Event("u5", "newer", kStartMs + 2 * kHourMs + 1000)}));
  const std::vector<std::string> served =
      ItemsOf(Get("/v1/recommendations?user=nobody&model=popularity"));
  EXPECT_EQ(std::set<std::string>(served.begin(), served.end()),
            (std::set<std::string>{"fresh", "newer"}));
  stats = Stats();
  EXPECT_EQ(stats["num_items"], 2) << stats;
}

TEST_F(HttpTest, AnEnsembleShowsItsMembersInStatsAndMetricsAndExplainsByMember) {
  ASSERT_NO_FATAL_FAILURE(StartServer());  // the ensemble is the default
  LearnCoViews();
  Learn(Json::array({Event("new", "a", kStartMs + 1000)}));
  // The ensemble answers; its members answer by name, item_knn with its cosine.
  const Answer fused = Get("/v1/recommendations?user=new&explain=true");
  ASSERT_EQ(fused.status, 200) << fused;
  EXPECT_EQ(fused.body["model"], "ensemble");
  ASSERT_EQ(fused.body["items"].size(), 2u) << fused;
  for (const Json& item : fused.body["items"]) {
    ASSERT_TRUE(item.contains("models")) << item;
    double sum = 0;
    std::set<std::string> members;
    for (const Json& term : item["models"]) {
      members.insert(term["model"].get<std::string>());
      sum += term["contribution"].get<double>();
    }
    EXPECT_EQ(members, (std::set<std::string>{"popularity", "pop_15m", "pop_1h", "pop_1d",
                                              "item_knn", "transitions", "trans_15m", "trans_1h",
                                              "trans_1d", "mf", "fm"}))
        << item;
    EXPECT_NEAR(sum, item["score"].get<double>(), 1e-4) << item;
  }
  const Answer knn = Get("/v1/recommendations?user=new&model=item_knn");
  ASSERT_EQ(knn.status, 200) << knn;
  EXPECT_EQ(knn.body["model"], "item_knn");
  EXPECT_EQ(ItemsOf(knn)[0], "b");
  EXPECT_NEAR(knn.body["items"][0]["score"].get<double>(), kCoViewers / std::sqrt(6.0 * 5.0), 1e-5);

  // Stats: one live model, its members with a weight and a mean reward per user segment (two
  // by default: fewer than 5 items, 5 or more); each segment's weights sum to 1.
  const Json stats = Stats();
  EXPECT_EQ(stats["default_model"], "ensemble");
  ASSERT_EQ(stats["models"].size(), 1u) << stats;
  const Json& ensemble = stats["models"][0];
  EXPECT_EQ(ensemble["evaluated"], 2 * kCoViewers + 2) << ensemble;
  EXPECT_TRUE(ensemble.contains("judged")) << ensemble;
  std::set<std::string> member_names;
  std::vector<double> weight_sums(2, 0.0);
  for (const Json& member : ensemble["members"]) {
    member_names.insert(member["name"].get<std::string>());
    ASSERT_EQ(member["weights"].size(), 2u) << member;
    ASSERT_EQ(member["mean_rewards"].size(), 2u) << member;
    for (size_t s = 0; s < 2; ++s) weight_sums[s] += member["weights"][s].get<double>();
  }
  EXPECT_EQ(member_names, (std::set<std::string>{"popularity", "pop_15m", "pop_1h", "pop_1d",
                                                 "item_knn", "transitions", "trans_15m", "trans_1h",
                                                 "trans_1d", "mf", "fm"}));
  EXPECT_NEAR(weight_sums[0], 1, 1e-6);
  EXPECT_NEAR(weight_sums[1], 1, 1e-6);

  const Answer metrics = Get("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics;
  EXPECT_TRUE(Contains(metrics.text, R"(liverec_model_recall{model="ensemble",k="10"})"))
      << metrics.text;
  EXPECT_TRUE(
      Contains(metrics.text,
               R"(liverec_ensemble_member_weight{model="ensemble",member="item_knn",segment="0"})"))
      << metrics.text;
}

TEST_F(HttpTest, MetricsArePrometheusTextThatPromtoolAccepts) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  const Answer a = Get("/metrics");
  ASSERT_EQ(a.status, 200) << a;
  EXPECT_EQ(a.content_type.rfind("text/plain", 0), 0u) << a.content_type;
  EXPECT_TRUE(Contains(
      a.text, "\nliverec_events_applied_total " + std::to_string(2 * kCoViewers + 1) + "\n"))
      << a.text;
  EXPECT_TRUE(Contains(a.text, R"(liverec_model_recall{model="ensemble",k="10"})")) << a.text;
  EXPECT_TRUE(Contains(a.text, R"(liverec_http_requests_total{route="events",code="2xx"})"))
      << a.text;

  if (!OnPath("promtool")) GTEST_SKIP() << "promtool is not on PATH";
  FILE* promtool = ::popen("promtool check metrics", "w");
  ASSERT_NE(promtool, nullptr);
  ASSERT_EQ(std::fwrite(a.text.data(), 1, a.text.size(), promtool), a.text.size());
  const int status = ::pclose(promtool);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << a.text;
}

// --- Admin: snapshots and rollback ---

TEST_F(HttpTest, RollbackRestoresTheStateOfASnapshot) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  constexpr int kAtSnapshot = 2 * kCoViewers + 1;
  // httplib sends an empty POST body with Content-Length: 0.
  const Answer snapshot = Post("/v1/admin/snapshot", "");
  ASSERT_EQ(snapshot.status, 200) << snapshot;
  const uint64_t seq = snapshot.body["seq"].get<uint64_t>();
  EXPECT_EQ(seq, static_cast<uint64_t>(kAtSnapshot));
  EXPECT_GT(snapshot.body["size_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(snapshot.body["created_unix_ms"].get<int64_t>(), 0);

  const Answer list = Get("/v1/admin/snapshots");
  ASSERT_EQ(list.status, 200) << list;
  bool listed = false;
  for (const Json& s : list.body["snapshots"]) listed = listed || s["seq"] == seq;
  EXPECT_TRUE(listed) << list;
  EXPECT_EQ(Stats()["snapshot_seq"], seq);

  constexpr int kMore = 3;
  Json more = Json::array();
  for (int i = 0; i < kMore; ++i) more.push_back(Event("late", "d", kStartMs + 5000 + i));
  Learn(more);
  EXPECT_EQ(Stats()["events_applied"], kAtSnapshot + kMore);

  const Answer rollback = Post("/v1/admin/rollback", Json({{"seq", seq}}).dump());
  ASSERT_EQ(rollback.status, 200) << rollback;
  EXPECT_EQ(rollback.body, Json({{"rolled_back_to", seq}}));
  const Json stats = Stats();
  EXPECT_EQ(stats["events_applied"], kAtSnapshot);
  EXPECT_EQ(stats["num_items"], 3);  // d was learned after the snapshot
  EXPECT_EQ(Get("/v1/users/late").status, 404);
}

TEST_F(HttpTest, RollbackToAnUnknownSnapshotIsNotFoundAndABadBodyABadRequest) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  LearnCoViews();
  ASSERT_EQ(Post("/v1/admin/snapshot", "").status, 200);
  const Answer unknown = Post("/v1/admin/rollback", R"({"seq":999})");
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_TRUE(Contains(ErrorMessage(unknown), "999")) << unknown;
  for (const std::string& body : {std::string(R"({"seq":"x"})"), std::string(R"({"seq":-1})"),
                                  std::string("{}"), std::string(R"({"seq":)")}) {
    const Answer bad = Post("/v1/admin/rollback", body);
    EXPECT_EQ(bad.status, 400) << body << " -> " << bad;
    EXPECT_EQ(ErrorCode(bad), "invalid_argument") << bad;
  }
  EXPECT_TRUE(Contains(ErrorMessage(Post("/v1/admin/rollback", "{}")), "seq"));
  EXPECT_EQ(Stats()["events_applied"], 2 * kCoViewers + 1);
}

// --- Concurrency ---

TEST_F(HttpTest, ConcurrentIngestAndRecommendationsAllSucceedAndEveryEventIsLearned) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kWriters = 4;
  constexpr int kReaders = 2;
  constexpr int kBatchesPerWriter = 20;
  constexpr int kEventsPerBatch = 25;
  constexpr int kRequestsPerReader = 60;
  constexpr int kUsers = 30;
  constexpr int kItems = 40;

  // Each thread records every status it got; checked after the joins.
  std::vector<std::vector<int>> statuses(kWriters + kReaders);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto client = NewClient();
      for (int b = 0; b < kBatchesPerWriter; ++b) {
        Json batch = Json::array();
        for (int e = 0; e < kEventsPerBatch; ++e) {
          const int n = (w * kBatchesPerWriter + b) * kEventsPerBatch + e;
          batch.push_back(Event("u" + std::to_string(n % kUsers),
                                "i" + std::to_string((n * 7) % kItems), kStartMs + n,
                                "w" + std::to_string(w) + "-" + std::to_string(n)));
        }
        httplib::Result r = client->Post("/v1/events?wait=durable", batch.dump(), kJsonType);
        statuses[w].push_back(r ? r->status : 0);
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      auto client = NewClient();
      for (int i = 0; i < kRequestsPerReader; ++i) {
        const std::string user = "u" + std::to_string((r * kRequestsPerReader + i) % kUsers);
        httplib::Result res = client->Get("/v1/recommendations?user=" + user + "&k=5");
        statuses[kWriters + r].push_back(res ? res->status : 0);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  for (size_t t = 0; t < statuses.size(); ++t) {
    const size_t expected =
        t < static_cast<size_t>(kWriters) ? kBatchesPerWriter : kRequestsPerReader;
    ASSERT_EQ(statuses[t].size(), expected) << "thread " << t;
    for (size_t i = 0; i < statuses[t].size(); ++i) {
      EXPECT_EQ(statuses[t][i], 200) << "thread " << t << " request " << i;
    }
  }
  // The log applies in order: once this last event is learned, so is everything before it.
  Learn(Json::array({Event("last", "i0", kStartMs - 1, "last")}));
  constexpr int kSent = kWriters * kBatchesPerWriter * kEventsPerBatch + 1;
  const Json stats = Stats();
  EXPECT_EQ(stats["events_applied"], kSent);
  EXPECT_EQ(stats["events_accepted"], kSent);
  EXPECT_EQ(stats["events_duplicate"], 0);
  EXPECT_EQ(stats["queue_depth"], 0);
}

// --- Feedback and experiments ---

TEST_F(HttpTest, ExperimentAssignsArmsAndCountsTheClicksOnItsDecisions) {
  StartServer({"engine.models=popularity,item_knn", "engine.default_model=item_knn",
               "feedback.join_window=1min"});
  LearnCoViews();
  const std::string spec =
      R"({"arms": [{"name": "control", "model": "item_knn", "share": 0.5},
                   {"name": "pop", "model": "popularity", "share": 0.5,
                    "explore": "epsilon:0.5"}]})";
  const Answer put = Put("/v1/experiments/e1", spec);
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_EQ(put.body["state"], "running");
  EXPECT_EQ(put.body["arms"][1]["name"], "pop");
  EXPECT_EQ(put.body["winner"], nullptr);

  // Bad bodies name the field.
  auto expect_bad = [&](const std::string& body, std::string_view field) {
    const Answer a = Put("/v1/experiments/e2", body);
    EXPECT_EQ(a.status, 400) << body << " -> " << a;
    EXPECT_EQ(a.body["error"]["message"].get<std::string>().rfind(field, 0), 0u) << a;
  };
  expect_bad(R"({})", "arms: missing");
  expect_bad(R"({"arms": [{"name": "a", "model": "item_knn", "share": "half"}]})",
             "arms[0].share: expected a number");
  expect_bad(R"({"arms": [{"name": "a", "model": "knn2", "share": 1}]})",
             "arms[0].model: no live model 'knn2'");
  expect_bad(R"({"arms": [{"name": "a", "model": "item_knn", "share": 0.5}]})",
             "arms: shares sum to 0.5");
  expect_bad(R"({"arms": [{"name": "a", "model": "item_knn", "share": 1}], "colour": 1})",
             "colour: unknown field");
  EXPECT_EQ(Get("/v1/experiments/e2").status, 404);

  // Every user's list comes from its arm; click the first item of each.
  std::map<std::string, int> arms;
  for (int u = 0; u < kCoViewers; ++u) {
    const std::string user = "o" + std::to_string(u);
    const Answer recs = Get("/v1/recommendations?user=" + user + "&k=3");
    ASSERT_EQ(recs.status, 200) << recs;
    EXPECT_EQ(recs.body["experiment"], "e1");
    const std::string arm = recs.body["arm"];
    ++arms[arm];
    EXPECT_EQ(recs.body["model"], arm == "control" ? "item_knn" : "popularity");
    EXPECT_EQ(recs.body.value("explore", "none"), arm == "pop" ? "epsilon:0.5" : "none");
    ASSERT_FALSE(recs.body["items"].empty()) << recs;
    Json click = {{"user", user},
                  {"item", recs.body["items"][0]["item"]},
                  {"recommendation_id", recs.body["recommendation_id"]}};
    Learn(Json::array({click}));
  }
  // An event a minute and a half later (stream time) closes every decision's window.
  const int64_t later = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() +
                        90'000;
  Learn(Json::array({Event("tick", "c", later)}));
  const Answer report = Get("/v1/experiments/e1");
  ASSERT_EQ(report.status, 200) << report;
  uint64_t decisions = 0, clicks = 0, impressions = 0, users = 0;
  for (const Json& arm : report.body["arms"]) {
    decisions += arm["decisions"].get<uint64_t>();
    clicks += arm["clicks"].get<uint64_t>();
    impressions += arm["impressions"].get<uint64_t>();
    users += arm["users"].get<uint64_t>();
    EXPECT_EQ(arm["ctr_interval"].size(), 2u);
  }
  EXPECT_EQ(decisions, static_cast<uint64_t>(kCoViewers));
  EXPECT_EQ(users, static_cast<uint64_t>(kCoViewers));
  EXPECT_EQ(clicks, static_cast<uint64_t>(kCoViewers));
  EXPECT_GE(impressions, clicks);
  const Json stats = Stats();
  EXPECT_EQ(stats["feedback"]["decisions"], kCoViewers);
  EXPECT_EQ(stats["feedback"]["joined"], kCoViewers);
  EXPECT_EQ(stats["feedback"]["open_decisions"], 0);
  const Answer metrics = Get("/metrics");
  EXPECT_NE(metrics.text.find("liverec_decisions_total " + std::to_string(kCoViewers)),
            std::string::npos);
  EXPECT_NE(metrics.text.find("liverec_feedback_delay_seconds_bucket{le=\"+Inf\"} " +
                              std::to_string(kCoViewers)),
            std::string::npos)
      << metrics.text;

  const Answer list = Get("/v1/experiments");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["experiments"].size(), 1u);
  const Answer stopped = Delete("/v1/experiments/e1");
  ASSERT_EQ(stopped.status, 200) << stopped;
  EXPECT_EQ(stopped.body["state"], "stopped");
  EXPECT_EQ(Delete("/v1/experiments/e1").status, 404);
  const Answer after = Get("/v1/recommendations?user=o1&k=3");
  EXPECT_FALSE(after.body.contains("experiment")) << after;
  EXPECT_EQ(Get("/v1/recommendations?user=o1&explore=epsilon:7").status, 400);
}

// An interleave experiment: one list from both arms, each item marked with its team; a click
// is a vote for the team that placed the item.
TEST_F(HttpTest, InterleaveMergesBothArmsAndCountsTheVotes) {
  StartServer({"engine.models=popularity,item_knn", "engine.default_model=item_knn",
               "feedback.join_window=1min"});
  LearnCoViews();
  const Answer three = Put("/v1/experiments/il",
                           R"({"type": "interleave", "arms": [{"name": "a", "model": "item_knn"},
                               {"name": "b", "model": "popularity"},
                               {"name": "c", "model": "popularity"}]})");
  EXPECT_EQ(three.status, 400) << three;
  EXPECT_EQ(three.body["error"]["message"].get<std::string>().rfind("arms: an interleave", 0), 0u);
  const Answer no_share =
      Put("/v1/experiments/ab", R"({"arms": [{"name": "a", "model": "item_knn"}]})");
  EXPECT_EQ(no_share.status, 400);
  EXPECT_EQ(no_share.body["error"]["message"], "arms[0].share: missing") << no_share;
  const Answer put = Put("/v1/experiments/il",
                         R"({"type": "interleave", "arms": [{"name": "knn", "model": "item_knn"},
                             {"name": "pop", "model": "popularity"}]})");
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_EQ(put.body["type"], "interleave");
  EXPECT_EQ(put.body["interleave"]["preference"], 0.5);

  int knn_votes = 0;
  for (int u = 0; u < kCoViewers; ++u) {
    const std::string user = "o" + std::to_string(u);
    const Answer recs = Get("/v1/recommendations?user=" + user + "&k=4");
    ASSERT_EQ(recs.status, 200) << recs;
    EXPECT_EQ(recs.body["explore"], "team_draft");
    std::map<std::string, int> teams;
    for (const Json& item : recs.body["items"]) ++teams[item.value("team", "")];
    EXPECT_EQ(teams.count(""), 0u) << recs;
    const Json& first = recs.body["items"][0];
    knn_votes += first["team"] == "knn";
    Learn(Json::array({{{"user", user},
                        {"item", first["item"]},
                        {"recommendation_id", recs.body["recommendation_id"]}}}));
  }
  const int64_t later = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() +
                        90'000;
  Learn(Json::array({Event("tick", "c", later)}));
  const Answer report = Get("/v1/experiments/il");
  ASSERT_EQ(report.status, 200) << report;
  EXPECT_EQ(report.body["interleave"]["wins"]["knn"], knn_votes) << report;
  EXPECT_EQ(report.body["interleave"]["wins"]["pop"], kCoViewers - knn_votes) << report;
  EXPECT_EQ(report.body["interleave"]["preference_interval"].size(), 2u);
}

// --- Hostile clients (issue 14): what one client sends cannot take the server's memory, its
// threads, or other users' data ---

// Case 1: a gzip body is limited by its inflated size; the server stops inflating at the limit.
TEST_F(HttpTest, GzipBodyIsLimitedByItsInflatedSize) {
  constexpr size_t kMaxBodyBytes = 65536;
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.max_body_bytes=65536"}));
  // 64 MiB of blanks inside an array compress to about 64 KiB... far less at this ratio.
  const std::string bomb = Gzip("[" + std::string(size_t{64} << 20, ' ') + "]");
  ASSERT_LT(bomb.size(), kMaxBodyBytes);
  httplib::Headers gzip = {{"Content-Encoding", "gzip"}};
  const Answer a = Decode(NewClient()->Post("/v1/events", gzip, bomb, kJsonType));
  EXPECT_EQ(a.status, 413) << a;
  EXPECT_EQ(ErrorCode(a), "too_large") << a;
  EXPECT_TRUE(Contains(ErrorMessage(a), "after decompression")) << a;
  // A gzip body under the limit once inflated is read as usual.
  const std::string events = Json::array({Event("u", "a", kStartMs)}).dump();
  const Answer ok =
      Decode(NewClient()->Post("/v1/events?wait=learned", gzip, Gzip(events), kJsonType));
  EXPECT_EQ(ok.status, 200) << ok;
  EXPECT_EQ(ok.body["accepted"], 1);
}

// Case 2: a body refused for its declared size is never read: the answer comes before the
// client sent it, and the connection is closed rather than drained.
TEST_F(HttpTest, DeclaredOversizedBodyIsRefusedBeforeItIsRead) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RawConnection raw(port_);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(
      raw.Send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: 2000000000\r\n\r\n[{\"user\":\"u\",\"item\":\"a\"}"));
  const std::string answer = raw.ReadAnswer();
  EXPECT_EQ(StatusOf(answer), 413) << answer;
  EXPECT_TRUE(Contains(answer, "Connection: close")) << answer;
  EXPECT_TRUE(Contains(answer, "serve.max_body_bytes")) << answer;
  EXPECT_TRUE(raw.ClosedByServer());
  // A client that asks first (Expect: 100-continue) gets the refusal instead of "100 Continue".
  RawConnection asking(port_);
  ASSERT_TRUE(
      asking.Send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  "\r\nContent-Length: 2000000000\r\nExpect: 100-continue\r\n\r\n"));
  const std::string refusal = asking.ReadAnswer();
  EXPECT_EQ(StatusOf(refusal), 413) << refusal;
  // Chunked bodies have no declared size: they are counted as they come, and the answer comes
  // once they pass the limit, while the client is still sending.
  RawConnection chunked(port_);
  ASSERT_TRUE(chunked.connected());
  ASSERT_TRUE(
      chunked.Send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                   "\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk(size_t{1} << 16, ' ');
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk.size());
  // At most twice the 64 MiB limit (the bound of a broken server, not a wait).
  constexpr int kMaxChunks = 2048;
  for (int i = 0; i < kMaxChunks && !chunked.Readable(); ++i) {
    if (!chunked.Send(std::string(size_line) + chunk + "\r\n")) break;
  }
  const std::string answer2 = chunked.ReadAnswer();
  EXPECT_EQ(StatusOf(answer2), 413) << answer2;
  EXPECT_EQ(Stats()["events_accepted"], 0);
}

// Case 3: a deadline for the whole request, not per read: a client trickling its headers is
// answered 408 at serve.request_timeout although each byte comes well within serve.timeout.
TEST_F(HttpTest, TrickledRequestIsCutOffAtTheRequestDeadline) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.request_timeout=500ms", "serve.timeout=60s"}));
  RawConnection raw(port_);
  ASSERT_TRUE(raw.connected());
  std::atomic<bool> done{false};
  // The attacker's pace (a byte every 50 ms), not a synchronization: it stops when the server
  // closes the connection or the main thread has its answer.
  std::thread trickle([&] {
    const std::string request =
        "GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(1000, 'a') + "\r\n\r\n";
    for (char c : request) {
      if (done.load() || !raw.Send(std::string_view(&c, 1))) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const auto start = std::chrono::steady_clock::now();
  const std::string answer = raw.ReadAnswer();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  trickle.join();
  EXPECT_EQ(StatusOf(answer), 408) << answer;
  EXPECT_TRUE(Contains(answer, "\"timeout\"")) << answer;
  EXPECT_LT(seconds, 30) << "the request was not cut off by its deadline";
}

// Case 3: slow connections hold only their own threads: with 2 threads started and 64
// connections stuck in their headers, another client is still answered.
TEST_F(HttpTest, SlowConnectionsDoNotStarveOtherClients) {
  constexpr int kSlow = 64;
  ASSERT_NO_FATAL_FAILURE(StartServer(
      {"serve.threads=2", "serve.request_timeout=60s", "serve.max_connections_per_client=100"}));
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawConnection>(port_));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000"));
  }
  const auto start = std::chrono::steady_clock::now();
  const Answer a = Get("/v1/stats");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(a.status, 200) << a;
  EXPECT_LT(seconds, 10);
}

// Case 3: connections per client are bounded; one over the bound is answered 503 at once.
TEST_F(HttpTest, ConnectionsOverThePerClientLimitAreRefused) {
  constexpr int kLimit = 4;
  // Not StartServer: its readiness request's connection could still count when the test's
  // first ones arrive. The first connection below waits in the backlog until Run accepts it.
  ASSERT_NO_FATAL_FAILURE(OpenServer({"serve.max_connections_per_client=4"}));
  RunServerThread();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < kLimit; ++i) {
    held.push_back(std::make_unique<RawConnection>(port_));
    // Answered: the connection is admitted, and stays open (keep-alive).
    ASSERT_TRUE(held.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(StatusOf(held.back()->ReadAnswer()), 200);
  }
  RawConnection extra(port_);
  ASSERT_TRUE(extra.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = extra.ReadAnswer();
  EXPECT_EQ(StatusOf(answer), 503) << answer;
  EXPECT_TRUE(Contains(answer, "serve.max_connections_per_client=4")) << answer;
  ASSERT_TRUE(held[0]->Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string metrics = held[0]->ReadAnswer();
  EXPECT_TRUE(Contains(metrics, "liverec_http_connections_refused_total 1")) << metrics;
  EXPECT_TRUE(Contains(metrics, "liverec_http_connections 4")) << metrics;
}

// Case 3: connections are bounded in total too, whoever opens them.
TEST_F(HttpTest, ConnectionsOverTheTotalLimitAreRefused) {
  constexpr int kLimit = 3;
  ASSERT_NO_FATAL_FAILURE(
      OpenServer({"serve.max_connections=3", "serve.max_connections_per_client=100"}));
  RunServerThread();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < kLimit; ++i) {
    held.push_back(std::make_unique<RawConnection>(port_));
    ASSERT_TRUE(held.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(StatusOf(held.back()->ReadAnswer()), 200);
  }
  RawConnection extra(port_);
  ASSERT_TRUE(extra.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = extra.ReadAnswer();
  EXPECT_EQ(StatusOf(answer), 503) << answer;
  EXPECT_TRUE(Contains(answer, "serve.max_connections=3")) << answer;
  EXPECT_TRUE(Contains(answer, "Retry-After: 1")) << answer;
}

// Case 4: an event beyond the server's clock plus engine.max_future is rejected naming its
// field; the users and counts learned before it are untouched. With the clamp knob, it is
// stamped with the server's clock.
TEST_F(HttpTest, FarFutureTimestampIsRejectedAndCannotWipeTheState) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"engine.user_idle_ttl=1h", "popularity.half_life=1h"}));
  const int64_t now = NowMs();
  Learn(Json::array({Event("u1", "a", now), Event("u2", "b", now + 1)}));
  const Answer a =
      Post("/v1/events?wait=learned", Json::array({Event("evil", "c", 9007199254740991)}).dump());
  EXPECT_EQ(a.status, 400) << a;
  ASSERT_EQ(a.body["rejected"].size(), 1u) << a;
  EXPECT_EQ(a.body["rejected"][0]["field"], "timestamp");
  EXPECT_TRUE(Contains(a.body["rejected"][0]["reason"].get<std::string>(), "engine.max_future"))
      << a;
  EXPECT_EQ(Get("/v1/users/u1").status, 200);
  const Answer recs = Get("/v1/recommendations?user=nobody&model=popularity");
  ASSERT_EQ(recs.status, 200) << recs;
  for (const Json& item : recs.body["items"]) EXPECT_GT(item["score"].get<double>(), 0.5) << recs;
}

TEST_F(HttpTest, FarFutureTimestampIsClampedToTheServerClockWhenAsked) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"engine.future_events=clamp"}));
  const int64_t before = NowMs();
  Learn(Json::array({Event("u", "a", 9007199254740991)}));
  const int64_t stamped = Get("/v1/users/u").body["recent"][0]["timestamp"].get<int64_t>();
  EXPECT_GE(stamped, before);
  EXPECT_LE(stamped, NowMs());
}

// Case 5: a write from a browser origin that is not listed is refused, whatever its type; a
// write must be JSON or NDJSON (a form cannot pass as one); listed origins get CORS answers.
TEST_F(HttpTest, CrossOriginAndNonJsonWritesAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"serve.cors_origins=https://app.example"}));
  Learn(Json::array({Event("u", "a", kStartMs)}));
  const Answer snapshot = Post("/v1/admin/snapshot", "", kJsonType);
  ASSERT_EQ(snapshot.status, 200) << snapshot;
  const std::string rollback = R"({"seq":)" + std::to_string(snapshot.body["seq"].get<int>()) + "}";

  httplib::Headers evil = {{"Origin", "http://evil.example"}};
  Answer a = Decode(NewClient()->Post("/v1/admin/rollback", evil, rollback, "text/plain"));
  EXPECT_EQ(a.status, 403) << a;
  EXPECT_EQ(ErrorCode(a), "forbidden") << a;
  EXPECT_TRUE(Contains(ErrorMessage(a), "serve.cors_origins")) << a;
  a = Decode(NewClient()->Post("/v1/admin/rollback", evil, rollback, kJsonType));
  EXPECT_EQ(a.status, 403) << a;

  a = Post("/v1/admin/rollback", rollback, "text/plain");
  EXPECT_EQ(a.status, 415) << a;
  EXPECT_EQ(ErrorCode(a), "unsupported_media_type") << a;
  EXPECT_TRUE(Contains(ErrorMessage(a), "Content-Type")) << a;
  // Case 8: a form body over 8 KB (curl -d) is 415, not a misleading 413.
  a = Post("/v1/events", "x=" + std::string(9000, 'y'), "application/x-www-form-urlencoded");
  EXPECT_EQ(a.status, 415) << a;

  httplib::Headers preflight = {{"Origin", "https://app.example"},
                                {"Access-Control-Request-Method", "POST"}};
  httplib::Result p = NewClient()->Options("/v1/events", preflight);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 204);
  EXPECT_EQ(p->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_TRUE(Contains(p->get_header_value("Access-Control-Allow-Methods"), "POST"));
  httplib::Headers listed = {{"Origin", "https://app.example"}};
  httplib::Result w = NewClient()->Post("/v1/admin/rollback", listed, rollback, kJsonType);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status, 200) << w->body;
  EXPECT_EQ(w->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(NewClient()->Options("/v1/events", evil)->status, 403);
  // Nothing the refused requests asked for happened: the state is that of the snapshot taken
  // before them, which the listed origin's rollback restored.
  EXPECT_EQ(Stats()["events_applied"], 1);
}

// Case 7: routing on the raw path: an id holding '/' (sent as %2F) addresses that id.
TEST_F(HttpTest, IdsWithSlashesAreAddressable) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Learn(Json::array({Event("x/y", "a/b", kStartMs), Event("x/y", "c", kStartMs + 1),
                     Event("o", "a/b", kStartMs + 2), Event("o", "c", kStartMs + 3)}));
  const Answer user = Get("/v1/users/x%2Fy");
  ASSERT_EQ(user.status, 200) << user;
  EXPECT_EQ(user.body["user"], "x/y");
  const Answer similar = Get("/v1/items/a%2Fb/similar");
  ASSERT_EQ(similar.status, 200) << similar;
  EXPECT_EQ(similar.body["item"], "a/b");
  EXPECT_EQ(Put("/v1/items/a%2Fb", R"({"categories":["k"]})").status, 200);
  const Answer del = Delete("/v1/items/a%2Fb");
  ASSERT_EQ(del.status, 200) << del;
  EXPECT_EQ(del.body["item"], "a/b");
  EXPECT_EQ(Get("/v1/items/a%2").status, 400);
}

// Case 8: no undocumented error codes: a malformed request gets invalid_argument, a request
// with oversized headers too_large.
TEST_F(HttpTest, MalformedRequestsGetDocumentedErrorCodes) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RawConnection raw(port_);
  ASSERT_TRUE(raw.Send("NOT-HTTP\r\n\r\n"));
  std::string answer = raw.ReadAnswer();
  EXPECT_EQ(StatusOf(answer), 400) << answer;
  EXPECT_TRUE(Contains(answer, "\"invalid_argument\"")) << answer;
  RawConnection big(port_);
  std::string headers = "GET /v1/stats HTTP/1.1\r\n";
  for (int i = 0; i < 200; ++i)
    headers += "X-" + std::to_string(i) + ": " + std::string(1000, 'a') + "\r\n";
  big.Send(headers + "\r\n");
  answer = big.ReadAnswer();
  EXPECT_EQ(StatusOf(answer), 431) << answer;
  EXPECT_TRUE(Contains(answer, "\"too_large\"")) << answer;
  EXPECT_FALSE(Contains(Get("/v1/stats").text, "http_error"));
}

// Case 8: events_accepted counts every acknowledged event, across a restart.
TEST_F(HttpTest, EventsAcceptedSurvivesARestart) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Learn(Json::array({Event("u", "a", kStartMs), Event("u", "b", kStartMs + 1)}));
  Learn(Json::array({Event("u", "a", kStartMs + 2, "id1"), Event("u", "b", kStartMs + 3, "id1")}));
  EXPECT_EQ(Stats()["events_accepted"], 4);
  server_->Stop();
  thread_.join();
  server_.reset();
  engine_.reset();
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(Stats()["events_accepted"], 4);
}

// --- Lifecycle ---

// httplib's Server::stop() acts only while its accept loop runs; HttpServer remembers a Stop()
// that comes between Bind() and Run() (a SIGTERM right after the port is printed), and Run()
// then returns at once: the request below finds no server.
TEST_F(HttpTest, StopBeforeRunMakesRunReturnWithoutServing) {
  ASSERT_NO_FATAL_FAILURE(OpenServer());
  server_->Stop();
  RunServerThread();
  // Run returns by itself (no second Stop), and the listening socket is closed with it.
  thread_.join();
  const Answer a = Get("/healthz");
  EXPECT_EQ(a.status, 0) << "the server answered after Run returned: " << a;
}

}  // namespace
}  // namespace liverec
