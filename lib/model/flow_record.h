// FlowRecord: one decoded flow tuple, the value that crosses decode -> shard.
//
// Compact and trivially copyable (it is copied into lock-free rings by value).
// Strings that repeat (rule, flow-log resource, VM name) are interned ids into the
// process's NameTables; IPs are 16-byte values; counters are per-tuple deltas as
// Azure writes them (C and E tuples report bytes since the flow's last report).
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "lib/common/ip_address.h"

namespace flowwatch {

enum class Direction : uint8_t { kInbound = 0, kOutbound = 1 };
enum class Decision : uint8_t { kAllow = 0, kDeny = 1 };

// The tuple's flow state. kNone: NSG v1 tuples carry no state.
enum class FlowState : uint8_t { kNone = 0, kBegin, kContinue, kEnd, kDeny };

// Where a tuple came from; the summary counts tuples by format.
enum class RecordFormat : uint8_t { kNsgV1 = 0, kNsgV2, kVnetV4, kFlat };
inline constexpr int kRecordFormatCount = 4;

// VNet flow-log encryption field. kUnknown for NSG logs.
enum class Encryption : uint8_t { kUnknown = 0, kEncrypted, kNotEncrypted, kNotEncryptedOther };

// IANA protocol numbers used by name in flowwatch's output.
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpV6 = 58;

struct FlowRecord {
  int64_t time_ms = 0;  // tuple event time, epoch milliseconds
  IpAddress src;
  IpAddress dst;
  uint64_t packets_sd = 0;  // source -> destination
  uint64_t bytes_sd = 0;
  uint64_t packets_ds = 0;  // destination -> source
  uint64_t bytes_ds = 0;
  // Identity of this tuple occurrence for de-duplication: flow-log resource, MAC,
  // record time, position in the record and the tuple text, hashed.
  uint64_t dedup_hash = 0;
  uint64_t mac = 0;          // 48-bit NIC MAC, 0 when unknown
  uint32_t rule_id = 0;      // NameTables::rules
  uint32_t resource_id = 0;  // NameTables::resources
  uint32_t vm_id = 0;        // NameTables::vms; set by the router (enrich), not the decoder
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t protocol = 0;  // IANA number
  Direction direction = Direction::kInbound;
  Decision decision = Decision::kAllow;
  FlowState state = FlowState::kNone;
  RecordFormat format = RecordFormat::kNsgV2;
  Encryption encryption = Encryption::kUnknown;

  uint64_t bytes() const { return bytes_sd + bytes_ds; }
  uint64_t packets() const { return packets_sd + packets_ds; }
  // The VM-side and remote-side addresses: the tuple's direction is relative to
  // the NIC that logged it, so the local end is the source of outbound flows.
  const IpAddress& local_ip() const { return direction == Direction::kOutbound ? src : dst; }
  const IpAddress& remote_ip() const { return direction == Direction::kOutbound ? dst : src; }
  // A tuple that starts a flow (or a flow attempt): counted in "flows".
  bool starts_flow() const {
    return state == FlowState::kNone || state == FlowState::kBegin || state == FlowState::kDeny;
  }
};

static_assert(std::is_trivially_copyable_v<FlowRecord>);

std::string_view FormatName(RecordFormat f);       // "nsg_v1", "nsg_v2", "vnet_v4", "flat"
std::string_view ProtocolName(uint8_t protocol);   // "tcp", "udp", "icmp", ... or "" if unnamed
std::string_view DirectionName(Direction d);       // "inbound" / "outbound"
// Parses "tcp", "udp", "icmp", "icmpv6" or a decimal number 0..255.
bool ParseProtocol(std::string_view text, uint8_t* protocol);
// Formats a protocol as its name, or its decimal number when it has none.
std::string ProtocolText(uint8_t protocol);

}  // namespace flowwatch
