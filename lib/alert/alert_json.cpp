#include "lib/alert/alert_json.h"

#include <cstdio>

#include "lib/common/hash.h"
#include "lib/common/json_writer.h"
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

std::string AlertJson(const Alert& a, const NameTables& names, const enrich::PeerClassifier& classifier) {
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
  w.Field("severity", SeverityName(a.severity));
  w.Key("top_peers");
  w.BeginArray();
  for (const PeerBytes& p : a.top_peers) {
    w.BeginObject();
    w.Field("ip", p.ip.ToString());
    w.Field("class", enrich::PeerClassName(classifier.Classify(p.ip)));
    w.Field("bytes", p.bytes);
    w.EndObject();
  }
  w.EndArray();
  w.Field("incident_start", FormatIso8601(a.incident_start_ms));
  w.Field("fingerprint", Fingerprint(a, vm));
  w.EndObject();
  return out;
}

}  // namespace flowwatch::alert
