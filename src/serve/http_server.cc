// cpp-httplib lives in this one file: its header pulls in <resolv.h>, whose macros clash with
// other headers, and its compiled default leaves Nagle's algorithm on (set_tcp_nodelay below).
//
// What a request may cost is decided here, before it is paid. cpp-httplib parses HTTP, but its
// own connection loop times out per read (a client trickling a byte a second holds a worker
// forever), serves every connection from one fixed pool (64 slow clients starve everyone), reads
// a refused body in full, counts the body limit before inflating gzip, and routes on the decoded
// path. So GuardedServer replaces its connection loop (process_and_close_socket) with one that
// reads through a DeadlineStream (one deadline per request for headers and body, a cap on header
// bytes) and counts connections per client and in total; ConnectionThreads gives each accepted
// connection a thread of its own up to the total, so the accept loop is never starved; and the
// pre-routing handler routes on the raw target and refuses from the headers alone (405, 403,
// 415, 413, 429) without reading the body. A body is read only by ReadBody, which counts
// inflated bytes and stops at serve.max_body_bytes.
//
// The credential is the first thing checked after routing (Authorize, serve/auth.h), so a
// caller without the right learns nothing else. TLS is ours as well rather than httplib's
// SSLServer, whose connection loop is the one replaced here: DeadlineStream reads and writes
// through an SSL object on a non-blocking socket, so a handshake or a TLS record trickled
// byte by byte is bound by the same per-request deadline as plain bytes.
#include "serve/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "event/event_record.h"
#include "serve/auth.h"
#include "serve/dashboard.h"
#include "serve/event_batch_parser.h"
#include "serve/ingest_sizes.h"
#include "serve/json_render.h"
#include "serve/prometheus.h"
#include "serve/request_latency.h"
#include "serve/request_log.h"
#include "serve/request_parsers.h"
#include "serve/request_target.h"
#include "serve/tls_context.h"

namespace liverec {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";
constexpr const char* kNdjson = "application/x-ndjson";
constexpr const char* kEventStream = "text/event-stream";
// Between two events of GET /v1/stats/stream: the dashboard's charts move once a second.
constexpr std::chrono::milliseconds kStreamInterval{1000};
constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";
// Seconds a client is told to wait after 429 (queue full) or 503 (shutting down): long enough
// for the apply thread to drain a full queue at 100 K events/s.
constexpr const char* kRetryAfterSeconds = "1";
// GET /v1/users/{id} returns at most this many recent events unless ?limit= says otherwise.
constexpr size_t kDefaultRecent = 20;
// The most recent items GET /v1/users/{id}?limit= may ask for: a bound on the request only, far
// above the history the engine keeps per user (engine.history_length, 100 by default).
constexpr int64_t kMaxRecentLimit = 100000;
// The most events GET /v1/stats/stream?max_events= may ask for: a bound on the parameter only
// (a year of events at one a second).
constexpr int64_t kMaxStreamEvents = 366 * 24 * 3600;
// The largest category_cap a request may give: any cap at or above k means "no cap", so this
// only bounds the number a client can send.
constexpr int64_t kMaxCategoryCap = 1000000;
// Requests served on one keep-alive connection before the server closes it.
constexpr size_t kKeepAliveMaxRequests = 10000;
// Request line plus headers: far above what any client of this API sends (a few hundred
// bytes), and small enough that a connection cannot make the server hold much before routing.
constexpr size_t kMaxHeaderBytes = 64 * 1024;
// A worker thread keeps request buffers up to this capacity between requests; larger ones (a
// 60 MB batch) are freed at once, so memory held does not grow with the largest body seen.
constexpr size_t kKeepBufferBytes = 1 << 20;
// Bodies at least this large are followed by malloc_trim: glibc keeps freed memory of a
// thread's arena mapped. Measured (docs/perf.md): after ten 24 MB invalid-JSON bodies RSS stayed
// at 269 MB without it and returned to 81 MB with it; its cost is nothing next to reading such a
// body.
constexpr size_t kTrimAfterBytes = 8 << 20;
// After refusing a request whose bytes were left unread: how long and how much of what the
// client still sends is drained before closing (GuardedServer::Close).
constexpr int kLingerMs = 500;
constexpr size_t kLingerBytes = size_t{4} << 20;
// How often a connection waiting for bytes checks whether the server stops.
constexpr int kIdlePollMs = 100;
// Threads beyond serve.max_connections, so that a connection over the limit is answered 503 at
// once even when every connection thread is busy.
constexpr size_t kSpareThreads = 4;
// GET /v1/deletions/{id}?wait_ms=: the longest a client may wait for a deletion to complete.
constexpr int64_t kMaxDeletionWaitMs = 60000;
// CORS preflight answers may be cached this long by the browser.
constexpr const char* kPreflightMaxAgeSeconds = "600";

// The routes, for the per-route request counters of /metrics.
enum Route : size_t {
  kEvents,
  kRecommendations,
  kSimilar,
  kItems,
  kUsers,
  kStats,
  kMetrics,
  kHealth,
  kAdmin,
  kExperiments,
  kTokens,
  kDashboard,
  kDeletions,
  kUnknown,
  kNumRoutes
};
constexpr std::array<const char*, kNumRoutes> kRouteNames = {
    "events", "recommendations", "similar",     "items",  "users",     "stats",     "metrics",
    "health", "admin",           "experiments", "tokens", "dashboard", "deletions", "unknown"};
// Status classes counted per route: 2xx, 4xx, 5xx (1xx/3xx are never sent).
constexpr std::array<const char*, 3> kClassNames = {"2xx", "4xx", "5xx"};

// What one endpoint does; the router maps (method, path segments) to one.
enum class Op {
  kPostEvents,
  kRecommend,
  kSimilar,
  kPutItem,
  kDeleteItem,
  kPutUser,
  kGetUser,
  kGetItem,
  kStats,
  kMetrics,
  kHealthz,
  kReadyz,
  kSnapshot,
  kListSnapshots,
  kRollback,
  kPutExperiment,
  kGetExperiment,
  kStopExperiment,
  kListExperiments,
  kPostToken,
  kStatsStream,
  kDashboardPage,
  kDashboardAsset,
  kDeleteUser,
  kGetDeletion,
};

// Who may call an endpoint (serve/auth.h). A switch without default: a new Op does not build
// until its access is decided.
Access AccessFor(Op op) {
  switch (op) {
    case Op::kHealthz:
    case Op::kReadyz:
    // The dashboard's files hold no data: the page asks for a key and sends it with its calls.
    case Op::kDashboardPage:
    case Op::kDashboardAsset:
      return Access::kOpen;
    case Op::kRecommend:
      return Access::kReadUserToken;
    case Op::kSimilar:
    case Op::kGetUser:
    case Op::kGetItem:
    case Op::kStats:
    case Op::kStatsStream:
    // /metrics tells traffic, model figures and the catalogue's size: what a read key may see,
    // and what Prometheus sends as a bearer credential (authorization.credentials_file).
    case Op::kMetrics:
      return Access::kRead;
    case Op::kPostEvents:
    case Op::kPutItem:
    case Op::kPutUser:
      return Access::kIngest;
    // Deletions, snapshots, rollbacks, experiments and tokens change what every user gets.
    case Op::kDeleteItem:
    case Op::kSnapshot:
    case Op::kListSnapshots:
    case Op::kRollback:
    case Op::kPutExperiment:
    case Op::kGetExperiment:
    case Op::kStopExperiment:
    case Op::kListExperiments:
    case Op::kPostToken:
    case Op::kDeleteUser:
    case Op::kGetDeletion:
      return Access::kAdmin;
  }
  return Access::kAdmin;
}

const char* AccessName(Access access) {
  switch (access) {
    case Access::kOpen:
      return "open";
    case Access::kRead:
      return "read";
    case Access::kReadUserToken:
      return "read_or_user_token";
    case Access::kIngest:
      return "ingest";
    case Access::kAdmin:
      return "admin";
  }
  return "admin";
}

// One endpoint: its method, its path as segments ("*" is an id, any non-empty segment), and
// whether it reads a body.
struct Endpoint {
  const char* method;
  std::array<const char*, 4> segments;  // nullptr-terminated
  Op op;
  Route route;
  bool has_body;
};

constexpr std::array kEndpoints = {
    Endpoint{"POST", {"v1", "events"}, Op::kPostEvents, kEvents, true},
    Endpoint{"GET", {"v1", "recommendations"}, Op::kRecommend, kRecommendations, false},
    Endpoint{"GET", {"v1", "items", "*", "similar"}, Op::kSimilar, kSimilar, false},
    Endpoint{"PUT", {"v1", "items", "*"}, Op::kPutItem, kItems, true},
    Endpoint{"GET", {"v1", "items", "*"}, Op::kGetItem, kItems, false},
    Endpoint{"DELETE", {"v1", "items", "*"}, Op::kDeleteItem, kItems, false},
    Endpoint{"PUT", {"v1", "users", "*"}, Op::kPutUser, kUsers, true},
    Endpoint{"GET", {"v1", "users", "*"}, Op::kGetUser, kUsers, false},
    Endpoint{"DELETE", {"v1", "users", "*"}, Op::kDeleteUser, kDeletions, false},
    Endpoint{"GET", {"v1", "deletions", "*"}, Op::kGetDeletion, kDeletions, false},
    Endpoint{"GET", {"v1", "stats"}, Op::kStats, kStats, false},
    Endpoint{"GET", {"metrics"}, Op::kMetrics, kMetrics, false},
    Endpoint{"GET", {"healthz"}, Op::kHealthz, kHealth, false},
    Endpoint{"GET", {"readyz"}, Op::kReadyz, kHealth, false},
    Endpoint{"POST", {"v1", "admin", "snapshot"}, Op::kSnapshot, kAdmin, false},
    Endpoint{"GET", {"v1", "admin", "snapshots"}, Op::kListSnapshots, kAdmin, false},
    Endpoint{"POST", {"v1", "admin", "rollback"}, Op::kRollback, kAdmin, true},
    Endpoint{"PUT", {"v1", "experiments", "*"}, Op::kPutExperiment, kExperiments, true},
    Endpoint{"GET", {"v1", "experiments", "*"}, Op::kGetExperiment, kExperiments, false},
    Endpoint{"DELETE", {"v1", "experiments", "*"}, Op::kStopExperiment, kExperiments, false},
    Endpoint{"GET", {"v1", "experiments"}, Op::kListExperiments, kExperiments, false},
    Endpoint{"POST", {"v1", "tokens"}, Op::kPostToken, kTokens, true},
    // The dashboard (serve/dashboard.h): its page, its files, its live figures.
    Endpoint{"GET", {"v1", "stats", "stream"}, Op::kStatsStream, kStats, false},
    Endpoint{"GET", {""}, Op::kDashboardPage, kDashboard, false},
    Endpoint{"GET", {"ui", "*"}, Op::kDashboardAsset, kDashboard, false},
};

// True if `path` has the shape of `e`'s path; the ids ("*" segments) go to *ids.
bool PathMatches(const Endpoint& e, const std::vector<std::string>& path,
                 std::vector<std::string>* ids) {
  ids->clear();
  size_t n = 0;
  while (n < e.segments.size() && e.segments[n] != nullptr) ++n;
  if (path.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (std::strcmp(e.segments[i], "*") == 0) {
      if (path[i].empty()) return false;
      ids->push_back(path[i]);
    } else if (path[i] != e.segments[i]) {
      return false;
    }
  }
  return true;
}

// What the connection loop and the handlers of one worker thread share about the request in
// progress (a worker serves one connection, one request at a time).
struct RequestState {
  bool deadline_expired = false;       // the request's deadline passed while reading it
  bool headers_too_large = false;      // more than kMaxHeaderBytes before the body
  bool close_connection = false;       // bytes of this request were left unread
  Route route = kUnknown;              // for the counters of /metrics
  const Endpoint* endpoint = nullptr;  // set by the router for the body handlers
  std::vector<std::string> ids;
  class DeadlineStream* stream = nullptr;
  // For the request log: when the request's first byte came, the endpoint routed to (nullptr:
  // none), its id (X-Request-ID) and the id of the key that called ("" without one).
  SteadyClock::time_point start;
  const Endpoint* routed = nullptr;
  std::string request_id;
  std::string key_id;
};
thread_local RequestState t_request;

// Reads and writes one connection's socket with a deadline for the whole of each request
// (headers and body) rather than per read, and at most kMaxHeaderBytes before the body.
// Buffers reads: httplib reads the request line and headers a byte at a time.
class DeadlineStream final : public httplib::Stream {
 public:
  // `stopping` is polled while waiting for bytes: a stopping server does not wait out a slow
  // client's deadline.
  DeadlineStream(int fd, int write_timeout_ms, std::function<bool()> stopping)
      : fd_(fd), write_timeout_ms_(write_timeout_ms), stopping_(std::move(stopping)) {}

