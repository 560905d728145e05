// FieldError: why one field of a record was refused, as a value (field and reason apart), so
// that no caller has to split a "field: reason" message back into its parts.
//
// IngestError (liverec/engine.h) is a FieldError of one record of a batch plus its index; the
// two name fields the same way.
//
// Thread safety: a plain value.
#ifndef LIVEREC_FIELD_ERROR_H_
#define LIVEREC_FIELD_ERROR_H_

#include <string>

#include "liverec/status.h"

namespace liverec {

struct FieldError {
  // The offending field as the client names it: "user", "timestamp", "context.device",
  // "context[3].key"; "" = the record as a whole (its encoded size).
  std::string field;
  // What is wrong with it, without the field: "expected a non-empty string",
  // "longer than 65536 bytes (70000)".
  std::string reason;
  // The kind of failure, as the Status code a caller would answer with: kInvalidArgument for a
  // bad value, kOutOfRange for a value over a limit.
  StatusCode code = StatusCode::kInvalidArgument;

  friend bool operator==(const FieldError&, const FieldError&) = default;
};

}  // namespace liverec

#endif  // LIVEREC_FIELD_ERROR_H_
