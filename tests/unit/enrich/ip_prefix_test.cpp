#include "lib/enrich/ip_prefix.h"

#include <catch2/catch.hpp>

#include <vector>

#include "lib/enrich/ip_range_set.h"

namespace flowwatch::enrich {
namespace {

IpPrefix P(std::string_view text) {
  IpPrefix p;
  REQUIRE(IpPrefix::Parse(text, &p));
  return p;
}

IpAddress Ip(std::string_view text) {
  IpAddress ip;
  REQUIRE(IpAddress::Parse(text, &ip));
  return ip;
}

}  // namespace

TEST_CASE("IpPrefix parses IPv4 and IPv6 CIDR text", "[ip_prefix]") {
  IpPrefix p = P("13.64.0.0/11");
  CHECK(p.v4);
  CHECK(p.length == 11);
  CHECK(p.first4 == 0x0D400000u);
  CHECK(p.last4 == 0x0D5FFFFFu);
  CHECK(p.ToString() == "13.64.0.0/11");

  p = P("10.1.2.3/8");  // host bits cleared
  CHECK(p.ToString() == "10.0.0.0/8");
  CHECK(P("0.0.0.0/0").last4 == 0xFFFFFFFFu);
  CHECK(P("1.2.3.4/32").first4 == P("1.2.3.4/32").last4);

  p = P("2603:1000::/24");
  CHECK_FALSE(p.v4);
  CHECK(p.length == 24);
  CHECK(p.ToString() == "2603:1000::/24");
  CHECK(static_cast<uint64_t>(p.last6 >> 64) == 0x260310FFFFFFFFFFull);
  CHECK(static_cast<uint64_t>(p.last6) == ~0ull);
  CHECK(P("::/0").last6 == ~Uint128{0});
  CHECK(P("::1/128").first6 == 1);
  CHECK(P("::ffff:0:0/96").ToString() == "::ffff:0.0.0.0/96");

  IpPrefix bad;
  for (std::string_view text : {"", "/8", "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08",
                                "10.0.0/8", "10.0.0.0/8/8", "10.0.0.0 /8", "2603:1000::/129", "2603:1000::",
                                "fe80::1%eth0/64", "10.0.0.0/1a"}) {
    INFO(text);
    CHECK_FALSE(IpPrefix::Parse(text, &bad));
  }
}

TEST_CASE("IpRangeSet merges overlapping, nested and adjacent prefixes", "[ip_prefix]") {
  const std::vector<IpPrefix> prefixes = {P("20.34.0.0/15"), P("20.33.0.0/16"),  // adjacent: 20.33.0.0-20.35.255.255
                                          P("13.64.0.0/11"), P("13.65.0.0/16"),  // nested
                                          P("13.64.0.0/11"),                     // repeated
                                          P("40.74.0.0/15"), P("40.75.128.0/17"),
                                          P("2603:1000::/24"), P("2603:1001::/32")};
  const IpRangeSet set(prefixes);
  CHECK(set.v4_range_count() == 3);
  CHECK(set.v6_range_count() == 1);
  CHECK_FALSE(set.Contains(Ip("20.32.255.255")));
  CHECK(set.Contains(Ip("20.33.0.0")));
  CHECK(set.Contains(Ip("20.34.255.255")));
  CHECK(set.Contains(Ip("20.35.255.255")));
  CHECK_FALSE(set.Contains(Ip("20.36.0.0")));
  CHECK_FALSE(set.Contains(Ip("13.63.255.255")));
  CHECK(set.Contains(Ip("13.64.0.0")));
  CHECK(set.Contains(Ip("13.95.255.255")));
  CHECK_FALSE(set.Contains(Ip("13.96.0.0")));
  CHECK(set.Contains(Ip("40.75.255.255")));
  CHECK_FALSE(set.Contains(Ip("40.76.0.0")));
  CHECK(set.Contains(Ip("2603:10ff:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(set.Contains(Ip("2603:1100::")));
  CHECK_FALSE(set.Contains(Ip("2603:fff:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(IpRangeSet().Contains(Ip("1.2.3.4")));
}

TEST_CASE("IpRangeSet handles the ends of the address space", "[ip_prefix]") {
  const std::vector<IpPrefix> prefixes = {P("255.255.255.0/24"), P("0.0.0.0/8"), P("255.0.0.0/8"),
                                          P("ffff::/16"), P("::/126")};
  const IpRangeSet set(prefixes);
  CHECK(set.v4_range_count() == 2);
  CHECK(set.Contains(Ip("255.255.255.255")));
  CHECK(set.Contains(Ip("0.0.0.0")));
  CHECK_FALSE(set.Contains(Ip("1.0.0.0")));
  CHECK(set.Contains(Ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK(set.Contains(Ip("::2")));
}

TEST_CASE("IpRangeSet: IPv6 prefixes covering v4-mapped space apply to IPv4", "[ip_prefix]") {
  const std::vector<IpPrefix> prefixes = {P("::ffff:10.0.0.0/104"), P("::/0")};
  const IpRangeSet only_mapped(std::vector<IpPrefix>{prefixes[0]});
  CHECK(only_mapped.Contains(Ip("10.1.2.3")));
  CHECK_FALSE(only_mapped.Contains(Ip("11.0.0.0")));
  const IpRangeSet everything(prefixes);
  CHECK(everything.Contains(Ip("192.0.2.1")));
  CHECK(everything.Contains(Ip("2001:db8::1")));
}

}  // namespace flowwatch::enrich
