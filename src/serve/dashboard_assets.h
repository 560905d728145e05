// The dashboard's files (ui/), built by esbuild and embedded into the binary at build time:
// ui/build.mjs writes the definition of DashboardAssets() into the build directory, so the
// server needs no files and no network to serve GET / and GET /ui/{asset}.
#ifndef LIVEREC_SERVE_DASHBOARD_ASSETS_H_
#define LIVEREC_SERVE_DASHBOARD_ASSETS_H_

#include <span>
#include <string_view>

namespace liverec {

// One embedded file: its name under /ui/ ("index.html", "app.js"), its Content-Type and its
// bytes (static storage).
struct DashboardAsset {
  std::string_view name;
  std::string_view content_type;
  std::string_view bytes;
};

// Every embedded file, sorted by name.
std::span<const DashboardAsset> DashboardAssets();

}  // namespace liverec

#endif  // LIVEREC_SERVE_DASHBOARD_ASSETS_H_
