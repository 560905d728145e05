// The small values liverec keeps in a stream engine or reads from outside, as text, with their
// parsers: an engine URL, a lease entry, a stream's checkpoints. Every parser takes any bytes
// (what an engine holds may have been written by something else) and returns nullopt or a
// Status for what is not its format; connect_fuzz.cc runs them on arbitrary bytes.
#ifndef LIVEREC_CONNECT_ENGINE_VALUES_H_
#define LIVEREC_CONNECT_ENGINE_VALUES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "connect/connector.h"

namespace liverec::connect {

// "redis://HOST:PORT" or "nats://HOST:PORT", split.
struct EngineAddress {
  std::string scheme;  // "redis" or "nats"
  std::string host;
  int port = 0;
};
// kInvalidArgument naming the URL and what is wrong with it.
StatusOr<EngineAddress> ParseEngineUrl(std::string_view url);

// A lease entry's value: "<token> <ttl_ms> <holder>" (NATS; Redis keeps "<token> <holder>"
// with the expiry in the key itself).
struct LeaseValue {
  uint64_t token = 0;
  uint64_t ttl_ms = 0;
  std::string holder;  // empty: released
};
std::string FormatLease(const LeaseValue& lease);
// nullopt unless `text` is two decimal numbers and a holder that is empty or a valid name.
std::optional<LeaseValue> ParseLease(std::string_view text);

// A stream's checkpoints: the position each consumer committed, as one
// "<consumer> <position>\n" line per consumer (NATS).
using Checkpoints = std::map<std::string, Position, std::less<>>;
std::string FormatCheckpoints(const Checkpoints& checkpoints);
// nullopt unless every line is a valid consumer name, a space and a decimal position.
std::optional<Checkpoints> ParseCheckpoints(std::string_view text);

// A decimal number of at most 20 digits that fits in 64 bits; nullopt otherwise.
std::optional<uint64_t> ParseUint(std::string_view text);

}  // namespace liverec::connect

#endif  // LIVEREC_CONNECT_ENGINE_VALUES_H_