  // Starts a request that must be read in full by `deadline`.
  void StartRequest(SteadyClock::time_point deadline) {
    deadline_ = deadline;
    header_bytes_ = end_ - pos_;
    in_body_ = false;
  }
  // The headers are read: the header byte cap no longer applies.
  void EnterBody() { in_body_ = true; }

  // Waits up to `timeout_ms` for the next request's first byte, checking `stopping` every
  // kIdlePollMs. False on timeout, stop, or a closed connection.
  bool WaitForRequest(int timeout_ms) {
    if (pos_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0)) return true;
    const auto until = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    while (!stopping_()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, kIdlePollMs)));
      if (ready < 0 && errno != EINTR) return false;
      if (ready > 0) return (p.revents & POLLIN) != 0;
    }
    return false;
  }

  // The TLS handshake of the connection on `ssl` (its socket non-blocking), by the deadline of
  // StartRequest; afterwards every read and write goes through `ssl`. False if it failed.
  bool Handshake(SSL* ssl) {
    ssl_ = ssl;
    for (;;) {
      const int done = SSL_accept(ssl_);
      if (done == 1) return true;
      if (!WaitForTls(SSL_get_error(ssl_, done))) return false;
    }
  }

  bool is_readable() const override {
    return pos_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0) ||
           PollFor(POLLIN, MsLeft()) > 0;
  }
  bool is_writable() const override { return PollFor(POLLOUT, write_timeout_ms_) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == end_) {
      if (!in_body_ && header_bytes_ >= kMaxHeaderBytes) {
        t_request.headers_too_large = true;
        return -1;
      }
      const ssize_t got = Receive();
      if (got <= 0) return got;
      pos_ = 0;
      end_ = static_cast<size_t>(got);
      if (!in_body_) header_bytes_ += end_;
    }
    const size_t n = std::min(size, end_ - pos_);
    std::memcpy(ptr, buffer_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (ssl_ == nullptr) {
      if (PollFor(POLLOUT, write_timeout_ms_) <= 0) return -1;
      return ::send(fd_, ptr, size, MSG_NOSIGNAL);
    }
    const int n = static_cast<int>(std::min<size_t>(size, INT32_MAX));
    for (;;) {
      const int written = SSL_write(ssl_, ptr, n);
      if (written > 0) return written;
      const int error = SSL_get_error(ssl_, written);
      const short events = error == SSL_ERROR_WANT_WRITE  ? POLLOUT
                           : error == SSL_ERROR_WANT_READ ? POLLIN
                                                          : 0;
      if (events == 0 || PollFor(events, write_timeout_ms_) <= 0) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(::getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  // Waits, up to the request's deadline and while the server runs, for `events` on the socket.
  // False when the deadline passed (noted for the 408), the server stops, or poll fails.
  bool WaitUntilReady(short events) {
    int ready = 0;
    while (ready == 0) {
      const int left = MsLeft();
      if (left <= 0) {
        t_request.deadline_expired = true;
        return false;
      }
      if (stopping_()) return false;
      ready = PollFor(events, std::min(left, kIdlePollMs));
      if (ready < 0) return false;
    }
    return true;
  }
  // After an SSL call failed with `error`: waits for what it wants; false if it cannot go on.
  bool WaitForTls(int error) {
    if (error == SSL_ERROR_WANT_READ) return WaitUntilReady(POLLIN);
    if (error == SSL_ERROR_WANT_WRITE) return WaitUntilReady(POLLOUT);
    return false;
  }
  // Fills buffer_ with the next bytes of the connection (decrypted under TLS). -1 on error,
  // timeout or stop; 0 at the end of the stream.
  ssize_t Receive() {
    if (ssl_ == nullptr) {
      if (!WaitUntilReady(POLLIN)) return -1;
      return ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    }
    for (;;) {
      const int got = SSL_read(ssl_, buffer_.data(), static_cast<int>(buffer_.size()));
      if (got > 0) return got;
      const int error = SSL_get_error(ssl_, got);
      if (error == SSL_ERROR_ZERO_RETURN) return 0;
      if (!WaitForTls(error)) return -1;
    }
  }

  int MsLeft() const {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - SteadyClock::now())
            .count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, INT32_MAX));
  }
  int PollFor(short events, int timeout_ms) const {
    pollfd p{fd_, events, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    return ready;
  }
  template <typename Fn>
  void Address(Fn fn, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    ip.clear();
    port = -1;
    if (fn(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
      ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      port = ntohs(in->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      port = ntohs(in6->sin6_port);
    }
    ip = text;
  }

  const int fd_;
  const int write_timeout_ms_;
  const std::function<bool()> stopping_;
  SteadyClock::time_point deadline_{};
  SSL* ssl_ = nullptr;  // owned by the connection loop; nullptr for plain HTTP
  size_t header_bytes_ = 0;
  bool in_body_ = false;
  std::array<char, 4096> buffer_{};
  size_t pos_ = 0;
  size_t end_ = 0;
};

// httplib's task queue: a thread per connection, started when no thread is free, up to
// `max_threads`; threads stay for later connections. A fixed pool would let a few slow
// clients hold every thread while new connections wait in the queue unanswered.
class ConnectionThreads final : public httplib::TaskQueue {
 public:
  ConnectionThreads(size_t initial_threads, size_t max_threads) : max_threads_(max_threads) {
    std::lock_guard lock(mu_);
    while (threads_.size() < std::min(initial_threads, max_threads)) AddThread();
  }
  ~ConnectionThreads() override = default;

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(fn));
      if (idle_ < jobs_.size() && threads_.size() < max_threads_) AddThread();
    }
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void AddThread() {
    threads_.emplace_back([this] { Work(); });
  }
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        ++idle_;
        cv_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        --idle_;
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  const size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  std::vector<std::thread> threads_;        // guarded by mu_ until shutdown
  size_t idle_ = 0;                         // guarded by mu_
  bool shutdown_ = false;                   // guarded by mu_
};

