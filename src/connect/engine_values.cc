#include "connect/engine_values.h"

#include <charconv>

namespace liverec::connect {

StatusOr<EngineAddress> ParseEngineUrl(std::string_view url) {
  const auto invalid = [url](std::string_view why) {
    return InvalidArgument("cluster URL '" + std::string(url.substr(0, 200)) + "': " +
                           std::string(why) + "; expected redis://HOST:PORT or nats://HOST:PORT");
  };
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return invalid("no scheme");
  EngineAddress address;
  address.scheme = std::string(url.substr(0, scheme_end));
  if (address.scheme != "redis" && address.scheme != "nats") {
    return invalid("unknown scheme '" + address.scheme.substr(0, 32) + "'");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return invalid("no HOST:PORT");
  address.host = std::string(rest.substr(0, colon));
  for (const char c : address.host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
    if (!ok) return invalid("HOST holds a byte other than letters, digits and '.-_:[]'");
  }
  const std::string_view port_text = rest.substr(colon + 1);
  const auto port = ParseUint(port_text);
  if (!port || *port < 1 || *port > 65535) return invalid("PORT is not a number from 1 to 65535");
  address.port = static_cast<int>(*port);
  return address;
}

std::optional<uint64_t> ParseUint(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string FormatLease(const LeaseValue& lease) {
  return std::to_string(lease.token) + " " + std::to_string(lease.ttl_ms) + " " + lease.holder;
}

std::optional<LeaseValue> ParseLease(std::string_view text) {
  const size_t first = text.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = text.find(' ', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  const auto token = ParseUint(text.substr(0, first));
  const auto ttl_ms = ParseUint(text.substr(first + 1, second - first - 1));
  const std::string_view holder = text.substr(second + 1);
  if (!token || !ttl_ms) return std::nullopt;
  if (!holder.empty() && !CheckName("holder", holder).ok()) return std::nullopt;
  return LeaseValue{*token, *ttl_ms, std::string(holder)};
}

std::string FormatCheckpoints(const Checkpoints& checkpoints) {
  std::string text;
  for (const auto& [consumer, position] : checkpoints) {
    text += consumer + " " + std::to_string(position) + "\n";
  }
  return text;
}

std::optional<Checkpoints> ParseCheckpoints(std::string_view text) {
  Checkpoints checkpoints;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const std::string_view consumer = line.substr(0, space);
    const auto position = ParseUint(line.substr(space + 1));
    if (!position || !CheckName("consumer", consumer).ok()) return std::nullopt;
    checkpoints[std::string(consumer)] = *position;
  }
  return checkpoints;
}

}  // namespace liverec::connect
