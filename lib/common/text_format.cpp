#include "lib/common/text_format.h"

#include <cstdio>

namespace flowwatch {

bool ParseMac(std::string_view text, uint64_t* mac) {
  uint64_t v = 0;
  int digits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if ((c == '-' || c == ':') && digits % 2 == 0 && digits > 0 && i + 1 < text.size()) continue;
    else return false;
    if (++digits > 12) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (digits != 12) return false;
  *mac = v;
  return true;
}

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (b >= 1000 && u < 5) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

}  // namespace flowwatch