struct ConnectionLimits {
  size_t max_connections = 0;
  size_t max_per_client = 0;
  int request_timeout_ms = 0;
  int idle_timeout_ms = 0;
  int write_timeout_ms = 0;
};

// httplib's Server with its connection loop replaced (see the top of this file).
class GuardedServer final : public httplib::Server {
 public:
  // `tls` (may be nullptr: plain HTTP) must outlive the server.
  GuardedServer(const ConnectionLimits& limits, TlsContext* tls) : limits_(limits), tls_(tls) {}

  uint64_t connections_refused() const { return refused_.load(std::memory_order_relaxed); }
  size_t connections_open() const {
    std::lock_guard lock(mu_);
    return open_;
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    DeadlineStream stream(sock, limits_.write_timeout_ms,
                          [this] { return svr_sock_ == INVALID_SOCKET; });
    std::string ip;
    int port = 0;
    stream.get_remote_ip_and_port(ip, port);
    // Taken once: a reload (SIGHUP) changes what the next connections get, not this one.
    const std::shared_ptr<SSL_CTX> tls = tls_ != nullptr ? tls_->Current() : nullptr;
    if (const std::string refusal = Admit(ip); !refusal.empty()) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      // Under TLS an answer would cost a handshake, the work the limit is there to refuse.
      if (tls == nullptr) WriteRaw(stream, "503 Service Unavailable", "unavailable", refusal);
      Close(sock, /*linger=*/false);
      return true;
    }
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(nullptr, SSL_free);
    if (tls != nullptr) {
      // Non-blocking, so that SSL_read and SSL_accept return to the deadline checks instead
      // of waiting inside a partial TLS record.
      ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
      ssl.reset(SSL_new(tls.get()));
      stream.StartRequest(SteadyClock::now() +
                          std::chrono::milliseconds(limits_.request_timeout_ms));
      if (ssl == nullptr || SSL_set_fd(ssl.get(), sock) != 1 || !stream.Handshake(ssl.get())) {
        Close(sock, /*linger=*/false);
        Release(ip);
        return true;
      }
    }
    t_request.stream = &stream;
    bool unread_bytes = false;
    for (size_t served = 0; served < kKeepAliveMaxRequests; ++served) {
      const int wait_ms = served == 0 ? limits_.request_timeout_ms : limits_.idle_timeout_ms;
      if (!stream.WaitForRequest(wait_ms)) break;
      t_request.deadline_expired = false;
      t_request.headers_too_large = false;
      t_request.close_connection = false;
      t_request.start = SteadyClock::now();
      t_request.routed = nullptr;
      t_request.request_id.clear();
      t_request.key_id.clear();
      stream.StartRequest(t_request.start + std::chrono::milliseconds(limits_.request_timeout_ms));
      bool connection_closed = false;
      const bool last = served + 1 == kKeepAliveMaxRequests || svr_sock_ == INVALID_SOCKET;
      const bool ok = process_request(stream, last, connection_closed, nullptr);
      unread_bytes =
          t_request.close_connection || t_request.deadline_expired || t_request.headers_too_large;
      // httplib answers nothing when the request line itself could not be read.
      if (!ok && t_request.deadline_expired) {
        WriteRaw(stream, "408 Request Timeout", "timeout",
                 "request not received within serve.request_timeout (headers and body)");
      }
      if (!ok || connection_closed || unread_bytes) break;
    }
    t_request.stream = nullptr;
    // One attempt at close_notify; a client that does not read it loses nothing.
    if (ssl != nullptr) SSL_shutdown(ssl.get());
    Close(sock, unread_bytes);
    Release(ip);
    return true;
  }

  // An answer written without httplib (before or after it parsed a request).
  static void WriteRaw(DeadlineStream& stream, std::string_view status, std::string_view code,
                       std::string_view message) {
    const std::string body = RenderError(code, message);
    std::string answer = "HTTP/1.1 " + std::string(status) +
                         "\r\nContent-Type: application/json\r\nConnection: close\r\n";
    if (status.substr(0, 3) == "503")
      answer += "Retry-After: " + std::string(kRetryAfterSeconds) + "\r\n";
    answer += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    // Best effort: the client may be gone, and a slow one is not waited for past serve.timeout.
    for (size_t sent = 0; sent < answer.size();) {
      const ssize_t n = stream.write(answer.data() + sent, answer.size() - sent);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  // "" if a connection from `ip` may be served (and counts it), else why not.
  std::string Admit(const std::string& ip) {
    std::lock_guard lock(mu_);
    if (open_ >= limits_.max_connections) {
      return "too many connections: serve.max_connections=" +
             std::to_string(limits_.max_connections) + " are open";
    }
    size_t& mine = per_client_[ip];
    if (mine >= limits_.max_per_client) {
      if (mine == 0) per_client_.erase(ip);
      return "too many connections from " + ip +
             ": serve.max_connections_per_client=" + std::to_string(limits_.max_per_client) +
             " are open";
    }
    ++mine;
    ++open_;
    return "";
  }
  void Release(const std::string& ip) {
    std::lock_guard lock(mu_);
    --open_;
    auto it = per_client_.find(ip);
    if (--it->second == 0) per_client_.erase(it);
  }
  // With `linger` (bytes of the request were left unread), the answer is sent first and what
  // the client still sends is drained for a moment (at most kLingerBytes, kLingerMs): closing
  // with unread bytes resets the connection, and the client could lose the answer with it.
  static void Close(socket_t sock, bool linger) {
    if (linger) {
      ::shutdown(sock, SHUT_WR);
      const auto until = SteadyClock::now() + std::chrono::milliseconds(kLingerMs);
      std::array<char, 4096> sink;
      for (size_t drained = 0; drained < kLingerBytes;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now())
                .count();
        pollfd p{sock, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        const ssize_t got = ::recv(sock, sink.data(), sink.size(), 0);
        if (got <= 0) break;
        drained += static_cast<size_t>(got);
      }
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }

  const ConnectionLimits limits_;
  TlsContext* const tls_;
  mutable std::mutex mu_;
  size_t open_ = 0;                           // guarded by mu_
  std::map<std::string, size_t> per_client_;  // guarded by mu_
  std::atomic<uint64_t> refused_{0};
};

const char* ErrorCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kOutOfRange:
      return "too_large";
    case StatusCode::kResourceExhausted:
      return "overloaded";
    case StatusCode::kUnavailable:
      return "unavailable";
    default:
      return "internal";
  }
}

void SendError(httplib::Response& res, int http_status, std::string_view code,
               std::string_view message) {
  res.status = http_status;
  if (http_status == 429 || http_status == 503) res.set_header("Retry-After", kRetryAfterSeconds);
  res.set_content(RenderError(code, message), kJson);
}

void SendStatus(httplib::Response& res, const Status& status) {
  SendError(res, HttpStatusFor(status), ErrorCode(status), status.message());
}

// Answers now and closes the connection after the answer: the request's body (if any) is left
// unread, so the connection's next bytes are not a request.
void Refuse(httplib::Response& res, int http_status, std::string_view code,
            std::string_view message) {
  t_request.close_connection = true;
  res.set_header("Connection", "close");
  SendError(res, http_status, code, message);
}

// `s` as a JSON string literal; invalid UTF-8 is replaced, never passed through.
std::string Quote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SendJson(httplib::Response& res, std::string body) {
  res.status = 200;
  res.set_content(std::move(body), kJson);
}

// Parses query parameter `name` as an integer in [min, max]; `fallback` when absent.
StatusOr<int64_t> IntParam(const httplib::Request& req, const char* name, int64_t fallback,
                           int64_t min, int64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return InvalidArgument(std::string(name) + ": expected an integer in " + std::to_string(min) +
                           ".." + std::to_string(max) + ", got '" + text + "'");
  }
  return value;
}

