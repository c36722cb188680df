// FlowKey: the unit flowwatch learns and reports on: (VM, protocol, destination
// port, direction relative to the VM). 8 bytes, hashable, ordered.
//
// direction is the tuple's own (I/O is relative to the NIC that logged it), so a
// flow seen on both NICs counts once for each VM: outbound for the sender,
// inbound for the receiver. port is the destination (service) port.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "lib/common/hash.h"
#include "lib/model/flow_record.h"

namespace flowwatch {

// Protocol number of a VM's overflow key, where flows go once the VM has used up
// its key budget (IANA 255 is reserved, never on the wire).
inline constexpr uint8_t kOverflowProtocol = 255;

struct FlowKey {
  uint32_t vm_id = 0;  // NameTables::vms
  uint16_t port = 0;
  uint8_t protocol = 0;
  Direction direction = Direction::kInbound;

  static FlowKey Of(const FlowRecord& r) { return FlowKey{r.vm_id, r.dst_port, r.protocol, r.direction}; }

  uint64_t Packed() const {
    return (static_cast<uint64_t>(vm_id) << 32) | (static_cast<uint64_t>(port) << 16) |
           (static_cast<uint64_t>(protocol) << 8) | static_cast<uint64_t>(direction);
  }
  friend bool operator==(const FlowKey& a, const FlowKey& b) { return a.Packed() == b.Packed(); }
};

// Protocol as alerts and port reports print it: tcp, udp, icmp, a number, or
// "other" for a VM's overflow key.
inline std::string KeyProtocolText(uint8_t protocol) {
  return protocol == kOverflowProtocol ? "other" : ProtocolText(protocol);
}

struct FlowKeyHash {
  uint64_t operator()(const FlowKey& k) const { return HashU64(k.Packed()); }
};

}  // namespace flowwatch
