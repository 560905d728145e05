// liverec simulate: users with planted tastes, driven through a running server over HTTP. Each
// simulated user asks for a list, looks down it and clicks by a position-biased click model,
// and the clicks go back citing the list's recommendation_id: the feedback loop end to end,
// as a team would watch it in production, and the way the tests and docs/quality.md exercise
// experiments.
//
// The world: `items` items, each of one of `topics` topics (item i: topic i mod topics) with an
// appeal drawn from [0.3, 1]; each user likes one topic. An item at 0-based position p of a
// list is clicked with probability
//   examine(p) * appeal(i) * (like if its topic is the user's, else dislike),
// examine(p) = 1 / (1 + p) (position bias: lower items are seen less). Before the requests,
// each user views `warmup` items of their topic (so the models can learn the tastes).
//
// With --poll N the experiment's report is read every N requests, and the first winner it
// declares is reported with the lists and impressions it took: how fast a design decides
// (an A/B split against an interleave of the same arms, say).
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "common/random.h"

namespace liverec::tools {
namespace {

using Json = nlohmann::json;

struct SimulateOptions {
  std::string url = "http://127.0.0.1:8080";
  uint64_t seed = 1;
  size_t users = 500;
  size_t items = 200;
  size_t topics = 10;
  size_t warmup = 10;
  size_t requests = 5000;
  size_t k = 10;
  size_t threads = 2;
  double like = 0.5;
  double dislike = 0.02;
  std::string experiment;   // "" = none; else the name to PUT
  std::string arms;         // "control:popularity:0.5,knn:item_knn:0.5"
  bool interleave = false;  // the experiment is of type interleave (shares are ignored)
  std::string learning;     // the experiment's learning mode; "" = the server's default (pooled)
  bool experiment_first = false;  // put the experiment before the warm-up views
  size_t poll = 0;                // > 0: read the experiment's report every this many requests
  std::string explore;            // per request
  int64_t close_ms = 0;           // > 0: finally post an event this far in the future (stream time)
};

std::string UserKey(size_t u) { return "sim-u" + std::to_string(u); }
std::string ItemKey(size_t i) { return "sim-i" + std::to_string(i); }

Status Check(const httplib::Result& result, const std::string& what) {
  if (!result) return IOError(what + ": " + httplib::to_string(result.error()));
  if (result->status != 200) {
    return FailedPrecondition(what + ": HTTP " + std::to_string(result->status) + " " +
                              result->body);
  }
  return Status::Ok();
}

std::unique_ptr<httplib::Client> NewClient(const std::string& url) {
  auto client = std::make_unique<httplib::Client>(url);
  client->set_tcp_nodelay(true);
  client->set_read_timeout(60, 0);
  return client;
}

StatusOr<Json> PutExperiment(httplib::Client* client, const SimulateOptions& o) {
  Json arms = Json::array();
  size_t start = 0;
  while (start < o.arms.size()) {
    size_t end = o.arms.find(',', start);
    if (end == std::string::npos) end = o.arms.size();
    const std::string arm = o.arms.substr(start, end - start);
    const size_t a = arm.find(':');
    const size_t b = a == std::string::npos ? a : arm.find(':', a + 1);
    if (a == std::string::npos || (b == std::string::npos && !o.interleave)) {
      return InvalidArgument(
          "--arms: expected name:model:share (name:model with --interleave), "
          "got '" +
          arm + "'");
    }
    Json spec = {{"name", arm.substr(0, a)}, {"model", arm.substr(a + 1, b - a - 1)}};
    if (b != std::string::npos) spec["share"] = std::strtod(arm.c_str() + b + 1, nullptr);
    arms.push_back(std::move(spec));
    start = end + 1;
  }
  Json body = {{"arms", arms}};
  if (o.interleave) body["type"] = "interleave";
  if (!o.learning.empty()) body["learning"] = o.learning;
  httplib::Result r =
      client->Put("/v1/experiments/" + o.experiment, body.dump(), "application/json");
  LIVEREC_RETURN_IF_ERROR(Check(r, "PUT /v1/experiments/" + o.experiment));
  return Json::parse(r->body);
}

Status Run(const SimulateOptions& o) {
  if (o.items == 0 || o.users == 0 || o.topics == 0 || o.k == 0 || o.threads == 0) {
    return InvalidArgument("--users, --items, --topics, --k and --threads must be positive");
  }
  Random world(o.seed);
  std::vector<double> appeal(o.items);
  for (double& a : appeal) a = 0.3 + 0.7 * world.UniformDouble();
  std::vector<size_t> taste(o.users);
  for (size_t& t : taste) t = world.Uniform(static_cast<uint32_t>(o.topics));

  auto client = NewClient(o.url);
  if (!o.experiment.empty() && o.experiment_first) {
    LIVEREC_RETURN_IF_ERROR(PutExperiment(client.get(), o).status());
  }
  // Warm-up: each user views items of their topic.
  std::string ndjson;
  for (size_t u = 0; u < o.users; ++u) {
    for (size_t w = 0; w < o.warmup; ++w) {
      const size_t per_topic = (o.items + o.topics - 1) / o.topics;
      size_t item = taste[u] + o.topics * world.Uniform(static_cast<uint32_t>(per_topic));
      if (item >= o.items) item = taste[u];
      ndjson += Json{{"user", UserKey(u)}, {"item", ItemKey(item)}}.dump() + "\n";
    }
  }
  if (!ndjson.empty()) {
    LIVEREC_RETURN_IF_ERROR(
        Check(client->Post("/v1/events?wait=learned", ndjson, "application/x-ndjson"), "warm-up"));
  }
  if (!o.experiment.empty() && !o.experiment_first) {
    LIVEREC_RETURN_IF_ERROR(PutExperiment(client.get(), o).status());
  }

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> clicks{0};
  // Lists the server failed to give (a 4xx other than 400, or a 5xx): the user sees none, as a
  // page that renders without recommendations; the experiment's error-rate guardrail counts them.
  std::atomic<uint64_t> failed{0};
  // The first winner the polled report declared: the requests sent and impressions counted
  // by then (read by thread 0 only).
  Json first_winner = nullptr;
  std::vector<Status> errors(o.threads);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (size_t t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      auto c = NewClient(o.url);
      Random rng(DeriveSeed(o.seed, 1000 + t));
      std::string query = "&k=" + std::to_string(o.k);
      if (!o.explore.empty()) query += "&explore=" + o.explore;
      for (size_t n = next++; n < o.requests; n = next++) {
        if (t == 0 && o.poll > 0 && !o.experiment.empty() && first_winner.is_null() && n > 0 &&
            n % o.poll < o.threads) {
          httplib::Result report = c->Get("/v1/experiments/" + o.experiment);
          if (Status s = Check(report, "GET /v1/experiments"); !s.ok()) {
            errors[t] = s;
            return;
          }
          const Json e = Json::parse(report->body);
          if (!e["winner"].is_null()) {
            uint64_t impressions = 0;
            for (const Json& arm : e["arms"]) impressions += arm["impressions"].get<uint64_t>();
            first_winner = {{"arm", e["winner"]}, {"requests", n}, {"impressions", impressions}};
          }
        }
        const size_t u = rng.Uniform(static_cast<uint32_t>(o.users));
        httplib::Result r = c->Get("/v1/recommendations?user=" + UserKey(u) + query);
        if (r && r->status > 400) {
          ++failed;
          continue;
        }
        if (Status s = Check(r, "GET /v1/recommendations"); !s.ok()) {
          errors[t] = s;
          return;
        }
        const Json list = Json::parse(r->body);
        std::string body;
        size_t p = 0;
        for (const Json& shown : list["items"]) {
          const std::string key = shown["item"];
          const size_t item = key.rfind("sim-i", 0) == 0 ? std::stoul(key.substr(5)) : 0;
          const bool liked = item < o.items && item % o.topics == taste[u];
          const double click = (1.0 / (1 + p)) * (item < o.items ? appeal[item] : 0.5) *
                               (liked ? o.like : o.dislike);
          if (rng.UniformDouble() < click) {
            body += Json{{"user", UserKey(u)},
                         {"item", key},
                         {"recommendation_id", list["recommendation_id"]}}
                        .dump() +
                    "\n";
            ++clicks;
          }
          ++p;
        }
        if (body.empty()) continue;
        if (Status s = Check(c->Post("/v1/events", body, "application/x-ndjson"), "POST clicks");
            !s.ok()) {
          errors[t] = s;
          return;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const Status& s : errors) LIVEREC_RETURN_IF_ERROR(s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  Json summary = {{"requests", o.requests},
                  {"failed", failed.load()},
                  {"clicks", clicks.load()},
                  {"seconds", seconds},
                  {"requests_per_s", seconds > 0 ? o.requests / seconds : 0}};
  // Closing: an event later in stream time closes the decisions' join windows, and waiting
  // for it to be learned means every click before it was learned too.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Json tick = {{"user", "sim-clock"}, {"item", ItemKey(0)}};
  if (o.close_ms > 0) tick["timestamp"] = now + o.close_ms;
  LIVEREC_RETURN_IF_ERROR(
      Check(client->Post("/v1/events?wait=learned", tick.dump(), "application/json"), "close"));
  if (!o.experiment.empty()) {
    httplib::Result r = client->Get("/v1/experiments/" + o.experiment);
    LIVEREC_RETURN_IF_ERROR(Check(r, "GET /v1/experiments/" + o.experiment));
    summary["experiment"] = Json::parse(r->body);
    if (o.poll > 0) summary["first_winner"] = first_winner;
  }
  httplib::Result stats = client->Get("/v1/stats");
  LIVEREC_RETURN_IF_ERROR(Check(stats, "GET /v1/stats"));
  summary["feedback"] = Json::parse(stats->body)["feedback"];
  std::printf("%s\n", summary.dump().c_str());
  return Status::Ok();
}

}  // namespace

void AddSimulateCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Drive a running server with simulated users who click by a position-biased model");
  auto o = std::make_shared<SimulateOptions>();
  cmd->add_option("--url", o->url, "The server")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed of the world and the users")
      ->capture_default_str();
  cmd->add_option("--users", o->users, "Simulated users")->capture_default_str();
  cmd->add_option("--items", o->items, "Items")->capture_default_str();
  cmd->add_option("--topics", o->topics, "Topics (each user likes one)")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Views per user before the requests")
      ->capture_default_str();
  cmd->add_option("--requests", o->requests, "Lists requested in all")->capture_default_str();
  cmd->add_option("--k", o->k, "List length")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Concurrent clients")->capture_default_str();
  cmd->add_option("--like", o->like, "Click appeal of an item of the user's topic")
      ->capture_default_str();
  cmd->add_option("--dislike", o->dislike, "Click appeal of any other item")->capture_default_str();
  cmd->add_option("--experiment", o->experiment,
                  "PUT this experiment first (with --arms), and report it at the end");
  cmd->add_option("--arms", o->arms, "The experiment's arms: name:model:share,...");
  cmd->add_flag("--interleave", o->interleave,
                "The experiment interleaves its two arms (team draft): --arms name:model,...");
  cmd->add_option("--learning", o->learning,
                  "The experiment's learning mode: pooled, isolated or warm_start");
  cmd->add_flag("--experiment-first", o->experiment_first,
                "Put the experiment before the warm-up views, so that arms learning on their own "
                "learn their users' histories too");
  cmd->add_option("--poll", o->poll,
                  "Read the experiment every this many requests and report the first winner "
                  "with the requests and impressions it took (0: only at the end)")
      ->capture_default_str();
  cmd->add_option("--explore", o->explore, "explore= of every request (epsilon:0.05, ...)");
  cmd->add_option("--close-ms", o->close_ms,
                  "Finally post an event this many ms in the future, closing the join windows "
                  "of the decisions (set it above feedback.join_window)");
  cmd->callback([o] {
    const Status status = Run(*o);
    if (!status.ok()) throw CLI::RuntimeError(ReportError(status));
  });
}

}  // namespace liverec::tools
