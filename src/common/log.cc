#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <ctime>

#include "liverec/context.h"

namespace liverec {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};

// Lines are built in a per-thread buffer: no allocation per line once warm (the request log
// writes one line per request).
thread_local std::string t_line;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the valid UTF-8 sequence at the start of `s`, or 0 if it is not one (overlong
// forms, surrogates and code points above U+10FFFF included).
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto continuation = [&](size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (b0 == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (b0 == 0xED && byte(1) >= 0xA0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (b0 == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void AppendNumber(double v, std::string* out) {
  // JSON has no NaN or infinity.
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  // Six significant digits: durations and ratios, read by people; "0.0948316", not the
  // shortest round trip "0.094831583".
  constexpr int kDigits = 6;
  char buf[32];
  const auto [end, ec] =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, kDigits);
  out->append(buf, end);
}

template <typename Int>
void AppendInt(Int v, std::string* out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Text values are bare unless they could be misread: empty, or holding a space, '=', a quote,
// a backslash or a control character; those are written as JSON strings.
void AppendTextValue(std::string_view s, std::string* out) {
  bool bare = !s.empty();
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '"' || c == '=' || c == '\\' || u >= 0x80) {
      bare = false;
      break;
    }
  }
  if (bare) {
    out->append(s);
  } else {
    AppendJsonString(s, out);
  }
}

void AppendTimestamp(int64_t time_ms, std::string* out) {
  const time_t seconds = static_cast<time_t>(time_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  out->append(buf, n);
  char ms[8];
  const int millis = static_cast<int>(time_ms % 1000);
  ms[0] = '.';
  ms[1] = static_cast<char>('0' + millis / 100);
  ms[2] = static_cast<char>('0' + millis / 10 % 10);
  ms[3] = static_cast<char>('0' + millis % 10);
  ms[4] = 'Z';
  out->append(ms, 5);
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "error";
}

void FormatInto(LogFormat format, int64_t time_ms, LogLevel level, std::string_view message,
                std::initializer_list<LogField> fields, std::string* out) {
  out->clear();
  if (format == LogFormat::kJson) {
    out->append(R"({"ts":")");
    AppendTimestamp(time_ms, out);
    out->append(R"(","level":")");
    out->append(LevelName(level));
    out->append(R"(","msg":)");
    AppendJsonString(message, out);
    for (const LogField& field : fields) {
      out->push_back(',');
      field.AppendJson(out);
    }
    out->append("}\n");
    return;
  }
  out->append("liverec: ");
  if (level == LogLevel::kWarning) out->append("WARNING: ");
  if (level == LogLevel::kError) out->append("ERROR: ");
  // The message is the caller's text, but it may quote outside bytes (a path, a parse error):
  // a newline in it would start a line no parser expects.
  for (char c : message) out->push_back(c == '\n' || c == '\r' ? ' ' : c);
  for (const LogField& field : fields) {
    out->push_back(' ');
    field.AppendText(out);
  }
  out->push_back('\n');
}

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out->append(kReplacement);
        ++i;
      } else {
        out->append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

void LogField::AppendJson(std::string* out) const {
  AppendJsonString(key_, out);
  out->push_back(':');
  switch (kind_) {
    case Kind::kString:
      AppendJsonString(text_, out);
      return;
    case Kind::kInt:
      AppendInt(int_, out);
      return;
    case Kind::kUint:
      AppendInt(uint_, out);
      return;
    case Kind::kFloat:
      AppendNumber(float_, out);
      return;
    case Kind::kBool:
      out->append(bool_ ? "true" : "false");
      return;
  }
}

void LogField::AppendText(std::string* out) const {
  out->append(key_);
  out->push_back('=');
  switch (kind_) {
    case Kind::kString:
      AppendTextValue(text_, out);
      return;
    case Kind::kInt:
      AppendInt(int_, out);
      return;
    case Kind::kUint:
      AppendInt(uint_, out);
      return;
    case Kind::kFloat:
      AppendNumber(float_, out);
      return;
    case Kind::kBool:
      out->append(bool_ ? "true" : "false");
      return;
  }
}

void SetLogFormat(LogFormat format) { g_format.store(format, std::memory_order_relaxed); }
LogFormat GetLogFormat() { return g_format.load(std::memory_order_relaxed); }

bool ParseLogFormat(std::string_view text, LogFormat* format) {
  if (text == "text") {
    *format = LogFormat::kText;
  } else if (text == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

std::string FormatLogLine(LogFormat format, int64_t time_ms, LogLevel level,
                          std::string_view message, std::initializer_list<LogField> fields) {
  std::string line;
  FormatInto(format, time_ms, level, message, fields, &line);
  return line;
}

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  FormatInto(GetLogFormat(), SystemClock::Default()->NowMs(), level, message, fields, &t_line);
  // One write per line; a short write (a full pipe's partial write) goes on from where it
  // stopped, and a failing stderr drops the line: there is nowhere else to say it.
  for (size_t sent = 0; sent < t_line.size();) {
    const ssize_t n = ::write(STDERR_FILENO, t_line.data() + sent, t_line.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  // A line that once held a large message does not keep its buffer forever.
  constexpr size_t kKeepLineBytes = 4096;
  if (t_line.capacity() > kKeepLineBytes) std::string().swap(t_line);
}

}  // namespace liverec
