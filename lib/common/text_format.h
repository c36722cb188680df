// Small parsers and formatters shared by several stages: MAC addresses,
// human-readable byte counts, trimming. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flowwatch {

// "000D3AF8801A" (as Azure writes it), "00-0D-3A-F8-80-1A", "00:0d:3a:f8:80:1a"
// into the 48-bit value. False for anything else.
bool ParseMac(std::string_view text, uint64_t* mac);

// "524.4 KB", "38.7 MB" (decimal units, as network volumes are usually quoted).
std::string HumanBytes(double bytes);

// s without leading and trailing ASCII whitespace (space, \t, \r, \n, \f, \v).
std::string_view TrimSpace(std::string_view s);

}  // namespace flowwatch
