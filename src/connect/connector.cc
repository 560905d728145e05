#include "connect/connector.h"

#include <algorithm>

#include "common/strings.h"
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

Status CheckTtl(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) return InvalidArgument("lease ttl: expected a positive duration");
  return Status::Ok();
}

Status CheckLease(const Lease& lease) {
  LIVEREC_RETURN_IF_ERROR(CheckName("lease", lease.name));
  return CheckName("holder", lease.holder);
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

Status Connector::CheckRecordSizes(std::string_view stream,
                                   std::span<const std::string> payloads) const {
  const size_t most = max_record_bytes();
  for (size_t i = 0; i < payloads.size(); ++i) {
    if (payloads[i].size() > most) {
      return OutOfRange(StrCat("append to '", stream, "': record ", i, " of ", payloads.size(),
                               " holds ", payloads[i].size(), " bytes, above the ", engine(),
                               " connector's ", most));
    }
  }
  return Status::Ok();
}

Status Connector::Append(std::string_view stream, std::string_view batch_id,
                         std::span<const std::string> payloads, std::vector<Position>* positions) {
  positions->clear();
  LIVEREC_RETURN_IF_ERROR(CheckName("stream", stream));
  LIVEREC_RETURN_IF_ERROR(CheckBatchId(batch_id));
  if (payloads.empty()) return Status::Ok();
  LIVEREC_RETURN_IF_ERROR(CheckRecordSizes(stream, payloads));
  return DoAppend(stream, batch_id, payloads, positions);
}

Status Connector::AppendIfLast(std::string_view stream, Position expected_last,
                               std::span<const std::string> payloads,
                               std::vector<Position>* positions) {
  positions->clear();
  LIVEREC_RETURN_IF_ERROR(CheckName("stream", stream));
  if (payloads.empty()) return Status::Ok();
  LIVEREC_RETURN_IF_ERROR(CheckRecordSizes(stream, payloads));
  return DoAppendIfLast(stream, expected_last, payloads, positions);
}

Status Connector::Read(std::string_view stream, Position after, size_t max,
                       std::chrono::milliseconds wait, std::vector<Record>* out) {
  LIVEREC_RETURN_IF_ERROR(CheckName("stream", stream));
  if (max == 0) return Status::Ok();
  return DoRead(stream, after, max, std::max(wait, std::chrono::milliseconds(0)), out);
}

StatusOr<Position> Connector::Last(std::string_view stream) {
  LIVEREC_RETURN_IF_ERROR(CheckName("stream", stream));
  return DoLast(stream);
}

Status Connector::Commit(std::string_view stream, std::string_view consumer, Position upto) {
  LIVEREC_RETURN_IF_ERROR(CheckName("stream", stream));
  LIVEREC_RETURN_IF_ERROR(CheckName("consumer", consumer));
  return DoCommit(stream, consumer, upto);
}

StatusOr<Position> Connector::Committed(std::string_view stream, std::string_view consumer) {
  LIVEREC_RETURN_IF_ERROR(CheckName("stream", stream));
  LIVEREC_RETURN_IF_ERROR(CheckName("consumer", consumer));
  return DoCommitted(stream, consumer);
}

StatusOr<Position> Connector::Trim(std::string_view stream) {
  LIVEREC_RETURN_IF_ERROR(CheckName("stream", stream));
  return DoTrim(stream);
}

StatusOr<Lease> Connector::Acquire(std::string_view name, std::string_view holder,
                                   std::chrono::milliseconds ttl) {
  LIVEREC_RETURN_IF_ERROR(CheckName("lease", name));
  LIVEREC_RETURN_IF_ERROR(CheckName("holder", holder));
  LIVEREC_RETURN_IF_ERROR(CheckTtl(ttl));
  return DoAcquire(name, holder, ttl);
}

Status Connector::Renew(const Lease& lease, std::chrono::milliseconds ttl) {
  LIVEREC_RETURN_IF_ERROR(CheckLease(lease));
  LIVEREC_RETURN_IF_ERROR(CheckTtl(ttl));
  return DoRenew(lease, ttl);
}

Status Connector::Release(const Lease& lease) {
  LIVEREC_RETURN_IF_ERROR(CheckLease(lease));
  return DoRelease(lease);
}

}  // namespace liverec::connect
