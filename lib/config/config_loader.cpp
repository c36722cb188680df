#include "lib/config/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "lib/common/time_util.h"

namespace flowwatch::config {
namespace {

// Keys whose values are secrets: never echoed in an error message.
bool IsSecret(std::string_view path) {
  return path.ends_with("connection_string") || path.ends_with(".secret") || path.ends_with(".client_secret") || path.ends_with(".routing_key") ||
         path.ends_with(".token") || path.find(".headers.") != std::string_view::npos;  // Authorization, API keys
}

class Reader {
 public:
  Reader(std::string_view source, LoadResult* result) : source_(source), errors_(&result->errors), result_(result) {}

  void Error(const YAML::Node& at, std::string_view path, const std::string& what) {
    std::ostringstream m;
    m << source_;
    if (at.IsDefined() && at.Mark().line >= 0) m << ":" << at.Mark().line + 1;
    m << ": " << path << ": " << what;
    errors_->push_back(m.str());
  }

  // Returns false (and reports) unless node is a mapping; reports unknown keys.
  bool Map(const YAML::Node& node, std::string_view path, std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      Error(node, path, "expected a mapping of keys");
      return false;
    }
    for (std::string_view a : allowed) result_->known_keys.insert(Join(path, a));
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>("");
      result_->present_keys.insert(Join(path, key));
      bool known = false;
      for (std::string_view a : allowed) known = known || a == key;
      if (!known) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        Error(kv.first, Join(path, key), "unknown key (known keys here: " + list + ")");
      }
    }
    return true;
  }

  static std::string Join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
  }

  bool Scalar(const YAML::Node& map, std::string_view path, const char* key, std::string* text, YAML::Node* at) {
    const YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return false;
    const std::string p = Join(path, key);
    if (!n.IsScalar()) {
      Error(n, p, "expected a single value");
      return false;
    }
    *at = n;
    *text = n.Scalar();
    return Expand(n, p, text);
  }

  void String(const YAML::Node& map, std::string_view path, const char* key, std::string* out) {
    std::string text;
    YAML::Node at;
    if (Scalar(map, path, key, &text, &at)) *out = text;
  }

  void Int(const YAML::Node& map, std::string_view path, const char* key, int* out, int min, int max) {
    std::string text;
    YAML::Node at;
    if (!Scalar(map, path, key, &text, &at)) return;
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < min || v > max) {
      Error(at, Join(path, key),
            "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) + Got(path, text));
      return;
    }
    *out = static_cast<int>(v);
  }

  void Bool(const YAML::Node& map, std::string_view path, const char* key, bool* out) {
    std::string text;
    YAML::Node at;
    if (!Scalar(map, path, key, &text, &at)) return;
    if (text == "true" || text == "false") {
      *out = text == "true";
    } else {
      Error(at, Join(path, key), "expected true or false" + Got(path, text));
    }
  }

  void Double(const YAML::Node& map, std::string_view path, const char* key, double* out, double min, double max) {
    std::string text;
    YAML::Node at;
    if (!Scalar(map, path, key, &text, &at)) return;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(v) || v < min || v > max) {
      std::ostringstream range;
      range << "expected a number from " << min << " to " << max;
      Error(at, Join(path, key), range.str() + Got(path, text));
      return;
    }
    *out = v;
  }

  void Duration(const YAML::Node& map, std::string_view path, const char* key, Millis* out, Millis min) {
    std::string text;
    YAML::Node at;
    if (!Scalar(map, path, key, &text, &at)) return;
    Millis v;
    if (!ParseDuration(text, &v) || v < min) {
      Error(at, Join(path, key),
            "expected a duration such as 90s, 5m, 6h or 7d, at least " + std::to_string(min.count()) + "ms" +
                Got(path, text));
      return;
    }
    *out = v;
  }

  void Size(const YAML::Node& map, std::string_view path, const char* key, uint64_t* out, uint64_t min) {
    std::string text;
    YAML::Node at;
    if (!Scalar(map, path, key, &text, &at)) return;
    uint64_t v;
    if (!ParseSize(text, &v) || v < min) {
      Error(at, Join(path, key),
            "expected a size such as 1048576, 512KiB or 1MiB, at least " + std::to_string(min) + Got(path, text));
      return;
    }
    *out = v;
  }

  void StringList(const YAML::Node& map, std::string_view path, const char* key, std::vector<std::string>* out) {
    const YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return;
    const std::string p = Join(path, key);
    if (!n.IsSequence()) {
      Error(n, p, "expected a list");
      return;
    }
    out->clear();
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string item_path = p + "[" + std::to_string(i) + "]";
      if (!n[i].IsScalar()) {
        Error(n[i], item_path, "expected a single value");
        continue;
      }
      std::string text = n[i].Scalar();
      if (Expand(n[i], item_path, &text)) out->push_back(text);
    }
  }

  void StringMap(const YAML::Node& map, std::string_view path, const char* key, std::map<std::string, std::string>* out) {
    const YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return;
    const std::string p = Join(path, key);
    if (!n.IsMap()) {
      Error(n, p, "expected a mapping of property names to values");
      return;
    }
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>("");
      if (!kv.second.IsScalar()) {
        Error(kv.second, Join(p, k), "expected a single value");
        continue;
      }
      std::string text = kv.second.Scalar();
      if (Expand(kv.second, Join(p, k), &text)) (*out)[k] = text;
    }
  }

 private:
  // " (got 'x')", unless the key holds a secret.
  static std::string Got(std::string_view path, const std::string& text) {
    if (IsSecret(path)) return "";
    return " (got '" + text.substr(0, 80) + "')";
  }

  // Replaces ${VAR} with the environment's value.
  bool Expand(const YAML::Node& at, const std::string& path, std::string* text) {
    std::string out;
    size_t i = 0;
    while (i < text->size()) {
      if ((*text)[i] == '$' && i + 1 < text->size() && (*text)[i + 1] == '{') {
        const size_t close = text->find('}', i + 2);
        if (close == std::string::npos) {
          Error(at, path, "unterminated ${ in value");
          return false;
        }
        const std::string name = text->substr(i + 2, close - i - 2);
        const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
        if (value == nullptr) {
          Error(at, path, "environment variable " + (name.empty() ? std::string("(empty name)") : name) + " is not set");
          return false;
        }
        out += value;
        i = close + 1;
      } else {
        out += (*text)[i++];
      }
    }
    *text = out;
    return true;
  }

  std::string source_;
  std::vector<std::string>* errors_;
  LoadResult* result_;
};