StatusOr<bool> BoolParam(const httplib::Request& req, const char* name, bool fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return InvalidArgument(std::string(name) + ": expected true or false, got '" + text + "'");
}

// True if the request carries a body (a Content-Length above 0, or chunked).
bool HasBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  const std::string length = req.get_header_value("Content-Length");
  return !length.empty() && length != "0";
}

// Frees a thread's request buffer when a large body made it large (kKeepBufferBytes).
void ReleaseIfLarge(std::string* buffer) {
  if (buffer->capacity() <= kKeepBufferBytes) return;
  std::string().swap(*buffer);
}

}  // namespace

// The most events an NDJSON body can hold: its lines (the last one needs no newline). 1 for a
// JSON array, whose count only parsing tells.
size_t MostEventsIn(std::string_view body) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return 0;
  if (body[first] == '[') return 1;
  const size_t newlines = static_cast<size_t>(std::count(body.begin(), body.end(), '\n'));
  return body.back() == '\n' ? newlines : newlines + 1;
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kOutOfRange:
      return 413;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

class HttpServer::Impl {
 public:
  Impl(Engine* engine, const Options& options)
      : engine_(engine),
        host_(options.GetString("", "serve", "host")),
        port_(static_cast<int>(options.GetInt("", "serve", "port"))),
        threads_(static_cast<size_t>(options.GetInt("", "serve", "threads"))),
        max_connections_(static_cast<size_t>(options.GetInt("", "serve", "max_connections"))),
        max_body_bytes_(static_cast<size_t>(options.GetInt("", "serve", "max_body_bytes"))),
        max_batch_events_(static_cast<size_t>(options.GetInt("", "serve", "max_batch_events"))),
        max_k_(options.GetInt("", "serve", "max_k")),
        streams_(static_cast<size_t>(options.GetInt("", "serve", "max_streams"))),
        log_requests_(options.GetBool("", "log", "requests")),
        auth_(options),
        tls_cert_(options.GetString("", "serve", "tls_cert")),
        tls_key_(options.GetString("", "serve", "tls_key")),
        tls_(tls_cert_.empty() && tls_key_.empty()
                 ? nullptr
                 : std::make_unique<TlsContext>(tls_cert_, tls_key_)),
        server_(
            ConnectionLimits{
                .max_connections = max_connections_,
                .max_per_client =
                    static_cast<size_t>(options.GetInt("", "serve", "max_connections_per_client")),
                .request_timeout_ms =
                    Ms(options.GetDurationSeconds("", "serve", "request_timeout")),
                .idle_timeout_ms = Ms(options.GetDurationSeconds("", "serve", "idle_timeout")),
                .write_timeout_ms = Ms(options.GetDurationSeconds("", "serve", "timeout")),
            },
            tls_.get()) {
    const std::string origins = options.GetString("", "serve", "cors_origins");
    for (std::string_view rest = origins; !rest.empty();) {
      const size_t comma = rest.find(',');
      std::string_view origin = rest.substr(0, comma);
      while (!origin.empty() && origin.front() == ' ') origin.remove_prefix(1);
      while (!origin.empty() && origin.back() == ' ') origin.remove_suffix(1);
      if (!origin.empty()) cors_origins_.emplace(origin);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    const std::vector<std::string> routes = HttpRoutes();
    for (size_t i = 0; i < kEndpoints.size(); ++i) {
      route_paths_[i] = routes[i].substr(routes[i].find(' ') + 1);
    }
    const double timeout_s = options.GetDurationSeconds("", "serve", "timeout");
    const auto sec = static_cast<time_t>(timeout_s);
    const auto usec = static_cast<time_t>((timeout_s - static_cast<double>(sec)) * 1e6);
    server_.set_tcp_nodelay(true);
    server_.set_read_timeout(sec, usec);
    server_.set_write_timeout(sec, usec);
    // Checked from Content-Length before reading (PreRoute) and on inflated bytes while reading
    // (ReadBody); httplib's own check is a last guard.
    server_.set_payload_max_length(max_body_bytes_);
    server_.new_task_queue = [this] {
      return new ConnectionThreads(threads_, max_connections_ + kSpareThreads);
    };
    Routes();
  }

  StatusOr<int> Bind() {
    LIVEREC_RETURN_IF_ERROR(auth_.Start());
    if (tls_ != nullptr) {
      if (tls_cert_.empty()) return InvalidArgument("serve.tls_cert: required with serve.tls_key");
      if (tls_key_.empty()) return InvalidArgument("serve.tls_key: required with serve.tls_cert");
      LIVEREC_RETURN_IF_ERROR(tls_->Reload());
    }
    int port = port_;
    if (port == 0) {
      port = server_.bind_to_any_port(host_);
      if (port < 0) return Unavailable("cannot bind " + host_ + " on any port");
    } else if (!server_.bind_to_port(host_, port)) {
      return Unavailable("cannot bind " + host_ + ":" + std::to_string(port) +
                         " (in use, or not an address of this machine)");
    }
    return port;
  }

  // httplib's stop() acts only once listen_after_bind has marked the server running, which
  // also closes the bound socket; before that it does nothing. So a Stop that comes before or
  // while Run starts (a SIGTERM right after Bind) is remembered, and a helper thread repeats
  // it as soon as the server runs: no Stop is lost, and the socket is closed either way.
  void Run() {
    std::thread repeat_stop([this] {
      {
        std::unique_lock lock(stop_mu_);
        stop_cv_.wait(lock, [this] { return stop_requested_ || run_returned_.load(); });
        if (run_returned_.load()) return;
      }
      // Marking the server running is the first thing listen_after_bind does: this spins for
      // microseconds at most.
      while (!server_.is_running() && !run_returned_.load()) std::this_thread::yield();
      server_.stop();
    });
    server_.listen_after_bind();
    {
      std::lock_guard lock(stop_mu_);
      run_returned_ = true;
    }
    stop_cv_.notify_all();
    repeat_stop.join();
  }
  // Both are attempted; the first error is returned.
  Status Reload() {
    Status keys = auth_.Reload();
    Status tls = tls_ != nullptr ? tls_->Reload() : Status::Ok();
    return keys.ok() ? tls : keys;
  }

  void Stop() {
    {
      std::lock_guard lock(stop_mu_);
      stop_requested_ = true;
    }
    stop_cv_.notify_all();
    server_.stop();
    streams_.Stop();
  }

 private:
  static int Ms(double seconds) { return static_cast<int>(seconds * 1000); }

  void Routes();
  httplib::Server::HandlerResponse PreRoute(const httplib::Request& req, httplib::Response& res);
  bool Authorize(const httplib::Request& req, httplib::Response& res, const Endpoint& endpoint);
  bool CheckWrite(const httplib::Request& req, httplib::Response& res, const Endpoint& endpoint);
  void Preflight(const httplib::Request& req, httplib::Response& res,
                 const std::string& allowed_methods);
  void ReadBody(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader);
  void Dispatch(const Endpoint& endpoint, const std::vector<std::string>& ids,
                const httplib::Request& req, std::string_view body, httplib::Response& res);
  void Handle(const Endpoint& endpoint, const std::vector<std::string>& ids,
              const httplib::Request& req, std::string_view body, httplib::Response& res);
  void StreamStats(const httplib::Request& req, httplib::Response& res);
  std::string StatsJson() const;
  void PostEvents(const httplib::Request& req, std::string_view body, httplib::Response& res);
  void GetRecommendations(const httplib::Request& req, httplib::Response& res);
  void RenderMetrics(httplib::Response& res);
  void LogAnswered(const httplib::Request& req, const httplib::Response& res);
  void Count(int http_status) {
    const size_t cls = http_status >= 500 ? 2 : http_status >= 400 ? 1 : 0;
    counts_[t_request.route * kClassNames.size() + cls].fetch_add(1, std::memory_order_relaxed);
    t_request.route = kUnknown;
  }

  Engine* engine_;
  std::string host_;
  int port_;
  size_t threads_;
  size_t max_connections_;
  size_t max_body_bytes_;
  size_t max_batch_events_;
  int64_t max_k_;
  StatsStreams streams_;
  RequestLatencies latencies_;
  IngestBodySizes ingest_sizes_;
  std::set<std::string, std::less<>> cors_origins_;
  bool log_requests_;
  // Each endpoint's path as the request log writes it ("/v1/users/{id}"), by its index in
  // kEndpoints.
  std::array<std::string, kEndpoints.size()> route_paths_;
  Authenticator auth_;
  std::string tls_cert_;
  std::string tls_key_;
  std::unique_ptr<TlsContext> tls_;  // nullptr: plain HTTP
  GuardedServer server_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;  // guarded by stop_mu_
  // Written under stop_mu_ (for the wait); atomic for the spin that reads it without the lock.
  std::atomic<bool> run_returned_{false};
  std::array<std::atomic<uint64_t>, kNumRoutes * kClassNames.size()> counts_{};
};

void HttpServer::Impl::Routes() {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  server_.set_pre_routing_handler([this](Req req, Res res) { return PreRoute(req, res); });
  // A client that asks before sending its body (curl does above 1 MiB) is told a refusal instead
  // of "100 Continue", so the body is never sent. A request PreRoute lets through is routed
  // again (with the same result) once httplib goes on; one it answered is answered.
  server_.set_expect_100_continue_handler([this](Req req, Res res) {
    constexpr int kContinue = 100;
    return PreRoute(req, res) == httplib::Server::HandlerResponse::Handled ? res.status : kContinue;
  });
  // PreRoute answers every request except those whose endpoint reads a body; httplib hands
  // those here, with the reader, after PreRoute let them through. The pattern matches any
  // decoded path: PreRoute already routed on the raw one.
  const std::string any = R"([\s\S]*)";
  auto with_body = [this](Req req, Res res, const httplib::ContentReader& reader) {
    ReadBody(req, res, reader);
  };
  server_.Post(any, httplib::Server::HandlerWithContentReader(with_body));
  server_.Put(any, httplib::Server::HandlerWithContentReader(with_body));

  // Answers httplib produces itself (a malformed request line or header, a request that missed
  // its deadline, an over-long target) get the same JSON error body as ours.
  server_.set_error_handler(httplib::Server::HandlerWithResponse([](Req req, Res res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (t_request.deadline_expired) {
      res.set_header("Connection", "close");
      SendError(res, 408, "timeout",
                "request not received within serve.request_timeout (headers and body)");
    } else if (t_request.headers_too_large) {
      res.set_header("Connection", "close");
      SendError(
          res, 431, "too_large",
          "request line and headers larger than " + std::to_string(kMaxHeaderBytes) + " bytes");
    } else if (res.status == 414) {
      SendError(res, 414, "too_large", "request target too long");
    } else if (res.status == 413) {
      SendError(res, 413, "too_large", "request body larger than serve.max_body_bytes");
    } else if (res.status == 404) {
      SendError(res, 404, "not_found", "no route " + req.method + " " + req.target);
    } else if (res.status >= 500) {
      SendError(res, res.status, "internal", "the server failed to answer the request");
    } else {
      SendError(res, 400, "invalid_argument", "malformed HTTP request");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  server_.set_exception_handler([](Req, Res res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, 500, "internal", what);
  });
  // Runs on every answer httplib writes, its own errors included, just before the headers go
  // out: the one place that gives each answer its X-Request-ID.
  server_.set_post_routing_handler([](Req req, Res res) {
    if (t_request.request_id.empty()) {
      t_request.request_id = RequestIdFor(req.get_header_value("X-Request-ID"));
    }
    res.set_header("X-Request-ID", t_request.request_id);
  });
  // Called once the answer is written, so the log line costs the client nothing.
  server_.set_logger([this](Req req, const httplib::Response& res) {
    if (log_requests_) LogAnswered(req, res);
    Count(res.status);
  });
}

void HttpServer::Impl::LogAnswered(const httplib::Request& req, const httplib::Response& res) {
  // Microseconds are enough, and keep the line short.
  constexpr double kUsPerMs = 1000;
  const double us = static_cast<double>(
      std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t_request.start)
          .count());
  const Endpoint* routed = t_request.routed;
  LogRequest(RequestLogLine{
      .method = req.method,
      .route = routed == nullptr ? std::string_view() : route_paths_[routed - kEndpoints.data()],
      .status = res.status,
      .duration_ms = us / kUsPerMs,
      .bytes = res.body.size(),
      .request_id = t_request.request_id,
      .key_id = t_request.key_id,
  });
}

httplib::Server::HandlerResponse HttpServer::Impl::PreRoute(const httplib::Request& req,
                                                            httplib::Response& res) {
  using HR = httplib::Server::HandlerResponse;
  if (t_request.stream != nullptr) t_request.stream->EnterBody();
  t_request.route = kUnknown;
  t_request.endpoint = nullptr;
  // Every answer given here leaves any body unread.
  if (HasBody(req)) t_request.close_connection = true;

  StatusOr<std::vector<std::string>> path = SplitTargetPath(req.target);
  if (!path.ok()) {
    SendStatus(res, path.status());
    return HR::Handled;
  }
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  const Endpoint* endpoint = nullptr;
  std::string allowed;
  std::vector<std::string> ids;
  for (const Endpoint& e : kEndpoints) {
    if (!PathMatches(e, *path, &ids)) continue;
    allowed += allowed.empty() ? e.method : std::string(", ") + e.method;
    if (method == e.method) endpoint = &e;
  }
  if (allowed.empty()) {
    SendError(res, 404, "not_found", "no route " + req.method + " " + req.target);
    return HR::Handled;
  }
  if (req.method == "OPTIONS") {
    Preflight(req, res, allowed + ", OPTIONS");
    return HR::Handled;
  }
  if (endpoint == nullptr) {
    res.set_header("Allow", allowed + ", OPTIONS");
    SendError(res, 405, "method_not_allowed",
              "method " + req.method + " not allowed on " + req.target + "; allowed: " + allowed);
    return HR::Handled;
  }
  PathMatches(*endpoint, *path, &ids);
  t_request.route = endpoint->route;
  t_request.routed = endpoint;
  const std::string origin = req.get_header_value("Origin");
  if (!origin.empty() && cors_origins_.count(origin) != 0) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Vary", "Origin");
  }
  // Before any other check of the request: a caller without the right learns nothing about
  // limits, queue room or ids.
  if (!Authorize(req, res, *endpoint)) return HR::Handled;
  if (method != "GET" && !CheckWrite(req, res, *endpoint)) return HR::Handled;
  if (!endpoint->has_body) {
    Dispatch(*endpoint, ids, req, "", res);
    return HR::Handled;
  }
  t_request.close_connection = false;
  t_request.endpoint = endpoint;
  t_request.ids = std::move(ids);
  return HR::Unhandled;
}

// The credential check (serve/auth.h); false after answering 401, 403 or 429.
bool HttpServer::Impl::Authorize(const httplib::Request& req, httplib::Response& res,
                                 const Endpoint& endpoint) {
  const AuthDecision decision = auth_.Check(
      AccessFor(endpoint.op), req.get_header_value("Authorization"), req.get_param_value("user"));
  t_request.key_id = decision.key_id;
  if (decision.http_status == 200) return true;
  res.status = decision.http_status;
  // RFC 6750: a 401 names the scheme the client should use.
  if (decision.http_status == 401) res.set_header("WWW-Authenticate", R"(Bearer realm="liverec")");
  if (decision.retry_after_s > 0) {
    res.set_header("Retry-After", std::to_string(decision.retry_after_s));
  }
  res.set_content(RenderError(decision.code, decision.message), kJson);
  return false;
}

// The checks of a write made from its headers alone; false after answering.
bool HttpServer::Impl::CheckWrite(const httplib::Request& req, httplib::Response& res,
                                  const Endpoint& endpoint) {
  // A browser sends Origin with every cross-origin write; one from a page that is not listed
  // must not change state (a page a developer visits could roll the model back).
  const std::string origin = req.get_header_value("Origin");
  if (!origin.empty() && cors_origins_.count(origin) == 0 &&
      !IsOwnOriginWrite(origin, req.get_header_value("Host"), tls_ != nullptr, auth_.enforced())) {
    Refuse(res, 403, "forbidden",
           "Origin: " + origin + " is not listed in serve.cors_origins; writes are refused");
    return false;
  }
  // Only the JSON types: a browser form (x-www-form-urlencoded, multipart, text/plain) cannot
  // send them without a preflight, so a forged write cannot pass as one.
  const std::string type = MediaType(req.get_header_value("Content-Type"));
  const bool has_body = HasBody(req);
  if ((has_body || !type.empty()) && type != kJson && type != kNdjson) {
    Refuse(res, 415, "unsupported_media_type",
           "Content-Type: expected application/json or application/x-ndjson, got '" +
               req.get_header_value("Content-Type") + "'");
    return false;
  }
  const std::string encoding = MediaType(req.get_header_value("Content-Encoding"));
  if (!encoding.empty() && encoding != "gzip" && encoding != "identity") {
    Refuse(res, 415, "unsupported_media_type",
           "Content-Encoding: expected gzip or identity, got '" +
               req.get_header_value("Content-Encoding") + "'");
    return false;
  }
  if (!endpoint.has_body) return true;
  const std::string length = req.get_header_value("Content-Length");
  uint64_t declared = 0;
  if (!length.empty()) {
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), declared);
    if (ec != std::errc() || end != length.data() + length.size()) {
      Refuse(res, 400, "invalid_argument", "Content-Length: not a number: '" + length + "'");
      return false;
    }
    if (declared > max_body_bytes_) {
      Refuse(res, 413, "too_large",
             "Content-Length: " + length +
                 " bytes is over serve.max_body_bytes=" + std::to_string(max_body_bytes_));
      return false;
    }
  }
  if (endpoint.op != Op::kPostEvents) return true;
  const size_t room = engine_->QueueRoom();
  if (room == 0) {
    Refuse(res, 429, "overloaded", "ingest queue full: no room for any event");
    return false;
  }
  // A gzip body's declared length says little of what it inflates to.
  const uint64_t likely = encoding == "gzip" ? 0 : ingest_sizes_.LeastLikelyEvents(declared);
  if (likely > room && likely <= engine_->QueueCapacity()) {
    Refuse(res, 429, "overloaded",
           "ingest queue full: room for " + std::to_string(room) + " events, and a body of " +
               length + " bytes holds about " + std::to_string(likely) +
               " or more (at the size of the events read lately)");
    return false;
  }
  return true;
}

