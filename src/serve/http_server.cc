// cpp-httplib lives in this one file: its header pulls in <resolv.h>, whose macros clash with
// other headers, and its compiled default leaves Nagle's algorithm on (set_tcp_nodelay below).
#include "serve/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "event/event_record.h"
#include "serve/event_batch_parser.h"
#include "serve/json_render.h"
#include "serve/prometheus.h"
#include "serve/request_parsers.h"

namespace liverec {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";
// Seconds a client is told to wait after 429 (queue full) or 503 (shutting down): long enough
// for the apply thread to drain a full queue at 100 K events/s.
constexpr const char* kRetryAfterSeconds = "1";
// GET /v1/users/{id} returns at most this many recent events unless ?limit= says otherwise.
constexpr size_t kDefaultRecent = 20;
// The most recent items GET /v1/users/{id}?limit= may ask for: a bound on the request only, far
// above the history the engine keeps per user (engine.history_length, 100 by default).
constexpr int64_t kMaxRecentLimit = 100000;
// The largest category_cap a request may give: any cap at or above k means "no cap", so this
// only bounds the number a client can send.
constexpr int64_t kMaxCategoryCap = 1000000;

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
  kUnknown,
  kNumRoutes
};
constexpr std::array<const char*, kNumRoutes> kRouteNames = {
    "events",  "recommendations", "similar", "items",       "users",  "stats",
    "metrics", "health",          "admin",   "experiments", "unknown"};
// Status classes counted per route: 2xx, 4xx, 5xx (1xx/3xx are never sent).
constexpr std::array<const char*, 3> kClassNames = {"2xx", "4xx", "5xx"};

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

// `s` as a JSON string literal; invalid UTF-8 is replaced, never passed through.
std::string Quote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SendJson(httplib::Response& res, std::string body) {
  res.status = 200;
  res.set_content(std::move(body), kJson);
}

// Parses query parameter `name` as an integer in [min, max]; `fallback` when absent.
// Requests served on one keep-alive connection before the server closes it.
constexpr size_t kKeepAliveMaxRequests = 10000;

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
        max_batch_events_(static_cast<size_t>(options.GetInt("", "serve", "max_batch_events"))),
        max_k_(options.GetInt("", "serve", "max_k")) {
    const double timeout_s = options.GetDurationSeconds("", "serve", "timeout");
    const auto sec = static_cast<time_t>(timeout_s);
    const auto usec = static_cast<time_t>((timeout_s - static_cast<double>(sec)) * 1e6);
    server_.set_tcp_nodelay(true);
    // cpp-httplib closes a keep-alive connection after 5 requests by default: at thousands of
    // requests/s that is hundreds of reconnections a second.
    server_.set_keep_alive_max_count(kKeepAliveMaxRequests);
    server_.set_read_timeout(sec, usec);
    server_.set_write_timeout(sec, usec);
    server_.set_payload_max_length(
        static_cast<size_t>(options.GetInt("", "serve", "max_body_bytes")));
    server_.new_task_queue = [this] { return new httplib::ThreadPool(threads_); };
    Routes();
  }

  StatusOr<int> Bind() {
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
  void Stop() {
    {
      std::lock_guard lock(stop_mu_);
      stop_requested_ = true;
    }
    stop_cv_.notify_all();
    server_.stop();
  }

 private:
  // Registers a handler that records its route for the request counters of /metrics.
  template <typename Register>
  void Handle(Register reg, const char* pattern, Route route,
              std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    (server_.*reg)(pattern, [route, handler](const httplib::Request& req, httplib::Response& res) {
      route_of_request_ = route;
      handler(req, res);
    });
  }

  void Routes();
  void PostEvents(const httplib::Request& req, httplib::Response& res);
  void GetRecommendations(const httplib::Request& req, httplib::Response& res);
  void RenderMetrics(httplib::Response& res);
  void Count(int http_status) {
    const size_t cls = http_status >= 500 ? 2 : http_status >= 400 ? 1 : 0;
    counts_[route_of_request_ * kClassNames.size() + cls].fetch_add(1, std::memory_order_relaxed);
    route_of_request_ = kUnknown;
  }

  Engine* engine_;
  std::string host_;
  int port_;
  size_t threads_;
  size_t max_batch_events_;
  int64_t max_k_;
  httplib::Server server_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;  // guarded by stop_mu_
  // Written under stop_mu_ (for the wait); atomic for the spin that reads it without the lock.
  std::atomic<bool> run_returned_{false};
  std::array<std::atomic<uint64_t>, kNumRoutes * kClassNames.size()> counts_{};
  // The route of the request this worker thread is handling (set by the handler, read by the
  // logger that runs after it on the same thread).
  static thread_local Route route_of_request_;
};

