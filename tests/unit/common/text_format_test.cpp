#include "lib/common/text_format.h"

#include <catch2/catch.hpp>

namespace flowwatch {
namespace {

TEST_CASE("MAC addresses in the spellings Azure and its peers use") {
  uint64_t mac = 0;
  REQUIRE(ParseMac("000D3AF87856", &mac));
  REQUIRE(mac == 0x000D3AF87856ull);
  REQUIRE(ParseMac("00-0D-3A-F8-78-56", &mac));
  REQUIRE(mac == 0x000D3AF87856ull);
  REQUIRE(ParseMac("0022487bC205", &mac));
  REQUIRE(mac == 0x0022487BC205ull);
  REQUIRE(ParseMac("00:0d:3a:f8:78:56", &mac));
  for (const char* bad : {"", "000D3AF8785", "000D3AF878561", "000D3AF8785G", "-00D3AF87856", "000D3AF87856-"}) {
    INFO(bad);
    REQUIRE_FALSE(ParseMac(bad, &mac));
  }
}


TEST_CASE("TrimSpace drops leading and trailing whitespace only") {
  REQUIRE(TrimSpace("  a b\t\r\n") == "a b");
  REQUIRE(TrimSpace("\f\vx") == "x");
  REQUIRE(TrimSpace("x") == "x");
  REQUIRE(TrimSpace(" \t\r\n ").empty());
  REQUIRE(TrimSpace("").empty());
}

TEST_CASE("HumanBytes uses decimal units with one decimal") {
  REQUIRE(HumanBytes(999) == "999 B");
  REQUIRE(HumanBytes(524400) == "524.4 KB");
  REQUIRE(HumanBytes(38.7e6) == "38.7 MB");
  REQUIRE(HumanBytes(1.6e9) == "1.6 GB");
}

}  // namespace
}  // namespace flowwatch