void HttpServer::Impl::Preflight(const httplib::Request& req, httplib::Response& res,
                                 const std::string& allowed_methods) {
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty()) {
    res.status = 204;
    res.set_header("Allow", allowed_methods);
    return;
  }
  if (cors_origins_.count(origin) == 0) {
    return Refuse(res, 403, "forbidden",
                  "Origin: " + origin + " is not listed in serve.cors_origins");
  }
  res.status = 204;
  res.set_header("Access-Control-Allow-Origin", origin);
  res.set_header("Vary", "Origin");
  res.set_header("Access-Control-Allow-Methods", allowed_methods);
  res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding");
  res.set_header("Access-Control-Max-Age", kPreflightMaxAgeSeconds);
}

void HttpServer::Impl::ReadBody(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
  const Endpoint* endpoint = t_request.endpoint;
  if (endpoint == nullptr) return SendError(res, 404, "not_found", "no route");
  thread_local std::string body;
  body.clear();
  const std::string length = req.get_header_value("Content-Length");
  // Content-Length was checked against max_body_bytes_ already; gzip bodies grow as they come.
  if (!length.empty() && !req.has_header("Content-Encoding")) {
    body.reserve(std::min<size_t>(std::strtoull(length.c_str(), nullptr, 10), max_body_bytes_));
  }
  bool too_large = false;
  const bool read = reader([&](const char* data, size_t n) {
    if (body.size() + n > max_body_bytes_) {
      too_large = true;
      return false;  // httplib stops reading and inflating here
    }
    body.append(data, n);
    return true;
  });
  if (!read) {
    if (too_large) {
      Refuse(res, 413, "too_large",
             "body: over serve.max_body_bytes=" + std::to_string(max_body_bytes_) +
                 " bytes (counted after decompression)");
    } else if (t_request.deadline_expired) {
      Refuse(res, 408, "timeout", "body not received within serve.request_timeout");
    } else {
      Refuse(res, 400, "invalid_argument",
             "body: could not be read (truncated, or not valid for its Content-Encoding)");
    }
  } else {
    Dispatch(*endpoint, t_request.ids, req, body, res);
  }
  const size_t size = body.capacity();
  ReleaseIfLarge(&body);
  if (size >= kTrimAfterBytes) ::malloc_trim(0);
}

