// Parsing of the parts of an HTTP request that routing decides on, before any body is read:
// the raw request target (so an id holding '/' as %2F stays one path segment), and the media
// type of a Content-Type header. Pure functions of the bytes a client sent; fuzzed by
// request_target_fuzz.
#ifndef LIVEREC_SERVE_REQUEST_TARGET_H_
#define LIVEREC_SERVE_REQUEST_TARGET_H_

#include <string>
#include <string_view>
#include <vector>

#include "liverec/status.h"

namespace liverec {

// The path segments of a request target ("/v1/items/a%2Fb/similar?k=3" -> {"v1", "items",
// "a/b", "similar"}): the path is the target up to the first '?' or '#', it must start with
// '/', and it is split on the raw '/' before each segment is percent-decoded, so "%2F" is a
// '/' inside a segment. A trailing '/' gives a last empty segment ("/v1/stats/" -> {"v1",
// "stats", ""}); "/" gives {""}. InvalidArgument naming the path and the byte offset for a
// target that does not start with '/', a '%' not followed by two hex digits, or a NUL (raw or
// decoded).
StatusOr<std::vector<std::string>> SplitTargetPath(std::string_view target);

// The media type of a Content-Type value, lowercased, without parameters or surrounding
// blanks: "Application/JSON; charset=utf-8" -> "application/json". "" for an empty value.
std::string MediaType(std::string_view content_type);

}  // namespace liverec

#endif  // LIVEREC_SERVE_REQUEST_TARGET_H_