void ReadSource(Reader& r, const YAML::Node& n, SourceConfig* c) {
  if (!r.Map(n, "source", {"kafka", "blob", "files", "idle_timeout", "poll_interval"})) return;
  r.Duration(n, "source", "idle_timeout", &c->idle_timeout, Millis(1000));
  r.Duration(n, "source", "poll_interval", &c->poll_interval, Millis(100));
  if (n["kafka"].IsDefined() && !n["kafka"].IsNull()) {
    const YAML::Node k = n["kafka"];
    c->kafka_configured = true;
    if (r.Map(k, "source.kafka", {"brokers", "topic", "group_id", "event_hubs_connection_string", "event_hubs_namespace",
                                  "group_instance_id", "librdkafka", "dead_letter_topic", "commit_interval",
                                  "follow_blob_events"})) {
      r.String(k, "source.kafka", "dead_letter_topic", &c->kafka.dead_letter_topic);
      r.Duration(k, "source.kafka", "commit_interval", &c->kafka.commit_interval, Millis(100));
      r.String(k, "source.kafka", "brokers", &c->kafka.brokers);
      r.String(k, "source.kafka", "topic", &c->kafka.topic);
      r.String(k, "source.kafka", "group_id", &c->kafka.group_id);
      r.String(k, "source.kafka", "event_hubs_connection_string", &c->kafka.event_hubs_connection_string);
      r.String(k, "source.kafka", "event_hubs_namespace", &c->kafka.event_hubs_namespace);
      r.String(k, "source.kafka", "group_instance_id", &c->kafka.group_instance_id);
      r.Bool(k, "source.kafka", "follow_blob_events", &c->kafka.follow_blob_events);
      if (!c->kafka.event_hubs_connection_string.empty() && !c->kafka.event_hubs_namespace.empty()) {
        r.Error(k["event_hubs_namespace"], "source.kafka.event_hubs_namespace",
                "set either it (Entra ID) or event_hubs_connection_string (SAS), not both");
      }
      r.StringMap(k, "source.kafka", "librdkafka", &c->kafka.librdkafka);
      if (c->kafka.topic.empty()) r.Error(k, "source.kafka.topic", "must not be empty");
      if (c->kafka.group_id.empty()) r.Error(k, "source.kafka.group_id", "must not be empty");
    }
  }
  r.StringList(n, "source", "files", &c->files);
  if (n["blob"].IsDefined() && !n["blob"].IsNull()) {
    const YAML::Node b = n["blob"];
    c->blob_configured = true;
    if (r.Map(b, "source.blob", {"connection_string", "account_url", "containers", "prefix", "poll_interval", "parallel_reads", "full_list_interval", "start"})) {
      r.String(b, "source.blob", "connection_string", &c->blob.connection_string);
      r.String(b, "source.blob", "account_url", &c->blob.account_url);
      r.StringList(b, "source.blob", "containers", &c->blob.containers);
      r.String(b, "source.blob", "prefix", &c->blob.prefix);
      r.Duration(b, "source.blob", "poll_interval", &c->blob.poll_interval, Millis(100));
      r.Int(b, "source.blob", "parallel_reads", &c->blob.parallel_reads, 1, 64);
      r.Duration(b, "source.blob", "full_list_interval", &c->blob.full_list_interval, Millis(0));
      r.String(b, "source.blob", "start", &c->blob.start);
      if (c->blob.connection_string.empty() == c->blob.account_url.empty()) {
        r.Error(b, "source.blob", "set connection_string (account key or SAS) or account_url (Entra ID), one of them");
      }
      if (c->blob.containers.empty()) r.Error(b, "source.blob.containers", "must name at least one container");
      if (c->blob.start == "now") {
        c->blob.start_ms = INT64_MAX;
      } else if (c->blob.start != "earliest" && !ParseIso8601(c->blob.start, &c->blob.start_ms)) {
        r.Error(b["start"], "source.blob.start",
                "expected earliest, now or an RFC 3339 time such as 2026-12-07T00:00:00Z (got '" +
                    c->blob.start.substr(0, 80) + "')");
      }
    }
  }
  if (c->kafka.follow_blob_events && !c->blob_configured) {
    r.Error(n["kafka"]["follow_blob_events"], "source.kafka.follow_blob_events",
            "needs source.blob: the storage account and its credentials (connection_string or account_url), and the "
            "containers (and prefix) whose events are followed");
  }
}

