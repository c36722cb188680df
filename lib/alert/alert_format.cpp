#include "lib/alert/alert_format.h"

#include <algorithm>
#include <cstdio>

#include "lib/common/hash.h"
#include "lib/common/json_writer.h"
#include "lib/common/text_format.h"
#include "lib/common/time_util.h"

namespace flowwatch::alert {

std::string Fingerprint(const Alert& a, std::string_view vm_name) {
  uint64_t h = HashString(vm_name);
  h = HashCombine(h, a.key.protocol);
  h = HashCombine(h, a.key.port);
  h = HashCombine(h, static_cast<uint64_t>(a.key.direction));
  h = HashString(a.detector, h);
  h = HashCombine(h, static_cast<uint64_t>(a.incident_start_ms));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string AlertJson(const Alert& a, const NameTables& names, const enrich::PeerClassifier& classifier,
                      const enrich::Inventory* inventory) {
  const std::string_view vm = names.vms.Get(a.key.vm_id);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("status", AlertStatusName(a.status));
  w.Field("detector", a.detector);
  w.Field("vm", vm);
  w.Field("protocol", KeyProtocolText(a.key.protocol));
  w.Field("port", static_cast<unsigned>(a.key.port));
  w.Field("direction", DirectionName(a.key.direction));
  w.Field("window_start", FormatIso8601(a.window_start_ms));
  w.Field("window_end", FormatIso8601(a.window_end_ms));
  w.Field("observed_bytes", a.observed_bytes);
  w.Field("baseline_bytes", static_cast<uint64_t>(a.baseline_bytes + 0.5));
  w.FieldDouble("ratio", a.ratio, 1);
  w.FieldDouble("zscore", a.zscore, 1);
  w.Field("expected_bytes", static_cast<uint64_t>(a.expected_bytes + 0.5));
  if (a.once_in_key_days > 0) {  // unknown until the shard's pooled tail has data
    w.Key("rarity");
    w.BeginObject();
    w.Field("once_in_key_days", static_cast<uint64_t>(a.once_in_key_days + 0.5));
    w.EndObject();
  }
  w.Field("duration_minutes", static_cast<uint64_t>(a.duration_ms / 60'000));
  w.Field("severity", SeverityName(a.severity));
  w.Key("top_peers");
  w.BeginArray();
  for (const PeerBytes& p : a.top_peers) {
    w.BeginObject();
    w.Field("ip", p.ip.ToString());
    w.Field("class", enrich::PeerClassName(classifier.Classify(p.ip)));
    if (const std::string* vm_name = inventory ? inventory->FindByIp(p.ip) : nullptr) w.Field("vm", *vm_name);
    w.Field("bytes", p.bytes);
    w.EndObject();
  }
  w.EndArray();
  if (!a.new_peers.empty()) {
    w.Key("new_peers");
    w.BeginArray();
    for (const IpAddress& ip : a.new_peers) w.String(ip.ToString());
    w.EndArray();
  }
  if (!a.related.empty()) {
    w.Key("related");
    w.BeginArray();
    for (const RelatedDeviation& r : a.related) {
      w.BeginObject();
      w.Field("protocol", KeyProtocolText(r.key.protocol));
      w.Field("port", static_cast<unsigned>(r.key.port));
      w.Field("direction", DirectionName(r.key.direction));
      w.Field("observed_bytes", r.observed_bytes);
      w.Field("expected_bytes", static_cast<uint64_t>(r.expected_bytes + 0.5));
      w.EndObject();
    }
    w.EndArray();
  }
  w.Field("incident_start", FormatIso8601(a.incident_start_ms));
  w.Field("fingerprint", Fingerprint(a, vm));
  w.EndObject();
  return out;
}

std::string AlertText(const Alert& a, const NameTables& names, const enrich::PeerClassifier& classifier,
                      const enrich::Inventory* inventory) {
  const std::string start = FormatIso8601(a.window_start_ms);
  const std::string end = FormatIso8601(a.window_end_ms);
  // "2021-05-03 23:30-23:35Z"
  const std::string window = start.substr(0, 10) + " " + start.substr(11, 5) + "-" + end.substr(11, 5) + "Z";
  const std::string key = std::string(names.vms.Get(a.key.vm_id)) + " " + KeyProtocolText(a.key.protocol) + "/" +
                          std::to_string(a.key.port) + " " + std::string(DirectionName(a.key.direction));
  char head[256];
  std::snprintf(head, sizeof head, "%-8s %-8s %-28s %s  ", a.status == AlertStatus::kFiring ? "FIRING" : "RESOLVED",
                std::string(SeverityName(a.severity)).c_str(), key.c_str(), window.c_str());
  std::string out = head;
  char body[256];
  if (a.status == AlertStatus::kFiring) {
    std::snprintf(body, sizeof body, "%s, %.1fx its usual %s (z %.0f)", HumanBytes(static_cast<double>(a.observed_bytes)).c_str(),
                  a.ratio, HumanBytes(a.baseline_bytes).c_str(), a.zscore);
    out += body;
    if (a.duration_ms > a.window_end_ms - a.window_start_ms) {
      std::snprintf(body, sizeof body, ", rising for %lld min", static_cast<long long>(a.duration_ms / 60'000));
      out += body;
    }
  } else {
    const std::string since = FormatIso8601(a.incident_start_ms);
    std::snprintf(body, sizeof body, "%s, back to normal (usual %s); incident began %s",
                  HumanBytes(static_cast<double>(a.observed_bytes)).c_str(), HumanBytes(a.baseline_bytes).c_str(),
                  since.substr(11, 5).c_str());
    out += body;
  }
  if (a.status == AlertStatus::kFiring && !a.top_peers.empty()) {
    out += "  peers";
    for (size_t i = 0; i < a.top_peers.size(); ++i) {
      const PeerBytes& p = a.top_peers[i];
      const std::string* vm = inventory ? inventory->FindByIp(p.ip) : nullptr;
      out += (i ? ", " : " ") + (vm ? *vm : p.ip.ToString() + " (" + std::string(enrich::PeerClassName(classifier.Classify(p.ip))) + ")") +
             " " + HumanBytes(static_cast<double>(p.bytes));
      if (std::find(a.new_peers.begin(), a.new_peers.end(), p.ip) != a.new_peers.end()) out += " (new)";
    }
  }
  return out;
}

}  // namespace flowwatch::alert
