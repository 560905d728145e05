// The server's diagnostic log on stderr: one line per message, as text or as one JSON object
// (log.format). Every line the server writes to stderr goes through Log, so in JSON mode a log
// shipper can parse every line.
//
//   text: liverec: recovered in 0.12 s snapshot_seq=0 replayed=12
//         liverec: WARNING: the log ended in a damaged record ... dropped_bytes=17
//   json: {"ts":"2026-12-06T17:05:33.123Z","level":"info","msg":"recovered in 0.12 s",
//          "snapshot_seq":0,"replayed":12}
//
// Fields are typed (string, integer, number, boolean) and written in the order given; their
// keys must be plain identifiers chosen by the caller, never outside bytes. String values are
// escaped (JSON) or quoted when they hold spaces or quotes (text); invalid UTF-8 becomes U+FFFD,
// so a client's bytes cannot break a line or forge another.
//
// The sink is process-wide, like the stderr it writes to: lines come from every layer (the
// connection threads, the apply and snapshot threads, the key store), and one format holds for
// the whole process. Each line is formatted in full, then written with one write(2), so lines of
// concurrent threads never interleave (up to PIPE_BUF bytes, 4096 on Linux, on a pipe; any
// length on a regular file or the journal's socket).
//
// Thread safety: Log may be called from any thread at once. SetLogFormat is meant to be called
// once, before the threads that log start; it is atomic, so a later call is safe but a line in
// flight may still use the old format.
#ifndef LIVEREC_COMMON_LOG_H_
#define LIVEREC_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace liverec {

enum class LogFormat { kText, kJson };
enum class LogLevel { kInfo, kWarning, kError };

// One key = value of a log line. Holds views: the referenced text must outlive the Log call.
class LogField {
 public:
  LogField(std::string_view key, std::string_view value)
      : key_(key), kind_(Kind::kString), text_(value) {}
  LogField(std::string_view key, const char* value) : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, const std::string& value)
      : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, int value) : LogField(key, static_cast<int64_t>(value)) {}
  LogField(std::string_view key, int64_t value) : key_(key), kind_(Kind::kInt), int_(value) {}
  LogField(std::string_view key, uint64_t value) : key_(key), kind_(Kind::kUint), uint_(value) {}
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::kFloat), float_(value) {}
  LogField(std::string_view key, bool value) : key_(key), kind_(Kind::kBool), bool_(value) {}

  // Appends "key":value (JSON) or key=value (text) to *out.
  void AppendJson(std::string* out) const;
  void AppendText(std::string* out) const;

 private:
  enum class Kind { kString, kInt, kUint, kFloat, kBool };
  std::string_view key_;
  Kind kind_;
  std::string_view text_;
  union {
    int64_t int_;
    uint64_t uint_;
    double float_;
    bool bool_;
  };
};

// The format of every later line (the default is kText).
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();

// "text" or "json" (log.format's choices); false for anything else.
bool ParseLogFormat(std::string_view text, LogFormat* format);

// Formats one line, '\n' included, stamped `time_ms` (Unix ms; JSON only).
std::string FormatLogLine(LogFormat format, int64_t time_ms, LogLevel level,
                          std::string_view message, std::initializer_list<LogField> fields);

// Writes one line to stderr in the process's format, stamped with the system clock.
void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

// Appends `s` as a JSON string literal, quotes included; invalid UTF-8 becomes U+FFFD.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace liverec

#endif  // LIVEREC_COMMON_LOG_H_
