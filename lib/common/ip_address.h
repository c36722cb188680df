// IpAddress: an IPv4 or IPv6 address in 16 bytes, IPv4 stored as ::ffff:a.b.c.d.
//
// A plain value type (trivially copyable, ordered, hashable) so that it can travel
// through lock-free rings and live in flat hash tables. Parsing is strict (no
// leading zeros games, no zone ids) and never allocates. Thread-safe as a value.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/common/hash.h"

namespace flowwatch {

class IpAddress {
 public:
  constexpr IpAddress() = default;

  static constexpr IpAddress FromV4(uint32_t host_order) {
    IpAddress a;
    a.hi_ = 0;
    a.lo_ = 0x0000ffff00000000ull | host_order;
    return a;
  }
  static constexpr IpAddress FromV6(uint64_t hi, uint64_t lo) {
    IpAddress a;
    a.hi_ = hi;
    a.lo_ = lo;
    return a;
  }

  // Parses dotted-quad IPv4 or RFC 4291 IPv6 text. Returns false on anything else.
  static bool Parse(std::string_view text, IpAddress* out);

  bool is_v4() const { return hi_ == 0 && (lo_ >> 32) == 0x0000ffffull; }
  uint32_t v4() const { return static_cast<uint32_t>(lo_); }  // host order; only if is_v4()
  uint64_t hi() const { return hi_; }  // first 8 bytes, big-endian
  uint64_t lo() const { return lo_; }  // last 8 bytes, big-endian

  // Canonical text: dotted quad for IPv4, RFC 5952 for IPv6.
  std::string ToString() const;
  // Writes the canonical text into buf (at least 46 bytes); returns its length.
  size_t Format(char* buf) const;

  uint64_t Hash() const { return HashCombine(HashU64(hi_), lo_); }

  friend constexpr auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend constexpr bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  uint64_t hi_ = 0;
  uint64_t lo_ = 0;
};

struct IpAddressHash {
  size_t operator()(const IpAddress& a) const { return a.Hash(); }
};

}  // namespace flowwatch
