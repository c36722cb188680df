// Config: flowwatch's typed configuration, one struct per stage, every field with
// its default. Loaded from YAML by LoadConfig (config_loader.h); every key is
// documented in config/flowwatch.example.yaml, and a test keeps the two in sync.
// Plain values; copy freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace flowwatch::config {

using Millis = std::chrono::milliseconds;

// Entra ID for Azure services (source.kafka.event_hubs_namespace). Blank
// fields come from the environment (lib/azure/credential.h).
struct AzureConfig {
  std::string kind = "auto";  // `credential`: auto | workload_identity | managed_identity | client_secret
  std::string tenant_id;
  std::string client_id;              // managed identity: a user-assigned identity's (blank: the system-assigned one)
  std::string client_secret;          // secret
  std::string federated_token_file;
  std::string authority_host;         // default https://login.microsoftonline.com
  std::string managed_identity_endpoint = "http://169.254.169.254/metadata/identity/oauth2/token";
  Millis timeout{10000};              // per token exchange
};

struct KafkaConfig {
  std::string brokers;                       // "host:port,..."; derived from the connection string if empty
  std::string topic = "flowlogs";
  std::string group_id = "flowwatch";
  std::string event_hubs_connection_string;  // secret: never logged
  std::string event_hubs_namespace;          // instead: Entra ID (SASL OAUTHBEARER) with the `azure:` credential
  std::string group_instance_id;             // static membership (group.instance.id); "" = dynamic
  std::map<std::string, std::string> librdkafka;  // passed through to librdkafka
  std::string dead_letter_topic;             // copy undecodable messages here; "" = don't
  Millis commit_interval{5000};
  bool follow_blob_events = false;  // messages are Event Grid BlobCreated events: read those blobs (with source.blob's account)
};

// `source.blob`: flow-log blobs read straight from Storage.
struct BlobConfig {
  std::string connection_string;  // account key or SAS; secret
  std::string account_url;        // with Entra ID (the `azure:` credential)
  std::vector<std::string> containers{"insights-logs-flowlogflowevent", "insights-logs-networksecuritygroupflowevent"};
  std::string prefix;              // inside each container
  Millis poll_interval{60000};
  int parallel_reads = 8;          // blobs read at once (Storage's latency bounds one after another)
  Millis full_list_interval{600000};  // containers listed whole this often; between, the hours that can change
  std::string start = "earliest";  // earliest | now | an RFC 3339 time
  int64_t start_ms = INT64_MIN;    // `start` as a time (INT64_MIN: earliest; INT64_MAX: now, resolved at start)
};

struct SourceConfig {
  KafkaConfig kafka;
  bool kafka_configured = false;     // the source.kafka section is present
  BlobConfig blob;
  bool blob_configured = false;      // the source.blob section is present
  std::vector<std::string> files;    // alternative source: folders of blobs, followed as they grow
  Millis poll_interval{2000};        // how often the folders are walked for new and grown files
  // A partition (or a decoding thread) without messages this long stops holding
  // event time back: the others' progress closes the buckets.
  Millis idle_timeout{30000};
};

struct LogConfig {
  std::string format = "text";  // text | json
  std::string level = "info";   // debug | info | warn | error
};

struct InventoryConfig {
  std::string file;               // CSV name,ip,mac or `az vm list-ip-addresses -o json`
  std::string service_tags_file;  // Microsoft's ServiceTags_Public_*.json
};

struct HttpConfig {
  std::string listen = "0.0.0.0:9464";
  std::string token;  // if set, /metrics and /api/v1/... need "Authorization: Bearer <token>"; secret
};

struct StateConfig {
  std::string dir = "/var/lib/flowwatch";
  Millis checkpoint_interval{30000};  // daemon: how often the shards' state is checkpointed
};

struct WebhookConfig {
  std::string url;
  std::string format = "generic";  // generic | alertmanager | pagerduty
  std::string secret;              // HMAC-SHA256 key for the signature header; secret: never logged
  std::map<std::string, std::string> headers;  // sent with every call (e.g. for a Slack or Teams relay)
  Millis timeout{10000};           // per call
  std::string routing_key;         // pagerduty: the integration's routing key; secret
  Millis resend_interval{60000};   // alertmanager: how often firing alerts are re-sent
};

struct RateLimitConfig {
  int max = 30;             // firing alerts per `per` across all webhooks; 0: no limit
  Millis per{600000};
};

struct AlertsConfig {
  std::string file = "-";  // alert JSON Lines: "-" is stdout, "" is off
  std::vector<WebhookConfig> webhooks;
  RateLimitConfig rate_limit;
};

struct PipelineConfig {
  int decoders = 0;  // 0: one per core
  int shards = 0;    // 0: one per core
  int ring_capacity = 8192;
};

struct DecodeConfig {
  uint64_t max_body_bytes = 256ull << 20;
};

struct DedupConfig {
  Millis window{30 * 60 * 1000};
  uint64_t max_entries = 1u << 20;  // per shard and generation
};

struct DetectionConfig {
  Millis bucket{5 * 60 * 1000};
  Millis allowed_lateness{3 * 60 * 1000};
  double false_alerts_per_1k_key_days = 1.0;  // the budget the thresholds follow from
  Millis half_life{6 * 3600 * 1000};
  Millis relearn_after{4 * 3600 * 1000};
  int warmup_buckets = 24;
  double min_ratio = 1.5;
  double min_zscore = 3.0;
  uint64_t min_bytes = 1u << 20;
  int resolve_after_buckets = 3;
  double critical_ratio = 5.0;
  uint64_t max_keys = 1u << 20;
  uint64_t max_keys_per_vm = 4096;
  Millis idle_ttl{7LL * 24 * 3600 * 1000};
  int top_peers = 5;
};

struct PortsConfig {
  uint64_t max_peers_per_key = 64;
  Millis idle_ttl{30LL * 24 * 3600 * 1000};
};

struct Config {
  SourceConfig source;
  AzureConfig azure;
  LogConfig log;
  InventoryConfig inventory;
  HttpConfig http;
  StateConfig state;
  AlertsConfig alerts;
  PipelineConfig pipeline;
  DecodeConfig decode;
  DedupConfig dedup;
  DetectionConfig detection;
  PortsConfig ports;
};

}  // namespace flowwatch::config