void ReadAlerts(Reader& r, const YAML::Node& n, AlertsConfig* c) {
  if (!r.Map(n, "alerts", {"file", "webhooks", "rate_limit"})) return;
  r.String(n, "alerts", "file", &c->file);
  if (const YAML::Node l = n["rate_limit"]; l.IsDefined() && r.Map(l, "alerts.rate_limit", {"max", "per"})) {
    r.Int(l, "alerts.rate_limit", "max", &c->rate_limit.max, 0, 1000000);
    r.Duration(l, "alerts.rate_limit", "per", &c->rate_limit.per, Millis(1000));
  }
  const YAML::Node hooks = n["webhooks"];
  if (!hooks.IsDefined() || hooks.IsNull()) return;
  if (!hooks.IsSequence()) {
    r.Error(hooks, "alerts.webhooks", "expected a list");
    return;
  }
  for (size_t i = 0; i < hooks.size(); ++i) {
    const std::string path = "alerts.webhooks[" + std::to_string(i) + "]";
    WebhookConfig w;
    if (!r.Map(hooks[i], path, {"url", "format", "secret", "headers", "timeout", "routing_key", "resend_interval"})) {
      continue;
    }
    r.String(hooks[i], path, "url", &w.url);
    r.String(hooks[i], path, "format", &w.format);
    r.String(hooks[i], path, "secret", &w.secret);
    r.StringMap(hooks[i], path, "headers", &w.headers);
    r.Duration(hooks[i], path, "timeout", &w.timeout, Millis(100));
    r.String(hooks[i], path, "routing_key", &w.routing_key);
    r.Duration(hooks[i], path, "resend_interval", &w.resend_interval, Millis(1000));
    if (w.format == "pagerduty" && w.url.empty()) w.url = "https://events.pagerduty.com/v2/enqueue";
    if (w.format == "pagerduty" && w.routing_key.empty()) {
      r.Error(hooks[i], path + ".routing_key", "is required for format pagerduty");
    }
    if (w.url.empty()) r.Error(hooks[i], path + ".url", "is required");
    if (!w.url.empty() && w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0) {
      r.Error(hooks[i]["url"], path + ".url", "must start with http:// or https://");
    }
    if (w.format != "generic" && w.format != "alertmanager" && w.format != "pagerduty") {
      r.Error(hooks[i]["format"], path + ".format", "must be generic, alertmanager or pagerduty (got '" + w.format + "')");
    }
    c->webhooks.push_back(w);
  }
}

