// Secret files: small files that hold keys, readable by the server's user only.
//
// WriteSecretFile replaces a file atomically and durably; a 256-bit secret is kept as 64 hex
// digits and a newline (as `openssl rand -hex 32` writes it), so an operator can make one by
// hand. The user-token signing secret, the pseudonym key and the API key file use them.
//
// Thread safety: functions of the file system; callers serialize writers of one path.
#ifndef LIVEREC_STORE_SECRET_FILE_H_
#define LIVEREC_STORE_SECRET_FILE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "liverec/status.h"

namespace liverec {

using Secret256 = std::array<uint8_t, 32>;

// Replaces `path` with `text` atomically and durably (temporary file of mode 0600, fsync,
// rename, fsync of the directory), creating its directory with mode 0700 if missing.
Status WriteSecretFile(const std::string& path, std::string_view text);

// The secret in `path`: NotFound when the file does not exist; Corruption naming the file
// unless it holds exactly 64 hex digits (and an optional newline).
StatusOr<Secret256> ReadSecretFile(const std::string& path);

// The secret in `path`, first written there from the operating system's random generator
// (getrandom) when the file does not exist.
StatusOr<Secret256> LoadOrCreateSecretFile(const std::string& path);

}  // namespace liverec

#endif  // LIVEREC_STORE_SECRET_FILE_H_
