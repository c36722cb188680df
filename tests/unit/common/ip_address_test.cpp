#include "lib/common/ip_address.h"

#include <catch2/catch.hpp>

namespace flowwatch {
namespace {

TEST_CASE("IpAddress parses and prints IPv4") {
  IpAddress a;
  REQUIRE(IpAddress::Parse("10.0.0.4", &a));
  REQUIRE(a.is_v4());
  REQUIRE(a.v4() == 0x0A000004u);
  REQUIRE(a.ToString() == "10.0.0.4");
  REQUIRE(IpAddress::Parse("255.255.255.255", &a));
  REQUIRE(a.ToString() == "255.255.255.255");
  REQUIRE(IpAddress::Parse("0.0.0.0", &a));
  REQUIRE(a.ToString() == "0.0.0.0");
}

TEST_CASE("IpAddress rejects malformed IPv4") {
  IpAddress a;
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "1.2.3.4 ", "a.b.c.d",
                          "1.2.3.-4", "1234.1.1.1"}) {
    INFO(bad);
    REQUIRE_FALSE(IpAddress::Parse(bad, &a));
  }
}

TEST_CASE("IpAddress parses and prints IPv6 canonically") {
  IpAddress a;
  REQUIRE(IpAddress::Parse("2001:DB8:0:0:0:0:0:1", &a));
  REQUIRE_FALSE(a.is_v4());
  REQUIRE(a.ToString() == "2001:db8::1");
  REQUIRE(IpAddress::Parse("fe80::1", &a));
  REQUIRE(a.hi() == 0xfe80000000000000ull);
  REQUIRE(a.lo() == 1);
  REQUIRE(IpAddress::Parse("::ffff:10.1.2.3", &a));
  REQUIRE(a.is_v4());  // v4-mapped is the same address as 10.1.2.3
  REQUIRE(a.ToString() == "10.1.2.3");
  REQUIRE_FALSE(IpAddress::Parse("2001:db8::1::2", &a));
  REQUIRE_FALSE(IpAddress::Parse("fe80::1%eth0", &a));
}

TEST_CASE("IpAddress orders and hashes by value") {
  IpAddress a, b, c;
  REQUIRE(IpAddress::Parse("10.0.0.4", &a));
  REQUIRE(IpAddress::Parse("10.0.0.5", &b));
  REQUIRE(IpAddress::Parse("10.0.0.4", &c));
  REQUIRE(a < b);
  REQUIRE(a == c);
  REQUIRE(a.Hash() == c.Hash());
  REQUIRE(a.Hash() != b.Hash());
}

}  // namespace
}  // namespace flowwatch
