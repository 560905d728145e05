// The request log: one line per HTTP request (log.requests), through the process's logger
// (common/log.h), and the request id that ties a client's call to its line (X-Request-ID).
//
// What a line holds is chosen so that no user id reaches it: the route as the router's table
// spells it (an id segment written {id}, "/v1/users/{id}"), never the request's path or query
// string, so neither `user=` nor a path's user id appears; method, status, duration, answer
// bytes, request id, and the id of the API key that called (a key's id is public: `keys list`
// shows it; a user token's user is not logged).
//
// Thread safety: every function may be called from any thread at once.
#ifndef LIVEREC_SERVE_REQUEST_LOG_H_
#define LIVEREC_SERVE_REQUEST_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace liverec {

// The longest X-Request-ID taken from a client: a UUID (36) or a trace id (32) fits.
inline constexpr size_t kMaxRequestIdChars = 64;

// True if a client's X-Request-ID may be logged and returned as it is: 1 to kMaxRequestIdChars
// characters among letters, digits and - _ . : (nothing that could split or forge a log line
// or a header).
bool IsSaneRequestId(std::string_view id);

// A new random request id: 32 lowercase hex digits (128 bits, from a per-thread generator
// seeded once from std::random_device).
std::string NewRequestId();

// The request id of a request whose X-Request-ID header is `header` ("" if absent): the
// header if it is sane, else a new one.
std::string RequestIdFor(std::string_view header);

// What one line says about one request.
struct RequestLogLine {
  std::string_view method;      // as received
  std::string_view route;       // the router's path ("/v1/users/{id}"); "" if none matched
  int status = 0;               // HTTP status answered
  double duration_ms = 0;       // from the request's first byte to its answer written
  uint64_t bytes = 0;           // answer body bytes
  std::string_view request_id;  // IsSaneRequestId or NewRequestId
  std::string_view key_id;      // the API key's id, "" without one (or with a user token)
};

// Writes `line` to the log at info level (status >= 500: error).
void LogRequest(const RequestLogLine& line);

}  // namespace liverec

#endif  // LIVEREC_SERVE_REQUEST_LOG_H_
