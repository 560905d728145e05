#include "serve/dashboard.h"

#include <algorithm>

#include "serve/auth.h"

namespace liverec {

const DashboardAsset* FindDashboardAsset(std::string_view name) {
  const std::span<const DashboardAsset> assets = DashboardAssets();
  auto it =
      std::lower_bound(assets.begin(), assets.end(), name,
                       [](const DashboardAsset& a, std::string_view n) { return a.name < n; });
  if (it == assets.end() || it->name != name) return nullptr;
  return &*it;
}

std::vector<std::pair<std::string, std::string>> DashboardHeaders() {
  return {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
      {"X-Frame-Options", "DENY"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-cache"},
  };
}

std::string SseEvent(std::string_view data) {
  std::string event = "data: ";
  event.append(data);
  event.append("\n\n");
  return event;
}

bool IsOwnOriginWrite(std::string_view origin, std::string_view host, bool tls,
                      bool keys_enforced) {
  const std::string_view scheme = tls ? "https://" : "http://";
  if (host.empty() || origin.size() != scheme.size() + host.size() ||
      origin.substr(0, scheme.size()) != scheme || origin.substr(scheme.size()) != host) {
    return false;
  }
  if (keys_enforced) return true;
  // The host name without its port: "[::1]:8080" -> "::1", "localhost:8080" -> "localhost".
  std::string_view name = host;
  if (name.front() == '[') {
    const size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    name = name.substr(1, close - 1);
  } else if (const size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  return IsLoopbackHost(name);
}

StatsStreams::Slot::~Slot() {
  std::lock_guard lock(streams_->mu_);
  --streams_->open_;
}

std::unique_ptr<StatsStreams::Slot> StatsStreams::Open() {
  std::lock_guard lock(mu_);
  if (open_ >= max_streams_) return nullptr;
  ++open_;
  return std::make_unique<Slot>(this);
}

bool StatsStreams::WaitNext(std::chrono::milliseconds interval) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, interval, [this] { return stopped_; });
  return !stopped_;
}

void StatsStreams::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

size_t StatsStreams::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace liverec
