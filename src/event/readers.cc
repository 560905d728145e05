#include "event/readers.h"

#include <algorithm>
#include <array>
#include <cfloat>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>

#include "common/strings.h"
#include "event/data_file.h"
#include "event/json_line.h"

namespace liverec {
namespace {

constexpr size_t kMaxKeptErrors = 10;
constexpr int64_t kMsPerSecond = 1000;
// TimeUnit::kAuto: Unix seconds stay below 1e11 until the year 5138; Unix milliseconds pass
// 1e11 in 1973.
constexpr double kAutoMillisecondsAbove = 1e11;
// Event::type is 16 bits and Event::context_size is below UINT16_MAX (Dataset::AddContext).
constexpr size_t kMaxEventTypes = size_t{std::numeric_limits<EventTypeId>::max()} + 1;
constexpr size_t kMaxContextPairsPerEvent = UINT16_MAX - 1;
constexpr size_t kMaxContextPairsTotal = UINT32_MAX;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kMovieLensColonSeparator = "::";
constexpr std::string_view kMovieLensTabSeparator = "\t";
constexpr std::string_view kRatingType = "rating";

// ---------------------------------------------------------------------------------------------
// Small helpers.

bool ToFiniteFloat(double v, float* out) {
  if (!std::isfinite(v) || std::fabs(v) > FLT_MAX) return false;
  *out = static_cast<float>(v);
  return true;
}

// Parses straight to float (not through double), so that the shortest text of a float, as
// WriteDataset prints it, reads back as the same float.
bool ParseValue(std::string_view s, float* out) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  float v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
    return false;
  }
  *out = v;
  return true;
}

bool SecondsToMs(int64_t seconds, int64_t* ms) {
  if (seconds > INT64_MAX / kMsPerSecond || seconds < INT64_MIN / kMsPerSecond) return false;
  *ms = seconds * kMsPerSecond;
  return true;
}

// The file name without folders and without a trailing ".gz", lower-cased.
std::string BaseName(std::string_view name) {
  std::string lower = LowerBaseName(name);
  if (EndsWith(lower, ".gz")) lower.resize(lower.size() - 3);
  return lower;
}

// Splits `s` on `sep` into `out`; returns the number of fields, which may exceed out.size()
// (only the first out.size() are stored).
size_t SplitInto(std::string_view s, std::string_view sep, std::span<std::string_view> out) {
  size_t count = 0;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    std::string_view field = s.substr(start, pos == std::string_view::npos ? s.npos : pos - start);
    if (count < out.size()) out[count] = field;
    ++count;
    if (pos == std::string_view::npos) return count;
    start = pos + sep.size();
  }
}

// ---------------------------------------------------------------------------------------------
// One parse: its output, its counters and the skip_bad policy.

// The validated fields of one line. Nothing touches the Dataset before a line is known to be
// good, so a skipped line leaves no key, type or context value behind.
struct LineEvent {
  std::string_view user;
  std::string_view item;
  std::string_view type;
  std::string_view id;
  bool has_id = false;
  float value = 1.0f;
  int64_t time_ms = 0;
};

class Parse {
 public:
  Parse(std::string_view name, const ReadOptions& options) : name_(name), options_(options) {}

  const ReadOptions& options() const { return options_; }
  Dataset& dataset() { return dataset_; }
  ReadStats& stats() { return stats_; }

  bool Full() const {
    return options_.max_events != 0 && dataset_.events.size() >= options_.max_events;
  }

  // "NAME:LINE: message" as an InvalidArgument status.
  Status Error(size_t line_no, std::string_view message) const {
    return LineError(name_, line_no, message);
  }

  // A malformed data line: fails the parse, or under skip_bad counts it and goes on.
  Status BadLine(size_t line_no, std::string_view message) {
    Status error = Error(line_no, message);
    if (!options_.skip_bad) return error;
    ++stats_.skipped;
    if (stats_.first_errors.size() < kMaxKeptErrors) stats_.first_errors.push_back(error.message());
    return Status::Ok();
  }

