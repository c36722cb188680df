#include "lib/common/time_util.h"

#include <catch2/catch.hpp>

namespace flowwatch {
namespace {

TEST_CASE("ParseIso8601 reads Azure record times") {
  int64_t ms = 0;
  REQUIRE(ParseIso8601("2018-11-13T12:00:35.3899262Z", &ms));
  REQUIRE(ms == 1542110435389);
  REQUIRE(ParseIso8601("1970-01-01T00:00:00Z", &ms));
  REQUIRE(ms == 0);
  REQUIRE(ParseIso8601("2021-05-03T23:30:00+02:00", &ms));
  REQUIRE(ms == 1620084600000 - 2 * 3600 * 1000);  // 21:30Z
  REQUIRE(ParseIso8601("2024-02-29 10:00:00", &ms));
  for (const char* bad : {"", "2018-13-01T00:00:00Z", "2018-11-13T12:00", "2018-11-13T12:00:35.Z",
                          "2018-11-13T12:00:35Zjunk", "20181113T120035Z"}) {
    INFO(bad);
    REQUIRE_FALSE(ParseIso8601(bad, &ms));
  }
}

TEST_CASE("FormatIso8601 round-trips and shows milliseconds only when present") {
  REQUIRE(FormatIso8601(1620084600000) == "2021-05-03T23:30:00Z");
  REQUIRE(FormatIso8601(1663146003599) == "2022-09-14T09:00:03.599Z");
  REQUIRE(FormatIso8601(0) == "1970-01-01T00:00:00Z");
  int64_t ms = 0;
  for (int64_t t : {951782400000LL, 4102444799999LL, 1542110379000LL}) {
    REQUIRE(ParseIso8601(FormatIso8601(t), &ms));
    REQUIRE(ms == t);
  }
}

TEST_CASE("EpochToMs tells seconds from milliseconds by magnitude") {
  REQUIRE(EpochToMs(1542110379) == 1542110379000);
  REQUIRE(EpochToMs(1663146003599) == 1663146003599);
}

}  // namespace
}  // namespace flowwatch
