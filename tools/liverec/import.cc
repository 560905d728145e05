// liverec import: a data set file (MovieLens, CSV/TSV, JSON Lines; the readers of `replay`)
// posted to a running server through POST /v1/events in batches, in stream order.
//
// Nothing is dropped silently: every event read is counted as accepted or rejected (with the
// server's field and reason for the first few), lines the reader skipped (--skip-bad) are
// counted too, and a batch refused whole (429, 503) is sent again after the server's
// Retry-After, up to --max-retries times, then the import stops and says how many events were
// never sent. The summary is one JSON object on stdout; progress goes to stderr. The exit
// status is 0 only when every event read was accepted.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "commands.h"
#include "event/readers.h"

namespace liverec::tools {
namespace {

using Json = nlohmann::json;

// The rejections printed to stderr; the rest are counted only.
constexpr size_t kMaxRejectionsShown = 10;
// Seconds waited before a retry when a 429 or 503 carries no usable Retry-After.
constexpr int kDefaultRetryAfterSeconds = 1;
// The longest Retry-After honoured, so that a wrong header cannot stall the import for hours.
constexpr int kMaxRetryAfterSeconds = 60;

struct ImportOptions {
  DataFlags data;
  std::string url = "http://127.0.0.1:8080";
  size_t batch = 5000;
  std::string wait = "durable";
  size_t max_retries = 100;
};

struct ImportCounts {
  size_t read = 0;
  size_t skipped_lines = 0;
  size_t sent = 0;
  size_t accepted = 0;
  size_t rejected = 0;
  size_t duplicates = 0;
  size_t batches = 0;
  size_t retries = 0;
};

Json EventJson(const Dataset& data, const Event& e) {
  Json out = {{"user", data.users.Key(e.user)}, {"item", data.items.Key(e.item)}};
  const std::string& type = data.event_types.Key(e.type);
  if (!type.empty()) out["type"] = type;
  out["value"] = e.value;
  out["timestamp"] = e.time_ms;
  if (e.context_size > 0) {
    Json context = Json::object();
    for (const ContextPair& pair : data.ContextOf(e)) {
      context[data.context_keys.Key(pair.key)] = data.context_values.Key(pair.value);
    }
    out["context"] = std::move(context);
  }
  if (e.id != kInvalidId) out["id"] = data.event_ids.Key(e.id);
  return out;
}

int RetryAfterSeconds(const httplib::Response& response) {
  const std::string text = response.get_header_value("Retry-After");
  char* end = nullptr;
  const long seconds = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || seconds < 0) return kDefaultRetryAfterSeconds;
  return static_cast<int>(std::min<long>(seconds, kMaxRetryAfterSeconds));
}

// Progress on stderr: on a terminal one line redrawn per batch; in a log a line per tenth of
// the input.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(::isatty(STDERR_FILENO) == 1) {}

