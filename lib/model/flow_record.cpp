#include "lib/model/flow_record.h"

#include <charconv>
#include <string>

namespace flowwatch {

std::string_view FormatName(RecordFormat f) {
  switch (f) {
    case RecordFormat::kNsgV1: return "nsg_v1";
    case RecordFormat::kNsgV2: return "nsg_v2";
    case RecordFormat::kVnetV4: return "vnet_v4";
    case RecordFormat::kFlat: return "flat";
  }
  return "unknown";
}

std::string_view ProtocolName(uint8_t protocol) {
  switch (protocol) {
    case kProtoTcp: return "tcp";
    case kProtoUdp: return "udp";
    case kProtoIcmp: return "icmp";
    case kProtoIcmpV6: return "icmpv6";
    default: return "";
  }
}

std::string ProtocolText(uint8_t protocol) {
  std::string_view name = ProtocolName(protocol);
  return name.empty() ? std::to_string(protocol) : std::string(name);
}

std::string_view DirectionName(Direction d) {
  return d == Direction::kOutbound ? "outbound" : "inbound";
}

bool ParseProtocol(std::string_view text, uint8_t* protocol) {
  for (uint8_t p : {kProtoTcp, kProtoUdp, kProtoIcmp, kProtoIcmpV6}) {
    if (text == ProtocolName(p)) {
      *protocol = p;
      return true;
    }
  }
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v > 255) return false;
  *protocol = static_cast<uint8_t>(v);
  return true;
}

}  // namespace flowwatch
