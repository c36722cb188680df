// PortStats: what flowwatch knows about one FlowKey over its lifetime, for the
// hardening question "which ports does this VM really get traffic on, from whom,
// through which rule?". Plain value; owned by a PortTable.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/common/ip_address.h"

namespace flowwatch::ports {

struct PeerStats {  // 40 bytes
  IpAddress ip;
  uint64_t flows = 0;
  uint64_t bytes = 0;
  int64_t first_seen_ms = INT64_MAX;  // event time of its first tuple on this key
};

// A network the key's peers come from (a /24, or a /48 for IPv6), and when
// the first of them was seen: what is known of peers past the exact list.
struct PeerNetwork {  // 24 bytes
  IpAddress prefix;
  int64_t first_seen_ms = INT64_MAX;
};

struct RuleHits {
  uint32_t rule_id = 0;  // NameTables::rules
  uint64_t flows = 0;
  uint64_t tuples = 0;
  uint64_t bytes = 0;
};

struct PortStats {
  uint64_t tuples = 0;
  uint64_t flows = 0;         // flow starts: B tuples, v1 tuples, denied attempts
  uint64_t denied_flows = 0;  // of which denied by the NSG
  uint64_t packets = 0;
  uint64_t bytes = 0;         // both directions
  int64_t first_seen_ms = INT64_MAX;
  int64_t last_seen_ms = INT64_MIN;
  std::vector<RuleHits> rules;
  // Peers with exact counts, sorted by address, up to the table's per-key limit.
  // Traffic from peers beyond it is summed in untracked_* and peers_truncated is
  // set (which peers made the cut then depends on arrival order).
  std::vector<PeerStats> peers;
  uint64_t untracked_flows = 0;
  uint64_t untracked_bytes = 0;
  bool peers_truncated = false;
  // The networks of all its peers, tracked or not, sorted: the first
  // kMaxNetworks of them (a peer of any other is not known to be new or old).
  static constexpr size_t kMaxNetworks = 16;
  std::vector<PeerNetwork> networks;
};

}  // namespace flowwatch::ports
