#include "event/movielens_reader.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "common/strings.h"

namespace liverec {
namespace {

constexpr std::string_view kColonSeparator = "::";
constexpr std::string_view kTabSeparator = "\t";
constexpr size_t kFields = 4;

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

Status ParseLine(std::string_view line, std::string_view sep, LineEvent* e) {
  std::array<std::string_view, kFields> f;
  size_t n = SplitInto(line, sep, f);
  if (n != kFields) {
    return InvalidArgument("expected " + std::to_string(kFields) + " fields (user" +
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

bool LooksLikeTabSeparated(std::string_view line) {
  std::array<std::string_view, kFields> f;
  if (SplitInto(line, kTabSeparator, f) != kFields) return false;
  int64_t ignored = 0;
  double rating = 0;
  return ParseDouble(Trim(f[2]), &rating) && ParseInt64(Trim(f[3]), &ignored);
}

}  // namespace

bool LooksLikeMovieLens(std::string_view first_line) {
  return first_line.find(kColonSeparator) != std::string_view::npos ||
         LooksLikeTabSeparated(first_line);
}

Status ParseMovieLens(std::string_view data, EventParse& p) {
  std::string_view sep =
      FirstNonBlankLine(data).find(kColonSeparator) != data.npos ? kColonSeparator : kTabSeparator;
  return p.ForEachLine(data, [&](std::string_view line) {
    LineEvent e;
    LIVEREC_RETURN_IF_ERROR(ParseLine(line, sep, &e));
    LIVEREC_RETURN_IF_ERROR(p.CheckLimits(e, 0));
    p.Add(e);
    return Status::Ok();
  });
}

}  // namespace liverec