thread_local Route HttpServer::Impl::route_of_request_ = kUnknown;

void HttpServer::Impl::Routes() {
  using S = httplib::Server;
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  // Member-function pointers to the overloads taking a Handler.
  auto get = static_cast<S& (S::*)(const std::string&, S::Handler)>(&S::Get);
  auto post = static_cast<S& (S::*)(const std::string&, S::Handler)>(&S::Post);
  auto put = static_cast<S& (S::*)(const std::string&, S::Handler)>(&S::Put);
  auto del = static_cast<S& (S::*)(const std::string&, S::Handler)>(&S::Delete);

  Handle(post, "/v1/events", kEvents, [this](Req req, Res res) { PostEvents(req, res); });
  Handle(get, "/v1/recommendations", kRecommendations,
         [this](Req req, Res res) { GetRecommendations(req, res); });
  Handle(get, R"(/v1/items/([^/]+)/similar)", kSimilar, [this](Req req, Res res) {
    StatusOr<int64_t> k = IntParam(req, "k", 10, 1, max_k_);
    if (!k.ok()) return SendStatus(res, k.status());
    StatusOr<std::vector<ScoredItem>> similar =
        engine_->Similar(req.matches[1], static_cast<size_t>(*k));
    if (!similar.ok()) return SendStatus(res, similar.status());
    SendJson(res, RenderSimilar(req.matches[1], *similar));
  });
  Handle(put, R"(/v1/items/([^/]+))", kItems, [this](Req req, Res res) {
    StatusOr<ItemMetadata> metadata = ParseItemMetadata(req.body);
    if (!metadata.ok()) return SendStatus(res, metadata.status());
    Status status = engine_->PutItem(req.matches[1], *metadata);
    if (!status.ok()) return SendStatus(res, status);
    SendJson(res, R"({"item":)" + Quote(req.matches[1]) + "}");
  });
  Handle(del, R"(/v1/items/([^/]+))", kItems, [this](Req req, Res res) {
    Status status = engine_->DeleteItem(req.matches[1]);
    if (!status.ok()) return SendStatus(res, status);
    SendJson(res, R"({"item":)" + Quote(req.matches[1]) + R"(,"deleted":true})");
  });
  Handle(put, R"(/v1/users/([^/]+))", kUsers, [this](Req req, Res res) {
    StatusOr<UserMetadata> metadata = ParseUserMetadata(req.body);
    if (!metadata.ok()) return SendStatus(res, metadata.status());
    Status status = engine_->PutUser(req.matches[1], *metadata);
    if (!status.ok()) return SendStatus(res, status);
    SendJson(res, R"({"user":)" + Quote(req.matches[1]) + "}");
  });
  Handle(get, R"(/v1/users/([^/]+))", kUsers, [this](Req req, Res res) {
    StatusOr<int64_t> limit = IntParam(req, "limit", kDefaultRecent, 1, kMaxRecentLimit);
    if (!limit.ok()) return SendStatus(res, limit.status());
    StatusOr<UserInfo> user = engine_->GetUser(req.matches[1], static_cast<size_t>(*limit));
    if (!user.ok()) return SendStatus(res, user.status());
    SendJson(res, RenderUser(*user));
  });
  Handle(get, "/v1/stats", kStats,
         [this](Req, Res res) { SendJson(res, RenderStats(engine_->Stats())); });
  Handle(get, "/metrics", kMetrics, [this](Req, Res res) { RenderMetrics(res); });
  Handle(get, "/healthz", kHealth, [](Req, Res res) { SendJson(res, R"({"status":"ok"})"); });
  Handle(get, "/readyz", kHealth, [this](Req, Res res) {
    if (!engine_->ready()) return SendError(res, 503, "unavailable", "recovering");
    SendJson(res, R"({"status":"ready"})");
  });
  Handle(put, R"(/v1/experiments/([^/]+))", kExperiments, [this](Req req, Res res) {
    StatusOr<ExperimentSpec> spec = ParseExperimentSpec(req.body, req.matches[1].str());
    if (!spec.ok()) return SendStatus(res, spec.status());
    StatusOr<ExperimentReport> report = engine_->PutExperiment(*spec);
    if (!report.ok()) return SendStatus(res, report.status());
    SendJson(res, RenderExperiment(*report));
  });
  Handle(get, R"(/v1/experiments/([^/]+))", kExperiments, [this](Req req, Res res) {
    StatusOr<ExperimentReport> report = engine_->GetExperiment(req.matches[1]);
    if (!report.ok()) return SendStatus(res, report.status());
    SendJson(res, RenderExperiment(*report));
  });
  Handle(del, R"(/v1/experiments/([^/]+))", kExperiments, [this](Req req, Res res) {
    StatusOr<ExperimentReport> report = engine_->StopExperiment(req.matches[1]);
    if (!report.ok()) return SendStatus(res, report.status());
    SendJson(res, RenderExperiment(*report));
  });
  Handle(get, "/v1/experiments", kExperiments,
         [this](Req, Res res) { SendJson(res, RenderExperiments(engine_->ListExperiments())); });
  Handle(post, "/v1/admin/snapshot", kAdmin, [this](Req, Res res) {
    StatusOr<SnapshotEntry> snapshot = engine_->TakeSnapshot();
    if (!snapshot.ok()) return SendStatus(res, snapshot.status());
    SendJson(res, RenderSnapshot(*snapshot));
  });
  Handle(get, "/v1/admin/snapshots", kAdmin, [this](Req, Res res) {
    StatusOr<std::vector<SnapshotEntry>> snapshots = engine_->ListSnapshots();
    if (!snapshots.ok()) return SendStatus(res, snapshots.status());
    SendJson(res, RenderSnapshots(*snapshots));
  });
  Handle(post, "/v1/admin/rollback", kAdmin, [this](Req req, Res res) {
    StatusOr<uint64_t> seq = ParseRollbackRequest(req.body);
    if (!seq.ok()) return SendStatus(res, seq.status());
    Status status = engine_->Rollback(*seq);
    if (!status.ok()) return SendStatus(res, status);
    SendJson(res, R"({"rolled_back_to":)" + std::to_string(*seq) + "}");
  });

  // Answers httplib produces itself (no route: 404; body over the limit: 413; bad request
  // line: 400) get the same JSON error body as ours.
  server_.set_error_handler(httplib::Server::HandlerWithResponse([](Req req, Res res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    switch (res.status) {
      case 404:
        SendError(res, 404, "not_found", "no route " + req.method + " " + req.path);
        break;
      case 413:
        SendError(res, 413, "too_large", "request body larger than serve.max_body_bytes");
        break;
      default:
        SendError(res, res.status, "http_error", "HTTP " + std::to_string(res.status));
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
  server_.set_logger([this](Req, const httplib::Response& res) { Count(res.status); });
}

void HttpServer::Impl::PostEvents(const httplib::Request& req, httplib::Response& res) {
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
  // is full.
  const size_t room = engine_->QueueRoom();
  const size_t most = MostEventsIn(req.body);
  if (most > room) {
    return SendStatus(res, ResourceExhausted("ingest queue full: room for " + std::to_string(room) +
                                             " events, the body may hold " + std::to_string(most)));
  }
  thread_local EventBatchParser parser;
  thread_local ParsedEvents parsed;
  Status status = parser.Parse(req.body, max_batch_events_, &parsed);
  if (!status.ok()) return SendStatus(res, status);
  if (!parsed.errors.empty()) engine_->CountRejected(parsed.errors.size());
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
  request.category = req.get_param_value("category");
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
  counter("liverec_events_accepted_total", "Events acknowledged since the process started.",
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

}  // namespace liverec
