#include "serve/tls_context.h"

#include <openssl/err.h>

namespace liverec {
namespace {

// OpenSSL's queued errors as one line ("" if none), and the queue cleared: it is per thread,
// and a stale entry would be reported with the next unrelated failure.
std::string OpenSslErrors() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

}  // namespace

Status TlsContext::Reload() {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (ctx == nullptr) return Internal("SSL_CTX_new: " + OpenSslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Writes are retried with the same bytes after WANT_WRITE, but the buffer may have moved.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_path_.c_str()) != 1) {
    return InvalidArgument("serve.tls_cert: cannot use " + cert_path_ + ": " + OpenSslErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_path_.c_str(), SSL_FILETYPE_PEM) != 1) {
    return InvalidArgument("serve.tls_key: cannot use " + key_path_ + ": " + OpenSslErrors());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return InvalidArgument("serve.tls_key: " + key_path_ + " is not the key of serve.tls_cert " +
                           cert_path_ + ": " + OpenSslErrors());
  }
  MutexLock lock(&mu_);
  ctx_ = std::move(ctx);
  return Status::Ok();
}

std::shared_ptr<SSL_CTX> TlsContext::Current() {
  MutexLock lock(&mu_);
  return ctx_;
}

}  // namespace liverec
