// libFuzzer entry point: arbitrary bytes as a user token, as the user of a minted token and as
// a POST /v1/tokens body. VerifyUserToken must refuse what the fuzzer sends (it cannot sign)
// with a message that does not repeat the token; a token minted for any user must verify back
// to that user and expiry, and one text has one meaning (re-minting gives the same bytes);
// ParseTokenRequest must either fail naming a field or return a user within the limits.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "serve/user_token.h"

namespace {
constexpr int64_t kNowMs = 1'700'000'000'000;
constexpr int64_t kMaxTtlS = 86400;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  liverec::TokenSecret secret{};
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(i * 7 + 1);

  liverec::StatusOr<liverec::UserToken> parsed = liverec::VerifyUserToken(secret, input, kNowMs);
  if (parsed.ok()) {
    // Only reachable by a signed token: it must be the canonical text of what it says.
    LIVEREC_CHECK(liverec::MintUserToken(secret, parsed->user, parsed->expires_ms) == input)
        << "a token verified that is not the minted text of its payload";
  } else if (input.starts_with("lrt1.")) {  // no message holds "lrt1."
    LIVEREC_CHECK(parsed.status().message().find(input) == std::string::npos)
        << "the error repeats the token";
  }

  if (!input.empty() && input.size() <= liverec::kMaxTokenUserBytes) {
    const int64_t expires_ms = kNowMs + static_cast<int64_t>(size);
    const std::string token = liverec::MintUserToken(secret, input, expires_ms + 1);
    liverec::StatusOr<liverec::UserToken> back = liverec::VerifyUserToken(secret, token, kNowMs);
    LIVEREC_CHECK(back.ok()) << back.status().message();
    LIVEREC_CHECK(back->user == input && back->expires_ms == expires_ms + 1) << "round trip";
    LIVEREC_CHECK(!liverec::VerifyUserToken(secret, token, expires_ms + 1).ok()) << "expiry";
  }

  liverec::StatusOr<liverec::TokenRequest> request = liverec::ParseTokenRequest(input, kMaxTtlS);
  if (request.ok()) {
    LIVEREC_CHECK(!request->user.empty() && request->user.size() <= liverec::kMaxTokenUserBytes);
    LIVEREC_CHECK(request->ttl_s >= 1 && request->ttl_s <= kMaxTtlS);
  } else {
    LIVEREC_CHECK(!request.status().message().empty()) << "error without a message";
  }
  return 0;
}
