#include "serve/user_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "serve/key_store.h"
#include "store/secret_file.h"

namespace liverec {
namespace {

constexpr std::string_view kPrefix = "lrt1.";
constexpr size_t kMacBytes = 32;
// base64url of the payload's longest form: 20 digits, ':', the user.
constexpr size_t kMaxPayloadChars = (20 + 1 + kMaxTokenUserBytes) * 4 / 3 + 4;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// False unless `text` is canonical unpadded base64url (no stray bits in the last character),
// so that one byte string has exactly one token text.
bool Base64UrlDecode(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base64UrlValue(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;
}

std::array<uint8_t, kMacBytes> Mac(const TokenSecret& secret, std::string_view signed_text) {
  std::array<uint8_t, kMacBytes> mac{};
  unsigned int size = 0;
  LIVEREC_CHECK(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                     reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(),
                     mac.data(), &size) != nullptr &&
                size == mac.size())
      << "HMAC(sha256)";
  return mac;
}

}  // namespace

std::string TokenSecretPath(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "auth" / "token_secret").string();
}

StatusOr<TokenSecret> LoadOrCreateTokenSecret(const std::string& data_dir) {
  return LoadOrCreateSecretFile(TokenSecretPath(data_dir));
}

std::string MintUserToken(const TokenSecret& secret, std::string_view user, int64_t expires_ms) {
  LIVEREC_CHECK(!user.empty() && user.size() <= kMaxTokenUserBytes) << user.size();
  std::string token(kPrefix);
  token += Base64UrlEncode(std::to_string(expires_ms) + ":" + std::string(user));
  const auto mac = Mac(secret, token);
  token += '.';
  token += Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  return token;
}

bool LooksLikeUserToken(std::string_view text) { return text.starts_with(kPrefix); }

StatusOr<UserToken> VerifyUserToken(const TokenSecret& secret, std::string_view token,
                                    int64_t now_ms) {
  if (!LooksLikeUserToken(token)) return InvalidArgument("user token: unknown version");
  const size_t dot = token.rfind('.');
  if (dot < kPrefix.size() || dot - kPrefix.size() > kMaxPayloadChars) {
    return InvalidArgument("user token: malformed");
  }
  std::string mac;
  if (!Base64UrlDecode(token.substr(dot + 1), &mac) || mac.size() != kMacBytes) {
    return InvalidArgument("user token: malformed signature");
  }
  const auto expected = Mac(secret, token.substr(0, dot));
  if (CRYPTO_memcmp(expected.data(), mac.data(), kMacBytes) != 0) {
    return InvalidArgument(
        "user token: signature does not match (tampered, or from another "
        "server)");
  }
  std::string payload;
  if (!Base64UrlDecode(token.substr(kPrefix.size(), dot - kPrefix.size()), &payload)) {
    return InvalidArgument("user token: malformed payload");
  }
  const size_t colon = payload.find(':');
  UserToken out;
  if (colon == std::string::npos) return InvalidArgument("user token: malformed payload");
  auto [end, ec] = std::from_chars(payload.data(), payload.data() + colon, out.expires_ms);
  // One text per meaning: no sign, no leading zeros (MintUserToken writes neither).
  const bool canonical = colon > 0 && payload[0] != '-' && (payload[0] != '0' || colon == 1);
  if (ec != std::errc() || end != payload.data() + colon || !canonical) {
    return InvalidArgument("user token: malformed expiry");
  }
  out.user = payload.substr(colon + 1);
  if (out.user.empty() || out.user.size() > kMaxTokenUserBytes) {
    return InvalidArgument("user token: malformed user");
  }
  if (out.expires_ms <= now_ms) {
    return InvalidArgument("user token: expired " +
                           std::to_string((now_ms - out.expires_ms) / 1000) + " s ago");
  }
  return out;
}

StatusOr<TokenRequest> ParseTokenRequest(std::string_view body, int64_t max_ttl_s) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return InvalidArgument("body: not valid JSON");
  if (!json.is_object()) return InvalidArgument("body: expected an object");
  TokenRequest request;
  bool has_user = false;
  for (const auto& [key, value] : json.items()) {
    if (key == "user") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        return InvalidArgument("user: expected a non-empty string");
      }
      request.user = value.get<std::string>();
      if (request.user.size() > kMaxTokenUserBytes) {
        return InvalidArgument("user: longer than " + std::to_string(kMaxTokenUserBytes) +
                               " bytes");
      }
      has_user = true;
    } else if (key == "ttl_s") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 ||
          value.get<int64_t>() > max_ttl_s) {
        return InvalidArgument("ttl_s: expected an integer in 1.." + std::to_string(max_ttl_s) +
                               " (auth.max_token_ttl)");
      }
      request.ttl_s = value.get<int64_t>();
    } else {
      return InvalidArgument(
          nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
          ": unknown field (expected user, ttl_s)");
    }
  }
  if (!has_user) return InvalidArgument("user: missing");
  if (request.ttl_s > max_ttl_s) {
    return InvalidArgument("ttl_s: the default 3600 is over auth.max_token_ttl; give ttl_s");
  }
  return request;
}

}  // namespace liverec
