#include "lib/common/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace flowwatch {
namespace {

bool ParseV4(std::string_view s, uint32_t* out) {
  uint32_t value = 0;
  int octets = 0;
  size_t i = 0;
  while (true) {
    if (i >= s.size()) return false;
    uint32_t octet = 0;
    size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      octet = octet * 10 + static_cast<uint32_t>(s[i] - '0');
      ++digits;
      ++i;
      if (digits > 3) return false;
    }
    if (digits == 0 || octet > 255) return false;
    if (digits > 1 && s[i - digits] == '0') return false;  // no leading zeros (octal ambiguity)
    value = (value << 8) | octet;
    ++octets;
    if (octets == 4) {
      *out = value;
      return i == s.size();
    }
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
  }
}

}  // namespace

bool IpAddress::Parse(std::string_view text, IpAddress* out) {
  if (text.empty() || text.size() > 45) return false;
  bool has_colon = false;
  for (char c : text) {
    if (c == ':') {
      has_colon = true;
      break;
    }
  }
  if (!has_colon) {
    uint32_t v4;
    if (!ParseV4(text, &v4)) return false;
    *out = FromV4(v4);
    return true;
  }
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char bytes[16];
  if (inet_pton(AF_INET6, buf, bytes) != 1) return false;
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; ++i) hi = (hi << 8) | bytes[i];
  for (int i = 8; i < 16; ++i) lo = (lo << 8) | bytes[i];
  *out = FromV6(hi, lo);
  return true;
}

size_t IpAddress::Format(char* buf) const {
  if (is_v4()) {
    const uint32_t v = v4();
    char* p = buf;
    for (int shift = 24; shift >= 0; shift -= 8) {
      uint32_t octet = (v >> shift) & 0xff;
      if (octet >= 100) *p++ = static_cast<char>('0' + octet / 100);
      if (octet >= 10) *p++ = static_cast<char>('0' + (octet / 10) % 10);
      *p++ = static_cast<char>('0' + octet % 10);
      if (shift) *p++ = '.';
    }
    *p = '\0';
    return static_cast<size_t>(p - buf);
  }
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(hi_ >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(lo_ >> (56 - 8 * i));
  if (inet_ntop(AF_INET6, bytes, buf, 46) == nullptr) {
    buf[0] = '\0';
    return 0;
  }
  return std::strlen(buf);
}

std::string IpAddress::ToString() const {
  char buf[46];
  size_t n = Format(buf);
  return std::string(buf, n);
}

}  // namespace flowwatch
