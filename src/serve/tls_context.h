// TlsContext: the server's certificate and key (serve.tls_cert, serve.tls_key) as an OpenSSL
// SSL_CTX that can be replaced while connections run (SIGHUP after a certificate renewal).
//
// Each connection takes the current context once, at its handshake (SSL_new holds a reference),
// so a reload changes what new connections get and never disturbs open ones. A reload that
// fails (a missing file, a key that does not match the certificate) keeps the context in use.
// TLS 1.2 is the lowest version offered.
//
// Thread safety: Current and Reload may be called from any thread at once.
#ifndef LIVEREC_SERVE_TLS_CONTEXT_H_
#define LIVEREC_SERVE_TLS_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "common/mutex.h"
#include "liverec/status.h"

namespace liverec {

class TlsContext {
 public:
  TlsContext(std::string cert_path, std::string key_path)
      : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {}

  // Reads the PEM certificate chain and key again. InvalidArgument naming serve.tls_cert or
  // serve.tls_key, with OpenSSL's reason, when they cannot be used; the old context stays.
  Status Reload();

  // The context for a new connection; nullptr before a successful Reload.
  std::shared_ptr<SSL_CTX> Current();

 private:
  const std::string cert_path_;
  const std::string key_path_;
  Mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_ LIVEREC_GUARDED_BY(mu_);
};

}  // namespace liverec

#endif  // LIVEREC_SERVE_TLS_CONTEXT_H_