// The handling time of the routes the dashboard charts (serve/request_latency.h).
void HttpServer::Impl::Dispatch(const Endpoint& endpoint, const std::vector<std::string>& ids,
                                const httplib::Request& req, std::string_view body,
                                httplib::Response& res) {
  const auto start = SteadyClock::now();
  Handle(endpoint, ids, req, body, res);
  LatencyRoute timed = LatencyRoute::kNumRoutes;
  if (endpoint.op == Op::kRecommend) timed = LatencyRoute::kRecommendations;
  if (endpoint.op == Op::kSimilar) timed = LatencyRoute::kSimilar;
  if (endpoint.op == Op::kPostEvents) timed = LatencyRoute::kEvents;
  if (endpoint.op == Op::kGetUser) timed = LatencyRoute::kUsers;
  if (timed == LatencyRoute::kNumRoutes) return;
  latencies_.Record(timed,
                    std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count());
}

std::string HttpServer::Impl::StatsJson() const {
  return RenderStats(engine_->Stats(), HttpStats{.streams_open = streams_.open(),
                                                 .max_streams = streams_.max_streams(),
                                                 .latency = latencies_.Snapshot()});
}

// One event at once, then one a second until the client goes, its write times out
// (serve.timeout), the server stops (StatsStreams::Stop ends the wait), or ?max_events= were
// sent.
void HttpServer::Impl::StreamStats(const httplib::Request& req, httplib::Response& res) {
  StatusOr<int64_t> max_events = IntParam(req, "max_events", 0, 1, kMaxStreamEvents);
  if (!max_events.ok()) return SendStatus(res, max_events.status());
  std::shared_ptr<StatsStreams::Slot> slot = streams_.Open();
  if (slot == nullptr) {
    return SendError(res, 429, "overloaded",
                     "serve.max_streams=" + std::to_string(streams_.max_streams()) +
                         " stats streams are open; close one or raise the option");
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-store");
  // Proxies that buffer answers (nginx) would hold the events back.
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(kEventStream, [this, slot, sent = int64_t{0}, max = *max_events](
                                                     size_t, httplib::DataSink& sink) mutable {
    if (sent > 0 && !streams_.WaitNext(kStreamInterval)) return false;
    const std::string event = SseEvent(StatsJson());
    if (!sink.write(event.data(), event.size())) return false;
    if (++sent == max) sink.done();
    return true;
  });
}

void HttpServer::Impl::Handle(const Endpoint& endpoint, const std::vector<std::string>& ids,
                              const httplib::Request& req, std::string_view body,
                              httplib::Response& res) {
  switch (endpoint.op) {
    case Op::kPostEvents:
      return PostEvents(req, body, res);
    case Op::kRecommend:
      return GetRecommendations(req, res);
    case Op::kSimilar: {
      StatusOr<int64_t> k = IntParam(req, "k", 10, 1, max_k_);
      if (!k.ok()) return SendStatus(res, k.status());
      StatusOr<std::vector<ScoredItem>> similar = engine_->Similar(ids[0], static_cast<size_t>(*k));
      if (!similar.ok()) return SendStatus(res, similar.status());
      return SendJson(res, RenderSimilar(ids[0], *similar));
    }
    case Op::kPutItem: {
      StatusOr<ItemMetadata> metadata = ParseItemMetadata(body);
      if (!metadata.ok()) return SendStatus(res, metadata.status());
      Status status = engine_->PutItem(ids[0], *metadata);
      if (!status.ok()) return SendStatus(res, status);
      return SendJson(res, R"({"item":)" + Quote(ids[0]) + "}");
    }
    case Op::kDeleteItem: {
      Status status = engine_->DeleteItem(ids[0]);
      if (!status.ok()) return SendStatus(res, status);
      return SendJson(res, R"({"item":)" + Quote(ids[0]) + R"(,"deleted":true})");
    }
    case Op::kPutUser: {
      StatusOr<UserMetadata> metadata = ParseUserMetadata(body);
      if (!metadata.ok()) return SendStatus(res, metadata.status());
      Status status = engine_->PutUser(ids[0], *metadata);
      if (!status.ok()) return SendStatus(res, status);
      return SendJson(res, R"({"user":)" + Quote(ids[0]) + "}");
    }
    case Op::kGetUser: {
      StatusOr<int64_t> limit = IntParam(req, "limit", kDefaultRecent, 1, kMaxRecentLimit);
      if (!limit.ok()) return SendStatus(res, limit.status());
      StatusOr<UserInfo> user = engine_->GetUser(ids[0], static_cast<size_t>(*limit));
      if (!user.ok()) return SendStatus(res, user.status());
      return SendJson(res, RenderUser(*user));
    }
    case Op::kDeleteUser: {
      StatusOr<DeletionInfo> deletion = engine_->DeleteUser(ids[0]);
      if (!deletion.ok()) return SendStatus(res, deletion.status());
      SendJson(res, RenderDeletion(*deletion));
      res.status = 202;
      return;
    }
    case Op::kGetDeletion: {
      StatusOr<int64_t> wait_ms = IntParam(req, "wait_ms", 0, 0, kMaxDeletionWaitMs);
      if (!wait_ms.ok()) return SendStatus(res, wait_ms.status());
      StatusOr<DeletionInfo> deletion = engine_->GetDeletion(ids[0], *wait_ms);
      if (!deletion.ok()) return SendStatus(res, deletion.status());
      return SendJson(res, RenderDeletion(*deletion));
    }
    case Op::kGetItem: {
      StatusOr<ItemInfo> item = engine_->GetItem(ids[0]);
      if (!item.ok()) return SendStatus(res, item.status());
      return SendJson(res, RenderItem(*item));
    }
    case Op::kStats:
      return SendJson(res, StatsJson());
    case Op::kStatsStream:
      return StreamStats(req, res);
    case Op::kDashboardPage:
    case Op::kDashboardAsset: {
      const std::string name = endpoint.op == Op::kDashboardPage ? "index.html" : ids[0];
      const DashboardAsset* asset = FindDashboardAsset(name);
      if (asset == nullptr) {
        return SendError(res, 404, "not_found", "no dashboard file " + req.target);
      }
      for (const auto& [header, value] : DashboardHeaders()) res.set_header(header, value);
      res.status = 200;
      return res.set_content(asset->bytes.data(), asset->bytes.size(),
                             std::string(asset->content_type));
    }
    case Op::kMetrics:
      return RenderMetrics(res);
    case Op::kHealthz:
      return SendJson(res, R"({"status":"ok"})");
    case Op::kReadyz: {
      if (!engine_->ready()) return SendError(res, 503, "unavailable", "recovering");
      Status writable = engine_->WriteHealth();
      if (!writable.ok()) {
        return SendError(res, 503, "unavailable", "cannot write: " + writable.message());
      }
      return SendJson(res, R"({"status":"ready"})");
    }
    case Op::kSnapshot: {
      StatusOr<SnapshotEntry> snapshot = engine_->TakeSnapshot();
      if (!snapshot.ok()) return SendStatus(res, snapshot.status());
      return SendJson(res, RenderSnapshot(*snapshot));
    }
    case Op::kListSnapshots: {
      StatusOr<std::vector<SnapshotEntry>> snapshots = engine_->ListSnapshots();
      if (!snapshots.ok()) return SendStatus(res, snapshots.status());
      return SendJson(res, RenderSnapshots(*snapshots));
    }
    case Op::kRollback: {
      StatusOr<uint64_t> seq = ParseRollbackRequest(body);
      if (!seq.ok()) return SendStatus(res, seq.status());
      Status status = engine_->Rollback(*seq);
      if (!status.ok()) return SendStatus(res, status);
      return SendJson(res, R"({"rolled_back_to":)" + std::to_string(*seq) + "}");
    }
    case Op::kPutExperiment: {
      StatusOr<ExperimentSpec> spec = ParseExperimentSpec(body, ids[0]);
      if (!spec.ok()) return SendStatus(res, spec.status());
      StatusOr<ExperimentReport> report = engine_->PutExperiment(*spec);
      if (!report.ok()) return SendStatus(res, report.status());
      return SendJson(res, RenderExperiment(*report));
    }
    case Op::kGetExperiment: {
      StatusOr<ExperimentReport> report = engine_->GetExperiment(ids[0]);
      if (!report.ok()) return SendStatus(res, report.status());
      return SendJson(res, RenderExperiment(*report));
    }
    case Op::kStopExperiment: {
      StatusOr<ExperimentReport> report = engine_->StopExperiment(ids[0]);
      if (!report.ok()) return SendStatus(res, report.status());
      return SendJson(res, RenderExperiment(*report));
    }
    case Op::kListExperiments:
      return SendJson(res, RenderExperiments(engine_->ListExperiments()));
    case Op::kPostToken: {
      StatusOr<TokenRequest> request = ParseTokenRequest(body, auth_.max_token_ttl_s());
      if (!request.ok()) return SendStatus(res, request.status());
      int64_t expires_ms = 0;
      const std::string token = auth_.MintToken(request->user, request->ttl_s, &expires_ms);
      return SendJson(res, R"({"token":")" + token + R"(","user":)" + Quote(request->user) +
                               R"(,"expires_ms":)" + std::to_string(expires_ms) + "}");
    }
  }
}

void HttpServer::Impl::PostEvents(const httplib::Request& req, std::string_view body,
                                  httplib::Response& res) {
  IngestWait wait = IngestWait::kDurable;
  if (req.has_param("wait")) {
    const std::string value = req.get_param_value("wait");
    if (value == "learned") {
      wait = IngestWait::kLearned;
    } else if (value != "durable") {
      return SendError(res, 400, "invalid_argument",
                       "wait: expected durable or learned, got '" + value + "'");
    }
  }
  // Under overload most bodies are refused, and parsing them first would take the CPU the
  // apply loop needs: refuse before parsing when the queue has less room than the body has
  // lines. Lines bound the events of an NDJSON body from above (blank and invalid lines enqueue
  // nothing), so a body refused here is one that might not have fit; the client retries it. A
  // JSON array's event count is unknown before parsing: it is refused early only when the queue
  // is full. A body that may hold more than the whole queue is parsed first: if it does, no
  // retry can succeed and the answer is 413, not 429.
  const size_t room = engine_->QueueRoom();
  const size_t capacity = engine_->QueueCapacity();
  const size_t most = MostEventsIn(body);
  if (most > room && most <= capacity) {
    return SendStatus(res, ResourceExhausted("ingest queue full: room for " + std::to_string(room) +
                                             " events, the body may hold " + std::to_string(most)));
  }
  // Per thread, so steady-state parsing allocates nothing; but a large body grows the parser's
  // buffers to several times its size, and every connection thread would keep its own: those
  // go with the request (measured: 18 posts of a 57 MB array held 4.2 GB before).
  thread_local std::unique_ptr<EventBatchParser> parser;
  thread_local ParsedEvents parsed;
  if (parser == nullptr) parser = std::make_unique<EventBatchParser>();
  struct ReleaseAfterLargeBody {
    bool large;
    ~ReleaseAfterLargeBody() {
      if (!large) return;
      parser.reset();
      parsed = ParsedEvents();
    }
  } release{body.size() > kKeepBufferBytes};
  Status status = parser->Parse(body, max_batch_events_, &parsed);
  if (status.ok() && parsed.records.size() > capacity) {
    status = OutOfRange("batch of " + std::to_string(parsed.records.size()) +
                        " events is larger than the whole ingest queue (engine.queue_capacity=" +
                        std::to_string(capacity) + "): send it in smaller batches");
  }
  if (!status.ok()) return SendStatus(res, status);
  if (!parsed.errors.empty()) engine_->CountRejected(parsed.errors.size());
  if (MediaType(req.get_header_value("Content-Encoding")) != "gzip") {
    ingest_sizes_.Observe(body.size(), parsed.records.size() + parsed.errors.size());
  }
  IngestResult result;
  status = engine_->Ingest(std::move(parsed.records), wait, &result);
  if (!status.ok()) return SendStatus(res, status);
  // The engine numbers its rejections by position among the parsed records; the client wants
  // the position in its body.
  for (IngestError& error : result.rejected) error.index = parsed.record_index[error.index];
  result.rejected.insert(result.rejected.end(), parsed.errors.begin(), parsed.errors.end());
  std::sort(result.rejected.begin(), result.rejected.end(),
            [](const IngestError& a, const IngestError& b) { return a.index < b.index; });
  res.status = result.accepted == 0 && !result.rejected.empty() ? 400 : 200;
  res.set_content(RenderIngestResult(result), kJson);
}

void HttpServer::Impl::GetRecommendations(const httplib::Request& req, httplib::Response& res) {
  RecommendRequest request;
  if (!req.has_param("user") || req.get_param_value("user").empty()) {
    return SendError(res, 400, "invalid_argument", "user: required");
  }
  request.user = req.get_param_value("user");
  StatusOr<int64_t> k = IntParam(req, "k", 10, 1, max_k_);
  if (!k.ok()) return SendStatus(res, k.status());
  request.k = static_cast<size_t>(*k);
  request.model = req.get_param_value("model");
  for (const auto& [name, field] :
       {std::pair{"category", &request.categories}, std::pair{"exclude", &request.exclude}}) {
    std::vector<std::string> values;
    for (size_t i = 0; i < req.get_param_value_count(name); ++i) {
      values.push_back(req.get_param_value(name, i));
    }
    StatusOr<std::vector<std::string>> ids = ParseListParam(name, values);
    if (!ids.ok()) return SendStatus(res, ids.status());
    *field = std::move(*ids);
  }
  StatusOr<int64_t> offset = IntParam(req, "offset", 0, 0, max_k_);
  if (!offset.ok()) return SendStatus(res, offset.status());
  request.offset = static_cast<size_t>(*offset);
  request.explore = req.get_param_value("explore");
  StatusOr<bool> exclude_seen = BoolParam(req, "exclude_seen", true);
  if (!exclude_seen.ok()) return SendStatus(res, exclude_seen.status());
  request.exclude_seen = *exclude_seen;
  StatusOr<bool> explain = BoolParam(req, "explain", false);
  if (!explain.ok()) return SendStatus(res, explain.status());
  request.explain = *explain;
  if (req.has_param("diversity")) {
    const std::string text = req.get_param_value("diversity");
    double diversity = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), diversity);
    if (ec != std::errc() || end != text.data() + text.size() || !(diversity >= 0) ||
        diversity > 1) {
      return SendError(res, 400, "invalid_argument",
                       "diversity: expected a number in 0..1, got '" + text + "'");
    }
    request.diversity = diversity;
  }
  StatusOr<int64_t> category_cap = IntParam(req, "category_cap", -1, 0, kMaxCategoryCap);
  if (!category_cap.ok()) return SendStatus(res, category_cap.status());
  request.category_cap = *category_cap;
  StatusOr<Recommendations> recs = engine_->Recommend(request);
  if (!recs.ok()) return SendStatus(res, recs.status());
  SendJson(res, RenderRecommendations(*recs));
}

