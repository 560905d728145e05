// The Connector on NATS JetStream (nats-server 2.9 or later, through libnats).
//
// Layout and mechanisms: see nats_connector.cc's top comment.
#ifndef LIVEREC_CONNECT_NATS_CONNECTOR_H_
#define LIVEREC_CONNECT_NATS_CONNECTOR_H_

#include <memory>
#include <string>

#include "connect/connector.h"

namespace liverec::connect {

StatusOr<std::unique_ptr<Connector>> OpenNatsConnector(const std::string& host, int port,
                                                       const ConnectorOptions& options);

}  // namespace liverec::connect

#endif  // LIVEREC_CONNECT_NATS_CONNECTOR_H_
