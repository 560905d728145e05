// CSV / TSV events: a header line, then one event per record. Fields are separated by ',', TAB
// or ';' (ReadOptions::delimiter, or the most frequent of them in the header line) and may be
// quoted as in RFC 4180 (delimiters, "" and line breaks inside quotes). The header maps
// columns to roles (ReadOptions::user_col ... type_col, else guessed from the names); the
// columns left over become context.
#ifndef LIVEREC_EVENT_CSV_READER_H_
#define LIVEREC_EVENT_CSV_READER_H_

#include <string_view>

#include "event/event_parse.h"
#include "liverec/status.h"

namespace liverec {

// Parses `data` (a whole file) into `p`. A bad delimiter option, an empty file, a malformed
// header or a column mapping that does not fit the header fails the parse; malformed records
// go to EventParse::BadLine.
Status ParseCsv(std::string_view data, EventParse& p);

}  // namespace liverec

#endif  // LIVEREC_EVENT_CSV_READER_H_