void HttpServer::Impl::RenderMetrics(httplib::Response& res) {
  const EngineStats stats = engine_->Stats();
  PrometheusWriter w;
  auto counter = [&](const char* name, const char* help, double value) {
    w.Family(name, help, "counter");
    w.Sample(name, value);
  };
  auto gauge = [&](const char* name, const char* help, double value) {
    w.Family(name, help, "gauge");
    w.Sample(name, value);
  };
  counter("liverec_events_accepted_total",
          "Events acknowledged (all time, counted again from the log at start).",
          static_cast<double>(stats.events_accepted));
  counter("liverec_events_rejected_total", "Events rejected as invalid since the process started.",
          static_cast<double>(stats.events_rejected));
  counter("liverec_events_applied_total", "Events learned, including recovery (all time).",
          static_cast<double>(stats.events_applied));
  counter("liverec_events_duplicate_total", "Events skipped as repeated ids (all time).",
          static_cast<double>(stats.events_duplicate));
  gauge("liverec_users", "Users known.", static_cast<double>(stats.num_users));
  counter("liverec_users_forgotten_total", "Users forgotten as idle (engine.user_idle_ttl).",
          static_cast<double>(stats.users_forgotten));
  gauge("liverec_items", "Items known.", static_cast<double>(stats.num_items));
  counter("liverec_items_forgotten_total", "Items forgotten as idle (engine.item_idle_ttl).",
          static_cast<double>(stats.items_forgotten));
  gauge("liverec_queue_depth", "Events accepted and not yet learned.",
        static_cast<double>(stats.queue_depth));
  gauge("liverec_queue_capacity", "engine.queue_capacity.",
        static_cast<double>(stats.queue_capacity));
  gauge("liverec_last_durable_seq", "Sequence number of the last durable log record.",
        static_cast<double>(stats.last_durable_seq));
  gauge("liverec_model_version", "Sequence number of the last applied log record.",
        static_cast<double>(stats.last_applied_seq));
  gauge("liverec_snapshot_seq", "Sequence number the newest snapshot covers.",
        static_cast<double>(stats.snapshot_seq));
  const FeedbackStats& f = stats.feedback;
  counter("liverec_decisions_total", "Served lists recorded as decisions (all time).",
          static_cast<double>(f.decisions));
  counter("liverec_decisions_dropped_total",
          "Served lists not recorded: the queue was full (since the process started).",
          static_cast<double>(stats.decisions_dropped));
  gauge("liverec_decisions_open", "Decisions within their join window.",
        static_cast<double>(f.open_decisions));
  counter("liverec_feedback_joined_total", "Events that joined an open decision.",
          static_cast<double>(f.joined));
  counter("liverec_feedback_late_total", "Events citing a decision whose window had closed.",
          static_cast<double>(f.late));
  counter("liverec_feedback_unmatched_total", "Events citing an unknown recommendation id.",
          static_cast<double>(f.unmatched));
  w.Family("liverec_feedback_delay_seconds", "Stream time from a decision to its first click.",
           "histogram");
  uint64_t cumulative = 0;
  for (const auto& [bound_ms, count] : f.feedback_delay) {
    cumulative += count;
    const bool last = &bound_ms == &f.feedback_delay.back().first;
    w.Sample("liverec_feedback_delay_seconds_bucket",
             {{"le", last ? std::string("+Inf") : FormatPrometheusValue(bound_ms / 1000)}},
             static_cast<double>(cumulative));
  }
  w.Sample("liverec_feedback_delay_seconds_sum", f.feedback_delay_sum_ms / 1000);
  w.Sample("liverec_feedback_delay_seconds_count", static_cast<double>(cumulative));
  w.Family("liverec_model_impressions_total", "Shown items of closed decisions, by model.",
           "counter");
  for (const FeedbackStats::Model& m : f.models) {
    w.Sample("liverec_model_impressions_total", {{"model", m.name}},
             static_cast<double>(m.impressions));
  }
  w.Family("liverec_model_clicks_total", "Clicked shown items of closed decisions, by model.",
           "counter");
  for (const FeedbackStats::Model& m : f.models) {
    w.Sample("liverec_model_clicks_total", {{"model", m.name}}, static_cast<double>(m.clicks));
  }
  w.Family("liverec_model_online_auc",
           "Online AUC: clicked against shown-not-clicked items within a decision.", "gauge");
  for (const FeedbackStats::Model& m : f.models) {
    w.Sample("liverec_model_online_auc", {{"model", m.name}}, m.auc);
  }
  const std::string k = std::to_string(stats.metrics_k);
  w.Family("liverec_model_evaluated_total", "Events ranked by the model before learning them.",
           "counter");
  for (const ModelStats& m : stats.models) {
    w.Sample("liverec_model_evaluated_total", {{"model", m.name}},
             static_cast<double>(m.evaluated));
  }
  w.Family("liverec_model_recall", "Live test-then-train Recall@K.", "gauge");
  for (const ModelStats& m : stats.models) {
    w.Sample("liverec_model_recall", {{"model", m.name}, {"k", k}}, m.recall);
  }
  w.Family("liverec_model_ndcg", "Live test-then-train NDCG@K.", "gauge");
  for (const ModelStats& m : stats.models) {
    w.Sample("liverec_model_ndcg", {{"model", m.name}, {"k", k}}, m.ndcg);
  }
  w.Family("liverec_model_memory_bytes", "Approximate heap bytes held by the model.", "gauge");
  for (const ModelStats& m : stats.models) {
    w.Sample("liverec_model_memory_bytes", {{"model", m.name}},
             static_cast<double>(m.memory_bytes));
  }
  w.Family("liverec_ensemble_member_weight",
           "Weight of an ensemble member in the ensemble's scores, per user segment.", "gauge");
  for (const ModelStats& m : stats.models) {
    for (const ModelStats::Member& member : m.members) {
      for (size_t s = 0; s < member.weights.size(); ++s) {
        w.Sample("liverec_ensemble_member_weight",
                 {{"model", m.name}, {"member", member.name}, {"segment", std::to_string(s)}},
                 member.weights[s]);
      }
    }
  }
  gauge("liverec_log_writable", "1 while the event log accepts writes, 0 once a write failed.",
        engine_->WriteHealth().ok() ? 1 : 0);
  gauge("liverec_http_connections", "HTTP connections open.",
        static_cast<double>(server_.connections_open()));
  counter("liverec_http_connections_refused_total",
          "HTTP connections refused by serve.max_connections or serve.max_connections_per_client.",
          static_cast<double>(server_.connections_refused()));
  w.Family("liverec_http_requests_total", "HTTP requests answered, by route and status class.",
           "counter");
  for (size_t r = 0; r < kNumRoutes; ++r) {
    for (size_t c = 0; c < kClassNames.size(); ++c) {
      w.Sample("liverec_http_requests_total", {{"route", kRouteNames[r]}, {"code", kClassNames[c]}},
               static_cast<double>(counts_[r * kClassNames.size() + c].load()));
    }
  }
  res.status = 200;
  res.set_content(w.text(), kPrometheusText);
}

HttpServer::HttpServer(Engine* engine, const Options& options)
    : impl_(std::make_unique<Impl>(engine, options)) {}
HttpServer::~HttpServer() = default;
StatusOr<int> HttpServer::Bind() { return impl_->Bind(); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }
Status HttpServer::Reload() { return impl_->Reload(); }

std::vector<EndpointInfo> HttpEndpoints() {
  std::vector<EndpointInfo> out;
  for (const Endpoint& e : kEndpoints) {
    EndpointInfo info;
    info.method = e.method;
    for (const char* segment : e.segments) {
      if (segment == nullptr) break;
      info.path += "/";
      info.path += segment;
    }
    info.access = AccessName(AccessFor(e.op));
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::string> HttpRoutes() {
  std::vector<std::string> routes;
  for (const EndpointInfo& e : HttpEndpoints()) {
    std::string route = e.method + " ";
    size_t start = 0;
    while (start < e.path.size()) {
      const size_t end = std::min(e.path.find('/', start + 1), e.path.size());
      const std::string_view segment = std::string_view(e.path).substr(start, end - start);
      route += segment == "/*" ? "/{id}" : std::string(segment);
      start = end;
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

}  // namespace liverec
