#include "eval/chart.h"

#include <gtest/gtest.h>

#include "eval/report.h"

namespace liverec {
namespace {

ReplayReport TwoRuns() {
  ReplayReport report;
  report.num_events = 100;
  for (Protocol p : {Protocol::kOnline, Protocol::kStatic}) {
    RunResult r;
    r.model = "mf";
    r.type = "mf";
    r.protocol = p;
    r.metrics.recall = p == Protocol::kOnline ? 0.3 : 0.1;
    r.metrics.events = 50;
    for (int w = 0; w < 3; ++w) {
      r.series.push_back({1'700'000'000'000 + w * 86'400'000LL,
                          1'700'000'000'000 + (w + 1) * 86'400'000LL, 100,
                          r.metrics.recall * (w + 1) / 3, 0, 0});
    }
    report.results.push_back(r);
  }
  return report;
}

TEST(ChartTest, SvgHasAxesLegendAndOneLinePerRun) {
  std::string svg = RecallChartSvg(TwoRuns(), "a <title>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("a &lt;title&gt;"), std::string::npos);  // escaped
  EXPECT_NE(svg.find("Recall@10 per window"), std::string::npos);
  EXPECT_NE(svg.find("stream time (UTC)"), std::string::npos);
  EXPECT_NE(svg.find("mf online (0.300)"), std::string::npos);
  EXPECT_NE(svg.find("mf static (0.100)"), std::string::npos);
  size_t lines = 0;
  for (size_t pos = 0; (pos = svg.find("<polyline", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 2u);
  EXPECT_NE(svg.find(">11-14 22:13<"), std::string::npos);  // a date tick (span < 8 days)
  EXPECT_EQ(svg.find("left out"), std::string::npos);       // every window drawn
}

TEST(ChartTest, SparseStragglerWindowsDoNotStretchTheTimeAxis) {
  ReplayReport report = TwoRuns();
  for (RunResult& r : report.results) {
    // One late event, 20 days after the bulk: it would squeeze the chart into its left edge.
    r.series.push_back({1'700'000'000'000 + 20 * 86'400'000LL,
                        1'700'000'000'000 + 21 * 86'400'000LL, 1, 1.0, 1.0, 1.0});
  }
  std::string svg = RecallChartSvg(report, "t");
  EXPECT_EQ(svg.find("12-0"), std::string::npos) << "a tick in December means a stretched axis";
  EXPECT_NE(svg.find("sparse windows left out"), std::string::npos);
  EXPECT_EQ(svg.find(">100%<"), std::string::npos) << "the straggler's recall set the y range";
}

TEST(ReportTest, SeriesCsvAndVerdictSayWhatTheNumbersSay) {
  ReplayReport report = TwoRuns();
  std::string csv = SeriesCsv(report);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "window_start_ms,window_end_ms,model,protocol,events,recall,ndcg,mrr");
  EXPECT_NE(csv.find("1700000000000,1700086400000,mf,online,100,0.100000"), std::string::npos);
  std::string verdict = OnlineVerdict(report);
  EXPECT_NE(verdict.find("mf online: Recall 0.3000 beats static 0.1000"), std::string::npos)
      << verdict;
  std::string json = ReportJson(report, R"({"source": "test"})");
  EXPECT_NE(json.find("\"protocol\": \"static\""), std::string::npos);
  EXPECT_NE(json.find("\"source\": \"test\""), std::string::npos);
}

}  // namespace
}  // namespace liverec
