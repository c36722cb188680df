#include "lib/decode/json_splitter.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace flowwatch::decode {
namespace {

std::vector<std::string> Texts(std::string_view text, std::vector<Piece::Kind>* kinds = nullptr) {
  std::vector<Piece> pieces;
  SplitPieces(text, &pieces);
  std::vector<std::string> out;
  for (const Piece& p : pieces) {
    out.emplace_back(text.substr(p.begin, p.end - p.begin));
    if (kinds) kinds->push_back(p.kind);
  }
  return out;
}

TEST_CASE("SplitPieces cuts a records container into its elements") {
  std::vector<Piece::Kind> kinds;
  auto t = Texts(R"( {"x":{"records":[1]}, "records" : [ {"a":"}]"} , {"b":[1,{"c":2}]} ], "y":1} )", &kinds);
  REQUIRE(t == std::vector<std::string>{R"({"a":"}]"})", R"({"b":[1,{"c":2}]})"});
  REQUIRE(kinds == std::vector<Piece::Kind>{Piece::Kind::kRecordElement, Piece::Kind::kRecordElement});
}

TEST_CASE("SplitPieces handles escaped quotes and backslashes in strings") {
  auto t = Texts(R"({"records":[{"a":"q\"}"},{"b":"\\"},{"c":"\\\"]"}]})");
  REQUIRE(t == std::vector<std::string>{R"({"a":"q\"}"})", R"({"b":"\\"})", R"({"c":"\\\"]"})"});
}

TEST_CASE("SplitPieces splits root arrays and concatenated values") {
  std::vector<Piece::Kind> kinds;
  auto t = Texts(R"([{"a":1},{"b":2}]{"c":3}{"records":[{"d":4}]})", &kinds);
  REQUIRE(t == std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"c":3})", R"({"d":4})"});
  REQUIRE(kinds == std::vector<Piece::Kind>{Piece::Kind::kArrayElement, Piece::Kind::kArrayElement,
                                            Piece::Kind::kValue, Piece::Kind::kRecordElement});
}

TEST_CASE("SplitPieces leaves a truncated element as the last piece") {
  auto t = Texts(R"({"records":[{"a":1},{"b":"trunc)");
  REQUIRE(t == std::vector<std::string>{R"({"a":1})", R"({"b":"trunc)"});
}

TEST_CASE("SplitPieces makes one piece per line of non-JSON text") {
  auto t = Texts("1542110379,10.5.16.4,203.0.113.115\nsecond line, with commas\n");
  REQUIRE(t == std::vector<std::string>{"1542110379,10.5.16.4,203.0.113.115", "second line, with commas"});
}

TEST_CASE("LooksLikeWholeValue tells NDJSON lines from pretty-printed fragments") {
  REQUIRE(LooksLikeWholeValue(R"(  {"a":1}  )"));
  REQUIRE(LooksLikeWholeValue("[1,2]\r"));
  REQUIRE_FALSE(LooksLikeWholeValue("{"));
  REQUIRE_FALSE(LooksLikeWholeValue(R"(  {"a":1},)"));
  REQUIRE_FALSE(LooksLikeWholeValue(R"(  "records": [)"));
  REQUIRE_FALSE(LooksLikeWholeValue(R"({"a":1}])"));
}

}  // namespace
}  // namespace flowwatch::decode
