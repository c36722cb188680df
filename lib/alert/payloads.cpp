#include "lib/alert/payloads.h"

#include <simdjson.h>

#include "lib/common/json_writer.h"

namespace flowwatch::alert {
namespace {

// A field of the alert JSON as text ("" when absent); numbers as written.
std::string Text(simdjson::dom::object& o, const char* key) {
  simdjson::dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return "";
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(e));
    case simdjson::dom::element_type::INT64:
      return std::to_string(int64_t(e));
    case simdjson::dom::element_type::UINT64:
      return std::to_string(uint64_t(e));
    case simdjson::dom::element_type::DOUBLE: {
      std::string out;
      JsonWriter w(&out);
      w.Double(double(e), 1);
      return out;
    }
    default:
      return "";
  }
}

void WriteMap(JsonWriter* w, const std::map<std::string, std::string>& m) {
  w->BeginObject();
  for (const auto& [k, v] : m) w->Field(k, v);
  w->EndObject();
}

}  // namespace

bool ToAlertmanager(const AlertEvent& event, AlertmanagerAlert* out) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(event.json).get(o) != simdjson::SUCCESS) return false;
  const std::string detector = Text(o, "detector");
  out->labels.clear();
  out->annotations.clear();
  out->labels["alertname"] = detector == "alert_storm" ? "FlowwatchAlertStorm" : "FlowwatchDeviation";
  for (const char* key : {"detector", "severity", "vm", "protocol", "port", "direction"}) {
    // Alertmanager treats an empty label as absent; the storm alert has no key.
    if (std::string v = Text(o, key); !v.empty() && v != "0") out->labels[key] = v;
  }
  out->annotations["summary"] = event.text;
  out->annotations["fingerprint"] = event.fingerprint;
  for (const char* key : {"observed_bytes", "baseline_bytes", "expected_bytes", "ratio", "duration_minutes", "suppressed"}) {
    if (std::string v = Text(o, key); !v.empty()) out->annotations[key] = v;
  }
  out->starts_at = Text(o, "incident_start");
  if (out->starts_at.empty()) out->starts_at = Text(o, "window_start");
  out->ends_at = event.resolved ? Text(o, "window_end") : "";
  return !out->starts_at.empty();
}

std::string AlertmanagerBody(const std::vector<AlertmanagerAlert>& alerts) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  for (const AlertmanagerAlert& a : alerts) {
    w.BeginObject();
    w.Key("labels");
    WriteMap(&w, a.labels);
    w.Key("annotations");
    WriteMap(&w, a.annotations);
    w.Field("startsAt", a.starts_at);
    if (!a.ends_at.empty()) w.Field("endsAt", a.ends_at);
    w.EndObject();
  }
  w.EndArray();
  return out;
}

std::string PagerDutyBody(const AlertEvent& event, const std::string& routing_key) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("routing_key", routing_key);
  w.Field("event_action", event.resolved ? "resolve" : "trigger");
  w.Field("dedup_key", event.fingerprint);
  if (!event.resolved) {
    simdjson::dom::parser parser;
    simdjson::dom::object o;
    const bool parsed = parser.parse(event.json).get(o) == simdjson::SUCCESS;
    w.Key("payload");
    w.BeginObject();
    w.Field("summary", event.text.substr(0, 1024));  // PagerDuty's limit
    w.Field("source", parsed && !Text(o, "vm").empty() ? Text(o, "vm") : "flowwatch");
    // PagerDuty knows critical, error, warning and info; flowwatch uses the first and third.
    w.Field("severity", parsed && Text(o, "severity") == "critical" ? "critical" : "warning");
    if (parsed && !Text(o, "window_start").empty()) w.Field("timestamp", Text(o, "window_start"));
    if (parsed) {
      w.Field("component", Text(o, "protocol") + "/" + Text(o, "port"));
      w.Field("group", Text(o, "direction"));
      w.Field("class", Text(o, "detector"));
    }
    w.Key("custom_details");
    w.Raw(event.json);
    w.EndObject();
  }
  w.EndObject();
  return out;
}

}  // namespace flowwatch::alert
