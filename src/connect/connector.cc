#include "connect/connector.h"

#include "connect/engine_values.h"
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
  LIVEREC_ASSIGN_OR_RETURN(const EngineAddress address, ParseEngineUrl(url));
  if (address.scheme == "redis") return OpenRedisConnector(address.host, address.port, options);
  return OpenNatsConnector(address.host, address.port, options);
}

}  // namespace liverec::connect
