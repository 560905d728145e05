// MovieLens ratings: "user item rating timestamp" lines (timestamp in seconds), TAB-separated
// (u.data) or "::"-separated (ratings.dat), no header. Events get the type "rating" and the
// rating as their value.
#ifndef LIVEREC_EVENT_MOVIELENS_READER_H_
#define LIVEREC_EVENT_MOVIELENS_READER_H_

#include <string_view>

#include "event/event_parse.h"
#include "liverec/status.h"

namespace liverec {

// True if `first_line` (a file's first non-blank line) reads as MovieLens: it holds "::", or
// four TAB-separated fields with a numeric rating and an integer timestamp.
bool LooksLikeMovieLens(std::string_view first_line);

// Parses `data` (a whole file) into `p`; the first non-blank line chooses the separator.
// Malformed lines go to EventParse::BadLine.
Status ParseMovieLens(std::string_view data, EventParse& p);

}  // namespace liverec

#endif  // LIVEREC_EVENT_MOVIELENS_READER_H_
