#include "event/csv_reader.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.h"

namespace liverec {
namespace {

// TimeUnit::kAuto: Unix seconds stay below 1e11 until the year 5138; Unix milliseconds pass
// 1e11 in 1973.
constexpr double kAutoMillisecondsAbove = 1e11;

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
                                const EventParse& p, size_t header_line) {
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
  CsvParser(EventParse& p, const std::vector<std::string>& header, CsvColumns columns)
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

  EventParse& p_;
  const std::vector<std::string>& header_;
  CsvColumns c_;
  std::vector<LastValue> last_value_;  // per context column
  std::string_view default_type_;
  std::optional<bool> time_in_ms_;
};

}  // namespace

Status ParseCsv(std::string_view data, EventParse& p) {
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

}  // namespace liverec
