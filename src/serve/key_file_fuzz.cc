// libFuzzer entry point: arbitrary bytes as a key file and as a presented key. ParseKeyFile must
// either fail with a message or return keys whose rendering parses back to the same keys (the
// format has one text per key set, blank lines aside); KeySet::Find must never match a key the
// fuzzer cannot know. Any crash, sanitizer report or failed check is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "serve/key_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  liverec::StatusOr<std::vector<liverec::ApiKey>> keys = liverec::ParseKeyFile(input);
  if (!keys.ok()) {
    LIVEREC_CHECK(!keys.status().message().empty()) << "error without a message";
    return 0;
  }
  const std::string text = liverec::RenderKeyFile(*keys);
  liverec::StatusOr<std::vector<liverec::ApiKey>> again = liverec::ParseKeyFile(text);
  LIVEREC_CHECK(again.ok()) << "a rendered key file does not parse: " << again.status().message();
  LIVEREC_CHECK(liverec::RenderKeyFile(*again) == text) << "key file does not round-trip";
  LIVEREC_CHECK(again->size() == keys->size());
  for (size_t i = 0; i < keys->size(); ++i) {
    LIVEREC_CHECK((*again)[i].id == (*keys)[i].id && (*again)[i].hash == (*keys)[i].hash &&
                  (*again)[i].role == (*keys)[i].role && (*again)[i].name == (*keys)[i].name &&
                  (*again)[i].created_s == (*keys)[i].created_s)
        << "key " << i << " changed in the round trip";
  }
  // Only a preimage of a stored SHA-256 digest could match.
  const liverec::KeySet set(std::move(keys).value());
  LIVEREC_CHECK(set.Find(input) == nullptr) << "a key file matched its own text as a key";
  return 0;
}
