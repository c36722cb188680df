#include "lib/config/config_loader.h"

#include <catch2/catch.hpp>

#include <cstdlib>

namespace flowwatch::config {
namespace {

const std::string kExample = std::string(FW_SOURCE_DIR) + "/config/flowwatch.example.yaml";

bool HasError(const LoadResult& r, const std::string& fragment) {
  for (const std::string& e : r.errors) {
    if (e.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("The example configuration is valid and names every key the loader knows") {
  setenv("EVENTHUB_CONNECTION_STRING", "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s", 1);
  LoadResult r = LoadConfigFile(kExample);
  INFO((r.errors.empty() ? std::string() : r.errors.front()));
  REQUIRE(r.ok());
  for (const std::string& key : r.known_keys) {
    INFO("key missing from config/flowwatch.example.yaml: " << key);
    REQUIRE(r.present_keys.count(key) == 1);
  }
  REQUIRE(r.known_keys.size() >= 35);
  // The example shows the defaults.
  const Config defaults;
  REQUIRE(r.config.detection.bucket == defaults.detection.bucket);
  REQUIRE(r.config.detection.min_bytes == defaults.detection.min_bytes);
  REQUIRE(r.config.detection.max_keys == defaults.detection.max_keys);
  REQUIRE(r.config.dedup.max_entries == defaults.dedup.max_entries);
  REQUIRE(r.config.ports.idle_ttl == defaults.ports.idle_ttl);
  REQUIRE(r.config.decode.max_body_bytes == defaults.decode.max_body_bytes);
  REQUIRE(r.config.source.kafka.librdkafka.at("session.timeout.ms") == "10000");
  REQUIRE(r.config.source.kafka.event_hubs_connection_string.starts_with("Endpoint=sb://x."));
}

TEST_CASE("Every problem is reported with file, line and key") {
  const LoadResult r = LoadConfigText(
      "detection:\n"
      "  bucket: 5x\n"
      "  min_ratio: high\n"
      "  detecton: 1\n"
      "alerts:\n"
      "  webhooks:\n"
      "    - url: \"\"\n"
      "      format: slack\n"
      "pipeline:\n"
      "  shards: 1000\n",
      "f.yaml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(HasError(r, "f.yaml:2: detection.bucket: expected a duration"));
  REQUIRE(HasError(r, "f.yaml:3: detection.min_ratio: expected a number from 1 to 1e+09 (got 'high')"));
  REQUIRE(HasError(r, "f.yaml:4: detection.detecton: unknown key"));
  REQUIRE(HasError(r, "alerts.webhooks[0].url: is required"));
  REQUIRE(HasError(r, "f.yaml:8: alerts.webhooks[0].format: must be generic, alertmanager or pagerduty"));
  REQUIRE(HasError(r, "f.yaml:10: pipeline.shards: expected a whole number from 0 to 256"));
  REQUIRE(r.errors.size() == 6);
}

TEST_CASE("Environment variables expand - an unset one is an error that does not leak the value") {
  setenv("FW_TEST_TOPIC", "nsg-flows", 1);
  unsetenv("FW_TEST_UNSET");
  LoadResult ok = LoadConfigText("source:\n  kafka:\n    topic: \"${FW_TEST_TOPIC}\"\n", "e.yaml");
  REQUIRE(ok.ok());
  REQUIRE(ok.config.source.kafka.topic == "nsg-flows");
  LoadResult bad = LoadConfigText("source:\n  kafka:\n    event_hubs_connection_string: \"${FW_TEST_UNSET}\"\n", "e.yaml");
  REQUIRE(HasError(bad, "e.yaml:3: source.kafka.event_hubs_connection_string: environment variable FW_TEST_UNSET is not set"));
  LoadResult secret = LoadConfigText("source:\n  kafka:\n    event_hubs_connection_string: [\"SharedAccessKey=hunter2\"]\n", "e.yaml");
  REQUIRE_FALSE(secret.ok());
  for (const std::string& e : secret.errors) REQUIRE(e.find("hunter2") == std::string::npos);
}

TEST_CASE("YAML syntax errors name the line - an empty file is all defaults") {
  const LoadResult r = LoadConfigText("detection:\n  bucket: [5m\n", "s.yaml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(HasError(r, "s.yaml:"));
  REQUIRE(HasError(r, "YAML syntax error"));
  const LoadResult empty = LoadConfigText("", "e.yaml");
  REQUIRE(empty.ok());
  REQUIRE(empty.config.detection.min_ratio == 1.5);
  REQUIRE(empty.config.detection.false_alerts_per_1k_key_days == 1.0);
}

TEST_CASE("Durations and sizes") {
  Millis d;
  REQUIRE(ParseDuration("90s", &d));
  REQUIRE(d.count() == 90000);
  REQUIRE(ParseDuration("5m", &d));
  REQUIRE(d.count() == 300000);
  REQUIRE(ParseDuration("1.5h", &d));
  REQUIRE(d.count() == 5400000);
  REQUIRE(ParseDuration("7d", &d));
  REQUIRE(ParseDuration("30", &d));
  REQUIRE(d.count() == 30000);
  REQUIRE_FALSE(ParseDuration("5 m", &d));
  REQUIRE_FALSE(ParseDuration("m", &d));
  uint64_t s;
  REQUIRE(ParseSize("1MiB", &s));
  REQUIRE(s == 1048576);
  REQUIRE(ParseSize("512KiB", &s));
  REQUIRE(s == 524288);
  REQUIRE_FALSE(ParseSize("1.5MiB", &s));
  REQUIRE_FALSE(ParseSize("99999999999999999999", &s));
  REQUIRE_FALSE(ParseSize("20000000000GiB", &s));
}

}  // namespace
}  // namespace flowwatch::config

namespace flowwatch::config {
namespace {

TEST_CASE("A webhook takes a secret from the environment, headers and a timeout") {
  setenv("FW_TEST_HOOK_SECRET", "k3y", 1);
  const LoadResult r = LoadConfigText(
      "alerts:\n"
      "  webhooks:\n"
      "    - url: \"https://relay.example.com/x\"\n"
      "      secret: \"${FW_TEST_HOOK_SECRET}\"\n"
      "      headers: {X-Team: netsec, X-Env: prod}\n"
      "      timeout: 3s\n",
      "w.yaml");
  INFO((r.errors.empty() ? std::string() : r.errors.front()));
  REQUIRE(r.ok());
  const WebhookConfig& w = r.config.alerts.webhooks.at(0);
  REQUIRE(w.secret == "k3y");
  REQUIRE(w.headers.at("X-Team") == "netsec");
  REQUIRE(w.headers.at("X-Env") == "prod");
  REQUIRE(w.timeout == Millis(3000));
  REQUIRE(w.format == "generic");
  const LoadResult bad = LoadConfigText("alerts:\n  webhooks:\n    - url: \"http://x\"\n      timeout: 1ms\n", "b.yaml");
  REQUIRE_FALSE(bad.ok());
}


TEST_CASE("The azure credential, the Event Hubs namespace and the group instance id are read and checked") {
  const LoadResult r = LoadConfigText(
      "source:\n  kafka:\n    event_hubs_namespace: contoso\n    group_instance_id: flowwatch-0\n"
      "azure:\n  credential: client_secret\n  tenant_id: t\n  client_id: c\n  client_secret: s3cr3t\n"
      "  authority_host: \"http://127.0.0.1:1\"\n  timeout: 3s\n",
      "a.yaml");
  INFO((r.errors.empty() ? std::string() : r.errors.front()));
  REQUIRE(r.ok());
  REQUIRE(r.config.source.kafka.event_hubs_namespace == "contoso");
  REQUIRE(r.config.source.kafka.group_instance_id == "flowwatch-0");
  REQUIRE(r.config.azure.kind == "client_secret");
  REQUIRE(r.config.azure.client_secret == "s3cr3t");
  REQUIRE(r.config.azure.timeout == Millis(3000));
  REQUIRE(r.config.azure.managed_identity_endpoint == "http://169.254.169.254/metadata/identity/oauth2/token");

  const LoadResult both = LoadConfigText(
      "source:\n  kafka:\n    event_hubs_connection_string: \"Endpoint=sb://x/;SharedAccessKey=k\"\n"
      "    event_hubs_namespace: x\n", "b.yaml");
  REQUIRE_FALSE(both.ok());
  REQUIRE(both.errors.front() == "b.yaml:4: source.kafka.event_hubs_namespace: set either it (Entra ID) or "
                                 "event_hubs_connection_string (SAS), not both");
  const LoadResult kind = LoadConfigText("azure:\n  credential: kerberos\n", "k.yaml");
  REQUIRE_FALSE(kind.ok());
  REQUIRE(kind.errors.front().find("k.yaml:2: azure.credential: must be auto, workload_identity") == 0);
  const LoadResult secret = LoadConfigText("azure:\n  client_secret: [\"hunter2\"]\n", "s.yaml");
  REQUIRE_FALSE(secret.ok());
  REQUIRE(secret.errors.front().find("hunter2") == std::string::npos);
}

TEST_CASE("Alertmanager and PagerDuty sinks, the rate limit and the API token are read, secrets never echoed") {
  setenv("FW_TEST_PD_KEY", "R0UT1NG", 1);
  const LoadResult r = LoadConfigText(
      "http:\n"
      "  token: \"t0ken\"\n"
      "alerts:\n"
      "  rate_limit: {max: 5, per: 2m}\n"
      "  webhooks:\n"
      "    - url: \"http://127.0.0.1:9093/api/v2/alerts\"\n"
      "      format: alertmanager\n"
      "      resend_interval: 30s\n"
      "    - format: pagerduty\n"
      "      routing_key: \"${FW_TEST_PD_KEY}\"\n",
      "a.yaml");
  INFO((r.errors.empty() ? std::string() : r.errors.front()));
  REQUIRE(r.ok());
  REQUIRE(r.config.http.token == "t0ken");
  REQUIRE(r.config.alerts.rate_limit.max == 5);
  REQUIRE(r.config.alerts.rate_limit.per == Millis(120000));
  REQUIRE(r.config.alerts.webhooks.at(0).resend_interval == Millis(30000));
  REQUIRE(r.config.alerts.webhooks.at(1).url == "https://events.pagerduty.com/v2/enqueue");
  REQUIRE(r.config.alerts.webhooks.at(1).routing_key == "R0UT1NG");

  const LoadResult no_key = LoadConfigText("alerts:\n  webhooks:\n    - format: pagerduty\n", "p.yaml");
  REQUIRE_FALSE(no_key.ok());
  REQUIRE(no_key.errors.front().find("p.yaml:3: alerts.webhooks[0].routing_key: is required") != std::string::npos);
  const LoadResult bad_url = LoadConfigText("alerts:\n  webhooks:\n    - url: \"ftp://x\"\n", "u.yaml");
  REQUIRE_FALSE(bad_url.ok());
  // A malformed secret is named, but its value is not repeated.
  const LoadResult bad = LoadConfigText("http:\n  token: [\"hunter2\"]\nalerts:\n  webhooks:\n    - url: \"http://x\"\n"
                                        "      headers: {Authorization: [\"Bearer hunter2\"]}\n", "s.yaml");
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.errors.size() == 2);
  for (const std::string& e : bad.errors) REQUIRE(e.find("hunter2") == std::string::npos);
}

TEST_CASE("source.blob: its defaults, its start, and one way to authenticate") {
  LoadResult r = LoadConfigText("source:\n  blob:\n    connection_string: \"AccountName=a;AccountKey=hunter2\"\n", "f.yaml");
  REQUIRE(r.ok());
  CHECK(r.config.source.blob_configured);
  CHECK(r.config.source.blob.containers ==
        std::vector<std::string>{"insights-logs-flowlogflowevent", "insights-logs-networksecuritygroupflowevent"});
  CHECK(r.config.source.blob.poll_interval == Millis(60000));
  CHECK(r.config.source.blob.start_ms == INT64_MIN);
  CHECK(r.config.source.blob.full_list_interval == Millis(600000));
  r = LoadConfigText(
      "source:\n  blob:\n    account_url: https://a.blob.core.windows.net\n    start: now\n    full_list_interval: 0s\n",
      "f.yaml");
  REQUIRE(r.ok());
  CHECK(r.config.source.blob.start_ms == INT64_MAX);
  CHECK(r.config.source.blob.full_list_interval == Millis(0));
  r = LoadConfigText("source:\n  blob:\n    account_url: https://a.blob.core.windows.net\n    start: 2026-12-07T04:00:00Z\n",
                     "f.yaml");
  REQUIRE(r.ok());
  CHECK(r.config.source.blob.start_ms == 1796616000000);
  const LoadResult bad = LoadConfigText(
      "source:\n  blob:\n    connection_string: \"AccountName=a;AccountKey=hunter2\"\n"
      "    account_url: https://a.blob.core.windows.net\n    containers: []\n    start: yesterday\n",
      "f.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(HasError(bad, "source.blob: set connection_string (account key or SAS) or account_url (Entra ID), one of them"));
  CHECK(HasError(bad, "source.blob.containers: must name at least one container"));
  CHECK(HasError(bad, "f.yaml:6: source.blob.start: expected earliest, now or an RFC 3339 time"));
  for (const std::string& e : bad.errors) CHECK(e.find("hunter2") == std::string::npos);
}

TEST_CASE("source.kafka.follow_blob_events: true or false, and only with source.blob naming the account") {
  LoadResult r = LoadConfigText("source:\n  kafka:\n    brokers: \"127.0.0.1:9092\"\n", "f.yaml");
  REQUIRE(r.ok());
  CHECK_FALSE(r.config.source.kafka.follow_blob_events);
  r = LoadConfigText("source:\n  kafka:\n    brokers: \"127.0.0.1:9092\"\n    follow_blob_events: true\n  blob:\n"
                     "    account_url: https://a.blob.core.windows.net\n",
                     "f.yaml");
  REQUIRE(r.ok());
  CHECK(r.config.source.kafka.follow_blob_events);
  CHECK(r.config.source.blob_configured);
  const LoadResult alone = LoadConfigText("source:\n  kafka:\n    brokers: \"127.0.0.1:9092\"\n    follow_blob_events: true\n",
                                          "f.yaml");
  REQUIRE_FALSE(alone.ok());
  CHECK(HasError(alone, "f.yaml:4: source.kafka.follow_blob_events: needs source.blob"));
  const LoadResult bad = LoadConfigText("source:\n  kafka:\n    follow_blob_events: yes please\n", "f.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(HasError(bad, "f.yaml:3: source.kafka.follow_blob_events: expected true or false"));
}

}  // namespace
}  // namespace flowwatch::config
