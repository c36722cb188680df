#include "lib/source/kafka/client_config.h"

#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>

#include <sstream>

#include "lib/source/kafka/kafka_source.h"

namespace flowwatch::source::kafka {
namespace {

const std::string kSecret = "c2VjcmV0LWtleS1kby1ub3QtbG9n";
const std::string kConnection =
    "Endpoint=sb://contoso-flows.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=" + kSecret +
    ";EntityPath=nsg-flowlogs";

// A handler for sources that are created but never run.
struct NullHandler : MessageHandler {
  bool Offer(SourceMessage&) override { return true; }
  void WaitForRoom(int32_t, std::chrono::milliseconds) override {}
  void CollectCompleted(std::vector<std::pair<int32_t, int64_t>>*) override {}
  bool Drain(const std::vector<int32_t>&, std::chrono::milliseconds) override { return true; }
  void OnBacklog(int32_t, int64_t) override {}
  void OnAssigned(const std::vector<int32_t>&) override {}
  void OnRevoked(const std::vector<int32_t>&) override {}
};

TEST_CASE("An Event Hubs connection string gives the endpoint, SASL and Azure's client settings") {
  config::KafkaConfig k;
  k.topic = "";
  k.group_id = "flowwatch";
  k.event_hubs_connection_string = kConnection;
  auto c = BuildConsumerConfig(k);
  REQUIRE(c.ok());
  REQUIRE(c->event_hubs);
  REQUIRE(c->topic == "nsg-flowlogs");  // from EntityPath when topic is not set
  REQUIRE(c->Get("bootstrap.servers") == "contoso-flows.servicebus.windows.net:9093");
  REQUIRE(c->Get("security.protocol") == "SASL_SSL");
  REQUIRE(c->Get("sasl.mechanisms") == "PLAIN");
  REQUIRE(c->Get("sasl.username") == "$ConnectionString");
  REQUIRE(c->Get("sasl.password") == kConnection);
  REQUIRE(std::stol(c->Get("connections.max.idle.ms")) < 240000);  // Event Hubs cuts idle connections at 240 s
  REQUIRE(std::stol(c->Get("metadata.max.age.ms")) < 240000);
  REQUIRE(c->Get("session.timeout.ms") == "30000");
  REQUIRE(c->Get("enable.auto.commit") == "false");
  REQUIRE(c->Get("enable.auto.offset.store") == "false");
  REQUIRE(c->Get("partition.assignment.strategy") == "cooperative-sticky");
}

TEST_CASE("Explicit brokers, topic and librdkafka properties win over derived ones") {
  config::KafkaConfig k;
  k.brokers = "10.0.0.9:9093";
  k.topic = "flows";
  k.event_hubs_connection_string = kConnection;
  k.librdkafka = {{"session.timeout.ms", "45000"}, {"fetch.max.bytes", "1048576"}};
  auto c = BuildConsumerConfig(k);
  REQUIRE(c.ok());
  REQUIRE(c->topic == "flows");
  REQUIRE(c->Get("bootstrap.servers") == "10.0.0.9:9093");
  REQUIRE(c->Get("session.timeout.ms") == "45000");
  REQUIRE(c->Get("fetch.max.bytes") == "1048576");
}

TEST_CASE("A plain Kafka source needs brokers and gets no SASL") {
  config::KafkaConfig k;
  auto missing = BuildConsumerConfig(k);
  REQUIRE_FALSE(missing.ok());
  REQUIRE(missing.status().message().find("brokers") != std::string::npos);
  k.brokers = "127.0.0.1:9092";
  auto c = BuildConsumerConfig(k);
  REQUIRE(c.ok());
  REQUIRE_FALSE(c->event_hubs);
  REQUIRE(c->Get("security.protocol").empty());
  REQUIRE(c->Get("group.id") == "flowwatch");
}

TEST_CASE("An Event Hubs namespace with Entra ID gives SASL OAUTHBEARER and the namespace's token scope") {
  config::KafkaConfig k;
  k.event_hubs_namespace = "contoso-flows";
  auto c = BuildConsumerConfig(k);
  REQUIRE(c.ok());
  REQUIRE(c->event_hubs);
  REQUIRE(c->oauth_scope == "https://contoso-flows.servicebus.windows.net/.default");
  REQUIRE(c->Get("bootstrap.servers") == "contoso-flows.servicebus.windows.net:9093");
  REQUIRE(c->Get("security.protocol") == "SASL_SSL");
  REQUIRE(c->Get("sasl.mechanisms") == "OAUTHBEARER");
  REQUIRE(c->Get("sasl.username").empty());
  REQUIRE(c->Get("session.timeout.ms") == "30000");  // Azure's client settings as with a connection string
  k.event_hubs_namespace = "contoso-flows.servicebus.chinacloudapi.cn";  // a full host name is kept
  REQUIRE(BuildConsumerConfig(k)->Get("bootstrap.servers") == "contoso-flows.servicebus.chinacloudapi.cn:9093");
  k.event_hubs_namespace = "sb://contoso/";
  auto bad = BuildConsumerConfig(k);
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.status().message().find("source.kafka.event_hubs_namespace: expected a host name") == 0);
  // A connection string takes no token callback.
  config::KafkaConfig sas;
  sas.event_hubs_connection_string = kConnection;
  REQUIRE(BuildConsumerConfig(sas)->oauth_scope.empty());
}

TEST_CASE("A group instance id makes the member static") {
  config::KafkaConfig k;
  k.brokers = "127.0.0.1:9092";
  REQUIRE(BuildConsumerConfig(k)->Get("group.instance.id").empty());
  k.group_instance_id = "flowwatch-0";
  REQUIRE(BuildConsumerConfig(k)->Get("group.instance.id") == "flowwatch-0");
}

TEST_CASE("Malformed connection strings are refused without quoting them") {
  for (const std::string& bad : {std::string("SharedAccessKey=") + kSecret, std::string("Endpoint=sb://x.servicebus.windows.net/"),
                                 std::string("nonsense ") + kSecret}) {
    config::KafkaConfig k;
    k.event_hubs_connection_string = bad;
    auto c = BuildConsumerConfig(k);
    REQUIRE_FALSE(c.ok());
    REQUIRE(c.status().message().find(kSecret) == std::string::npos);
  }
}

TEST_CASE("The secret never appears in what may be logged") {
  config::KafkaConfig k;
  k.topic = "t";
  k.event_hubs_connection_string = kConnection;
  auto c = BuildConsumerConfig(k);
  REQUIRE(c.ok());
  const std::string redacted = c->Redacted();
  REQUIRE(redacted.find(kSecret) == std::string::npos);
  REQUIRE(redacted.find("sasl.password=[redacted]") != std::string::npos);
  REQUIRE(redacted.find("contoso-flows.servicebus.windows.net:9093") != std::string::npos);
  REQUIRE(IsSecretProperty("ssl.key.password"));
  REQUIRE_FALSE(IsSecretProperty("session.timeout.ms"));

  // Creating the consumer logs its configuration: capture every log line.
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  logger->set_level(spdlog::level::trace);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  NullHandler handler;
  KafkaSourceOptions options;
  options.client = c.value();
  {
    auto source = KafkaSource::Create(options, &handler);  // no network traffic until Run
    REQUIRE(source.ok());
  }
  spdlog::set_default_logger(previous);
  INFO(captured.str());
  REQUIRE(captured.str().find("contoso-flows.servicebus.windows.net") != std::string::npos);
  REQUIRE(captured.str().find(kSecret) == std::string::npos);
}

TEST_CASE("An invalid librdkafka property is named in the error") {
  config::KafkaConfig k;
  k.brokers = "127.0.0.1:9092";
  k.librdkafka = {{"no.such.property", "1"}};
  auto c = BuildConsumerConfig(k);
  REQUIRE(c.ok());
  NullHandler handler;
  KafkaSourceOptions options;
  options.client = c.value();
  auto source = KafkaSource::Create(options, &handler);
  REQUIRE_FALSE(source.ok());
  REQUIRE(source.status().message().find("no.such.property") != std::string::npos);
}

}  // namespace
}  // namespace flowwatch::source::kafka