  // Checks what interning the line could refuse (the type table, the context arena).
  Status CheckLimits(const LineEvent& e, size_t num_context) const {
    if (dataset_.event_types.size() >= kMaxEventTypes &&
        dataset_.event_types.Find(e.type) == kInvalidId) {
      return InvalidArgument("more than " + std::to_string(kMaxEventTypes) +
                             " distinct event types");
    }
    if (num_context > kMaxContextPairsPerEvent) {
      return InvalidArgument(std::to_string(num_context) + " context pairs; at most " +
                             std::to_string(kMaxContextPairsPerEvent) + " per event");
    }
    if (dataset_.context.size() + num_context > kMaxContextPairsTotal) {
      return InvalidArgument("more than " + std::to_string(kMaxContextPairsTotal) +
                             " context pairs in the data set");
    }
    return Status::Ok();
  }

  // Adds a validated event; its context pairs follow through Dataset::AddContext.
  void Add(const LineEvent& e) {
    auto type = static_cast<EventTypeId>(dataset_.event_types.GetOrAdd(e.type));
    Event& event = dataset_.Add(e.user, e.item, e.time_ms);
    event.value = e.value;
    event.type = type;
    if (e.has_id) event.id = dataset_.event_ids.GetOrAdd(e.id);
  }

  Dataset Finish() {
    dataset_.SortByTime();
    stats_.events = dataset_.events.size();
    return std::move(dataset_);
  }

 private:
  std::string_view name_;
  const ReadOptions& options_;
  Dataset dataset_;
  ReadStats stats_;
};

// ---------------------------------------------------------------------------------------------
// MovieLens: "user item rating timestamp" (seconds), TAB- or "::"-separated, no header.

constexpr size_t kMovieLensFields = 4;

Status ParseMovieLensLine(std::string_view line, std::string_view sep, LineEvent* e) {
  std::array<std::string_view, kMovieLensFields> f;
  size_t n = SplitInto(line, sep, f);
  if (n != kMovieLensFields) {
    return InvalidArgument("expected " + std::to_string(kMovieLensFields) + " fields (user" +
                           std::string(sep == "\t" ? "<TAB>" : sep) + "item" +
                           std::string(sep == "\t" ? "<TAB>" : sep) + "rating" +
                           std::string(sep == "\t" ? "<TAB>" : sep) + "timestamp), found " +
                           std::to_string(n));
  }
  e->user = f[0];
  e->item = f[1];
  if (e->user.empty()) return InvalidArgument(FieldMessage("user", "empty"));
  if (e->item.empty()) return InvalidArgument(FieldMessage("item", "empty"));
  if (!ParseValue(f[2], &e->value)) {
    return InvalidArgument(FieldError("rating", "a finite number", f[2]));
  }
  int64_t seconds = 0;
  if (!ParseInt64(Trim(f[3]), &seconds)) {
    return InvalidArgument(FieldError("timestamp", "an integer (seconds)", f[3]));
  }
  if (!SecondsToMs(seconds, &e->time_ms)) {
    return InvalidArgument(FieldError("timestamp", "seconds within the int64 range in ms", f[3]));
  }
  e->type = kRatingType;
  return Status::Ok();
}

