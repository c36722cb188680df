// The librdkafka consumer configuration flowwatch derives from its own config:
// our defaults, then Azure Event Hubs' settings when a connection string is
// given (SASL PLAIN) or a namespace with Entra ID (SASL OAUTHBEARER), then
// every property of source.kafka.librdkafka, which wins.
//
// Event Hubs speaks Kafka on <namespace>.servicebus.windows.net:9093 with
// SASL_SSL/PLAIN, username "$ConnectionString" and the connection string as the
// password; it drops connections idle for 240 s, so the client must close them
// sooner. librdkafka does not apply these for the host by itself.
//
// The connection string is a secret: Redacted() is the only form of a config
// that may be logged. Pure functions; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lib/common/status.h"
#include "lib/config/config.h"

namespace flowwatch::source::kafka {

struct ClientConfig {
  std::vector<std::pair<std::string, std::string>> properties;  // in the order applied
  std::string topic;
  bool event_hubs = false;
  // Entra ID (source.kafka.event_hubs_namespace): the scope of the tokens the
  // OAUTHBEARER refresh callback must fetch; "" = no OAUTHBEARER callback.
  std::string oauth_scope;

  // The value a property ends up with ("" if unset).
  std::string Get(const std::string& name) const;
  // name=value lines for logs, secrets replaced by "[redacted]".
  std::string Redacted() const;
};

struct EventHubsConnection {
  std::string namespace_host;  // contoso.servicebus.windows.net
  std::string entity_path;     // the event hub, if the string names one
};

// Parses "Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=..;
// SharedAccessKey=..[;EntityPath=..]". Errors never quote the string.
Result<EventHubsConnection> ParseEventHubsConnectionString(const std::string& text);

// Whether a librdkafka property holds a secret (its value must never be logged).
bool IsSecretProperty(const std::string& name);

Result<ClientConfig> BuildConsumerConfig(const config::KafkaConfig& kafka);

}  // namespace flowwatch::source::kafka
