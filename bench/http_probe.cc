// liverec-http-probe: freshness under load. Sends one event at a time for a user the server
// has never seen, with ?wait=learned, then asks for that user's recommendations and checks
// they reflect the event (no longer the unknown-user fallback). Prints the median and p99 of
// send -> learned (the event is visible from then on) over --count probes.
//
//   liverec-http-probe --port 8080 --item i1 --count 2000
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"Freshness probe: event accepted -> visible in that user's recommendations"};
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string item = "i1";
  int count = 1000;
  app.add_option("--host", host);
  app.add_option("--port", port);
  app.add_option("--item", item, "An item the server knows");
  app.add_option("--count", count);
  CLI11_PARSE(app, argc, argv);

  httplib::Client client(host, port);
  client.set_tcp_nodelay(true);
  client.set_keep_alive(true);
  std::vector<double> ms;
  int stale = 0;
  const auto run = std::chrono::steady_clock::now().time_since_epoch().count();
  for (int i = 0; i < count; ++i) {
    const std::string user = "probe-" + std::to_string(run) + "-" + std::to_string(i);
    const std::string body = R"({"user":")" + user + R"(","item":")" + item + R"("})";
    const auto start = std::chrono::steady_clock::now();
    httplib::Result res = client.Post("/v1/events?wait=learned", body, "application/json");
    const auto end = std::chrono::steady_clock::now();
    if (!res || res->status != 200) {
      std::fprintf(stderr, "probe %d: ingest failed (%d)\n", i, res ? res->status : -1);
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    httplib::Result recs = client.Get("/v1/recommendations?user=" + user + "&k=10");
    if (!recs || recs->status != 200 ||
        recs->body.find(R"("fallback":false)") == std::string::npos) {
      ++stale;
    }
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("freshness probes=%d median_ms=%.3f p99_ms=%.3f max_ms=%.3f stale=%d\n", count,
              at(0.5), at(0.99), ms.back(), stale);
  return stale == 0 ? 0 : 1;
}
