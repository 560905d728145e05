// Tests of the Prometheus text writer: an exact page, escaping, value spelling, the checks on
// misuse, and (when promtool is installed) promtool's own verdict on a realistic page.
#include "serve/prometheus.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>

#include "common/strings.h"

namespace liverec {
namespace {

TEST(PrometheusWriter, WritesTheExactTextOfASmallPage) {
  PrometheusWriter w;
  w.Family("liverec_events_accepted_total", "Events acknowledged since start.", "counter");
  w.Sample("liverec_events_accepted_total", 1234);
  w.Family("liverec_model_recall", "Online Recall@K per model.", "gauge");
  w.Sample("liverec_model_recall", {{"model", "mf"}, {"type", "mf"}}, 0.25);
  w.Sample("liverec_model_recall", {{"model", "pop"}, {"type", "popularity"}}, 0.125);
  EXPECT_EQ(w.text(),
            "# HELP liverec_events_accepted_total Events acknowledged since start.\n"
            "# TYPE liverec_events_accepted_total counter\n"
            "liverec_events_accepted_total 1234\n"
            "# HELP liverec_model_recall Online Recall@K per model.\n"
            "# TYPE liverec_model_recall gauge\n"
            "liverec_model_recall{model=\"mf\",type=\"mf\"} 0.25\n"
            "liverec_model_recall{model=\"pop\",type=\"popularity\"} 0.125\n");
}

TEST(PrometheusWriter, EscapesHelpAndLabelValues) {
  PrometheusWriter w;
  w.Family("x_info", "a \\ b\nc \"quoted\"", "gauge");
  w.Sample("x_info", {{"path", "C:\\dir\n\"x\""}}, 1);
  EXPECT_EQ(w.text(),
            "# HELP x_info a \\\\ b\\nc \"quoted\"\n"
            "# TYPE x_info gauge\n"
            "x_info{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(PrometheusWriter, ValuesAreSpelledAsPrometheusReadsThem) {
  EXPECT_EQ(FormatPrometheusValue(0), "0");
  EXPECT_EQ(FormatPrometheusValue(-0.0), "0");
  EXPECT_EQ(FormatPrometheusValue(42), "42");
  EXPECT_EQ(FormatPrometheusValue(-7), "-7");
  EXPECT_EQ(FormatPrometheusValue(1e15), "1000000000000000");
  // 2^64: beyond int64_t, so the shortest double text (which happens to be plain here).
  EXPECT_EQ(FormatPrometheusValue(18446744073709551616.0), "18446744073709551616");
  EXPECT_EQ(FormatPrometheusValue(1e300), "1e+300");
  EXPECT_EQ(FormatPrometheusValue(0.5), "0.5");
  EXPECT_EQ(FormatPrometheusValue(0.1), "0.1");
  EXPECT_EQ(FormatPrometheusValue(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatPrometheusValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatPrometheusValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatPrometheusValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(PrometheusWriter, SummaryAndHistogramTakeTheirSuffixedSamples) {
  PrometheusWriter w;
  w.Family("rpc_duration_seconds", "RPC latency.", "summary");
  w.Sample("rpc_duration_seconds", {{"quantile", "0.99"}}, 0.004);
  w.Sample("rpc_duration_seconds_sum", 1.5);
  w.Sample("rpc_duration_seconds_count", 300);
  w.Family("batch_size", "Events per batch.", "histogram");
  w.Sample("batch_size_bucket", {{"le", "+Inf"}}, 3);
  w.Sample("batch_size_count", 3);
  EXPECT_EQ(w.text(),
            "# HELP rpc_duration_seconds RPC latency.\n"
            "# TYPE rpc_duration_seconds summary\n"
            "rpc_duration_seconds{quantile=\"0.99\"} 0.004\n"
            "rpc_duration_seconds_sum 1.5\n"
            "rpc_duration_seconds_count 300\n"
            "# HELP batch_size Events per batch.\n"
            "# TYPE batch_size histogram\n"
            "batch_size_bucket{le=\"+Inf\"} 3\n"
            "batch_size_count 3\n");
}

TEST(PrometheusWriterDeathTest, MisuseIsABug) {
  EXPECT_DEATH(PrometheusWriter().Family("1bad", "h", "gauge"), "bad metric name");
  EXPECT_DEATH(PrometheusWriter().Family("bad-name", "h", "gauge"), "bad metric name");
  EXPECT_DEATH(PrometheusWriter().Family("requests", "h", "counter"), "must end in _total");
  EXPECT_DEATH(PrometheusWriter().Family("x", "h", "meter"), "bad metric type");
  EXPECT_DEATH(PrometheusWriter().Sample("x", 1), "before any Family");
  EXPECT_DEATH(
      {
        PrometheusWriter w;
        w.Family("x", "h", "gauge");
        w.Family("x", "h", "gauge");
      },
      "declared twice");
  EXPECT_DEATH(
      {
        PrometheusWriter w;
        w.Family("x", "h", "gauge");
        w.Sample("y", 1);
      },
      "outside family");
  EXPECT_DEATH(
      {
        PrometheusWriter w;
        w.Family("x", "h", "gauge");
        w.Sample("x_sum", 1);
      },
      "outside family");
  EXPECT_DEATH(
      {
        PrometheusWriter w;
        w.Family("x", "h", "gauge");
        w.Sample("x", {{"a:b", "v"}}, 1);
      },
      "bad label name");
  EXPECT_DEATH(
      {
        PrometheusWriter w;
        w.Family("x", "h", "gauge");
        w.Sample("x", {{"__name__", "v"}}, 1);
      },
      "bad label name");
  EXPECT_DEATH(
      {
        PrometheusWriter w;
        w.Family("x", "h", "gauge");
        w.Sample("x", {{"a", "1"}, {"a", "2"}}, 1);
      },
      "given twice");
}

// The page GET /metrics is expected to serve, in miniature.
std::string RealisticPage() {
  PrometheusWriter w;
  w.Family("liverec_events_accepted_total", "Events acknowledged since start.", "counter");
  w.Sample("liverec_events_accepted_total", 1234567);
  w.Family("liverec_events_rejected_total", "Events rejected at validation, by field.", "counter");
  w.Sample("liverec_events_rejected_total", {{"field", "user"}}, 3);
  w.Sample("liverec_events_rejected_total", {{"field", "context.a\"b\\c\nd"}}, 1);
  w.Family("liverec_queue_depth", "Records accepted but not yet applied.", "gauge");
  w.Sample("liverec_queue_depth", 17);
  w.Family("liverec_model_recall", "Online test-then-train Recall@K.\nPer model.", "gauge");
  w.Sample("liverec_model_recall", {{"model", "mf"}, {"type", "mf"}}, 0.1668);
  w.Sample("liverec_model_recall", {{"model", "knn"}, {"type", "item_knn"}},
           std::numeric_limits<double>::quiet_NaN());
  w.Family("liverec_model_memory_bytes", "Model memory.", "gauge");
  w.Sample("liverec_model_memory_bytes", {{"model", "mf"}}, 123456789012.0);
  w.Family("liverec_http_request_duration_seconds", "HTTP request latency.", "summary");
  w.Sample("liverec_http_request_duration_seconds", {{"route", "/v1/events"}, {"quantile", "0.5"}},
           0.00006);
  w.Sample("liverec_http_request_duration_seconds", {{"route", "/v1/events"}, {"quantile", "0.99"}},
           std::numeric_limits<double>::infinity());
  w.Sample("liverec_http_request_duration_seconds_sum", {{"route", "/v1/events"}}, 12.5);
  w.Sample("liverec_http_request_duration_seconds_count", {{"route", "/v1/events"}}, 200000);
  w.Family("liverec_ingest_batch_events", "Events per ingest batch.", "histogram");
  w.Sample("liverec_ingest_batch_events_bucket", {{"le", "1"}}, 5);
  w.Sample("liverec_ingest_batch_events_bucket", {{"le", "100"}}, 9);
  w.Sample("liverec_ingest_batch_events_bucket", {{"le", "+Inf"}}, 10);
  w.Sample("liverec_ingest_batch_events_sum", 2500);
  w.Sample("liverec_ingest_batch_events_count", 10);
  return w.text();
}

// The first directory of $PATH holding an executable `name`, or "".
std::string FindOnPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (std::string_view dir : Split(path, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = std::string(dir) + "/" + std::string(name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

TEST(PrometheusWriter, PromtoolAcceptsARealisticPage) {
  const std::string promtool = FindOnPath("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool is not on PATH (Debian package prometheus)";
  const std::string file = testing::TempDir() + "liverec_prometheus_test.txt";
  {
    std::ofstream out(file, std::ios::binary);
    out << RealisticPage();
  }
  const std::string command = "'" + promtool + "' check metrics < '" + file + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[256];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  const int status = pclose(pipe);
  std::remove(file.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output << "\npage:\n" << RealisticPage();
}

}  // namespace
}  // namespace liverec
