#include "connect/connector.h"

#include <charconv>

#include "connect/nats_connector.h"
#include "connect/redis_connector.h"

namespace liverec::connect {

namespace {

bool IsNameByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

Status CheckBytes(std::string_view field, std::string_view name, std::string_view extra) {
  const auto invalid = [&](std::string_view why) {
    return InvalidArgument(std::string(field) + " '" + std::string(name.substr(0, 64)) +
                           (name.size() > 64 ? "...'" : "'") + ": " + std::string(why));
  };
  if (name.empty()) return invalid("is empty");
  if (name.size() > kMaxNameBytes) {
    return invalid("longer than " + std::to_string(kMaxNameBytes) + " bytes");
  }
  if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos) {
    return invalid("has an empty dot-separated part");
  }
  for (const char c : name) {
    if (!IsNameByte(c) && c != '.' && extra.find(c) == std::string_view::npos) {
      return invalid("expected letters, digits, '_', '-' and '.'" +
                     (extra.empty() ? std::string() : " (and '" + std::string(extra) + "')"));
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckName(std::string_view field, std::string_view name) {
  return CheckBytes(field, name, "");
}

Status CheckBatchId(std::string_view batch_id) {
  if (batch_id.empty()) return Status::Ok();
  return CheckBytes("batch id", batch_id, "/:");
}

StatusOr<std::unique_ptr<Connector>> Connector::Open(std::string_view url,
                                                     const ConnectorOptions& options) {
  const auto invalid = [url](std::string_view why) {
    return InvalidArgument("cluster URL '" + std::string(url) + "': " + std::string(why) +
                           "; expected redis://HOST:PORT or nats://HOST:PORT");
  };
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return invalid("no scheme");
  const std::string_view scheme = url.substr(0, scheme_end);
  std::string_view rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return invalid("no HOST:PORT");
  const std::string host(rest.substr(0, colon));
  if (host.find_first_of("/@?#") != std::string::npos) return invalid("HOST holds '/@?#'");
  const std::string_view port_text = rest.substr(colon + 1);
  int port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
    return invalid("PORT is not a number from 1 to 65535");
  }
  if (scheme == "redis") return OpenRedisConnector(host, port, options);
  if (scheme == "nats") return OpenNatsConnector(host, port, options);
  return invalid("unknown scheme '" + std::string(scheme) + "'");
}

}  // namespace liverec::connect
