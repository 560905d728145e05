// Status and StatusOr<T>: how every expected failure travels in liverec.
//
// A Status is either OK or carries a code and a message that says where and what
// ("ratings.csv:17: field 'timestamp': expected an integer, got 'abc'"). Functions that
// can fail for reasons outside the program (bad input, missing file, full queue) return a
// Status or a StatusOr<T>; broken invariants are bugs and abort through LIVEREC_CHECK.
//
// Thread safety: values; distinct objects may be used from distinct threads.
#ifndef LIVEREC_STATUS_H_
#define LIVEREC_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace liverec {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong (HTTP 400)
  kNotFound,            // a named thing does not exist (404)
  kAlreadyExists,       // conflicts with existing state (409)
  kOutOfRange,          // a size or count over a limit (413)
  kResourceExhausted,   // a queue or budget is full; retry later (429)
  kUnavailable,         // not ready or shutting down (503)
  kFailedPrecondition,  // the operation needs another state first
  kCorruption,          // stored bytes fail a check
  kIOError,             // the operating system refused a file operation
  kInternal,            // a foreign exception caught at a boundary
};

// Returns the stable lower-case name of `code` ("invalid_argument").
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid_argument: message", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message" (adds where the error happened).
  Status WithPrefix(std::string_view prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status AlreadyExists(std::string message);
Status OutOfRange(std::string message);
Status ResourceExhausted(std::string message);
Status Unavailable(std::string message);
Status FailedPrecondition(std::string message);
Status Corruption(std::string message);
Status IOError(std::string message);
Status Internal(std::string message);

// Either a value of T or a non-OK Status. Accessing value() of an error is a bug.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT
  StatusOr(T value) : value_(std::move(value)) {}                                  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace liverec

#define LIVEREC_CONCAT_INNER_(a, b) a##b
#define LIVEREC_CONCAT_(a, b) LIVEREC_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (a Status) is not OK.
#define LIVEREC_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::liverec::Status liverec_status_ = (expr);        \
    if (!liverec_status_.ok()) return liverec_status_; \
  } while (0)

// `lhs = value of expr` (a StatusOr), or returns its Status from the current function.
#define LIVEREC_ASSIGN_OR_RETURN(lhs, expr) \
  LIVEREC_ASSIGN_OR_RETURN_IMPL_(LIVEREC_CONCAT_(liverec_statusor_, __LINE__), lhs, expr)
#define LIVEREC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

#endif  // LIVEREC_STATUS_H_
