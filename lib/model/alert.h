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

// Another key of the same VM deviating in the same bucket.
struct RelatedDeviation {
  FlowKey key;
  uint64_t observed_bytes = 0;
  double expected_bytes = 0;
};

struct Alert {
  AlertStatus status = AlertStatus::kFiring;
  std::string_view detector = "volume";
  FlowKey key;
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 0;
  int64_t incident_start_ms = 0;  // window_start of the bucket that fired
  uint64_t observed_bytes = 0;
  double baseline_bytes = 0;     // what the baseline expected for this key in this bucket
  double expected_bytes = 0;     // the same (PRODUCT.md names both)
  double ratio = 0;              // observed / expected
  double zscore = 0;             // robust z-score of log bytes
  double once_in_key_days = 0;   // rarity: how many key-days pass, on average, per bucket this unusual; 0 unknown
  int64_t duration_ms = 0;       // how long the deviation has lasted (firing) or lasted (resolved)
  Severity severity = Severity::kWarning;
  std::vector<PeerBytes> top_peers;       // of the alert's bucket, by bytes
  std::vector<IpAddress> new_peers;       // top peers never seen on this key before the deviation
  std::vector<RelatedDeviation> related;  // the VM's other keys deviating in the same bucket
};

}  // namespace flowwatch
