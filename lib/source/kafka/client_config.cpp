#include "lib/source/kafka/client_config.h"

#include <algorithm>

#include "lib/common/text_format.h"

namespace flowwatch::source::kafka {
namespace {

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

}  // namespace

std::string ClientConfig::Get(const std::string& name) const {
  std::string value;
  for (const auto& [k, v] : properties) {
    if (k == name) value = v;
  }
  return value;
}

bool IsSecretProperty(const std::string& name) {
  for (const char* marker : {"password", "secret", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key", "token"}) {
    if (name.find(marker) != std::string::npos) return true;
  }
  return false;
}

std::string ClientConfig::Redacted() const {
  std::string out;
  for (const auto& [k, v] : properties) {
    if (!out.empty()) out += " ";
    out += k + "=" + (IsSecretProperty(k) ? "[redacted]" : v);
  }
  return out;
}

Result<EventHubsConnection> ParseEventHubsConnectionString(const std::string& text) {
  EventHubsConnection c;
  bool has_key = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string::npos) end = text.size();
    const std::string part = text.substr(pos, end - pos);
    const size_t eq = part.find('=');
    if (eq != std::string::npos) {
      const std::string key(TrimSpace(std::string_view(part).substr(0, eq)));
      const std::string value(TrimSpace(std::string_view(part).substr(eq + 1)));
      if (EqualsIgnoreCase(key, "Endpoint")) {
        std::string host = value;
        const size_t scheme = host.find("://");
        if (scheme != std::string::npos) host = host.substr(scheme + 3);
        while (!host.empty() && host.back() == '/') host.pop_back();
        c.namespace_host = host;
      } else if (EqualsIgnoreCase(key, "EntityPath")) {
        c.entity_path = value;
      } else if (EqualsIgnoreCase(key, "SharedAccessKey") || EqualsIgnoreCase(key, "SharedAccessSignature")) {
        has_key = !value.empty();
      }
    }
    pos = end + 1;
  }
  if (c.namespace_host.empty() || c.namespace_host.find('/') != std::string::npos) {
    return Status::InvalidArgument(
        "source.kafka.event_hubs_connection_string: no Endpoint=sb://<namespace>.servicebus.windows.net/ in it");
  }
  if (!has_key) {
    return Status::InvalidArgument(
        "source.kafka.event_hubs_connection_string: no SharedAccessKey (or SharedAccessSignature) in it");
  }
  return c;
}

Result<ClientConfig> BuildConsumerConfig(const config::KafkaConfig& kafka) {
  ClientConfig c;
  c.topic = kafka.topic;
  auto set = [&](const std::string& k, const std::string& v) { c.properties.emplace_back(k, v); };

  std::string brokers = kafka.brokers;
  std::string namespace_host;
  if (!kafka.event_hubs_connection_string.empty()) {
    auto eh = ParseEventHubsConnectionString(kafka.event_hubs_connection_string);
    if (!eh.ok()) return eh.status();
    namespace_host = eh->namespace_host;
    if (c.topic.empty()) c.topic = eh->entity_path;
  } else if (!kafka.event_hubs_namespace.empty()) {
    namespace_host = kafka.event_hubs_namespace;
    if (namespace_host.find_first_of(":/ ") != std::string::npos) {
      return Status::InvalidArgument("source.kafka.event_hubs_namespace: expected a host name such as "
                                     "contoso.servicebus.windows.net, got '" + namespace_host + "'");
    }
    if (namespace_host.find('.') == std::string::npos) namespace_host += ".servicebus.windows.net";
    c.oauth_scope = "https://" + namespace_host + "/.default";
  }
  c.event_hubs = !namespace_host.empty();
  if (brokers.empty() && c.event_hubs) brokers = namespace_host + ":9093";
  if (brokers.empty()) {
    return Status::InvalidArgument(
        "source.kafka: set brokers, or event_hubs_connection_string or event_hubs_namespace to derive them");
  }
  if (c.topic.empty()) return Status::InvalidArgument("source.kafka.topic: must not be empty");

  // Ours: offsets are stored and committed by flowwatch, only once processed.
  set("bootstrap.servers", brokers);
  set("group.id", kafka.group_id);
  // Static membership: a member that restarts within session.timeout.ms gets
  // its partitions back without a rebalance of the whole group.
  if (!kafka.group_instance_id.empty()) set("group.instance.id", kafka.group_instance_id);
  set("client.id", "flowwatch");
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("auto.offset.reset", "earliest");
  set("partition.assignment.strategy", "cooperative-sticky");
  // The prefetch buffer (librdkafka's default is 64 MiB). When the pipeline is
  // the slower side, as when catching up a backlog, librdkafka 2.0 stalls
  // fetching for long stretches each time the buffer fills: 128 MiB halved the
  // catch-up time in bench/daemon_throughput.sh (see docs/benchmarks.md) and
  // still bounds memory.
  set("queued.max.messages.kbytes", "131072");
  if (c.event_hubs) {
    // Azure Event Hubs' Kafka endpoint (Microsoft's recommended client settings).
    set("security.protocol", "SASL_SSL");
    if (c.oauth_scope.empty()) {
      set("sasl.mechanisms", "PLAIN");
      set("sasl.username", "$ConnectionString");
      set("sasl.password", kafka.event_hubs_connection_string);
    } else {
      // Entra ID: the token comes from KafkaSource's refresh callback.
      set("sasl.mechanisms", "OAUTHBEARER");
    }
    set("connections.max.idle.ms", "180000");  // Event Hubs closes idle connections at 240 s
    set("metadata.max.age.ms", "180000");
    set("socket.keepalive.enable", "true");
    set("request.timeout.ms", "60000");
    set("session.timeout.ms", "30000");
    set("heartbeat.interval.ms", "3000");
    set("max.poll.interval.ms", "300000");
  }
  for (const auto& [k, v] : kafka.librdkafka) set(k, v);  // the user's word is last
  return c;
}

}  // namespace flowwatch::source::kafka