Status ParseMovieLens(std::string_view data, Parse& p) {
  std::string_view sep = FirstNonBlankLine(data).find(kMovieLensColonSeparator) != data.npos
                             ? kMovieLensColonSeparator
                             : kMovieLensTabSeparator;
  LineCursor lines(data);
  std::string_view line;
  size_t line_no = 0;
  while (!p.Full() && lines.Next(&line, &line_no)) {
    if (IsBlank(line)) continue;
    ++p.stats().lines;
    LineEvent e;
    Status s = ParseMovieLensLine(line, sep, &e);
    if (s.ok()) s = p.CheckLimits(e, 0);
    if (!s.ok()) {
      LIVEREC_RETURN_IF_ERROR(p.BadLine(line_no, s.message()));
      continue;
    }
    p.Add(e);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// CSV / TSV (RFC 4180 quoting, any of ',', '\t', ';').

// Splits the data into records. A quoted field may hold delimiters, "" (one quote) and line
// breaks; an unquoted one is taken as is (a quote inside it is an ordinary character).
class CsvRecords {
 public:
  CsvRecords(std::string_view data, char delimiter) : data_(data), delimiter_(delimiter) {}

  // Reads the next record that is not a blank line; false at the end of the data. The record's
  // fields are in fields() and *line_no is the line it starts on. A malformed record (bad
  // quoting) returns true with *error set, and the cursor is past it.
  bool Next(size_t* line_no, std::string* error) {
    error->clear();
    while (pos_ < data_.size()) {
      size_t end = LineEnd(pos_);
      std::string_view line = data_.substr(pos_, end - pos_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      *line_no = ++line_no_;
      if (IsBlank(line)) {
        pos_ = end + 1;
        continue;
      }
      if (line.find('"') == std::string_view::npos) {
        SplitSimple(line);
        pos_ = end + 1;
      } else {
        SplitQuoted(error);
      }
      return true;
    }
    return false;
  }

  const std::vector<std::string_view>& fields() const { return fields_; }

 private:
  size_t LineEnd(size_t from) const {
    const void* newline = std::memchr(data_.data() + from, '\n', data_.size() - from);
    return newline == nullptr
               ? data_.size()
               : static_cast<size_t>(static_cast<const char*>(newline) - data_.data());
  }

  void SplitSimple(std::string_view line) {
    fields_.clear();
    size_t start = 0;
    while (true) {
      const void* d = std::memchr(line.data() + start, delimiter_, line.size() - start);
      if (d == nullptr) {
        fields_.push_back(line.substr(start));
        return;
      }
      size_t pos = static_cast<size_t>(static_cast<const char*>(d) - line.data());
      fields_.push_back(line.substr(start, pos - start));
      start = pos + 1;
    }
  }

  // Storage for unescaped quoted fields; a deque keeps earlier strings where they are.
  std::string& Scratch(size_t index) {
    if (index >= scratch_.size()) scratch_.emplace_back();
    scratch_[index].clear();
    return scratch_[index];
  }

  void CountLines(size_t from, size_t to) {
    line_no_ += static_cast<size_t>(std::count(data_.begin() + from, data_.begin() + to, '\n'));
  }

  // The quote-aware path, from pos_ to the end of the record.
  void SplitQuoted(std::string* error) {
    fields_.clear();
    size_t used_scratch = 0;
    const size_t n = data_.size();
    size_t p = pos_;
    while (true) {
      if (p < n && data_[p] == '"') {
        ++p;
        std::string* unescaped = nullptr;
        size_t segment = p;
        while (true) {
          const void* q = std::memchr(data_.data() + p, '"', n - p);
          if (q == nullptr) {
            CountLines(p, n);
            pos_ = n;
            *error = "unterminated quoted field (field " + std::to_string(fields_.size() + 1) +
                     " of the record)";
            return;
          }
          size_t quote = static_cast<size_t>(static_cast<const char*>(q) - data_.data());
          CountLines(p, quote);
          if (quote + 1 < n && data_[quote + 1] == '"') {
            if (unescaped == nullptr) unescaped = &Scratch(used_scratch++);
            unescaped->append(data_.substr(segment, quote + 1 - segment));
            p = quote + 2;
            segment = p;
            continue;
          }
          if (unescaped == nullptr) {
            fields_.push_back(data_.substr(segment, quote - segment));
          } else {
            unescaped->append(data_.substr(segment, quote - segment));
            fields_.push_back(*unescaped);
          }
          p = quote + 1;
          break;
        }
        if (p >= n) {
          pos_ = n;
          return;
        }
        if (data_[p] == delimiter_) {
          ++p;
          continue;
        }
        if (data_[p] == '\n') {
          pos_ = p + 1;
          return;
        }
        if (data_[p] == '\r' && (p + 1 == n || data_[p + 1] == '\n')) {
          pos_ = p + 2;
          return;
        }
        *error = "unexpected character " + Quote(data_.substr(p, 1)) +
                 " after the closing quote of field " + std::to_string(fields_.size());
        pos_ = LineEnd(p) + 1;
        return;
      }
      size_t end = p;
      while (end < n && data_[end] != delimiter_ && data_[end] != '\n') ++end;
      std::string_view field = data_.substr(p, end - p);
      if (end < n && data_[end] == delimiter_) {
        fields_.push_back(field);
        p = end + 1;
        continue;
      }
      if (!field.empty() && field.back() == '\r') field.remove_suffix(1);
      fields_.push_back(field);
      pos_ = end + 1;
      return;
    }
  }

  std::string_view data_;
  char delimiter_;
  size_t pos_ = 0;
  size_t line_no_ = 0;
  std::vector<std::string_view> fields_;
  std::deque<std::string> scratch_;
};

// The most frequent of ',', '\t', ';' in the header line (',' on a tie or when none occurs).
char GuessDelimiter(std::string_view header_line) {
  constexpr std::array<char, 3> kCandidates = {',', '\t', ';'};
  char best = kCandidates[0];
  size_t best_count = 0;
  for (char c : kCandidates) {
    auto count = static_cast<size_t>(std::count(header_line.begin(), header_line.end(), c));
    if (count > best_count) {
      best = c;
      best_count = count;
    }
  }
  return best;
}

constexpr int kNoColumn = -1;

struct CsvColumns {
  int user = kNoColumn;
  int item = kNoColumn;
  int time = kNoColumn;
  int rating = kNoColumn;
  int type = kNoColumn;
  std::vector<size_t> context;
};

bool Contains(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Maps the roles to header columns: explicit names (exact match first, then ignoring case),
// then the guesses for the roles left empty, never taking a column twice.
class ColumnMapper {
 public:
  explicit ColumnMapper(const std::vector<std::string>& header) : header_(header) {
    for (const std::string& h : header) lower_.push_back(ToLower(Trim(h)));
    taken_.assign(header.size(), false);
  }

  // The column named `name`, or kNoColumn.
  int Named(std::string_view name) {
    for (size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == name) return Take(i);
    }
    std::string lower = ToLower(Trim(name));
    for (size_t i = 0; i < lower_.size(); ++i) {
      if (lower_[i] == lower) return Take(i);
    }
    return kNoColumn;
  }

  // The first free column whose lower-case name is one of `exact`, else the first free one
  // containing one of `parts`; kNoColumn if none.
  int Guess(std::span<const std::string_view> exact, std::span<const std::string_view> parts) {
    for (size_t i = 0; i < lower_.size(); ++i) {
      if (!taken_[i] && Contains(exact, lower_[i])) return Take(i);
    }
    for (size_t i = 0; i < lower_.size(); ++i) {
      if (taken_[i]) continue;
      for (std::string_view part : parts) {
        if (lower_[i].find(part) != std::string::npos) return Take(i);
      }
    }
    return kNoColumn;
  }

  std::vector<size_t> Untaken() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < taken_.size(); ++i) {
      if (!taken_[i]) out.push_back(i);
    }
    return out;
  }

 private:
  int Take(size_t i) {
    taken_[i] = true;
    return static_cast<int>(i);
  }

  const std::vector<std::string>& header_;
  std::vector<std::string> lower_;
  std::vector<bool> taken_;
};

constexpr std::array<std::string_view, 4> kUserNames = {"user", "user_id", "userid", "uid"};
constexpr std::array<std::string_view, 1> kUserParts = {"user"};
constexpr std::array<std::string_view, 7> kItemNames = {
    "item", "item_id", "itemid", "movieid", "movie_id", "product_id", "article_id"};
constexpr std::array<std::string_view, 4> kItemParts = {"item", "article", "movie", "product"};
constexpr std::array<std::string_view, 3> kTimeNames = {"timestamp", "time", "ts"};
constexpr std::array<std::string_view, 1> kTimeParts = {"timestamp"};
constexpr std::array<std::string_view, 1> kRatingNames = {"rating"};
constexpr std::array<std::string_view, 2> kTypeNames = {"type", "event_type"};

StatusOr<CsvColumns> MapColumns(const std::vector<std::string>& header, const ReadOptions& o,
                                const Parse& p, size_t header_line) {
  ColumnMapper mapper(header);
  CsvColumns c;
  struct Role {
    int* column;
    const std::string* mapped;
    std::string_view option;
  };
  const std::array<Role, 5> roles = {
      Role{&c.user, &o.user_col, "user_col"}, Role{&c.item, &o.item_col, "item_col"},
      Role{&c.time, &o.time_col, "time_col"}, Role{&c.rating, &o.rating_col, "rating_col"},
      Role{&c.type, &o.type_col, "type_col"}};
  for (const Role& role : roles) {
    if (role.mapped->empty()) continue;
    *role.column = mapper.Named(*role.mapped);
    if (*role.column == kNoColumn) {
      return p.Error(header_line, std::string(role.option) + " " + Quote(*role.mapped) +
                                      " names no column; the header has " + QuotedList(header));
    }
  }
  if (c.user == kNoColumn) c.user = mapper.Guess(kUserNames, kUserParts);
  if (c.item == kNoColumn) c.item = mapper.Guess(kItemNames, kItemParts);
  if (c.time == kNoColumn) c.time = mapper.Guess(kTimeNames, kTimeParts);
  if (c.rating == kNoColumn && o.rating_col.empty()) c.rating = mapper.Guess(kRatingNames, {});
  if (c.type == kNoColumn && o.type_col.empty()) c.type = mapper.Guess(kTypeNames, {});
  const std::array<std::pair<int, std::string_view>, 3> required = {
      std::pair{c.user, "user"}, std::pair{c.item, "item"}, std::pair{c.time, "time"}};
  for (const auto& [column, role] : required) {
    if (column == kNoColumn) {
      return p.Error(header_line, "cannot tell which column holds the " + std::string(role) +
                                      "; the header has " + QuotedList(header) + "; set " +
                                      std::string(role) + "_col");
    }
  }
  c.context = mapper.Untaken();
  if (c.context.size() > kMaxContextPairsPerEvent) {
    return p.Error(header_line, std::to_string(c.context.size()) + " context columns; at most " +
                                    std::to_string(kMaxContextPairsPerEvent));
  }
  return c;
}

class CsvParser {
 public:
  CsvParser(Parse& p, const std::vector<std::string>& header, CsvColumns columns)
      : p_(p), header_(header), c_(std::move(columns)), last_value_(c_.context.size()) {
    if (c_.rating != kNoColumn && c_.type == kNoColumn) default_type_ = kRatingType;
  }

  Status ParseRecord(std::span<const std::string_view> f, LineEvent* e) {
    if (f.size() != header_.size()) {
      return InvalidArgument("expected " + std::to_string(header_.size()) +
                             " columns (as in the header), found " + std::to_string(f.size()));
    }
    e->user = f[static_cast<size_t>(c_.user)];
    e->item = f[static_cast<size_t>(c_.item)];
    if (e->user.empty()) return InvalidArgument(FieldMessage(Name(c_.user), "empty"));
    if (e->item.empty()) return InvalidArgument(FieldMessage(Name(c_.item), "empty"));
    std::string_view time = f[static_cast<size_t>(c_.time)];
    int64_t t = 0;
    if (!ParseInt64(Trim(time), &t)) {
      return InvalidArgument(FieldError(Name(c_.time), "an integer", time));
    }
    if (!time_in_ms_.has_value()) {
      switch (p_.options().time_unit) {
        case TimeUnit::kSeconds:
          time_in_ms_ = false;
          break;
        case TimeUnit::kMilliseconds:
          time_in_ms_ = true;
          break;
        case TimeUnit::kAuto:
          time_in_ms_ = static_cast<double>(t) > kAutoMillisecondsAbove;
      }
    }
    e->time_ms = t;
    if (!*time_in_ms_ && !SecondsToMs(t, &e->time_ms)) {
      return InvalidArgument(
          FieldError(Name(c_.time), "seconds within the int64 range in ms", time));
    }
    if (c_.rating != kNoColumn) {
      std::string_view rating = f[static_cast<size_t>(c_.rating)];
      if (!ParseValue(rating, &e->value)) {
        return InvalidArgument(FieldError(Name(c_.rating), "a finite number", rating));
      }
    }
    e->type = c_.type == kNoColumn ? default_type_ : f[static_cast<size_t>(c_.type)];
    return Status::Ok();
  }

  size_t CountContext(std::span<const std::string_view> f) const {
    size_t n = 0;
    for (size_t col : c_.context) n += f[col].empty() ? 0 : 1;
    return n;
  }

  // Adds the non-empty context cells to the last event, as Dataset::AddContext would. Files
  // such as click logs repeat a session's values on consecutive lines: each column remembers
  // its last value and id, which saves most lookups in the (large, cache-cold) value map.
  void AddContext(std::span<const std::string_view> f) {
    Dataset& d = p_.dataset();
    Event& e = d.events.back();
    for (size_t i = 0; i < c_.context.size(); ++i) {
      std::string_view value = f[c_.context[i]];
      if (value.empty()) continue;
      LastValue& last = last_value_[i];
      if (last.value_id == kInvalidId || value != last.text) {
        if (last.key_id == kInvalidId)
          last.key_id = d.context_keys.GetOrAdd(header_[c_.context[i]]);
        last.value_id = d.context_values.GetOrAdd(value);
        last.text.assign(value);
      }
      d.context.push_back({last.key_id, last.value_id});
      ++e.context_size;
    }
  }

 private:
  const std::string& Name(int column) const { return header_[static_cast<size_t>(column)]; }

  struct LastValue {
    std::string text;
    uint32_t key_id = kInvalidId;
    uint32_t value_id = kInvalidId;
  };

  Parse& p_;
  const std::vector<std::string>& header_;
  CsvColumns c_;
  std::vector<LastValue> last_value_;  // per context column
  std::string_view default_type_;
  std::optional<bool> time_in_ms_;
};

Status ParseCsv(std::string_view data, Parse& p) {
  const ReadOptions& o = p.options();
  if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r') {
    return InvalidArgument("delimiter " + Quote(std::string_view(&o.delimiter, 1)) +
                           " cannot separate CSV fields");
  }
  char delimiter = o.delimiter != 0 ? o.delimiter : GuessDelimiter(FirstNonBlankLine(data));
  CsvRecords records(data, delimiter);
  size_t line_no = 0;
  std::string error;
  if (!records.Next(&line_no, &error)) {
    return p.Error(1, "empty file: expected a header line");
  }
  if (!error.empty()) return p.Error(line_no, "header: " + error);
  std::vector<std::string> header(records.fields().begin(), records.fields().end());
  LIVEREC_ASSIGN_OR_RETURN(CsvColumns columns, MapColumns(header, o, p, line_no));
  CsvParser parser(p, header, std::move(columns));
  while (!p.Full() && records.Next(&line_no, &error)) {
    ++p.stats().lines;
    LineEvent e;
    Status s = error.empty() ? parser.ParseRecord(records.fields(), &e) : InvalidArgument(error);
    if (s.ok()) s = p.CheckLimits(e, parser.CountContext(records.fields()));
    if (!s.ok()) {
      LIVEREC_RETURN_IF_ERROR(p.BadLine(line_no, s.message()));
      continue;
    }
    p.Add(e);
    parser.AddContext(records.fields());
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// JSON Lines: {"user": "u1", "item": "i9", "type": "click", "value": 1,
//              "timestamp": 1700000000000, "context": {"device": "mobile"}, "id": "e1"}

namespace dom = simdjson::dom;

constexpr std::array<std::string_view, 7> kJsonFields = {"user",      "item",    "type", "value",
                                                         "timestamp", "context", "id"};
enum JsonField : size_t { kUser, kItem, kType, kValue, kTimestamp, kContext, kId };

class JsonlParser {
 public:
  explicit JsonlParser(Parse& p) : p_(p) {}

  // Parses and validates one line; on success the event is added to the dataset.
  Status ParseLine(std::string_view line) {
    dom::object obj;
    LIVEREC_RETURN_IF_ERROR(parser_.ParseObject(line, &obj));
    std::array<std::optional<dom::element>, kJsonFields.size()> fields;
    LIVEREC_RETURN_IF_ERROR(SortJsonFields(obj, kJsonFields, JsonNullMember::kAbsent, fields));

    LineEvent e;
    NumberText user_buf, item_buf, id_buf;
    LIVEREC_RETURN_IF_ERROR(Key(fields[kUser], kJsonFields[kUser], user_buf, &e.user));
    LIVEREC_RETURN_IF_ERROR(Key(fields[kItem], kJsonFields[kItem], item_buf, &e.item));
    if (!fields[kTimestamp].has_value()) {
      return InvalidArgument(FieldMessage(kJsonFields[kTimestamp], "missing"));
    }
    dom::element ts = *fields[kTimestamp];
    if (ts.type() == dom::element_type::INT64) {
      e.time_ms = ts.get_int64().value_unsafe();
    } else if (ts.type() == dom::element_type::UINT64) {
      return InvalidArgument(
          FieldError(kJsonFields[kTimestamp], "an integer within int64", IntegerText(ts, id_buf)));
    } else {
      return InvalidArgument(JsonTypeError(kJsonFields[kTimestamp], "an integer (ms)", ts));
    }
    if (fields[kType].has_value()) {
      if (fields[kType]->get_string().get(e.type) != simdjson::SUCCESS) {
        return InvalidArgument(JsonTypeError(kJsonFields[kType], "a string", *fields[kType]));
      }
    }
    if (fields[kValue].has_value()) {
      double v = 0;
      if (!IsJsonNumber(*fields[kValue]) ||
          fields[kValue]->get_double().get(v) != simdjson::SUCCESS) {
        return InvalidArgument(JsonTypeError(kJsonFields[kValue], "a number", *fields[kValue]));
      }
      if (!ToFiniteFloat(v, &e.value)) {
        return InvalidArgument(
            FieldError(kJsonFields[kValue], "a number within float range", FormatNumber(v)));
      }
    }
    if (fields[kId].has_value()) {
      LIVEREC_RETURN_IF_ERROR(Key(fields[kId], kJsonFields[kId], id_buf, &e.id));
      e.has_id = true;
    }
    dom::object context;
    size_t num_context = 0;
    if (fields[kContext].has_value()) {
      if (fields[kContext]->get(context) != simdjson::SUCCESS) {
        return InvalidArgument(
            JsonTypeError(kJsonFields[kContext], "an object", *fields[kContext]));
      }
      for (dom::key_value_pair kv : context) {
        if (!IsJsonNumber(kv.value) && !kv.value.is_string()) {
          return InvalidArgument(
              JsonTypeError("context." + std::string(kv.key), "a string or a number", kv.value));
        }
        ++num_context;
      }
    }
    LIVEREC_RETURN_IF_ERROR(p_.CheckLimits(e, num_context));

    p_.Add(e);
    if (num_context > 0) AddContext(context);
    return Status::Ok();
  }

 private:
  // A key field: a non-empty string, or an integer (42 -> "42").
  static Status Key(const std::optional<dom::element>& field, std::string_view name,
                    NumberText& buf, std::string_view* out) {
    if (!field.has_value()) return InvalidArgument(FieldMessage(name, "missing"));
    if (IsJsonInteger(*field)) {
      *out = IntegerText(*field, buf);
      return Status::Ok();
    }
    if (field->get_string().get(*out) != simdjson::SUCCESS) {
      return InvalidArgument(JsonTypeError(name, "a string or an integer", *field));
    }
    if (out->empty()) return InvalidArgument(FieldMessage(name, "empty"));
    return Status::Ok();
  }

  void AddContext(dom::object context) {
    for (dom::key_value_pair kv : context) {
      std::string_view value;
      NumberText buf;
      std::string number;
      if (IsJsonInteger(kv.value)) {
        value = IntegerText(kv.value, buf);
      } else if (kv.value.type() == dom::element_type::DOUBLE) {
        number = FormatNumber(kv.value.get_double().value_unsafe());
        value = number;
      } else {
        value = kv.value.get_string().value_unsafe();
      }
      p_.dataset().AddContext(kv.key, value);
    }
  }

  Parse& p_;
  JsonLineParser parser_;
};

Status ParseJsonl(std::string_view data, Parse& p) {
  JsonlParser parser(p);
  LineCursor lines(data);
  std::string_view line;
  size_t line_no = 0;
  while (!p.Full() && lines.Next(&line, &line_no)) {
    if (IsBlank(line)) continue;
    ++p.stats().lines;
    Status s = parser.ParseLine(line);
    if (!s.ok()) LIVEREC_RETURN_IF_ERROR(p.BadLine(line_no, s.message()));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Format detection and file access.

bool LooksLikeMovieLensTab(std::string_view line) {
  std::array<std::string_view, kMovieLensFields> f;
  if (SplitInto(line, kMovieLensTabSeparator, f) != kMovieLensFields) return false;
  int64_t ignored = 0;
  double rating = 0;
  return ParseDouble(Trim(f[2]), &rating) && ParseInt64(Trim(f[3]), &ignored);
}

DataFormat DetectFormat(std::string_view name, std::string_view data) {
  std::string base = BaseName(name);
  if (base == "u.data" || EndsWith(base, ".data") || base == "ratings.dat" ||
      EndsWith(base, ".dat")) {
    return DataFormat::kMovieLens;
  }
  if (EndsWith(base, ".jsonl") || EndsWith(base, ".ndjson")) return DataFormat::kJsonl;
  if (EndsWith(base, ".csv") || EndsWith(base, ".tsv")) return DataFormat::kCsv;
  std::string_view first = FirstNonBlankLine(data);
  std::string_view trimmed = Trim(first);
  if (!trimmed.empty() && trimmed.front() == '{') return DataFormat::kJsonl;
  if (first.find(kMovieLensColonSeparator) != std::string_view::npos) {
    return DataFormat::kMovieLens;
  }
  if (LooksLikeMovieLensTab(first)) return DataFormat::kMovieLens;
  return DataFormat::kCsv;
}

bool IsDataFileName(std::string_view file_name) {
  std::string base = BaseName(file_name);
  for (std::string_view ext : {".csv", ".tsv", ".jsonl", ".ndjson"}) {
    if (EndsWith(base, ext)) return true;
  }
  return false;
}

// A file path as given, or the data file inside a folder.
StatusOr<std::string> ResolvePath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return IOError("cannot open " + Quote(path, path.size()) + ": " +
                   (ec ? ec.message() : std::string("no such file or directory")));
  }
  if (!fs::is_directory(status)) return path;
  std::string folder = path;
  if (!folder.empty() && folder.back() != '/') folder += '/';
  for (std::string_view known : {"u.data", "ratings.dat"}) {
    for (std::string_view suffix : {"", ".gz"}) {
      std::string candidate = folder + std::string(known) + std::string(suffix);
      if (fs::is_regular_file(candidate, ec)) return candidate;
    }
  }
  std::vector<std::string> data_files;
  std::vector<std::string> all_files;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    all_files.push_back(name);
    // Manifests, readmes and licences describe a data set; they are never its events.
    const std::string lower = ToLower(name);
    const bool documentation = StartsWith(lower, "manifest") || StartsWith(lower, "readme") ||
                               StartsWith(lower, "license") || StartsWith(lower, "licence");
    if (it->is_regular_file(ec) && IsDataFileName(name) && !documentation) {
      data_files.push_back(name);
    }
  }
  if (ec) return IOError("cannot list " + Quote(path, path.size()) + ": " + ec.message());
  if (data_files.size() == 1) return folder + data_files[0];
  std::sort(data_files.begin(), data_files.end());
  std::sort(all_files.begin(), all_files.end());
  const std::vector<std::string>& listed = data_files.empty() ? all_files : data_files;
  return InvalidArgument(
      "folder " + Quote(path, path.size()) +
      " should hold u.data, ratings.dat or exactly one *.csv/*.tsv/*.jsonl/*.ndjson(.gz) file "
      "(manifests and readmes aside); " +
      (data_files.empty() ? "it holds " : "found several: ") +
      (listed.empty() ? std::string("nothing") : QuotedList(listed)));
}

}  // namespace

