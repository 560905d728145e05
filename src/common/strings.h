// Small string helpers shared by parsers and the option table. All parse functions accept
// the whole input or fail (no trailing garbage), and never throw.
#ifndef LIVEREC_COMMON_STRINGS_H_
#define LIVEREC_COMMON_STRINGS_H_

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace liverec {

std::string_view Trim(std::string_view s);
std::vector<std::string_view> Split(std::string_view s, char sep);
// Splits on a multi-character separator ("::").
std::vector<std::string_view> SplitOn(std::string_view s, std::string_view sep);

bool ParseInt64(std::string_view s, int64_t* out);
bool ParseDouble(std::string_view s, double* out);
bool ParseBool(std::string_view s, bool* out);

bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
std::string ToLower(std::string_view s);

// Levenshtein distance (for "did you mean" suggestions).
size_t EditDistance(std::string_view a, std::string_view b);

// Shortest round-trip text of a number ("1e+300", "0.5", "64").
std::string FormatNumber(double v);

// Quotes a value for an error message, cutting it at `max_chars`.
std::string Quote(std::string_view s, size_t max_chars = 40);

// data[0, n) as lowercase hex, two digits a byte.
std::string ToHex(const uint8_t* data, size_t n);

// Its parts streamed one after another into one string, for messages. A one-byte integer
// (uint8_t) streams as a character: cast it to int.
template <typename... Parts>
std::string StrCat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace liverec

#endif  // LIVEREC_COMMON_STRINGS_H_
