#include "lib/common/hash.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>

namespace flowwatch {
namespace {

TEST_CASE("HashString of an empty view with a null pointer is defined and equals that of an empty string") {
  // Regression: memcpy(dst, nullptr, 0) is undefined behaviour (found by UBSan).
  REQUIRE(HashString(std::string_view()) == HashString(""));
  REQUIRE(HashBytes(nullptr, 0, 7) == HashBytes("", 0, 7));
}

TEST_CASE("HashBytes depends on every byte, the length and the seed") {
  const std::string base = "1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008";
  std::set<uint64_t> seen{HashString(base)};
  for (size_t i = 0; i < base.size(); ++i) {
    std::string s = base;
    s[i] ^= 1;
    REQUIRE(seen.insert(HashString(s)).second);
  }
  for (size_t n = 0; n < base.size(); ++n) REQUIRE(seen.insert(HashString(std::string_view(base).substr(0, n))).second);
  REQUIRE(HashString(base, 1) != HashString(base, 2));
}

}  // namespace
}  // namespace flowwatch
