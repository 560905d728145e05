// The operator's dashboard, as the HTTP server serves it (docs/http_api.md, "Dashboard"):
// its embedded files (GET / and GET /ui/{asset}), the server-sent events of
// GET /v1/stats/stream, and the rule that lets the page's own writes (snapshot, rollback) pass
// the Origin check.
//
// A stream holds one connection and its thread for as long as the page stays open, so their
// number is capped (serve.max_streams) apart from serve.max_connections, and every stream ends
// when the server stops: a SIGTERM drain never waits for a dashboard to close.
#ifndef LIVEREC_SERVE_DASHBOARD_H_
#define LIVEREC_SERVE_DASHBOARD_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serve/dashboard_assets.h"

namespace liverec {

// The embedded file `name` ("index.html"), or nullptr.
const DashboardAsset* FindDashboardAsset(std::string_view name);

// The headers of every dashboard file: a Content-Security-Policy that admits only this
// server's own scripts, styles and connections (no inline script, no CDN), no framing (the
// rollback button cannot be clickjacked), no MIME sniffing, no Referer, and no caching past
// the binary that serves them.
std::vector<std::pair<std::string, std::string>> DashboardHeaders();

// One server-sent event carrying `data` (one line of JSON: no newline), as the
// text/event-stream format frames it: "data: <data>\n\n".
std::string SseEvent(std::string_view data);

// True if a write carrying `origin` comes from a page of this server itself: `origin` is
// "http://" + `host` (or "https://" with `tls`), `host` being the request's Host header. Such a
// write is let through the serve.cors_origins check only when a credential guards it anyway
// (`keys_enforced`) or when `host` names loopback: a page of another site that a DNS name made
// point at this server (DNS rebinding) has that name as its Host, never a loopback one.
bool IsOwnOriginWrite(std::string_view origin, std::string_view host, bool tls, bool keys_enforced);

// The open streams: a slot per stream up to a cap, and the wait between two events, which
// Stop cuts short. Thread safety: every method may be called from any thread.
class StatsStreams {
 public:
  explicit StatsStreams(size_t max_streams) : max_streams_(max_streams) {}

  // Holds one stream's slot until destroyed.
  class Slot {
   public:
    explicit Slot(StatsStreams* streams) : streams_(streams) {}
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    StatsStreams* streams_;
  };

  // A slot, or nullptr when max_streams are open. (After Stop a stream still gets its slot
  // and its first event; its first WaitNext ends it.)
  std::unique_ptr<Slot> Open();

  // Waits `interval`, or less if Stop is called; false once stopped (the stream should end).
  bool WaitNext(std::chrono::milliseconds interval);

  // Ends every wait at once, now and later.
  void Stop();

  size_t open() const;
  size_t max_streams() const { return max_streams_; }

 private:
  const size_t max_streams_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t open_ = 0;       // guarded by mu_
  bool stopped_ = false;  // guarded by mu_
};

}  // namespace liverec

#endif  // LIVEREC_SERVE_DASHBOARD_H_