void ReadDetection(Reader& r, const YAML::Node& n, DetectionConfig* c) {
  const char* p = "detection";
  if (!r.Map(n, p, {"bucket", "allowed_lateness", "false_alerts_per_1k_key_days", "half_life", "relearn_after",
                    "warmup_buckets", "min_ratio", "min_zscore", "min_bytes", "critical_ratio",
                    "resolve_after_buckets", "max_keys", "max_keys_per_vm", "idle_ttl", "top_peers"})) {
    return;
  }
  r.Duration(n, p, "bucket", &c->bucket, Millis(1000));
  r.Duration(n, p, "allowed_lateness", &c->allowed_lateness, Millis(0));
  r.Double(n, p, "false_alerts_per_1k_key_days", &c->false_alerts_per_1k_key_days, 0.001, 1000.0);
  r.Duration(n, p, "half_life", &c->half_life, Millis(1000));
  r.Duration(n, p, "relearn_after", &c->relearn_after, Millis(1000));
  r.Int(n, p, "warmup_buckets", &c->warmup_buckets, 1, 63);
  r.Double(n, p, "min_ratio", &c->min_ratio, 1.0, 1e9);
  r.Double(n, p, "min_zscore", &c->min_zscore, 0.0, 1e9);
  r.Size(n, p, "min_bytes", &c->min_bytes, 0);
  r.Double(n, p, "critical_ratio", &c->critical_ratio, 1.0, 1e9);
  r.Int(n, p, "resolve_after_buckets", &c->resolve_after_buckets, 1, 15);
  r.Size(n, p, "max_keys", &c->max_keys, 1);
  r.Size(n, p, "max_keys_per_vm", &c->max_keys_per_vm, 1);
  r.Duration(n, p, "idle_ttl", &c->idle_ttl, Millis(1000));
  r.Int(n, p, "top_peers", &c->top_peers, 0, 100);
}

