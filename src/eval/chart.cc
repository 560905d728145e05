#include "eval/chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <vector>

namespace liverec {
namespace {

constexpr double kWidth = 1000;
constexpr double kHeight = 560;
constexpr double kLeft = 70;    // room for y tick labels
constexpr double kRight = 230;  // room for the legend
constexpr double kTop = 50;
constexpr double kBottom = 60;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                   "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

const char* DashOf(Protocol p) {
  switch (p) {
    case Protocol::kOnline:
      return "";
    case Protocol::kWarm:
      return "8,3,2,3";
    case Protocol::kPeriodic:
      return "6,4";
    case Protocol::kStatic:
      return "2,3";
    case Protocol::kLoo:  // no series: only its legend entry is drawn
      return "1,4";
    case Protocol::kServed:
      return "10,2";
  }
  return "";
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatTime(int64_t ms, bool with_hours) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), with_hours ? "%m-%d %H:%M" : "%Y-%m-%d", &tm);
  return buf;
}

// A "nice" step (1, 2 or 5 times a power of ten) giving about `target` ticks over `span`.
double NiceStep(double span, int target) {
  double raw = span / target;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * power) return m * power;
  }
  return 10 * power;
}

// Which windows the chart draws. The time axis spans the windows that hold the bulk of the
// scored events (all but kTailShare at each end), and windows holding fewer events than
// kMinWindowShare of the mean window in that span are left out: a handful of late events (long
// sessions past a data set's cut, say) would otherwise stretch the axis and swing Recall
// between 0 and 1.
constexpr double kTailShare = 0.0025;
constexpr double kMinWindowShare = 0.05;

struct WindowFilter {
  int64_t from_ms = INT64_MIN;
  int64_t to_ms = INT64_MAX;
  uint64_t min_events = 0;
  bool Keeps(const WindowPoint& p) const {
    return p.start_ms >= from_ms && p.end_ms <= to_ms && p.events >= min_events;
  }
};

WindowFilter ChooseWindows(const ReplayReport& report) {
  WindowFilter filter;
  if (report.results.empty() || report.results.front().series.empty()) return filter;
  // Every run scores the same events, so the first run's windows stand for all.
  const std::vector<WindowPoint>& series = report.results.front().series;
  uint64_t total = 0;
  for (const WindowPoint& p : series) total += p.events;
  const auto tail = static_cast<uint64_t>(kTailShare * static_cast<double>(total));
  uint64_t seen = 0;
  size_t first = 0;
  while (first + 1 < series.size() && seen + series[first].events <= tail) {
    seen += series[first++].events;
  }
  seen = 0;
  size_t last = series.size() - 1;
  while (last > first && seen + series[last].events <= tail) seen += series[last--].events;
  filter.from_ms = series[first].start_ms;
  filter.to_ms = series[last].end_ms;
  uint64_t in_span = 0;
  for (size_t i = first; i <= last; ++i) in_span += series[i].events;
  const double mean = static_cast<double>(in_span) / static_cast<double>(last - first + 1);
  filter.min_events = static_cast<uint64_t>(kMinWindowShare * mean);
  return filter;
}

}  // namespace

std::string RecallChartSvg(const ReplayReport& report, const std::string& title) {
  const WindowFilter filter = ChooseWindows(report);
  bool left_out = false;
  int64_t t_min = INT64_MAX;
  int64_t t_max = INT64_MIN;
  double y_max = 0;
  uint32_t k = 10;
  for (const RunResult& r : report.results) {
    k = r.k;
    for (const WindowPoint& p : r.series) {
      if (!filter.Keeps(p)) {
        left_out = true;
        continue;
      }
      t_min = std::min(t_min, p.start_ms);
      t_max = std::max(t_max, p.end_ms);
      y_max = std::max(y_max, p.recall);
    }
  }
  if (t_min >= t_max) {
    t_min = 0;
    t_max = 1;
  }
  y_max = y_max <= 0 ? 0.1 : y_max * 1.1;
  const double y_step = NiceStep(y_max, 6);
  y_max = std::ceil(y_max / y_step) * y_step;

  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  auto x_of = [&](double t) {
    return kLeft + plot_w * (t - static_cast<double>(t_min)) / static_cast<double>(t_max - t_min);
  };
  auto y_of = [&](double v) { return kTop + plot_h * (1 - v / y_max); };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} "
      "{}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"28\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
      kWidth, kHeight, kWidth, kHeight, kLeft, Escape(title));

  // Y grid and labels (percent).
  for (double v = 0; v <= y_max + 1e-12; v += y_step) {
    double y = y_of(v);
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.{}f}%</text>\n",
        kLeft, y, kLeft + plot_w, y, kLeft - 6, y + 4, 100 * v, y_step * 100 < 1 ? 1 : 0);
  }
  // X ticks: 7 dates; with hours when less than a day apart (dates alone would repeat).
  const bool with_hours = (t_max - t_min) < 8LL * 86'400'000;
  constexpr int kXTicks = 6;
  for (int i = 0; i <= kXTicks; ++i) {
    double t = static_cast<double>(t_min) + (static_cast<double>(t_max - t_min) * i) / kXTicks;
    double x = x_of(t);
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#888\"/>\n"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
        x, kTop + plot_h, x, kTop + plot_h + 5, x, kTop + plot_h + 20,
        FormatTime(static_cast<int64_t>(t), with_hours));
  }
  svg += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", kLeft,
      kTop, plot_w, plot_h);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">stream time (UTC), windows of "
      "scored events</text>\n",
      kLeft + plot_w / 2, kHeight - 15);
  svg += fmt::format(
      "<text transform=\"translate(18,{:.1f}) rotate(-90)\" text-anchor=\"middle\">Recall@{} "
      "per window</text>\n",
      kTop + plot_h / 2, k);

  // Lines and legend.
  std::map<std::string, size_t> color_of;
  double legend_y = kTop + 10;
  for (const RunResult& r : report.results) {
    size_t color = color_of.emplace(r.model, color_of.size()).first->second;
    const char* stroke = kColors[color % std::size(kColors)];
    std::string points;
    for (const WindowPoint& p : r.series) {
      if (!filter.Keeps(p)) continue;
      double mid = 0.5 * static_cast<double>(p.start_ms + p.end_ms);
      points += fmt::format("{:.1f},{:.1f} ", x_of(mid), y_of(p.recall));
    }
    svg += fmt::format(
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"{}\" "
        "points=\"{}\"/>\n",
        stroke, DashOf(r.protocol), points);
    const double lx = kLeft + plot_w + 15;
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
        "stroke-width=\"2\" stroke-dasharray=\"{}\"/>\n"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{} {} ({:.3f})</text>\n",
        lx, legend_y, lx + 30, legend_y, stroke, DashOf(r.protocol), lx + 36, legend_y + 4,
        Escape(r.model), ProtocolName(r.protocol), r.metrics.recall);
    legend_y += 18;
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\">(overall Recall@{})</text>\n",
                     kLeft + plot_w + 15, legend_y + 8, k);
  if (left_out) {
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\">sparse windows left out</text>\n"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\">(under {} events, or in the</text>\n"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\">first or last {:.2g}% of events)</text>\n",
        kLeft + plot_w + 15, legend_y + 26, kLeft + plot_w + 15, legend_y + 42, filter.min_events,
        kLeft + plot_w + 15, legend_y + 58, 100 * kTailShare);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace liverec
