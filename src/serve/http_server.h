// HttpServer: HTTP API v1 (docs/http_api.md) in front of an Engine.
//
// Handlers parse request bodies into native structs at once (serve/event_batch_parser.h,
// serve/request_parsers.h), call the engine, and render its results (serve/json_render.h); no
// JSON or HTTP goes below this layer. Every error answer is
// {"error": {"code": "...", "message": "..."}} with the status from HttpStatusFor.
//
// Limits on what one client may cost (serve.max_body_bytes after decompression,
// serve.request_timeout for a whole request, serve.max_connections and
// serve.max_connections_per_client, serve.cors_origins for browser writes) are checked before
// the cost is paid; docs/http_api.md lists them and every error code.
//
// With serve.tls_cert and serve.tls_key the server speaks HTTPS only (serve/tls_context.h).
// Callers need a key or a user token unless the server runs open on loopback (serve/auth.h;
// Bind refuses a non-loopback address without keys).
//
// Thread safety: Run blocks in the calling thread and serves each connection on a thread of its
// own (serve.threads started at once, more as connections arrive, up to serve.max_connections);
// Stop may be called from any thread (a signal handler thread) and makes Run return.
#ifndef LIVEREC_SERVE_HTTP_SERVER_H_
#define LIVEREC_SERVE_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "liverec/engine.h"
#include "liverec/options.h"
#include "liverec/status.h"

namespace liverec {

// The HTTP status of an error status: InvalidArgument 400, NotFound 404, AlreadyExists and
// FailedPrecondition 409, OutOfRange 413, ResourceExhausted 429, Unavailable 503, others 500.
int HttpStatusFor(const Status& status);

// One route of the API as the router knows it: method, path ("*" for an id segment) and who may
// call it: "open", "read", "read_or_user_token", "ingest" or "admin" (serve/auth.h).
struct EndpointInfo {
  std::string method;
  std::string path;
  std::string access;
};
std::vector<EndpointInfo> HttpEndpoints();

// The same routes as "METHOD /path" strings, in the router's order, an id segment written
// "{id}" ("GET /v1/items/{id}/similar"). api/openapi.yaml must describe exactly these
// (its contract test compares them through `liverec routes`).
std::vector<std::string> HttpRoutes();

class HttpServer {
 public:
  // `engine` must outlive the server. Reads the serve.* options.
  HttpServer(Engine* engine, const Options& options);
  ~HttpServer();

  // Binds serve.host:serve.port (port 0: a free port) and returns the port bound.
  // Unavailable if the address cannot be bound.
  StatusOr<int> Bind();

  // Serves until Stop. Requires a successful Bind.
  void Run();

  // Stops accepting and makes Run return once the requests in progress finished.
  void Stop();

  // Reads the key file and the TLS certificate and key again (SIGHUP); any thread. The first
  // error, if any (a TLS pair that fails keeps the one in use).
  Status Reload();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace liverec

#endif  // LIVEREC_SERVE_HTTP_SERVER_H_
