// IpPrefix: a CIDR block ("13.64.0.0/11", "2603:1000::/24") as the first and
// last address it covers, in the integer forms IpRangeSet searches.
//
// A plain value type; parsing is pure and thread-safe. IPv4 prefixes are kept in
// 32-bit space (IpAddress stores IPv4 as ::ffff:a.b.c.d; IpRangeSet looks such
// addresses up among the IPv4 ranges), IPv6 prefixes in 128-bit space.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/common/ip_address.h"

namespace flowwatch::enrich {

using Uint128 = unsigned __int128;

// The 128-bit big-endian value of an address (IPv4 as its v4-mapped form).
inline Uint128 ToUint128(const IpAddress& ip) { return (static_cast<Uint128>(ip.hi()) << 64) | ip.lo(); }

struct IpPrefix {
  bool v4 = true;
  int length = 0;        // 0..32 for IPv4, 0..128 for IPv6
  uint32_t first4 = 0;   // IPv4: the network address (host bits cleared)
  uint32_t last4 = 0;    // IPv4: the broadcast address
  Uint128 first6 = 0;    // IPv6: the network address
  Uint128 last6 = 0;     // IPv6: the last address

  // Parses "<address>/<length>". The length is required and decimal without
  // leading zeros; the address is strict dotted-quad IPv4 or RFC 4291 IPv6 text.
  // Host bits below the length are cleared ("10.1.2.3/8" is 10.0.0.0/8), as
  // routers do. Returns false on anything else.
  static bool Parse(std::string_view text, IpPrefix* out);

  // Builds the prefix from an address and a length (bounds as above).
  static IpPrefix FromV4(uint32_t address, int length);
  static IpPrefix FromV6(Uint128 address, int length);

  // "10.0.0.0/8", "fc00::/7".
  std::string ToString() const;
};

}  // namespace flowwatch::enrich
