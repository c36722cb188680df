#include "lib/enrich/ip_prefix.h"

namespace flowwatch::enrich {
namespace {

// Decimal 0..max without sign, leading zeros or trailing junk.
bool ParseLength(std::string_view text, int max, int* out) {
  if (text.empty() || text.size() > 3) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

}  // namespace

IpPrefix IpPrefix::FromV4(uint32_t address, int length) {
  IpPrefix p;
  p.v4 = true;
  p.length = length;
  const uint32_t host_mask = length == 0 ? ~uint32_t{0} : (length == 32 ? 0 : (~uint32_t{0} >> length));
  p.first4 = address & ~host_mask;
  p.last4 = address | host_mask;
  return p;
}

IpPrefix IpPrefix::FromV6(Uint128 address, int length) {
  IpPrefix p;
  p.v4 = false;
  p.length = length;
  const Uint128 all = ~Uint128{0};
  const Uint128 host_mask = length == 0 ? all : (length == 128 ? 0 : (all >> length));
  p.first6 = address & ~host_mask;
  p.last6 = address | host_mask;
  return p;
}

bool IpPrefix::Parse(std::string_view text, IpPrefix* out) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view addr_text = text.substr(0, slash);
  IpAddress addr;
  if (!IpAddress::Parse(addr_text, &addr)) return false;
  const bool v6_text = addr_text.find(':') != std::string_view::npos;
  int length;
  if (!ParseLength(text.substr(slash + 1), v6_text ? 128 : 32, &length)) return false;
  *out = v6_text ? FromV6(ToUint128(addr), length) : FromV4(addr.v4(), length);
  return true;
}

std::string IpPrefix::ToString() const {
  if (v4) return IpAddress::FromV4(first4).ToString() + "/" + std::to_string(length);
  const IpAddress a = IpAddress::FromV6(static_cast<uint64_t>(first6 >> 64), static_cast<uint64_t>(first6));
  // IpAddress prints v4-mapped addresses as dotted quads; an IPv6 prefix keeps
  // its IPv6 spelling so that "::ffff:0:0/96" does not read as "0.0.0.0/96".
  const std::string text = a.is_v4() ? "::ffff:" + a.ToString() : a.ToString();
  return text + "/" + std::to_string(length);
}

}  // namespace flowwatch::enrich
