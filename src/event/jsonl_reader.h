// JSON Lines events: one JSON object per line,
//   {"user": "u1", "item": "i9", "type": "click", "value": 1,
//    "timestamp": 1700000000000, "context": {"device": "mobile"}, "id": "e1"}
// user, item and timestamp (integer milliseconds) are required; user, item and id are
// non-empty strings or integers; context values are strings or numbers; null stands for an
// absent field. Other fields are errors.
#ifndef LIVEREC_EVENT_JSONL_READER_H_
#define LIVEREC_EVENT_JSONL_READER_H_

#include <string_view>

#include "event/event_parse.h"
#include "liverec/status.h"

namespace liverec {

// Parses `data` (a whole file) into `p`; malformed lines go to EventParse::BadLine.
Status ParseJsonl(std::string_view data, EventParse& p);

}  // namespace liverec

#endif  // LIVEREC_EVENT_JSONL_READER_H_