  void Update(const ImportCounts& c, bool done) {
    const size_t tenth = total_ == 0 ? 0 : c.sent * 10 / total_;
    if (!tty_ && !done && tenth == last_tenth_) return;
    if (!tty_ && done && printed_ && c.sent == last_sent_) return;
    last_tenth_ = tenth;
    last_sent_ = c.sent;
    printed_ = true;
    std::fprintf(stderr, "%simport: %zu/%zu events sent, %zu accepted, %zu rejected%s",
                 tty_ ? "\r" : "", c.sent, total_, c.accepted, c.rejected,
                 tty_ && !done ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  size_t total_;
  bool tty_;
  size_t last_tenth_ = 0;
  size_t last_sent_ = 0;
  bool printed_ = false;
};

// Posts events [begin, end) of `data` as one NDJSON batch until the server takes it (200, or
// 400 when every event was rejected), adding its answer to *counts.
Status PostBatch(httplib::Client* client, const ImportOptions& o, const Dataset& data, size_t begin,
                 size_t end, ImportCounts* counts) {
  std::string body;
  for (size_t i = begin; i < end; ++i) body += EventJson(data, data.events[i]).dump() + "\n";
  const std::string path = "/v1/events?wait=" + o.wait;
  for (size_t attempt = 0;; ++attempt) {
    httplib::Result result = client->Post(path, body, "application/x-ndjson");
    if (!result) {
      return IOError("POST " + path + ": " + httplib::to_string(result.error()));
    }
    const int status = result->status;
    if (status == 429 || status == 503) {
      if (attempt == o.max_retries) {
        return Unavailable("POST " + path + ": HTTP " + std::to_string(status) + " after " +
                           std::to_string(o.max_retries) + " retries: " + result->body);
      }
      ++counts->retries;
      std::this_thread::sleep_for(std::chrono::seconds(RetryAfterSeconds(*result)));
      continue;
    }
    if (status != 200 && status != 400) {
      return FailedPrecondition("POST " + path + ": HTTP " + std::to_string(status) + " " +
                                result->body + (status == 413 ? " (lower --batch)" : ""));
    }
    Json answer;
    try {
      answer = Json::parse(result->body);
      const size_t accepted = answer.at("accepted").get<size_t>();
      const Json& rejected = answer.at("rejected");
      if (accepted + rejected.size() != end - begin) {
        return Internal("POST " + path + ": the server counted " + std::to_string(accepted) +
                        " accepted and " + std::to_string(rejected.size()) + " rejected of " +
                        std::to_string(end - begin) + " events sent");
      }
      counts->accepted += accepted;
      counts->duplicates += answer.at("duplicates").get<size_t>();
      for (const Json& r : rejected) {
        if (counts->rejected++ < kMaxRejectionsShown) {
          std::fprintf(
              stderr, "import: event %zu rejected: %s: %s\n", begin + r.at("index").get<size_t>(),
              r.at("field").get<std::string>().c_str(), r.at("reason").get<std::string>().c_str());
        }
      }
    } catch (const std::exception& e) {
      return Internal("POST " + path + ": HTTP " + std::to_string(status) +
                      " with an answer that is not an ingest result (" + e.what() +
                      "): " + result->body.substr(0, 200));
    }
    counts->sent += end - begin;
    ++counts->batches;
    return Status::Ok();
  }
}

Json Summary(const ImportCounts& c, double seconds) {
  return {{"read", c.read},
          {"skipped_lines", c.skipped_lines},
          {"sent", c.sent},
          {"accepted", c.accepted},
          {"rejected", c.rejected},
          {"duplicates", c.duplicates},
          {"not_sent", c.read - c.sent},
          {"batches", c.batches},
          {"retries", c.retries},
          {"seconds", seconds}};
}

// Returns the process exit code: 0 when every event read was accepted.
StatusOr<int> Import(const ImportOptions& o) {
  if (o.batch == 0) return InvalidArgument("--batch: expected at least 1");
  if (o.wait != "durable" && o.wait != "learned") {
    return InvalidArgument("--wait: expected durable or learned, got '" + o.wait + "'");
  }
  LIVEREC_ASSIGN_OR_RETURN(ReadOptions read_options, o.data.ToReadOptions());
  ReadStats read_stats;
  LIVEREC_ASSIGN_OR_RETURN(const Dataset data, ReadDataset(o.data.path, read_options, &read_stats));
  ImportCounts counts;
  counts.read = data.events.size();
  counts.skipped_lines = read_stats.skipped;
  for (const std::string& message : read_stats.first_errors) {
    std::fprintf(stderr, "import: skipped %s\n", message.c_str());
  }
  httplib::Client client(o.url);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(120, 0);
  Progress progress(counts.read);
  const auto start = std::chrono::steady_clock::now();
  Status status;
  for (size_t begin = 0; begin < data.events.size() && status.ok(); begin += o.batch) {
    status =
        PostBatch(&client, o, data, begin, std::min(begin + o.batch, data.events.size()), &counts);
    progress.Update(counts, false);
  }
  progress.Update(counts, true);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s\n", Summary(counts, seconds).dump().c_str());
  std::fflush(stdout);
  if (!status.ok()) {
    return status.WithPrefix("import stopped with " + std::to_string(counts.read - counts.sent) +
                             " events not sent");
  }
  return counts.accepted == counts.read && counts.skipped_lines == 0 ? 0 : 1;
}

}  // namespace

void AddImportCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "import", "Post a data set file to a running server's POST /v1/events, in batches");
  auto o = std::make_shared<ImportOptions>();
  cmd->add_option("file", o->data.path,
                  "MovieLens u.data / ratings.dat, CSV/TSV with a header, JSON Lines (.gz ok), "
                  "or a folder holding one")
      ->required();
  o->data.AddTo(cmd);
  cmd->add_option("--url", o->url, "The server")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Events per request")->capture_default_str();
  cmd->add_option("--wait", o->wait, "What each batch waits for: durable or learned")
      ->capture_default_str();
  cmd->add_option("--max-retries", o->max_retries,
                  "Times one batch refused with 429/503 is sent again (after Retry-After)")
      ->capture_default_str();
  cmd->callback([o] {
    StatusOr<int> code = Import(*o);
    if (!code.ok()) throw CLI::RuntimeError(ReportError(code.status()));
    if (*code != 0) throw CLI::RuntimeError(*code);
  });
}

}  // namespace liverec::tools
