// FlowKey: the unit flowwatch learns and reports on: (VM, protocol, destination
// port, direction relative to the VM). 8 bytes, hashable, ordered.
//
// direction is the tuple's own (I/O is relative to the NIC that logged it), so a
// flow seen on both NICs counts once for each VM: outbound for the sender,
// inbound for the receiver. port is the destination (service) port.
#pragma once

#include <compare>
#include <cstdint>

#include "lib/common/hash.h"
#include "lib/model/flow_record.h"

namespace flowwatch {

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

struct FlowKeyHash {
  uint64_t operator()(const FlowKey& k) const { return HashU64(k.Packed()); }
};

}  // namespace flowwatch