void ReadRoot(Reader& r, const YAML::Node& root, Config* c) {
  if (!root.IsDefined() || root.IsNull()) return;  // an empty file: all defaults
  if (!r.Map(root, "", {"source", "azure", "log", "inventory", "http", "state", "alerts", "pipeline", "decode", "dedup",
                        "detection", "ports"})) {
    return;
  }
  if (const YAML::Node n = root["log"]; n.IsDefined() && r.Map(n, "log", {"format", "level"})) {
    r.String(n, "log", "format", &c->log.format);
    r.String(n, "log", "level", &c->log.level);
    if (c->log.format != "text" && c->log.format != "json") r.Error(n["format"], "log.format", "must be text or json");
    if (c->log.level != "debug" && c->log.level != "info" && c->log.level != "warn" && c->log.level != "error") {
      r.Error(n["level"], "log.level", "must be debug, info, warn or error");
    }
  }
  if (root["source"].IsDefined()) ReadSource(r, root["source"], &c->source);
  if (const YAML::Node n = root["azure"];
      n.IsDefined() && r.Map(n, "azure", {"credential", "tenant_id", "client_id", "client_secret", "federated_token_file",
                                          "authority_host", "managed_identity_endpoint", "timeout"})) {
    AzureConfig* a = &c->azure;
    r.String(n, "azure", "credential", &a->kind);
    r.String(n, "azure", "tenant_id", &a->tenant_id);
    r.String(n, "azure", "client_id", &a->client_id);
    r.String(n, "azure", "client_secret", &a->client_secret);
    r.String(n, "azure", "federated_token_file", &a->federated_token_file);
    r.String(n, "azure", "authority_host", &a->authority_host);
    r.String(n, "azure", "managed_identity_endpoint", &a->managed_identity_endpoint);
    r.Duration(n, "azure", "timeout", &a->timeout, Millis(100));
    if (a->kind != "auto" && a->kind != "workload_identity" && a->kind != "managed_identity" && a->kind != "client_secret") {
      r.Error(n["credential"], "azure.credential", "must be auto, workload_identity, managed_identity or client_secret");
    }
  }
  if (const YAML::Node n = root["inventory"]; n.IsDefined() && r.Map(n, "inventory", {"file", "service_tags_file"})) {
    r.String(n, "inventory", "file", &c->inventory.file);
    r.String(n, "inventory", "service_tags_file", &c->inventory.service_tags_file);
  }
  if (const YAML::Node n = root["http"]; n.IsDefined() && r.Map(n, "http", {"listen", "token"})) {
    r.String(n, "http", "listen", &c->http.listen);
    r.String(n, "http", "token", &c->http.token);
  }
  if (const YAML::Node n = root["state"]; n.IsDefined() && r.Map(n, "state", {"dir", "checkpoint_interval"})) {
    r.String(n, "state", "dir", &c->state.dir);
    r.Duration(n, "state", "checkpoint_interval", &c->state.checkpoint_interval, Millis(1000));
  }
  if (root["alerts"].IsDefined()) ReadAlerts(r, root["alerts"], &c->alerts);
  if (const YAML::Node n = root["pipeline"]; n.IsDefined() && r.Map(n, "pipeline", {"decoders", "shards", "ring_capacity"})) {
    r.Int(n, "pipeline", "decoders", &c->pipeline.decoders, 0, 256);
    r.Int(n, "pipeline", "shards", &c->pipeline.shards, 0, 256);
    r.Int(n, "pipeline", "ring_capacity", &c->pipeline.ring_capacity, 16, 1 << 24);
  }
  if (const YAML::Node n = root["decode"]; n.IsDefined() && r.Map(n, "decode", {"max_body_bytes"})) {
    r.Size(n, "decode", "max_body_bytes", &c->decode.max_body_bytes, 1024);
  }
  if (const YAML::Node n = root["dedup"]; n.IsDefined() && r.Map(n, "dedup", {"window", "max_entries"})) {
    r.Duration(n, "dedup", "window", &c->dedup.window, Millis(0));
    r.Size(n, "dedup", "max_entries", &c->dedup.max_entries, 16);
  }
  if (root["detection"].IsDefined()) ReadDetection(r, root["detection"], &c->detection);
  if (const YAML::Node n = root["ports"]; n.IsDefined() && r.Map(n, "ports", {"max_peers_per_key", "idle_ttl"})) {
    r.Size(n, "ports", "max_peers_per_key", &c->ports.max_peers_per_key, 1);
    r.Duration(n, "ports", "idle_ttl", &c->ports.idle_ttl, Millis(1000));
  }
}

}  // namespace

bool ParseDuration(std::string_view text, Millis* out) {
  if (text.empty()) return false;
  size_t i = 0;
  double v = 0;
  bool digits = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    v = v * 10 + (text[i++] - '0');
    digits = true;
  }
  if (i < text.size() && text[i] == '.') {
    double scale = 0.1;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, scale /= 10) v += (text[i] - '0') * scale;
  }
  if (!digits || v > 1e12) return false;
  const std::string_view unit = text.substr(i);
  double ms;
  if (unit.empty() || unit == "s") ms = v * 1000;
  else if (unit == "ms") ms = v;
  else if (unit == "m") ms = v * 60e3;
  else if (unit == "h") ms = v * 3600e3;
  else if (unit == "d") ms = v * 86400e3;
  else return false;
  *out = Millis(static_cast<int64_t>(std::llround(ms)));
  return true;
}

bool ParseSize(std::string_view text, uint64_t* out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(text[i++] - '0');
  }
  if (i == 0) return false;
  const std::string_view unit = text.substr(i);
  uint64_t mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB" || unit == "KB" || unit == "k") mult = 1ull << 10;
  else if (unit == "MiB" || unit == "MB" || unit == "M") mult = 1ull << 20;
  else if (unit == "GiB" || unit == "GB" || unit == "G") mult = 1ull << 30;
  else return false;
  if (v > UINT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

LoadResult LoadConfigText(std::string_view yaml, std::string_view source_name) {
  LoadResult result;
  Reader reader(source_name, &result);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    ReadRoot(reader, root, &result.config);
  } catch (const YAML::Exception& e) {
    std::ostringstream m;
    m << source_name;
    if (e.mark.line >= 0) m << ":" << e.mark.line + 1;
    m << ": YAML syntax error: " << e.msg;
    result.errors.push_back(m.str());
  }
  return result;
}

LoadResult LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back(path + ": cannot read the configuration file");
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadConfigText(ss.str(), path);
}

}  // namespace flowwatch::config