StatusOr<DataFormat> ParseDataFormat(std::string_view name) {
  if (name == "auto") return DataFormat::kAuto;
  if (name == "movielens") return DataFormat::kMovieLens;
  if (name == "csv") return DataFormat::kCsv;
  if (name == "jsonl") return DataFormat::kJsonl;
  return InvalidArgument("unknown data format " + Quote(name) +
                         "; valid: auto, movielens, csv, jsonl");
}

StatusOr<Dataset> ParseDataset(std::string_view bytes, std::string_view name,
                               const ReadOptions& options, ReadStats* stats) {
  if (StartsWith(bytes, kUtf8Bom)) bytes.remove_prefix(kUtf8Bom.size());
  DataFormat format =
      options.format == DataFormat::kAuto ? DetectFormat(name, bytes) : options.format;
  Parse p(name, options);
  Status status;
  switch (format) {
    case DataFormat::kMovieLens:
      status = ParseMovieLens(bytes, p);
      break;
    case DataFormat::kCsv:
      status = ParseCsv(bytes, p);
      break;
    case DataFormat::kJsonl:
      status = ParseJsonl(bytes, p);
      break;
    case DataFormat::kAuto:
      status = Internal("format detection returned kAuto");
      break;
  }
  if (!status.ok()) {
    if (stats != nullptr) *stats = p.stats();
    return status;
  }
  Dataset dataset = p.Finish();
  if (stats != nullptr) *stats = p.stats();
  return dataset;
}

StatusOr<Dataset> ReadDataset(const std::string& path, const ReadOptions& options,
                              ReadStats* stats) {
  LIVEREC_ASSIGN_OR_RETURN(std::string file, ResolvePath(path));
  LIVEREC_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(file));
  return ParseDataset(bytes, file, options, stats);
}

}  // namespace liverec
