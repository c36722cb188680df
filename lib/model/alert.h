// Alert: one event of an incident on one FlowKey (firing or resolved), as the
// detector emits it. Names (VM, peer class) are resolved when it is written
// out (lib/alert/alert_format.h), not on the shard thread. Plain value.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "lib/common/ip_address.h"
#include "lib/model/flow_key.h"

namespace flowwatch {

struct PeerBytes {
  IpAddress ip;
  uint64_t bytes = 0;
};

enum class AlertStatus : uint8_t { kFiring, kResolved };
enum class Severity : uint8_t { kWarning, kCritical };

inline std::string_view AlertStatusName(AlertStatus s) { return s == AlertStatus::kFiring ? "firing" : "resolved"; }
inline std::string_view SeverityName(Severity s) { return s == Severity::kCritical ? "critical" : "warning"; }

struct Alert {
  AlertStatus status = AlertStatus::kFiring;
  std::string_view detector = "volume";
  FlowKey key;
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 0;
  int64_t incident_start_ms = 0;  // window_start of the bucket that fired
  uint64_t observed_bytes = 0;
  double baseline_bytes = 0;
  double ratio = 0;
  double zscore = 0;
  Severity severity = Severity::kWarning;
  std::vector<PeerBytes> top_peers;  // of the alert's bucket, by bytes
};

}  // namespace flowwatch
