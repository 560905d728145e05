// The Connector on Redis Streams (Redis 7.0 or later, through hiredis).
//
// Keys, all under ConnectorOptions::prefix ("liverec" below):
//   liverec:s:<stream>        the stream; records get ids "1-<n>" (XADD with "1-*"), so a
//                             Position is the id's sequence part and positions are contiguous
//   liverec:b:<stream>:<id>   a batch id's first positions, kept for the de-duplication window
//   liverec:lease:<name>      "<token> <holder>", with the lease's expiry (PX) kept by Redis
//   liverec:token:<name>      the lease's last fencing token (INCR at each change of holder)
// Checkpoints are consumer groups of the stream, one per consumer: Commit moves the group's
// last-delivered id (XGROUP SETID), so `XINFO GROUPS` shows each node's position and lag, and
// Trim drops what every group has passed (XTRIM MINID, never MAXLEN).
//
// Every operation that must be atomic (a batch with its de-duplication key, a conditional
// append, a lease change, a commit that never moves back) is one Lua script, run by Redis as
// one step. Durability: with require_durable, Open checks `appendonly yes` and `appendfsync
// always`, under which Redis writes and fsyncs the AOF before it answers a write.
//
// Thread safety: one connection per object, used under a mutex; a blocking Read holds it for
// its wait, so a reader thread should have a connector of its own.
#ifndef LIVEREC_CONNECT_REDIS_CONNECTOR_H_
#define LIVEREC_CONNECT_REDIS_CONNECTOR_H_

#include <memory>
#include <string>

#include "connect/connector.h"

namespace liverec::connect {

StatusOr<std::unique_ptr<Connector>> OpenRedisConnector(const std::string& host, int port,
                                                        const ConnectorOptions& options);

}  // namespace liverec::connect

#endif  // LIVEREC_CONNECT_REDIS_CONNECTOR_H_
