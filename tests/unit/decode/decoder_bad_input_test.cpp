// Bad input: each malformed element is skipped and counted by a bounded error
// type, the good records around it are kept, and nothing crashes.
#include <catch2/catch.hpp>

#include "tests/unit/decode/decode_test_util.h"

namespace flowwatch::decode {
namespace {

using testing::DecodeAll;
using testing::Errors;
using testing::Gzip;
using testing::kV2Tuple;
using testing::kV2Tuple2;
using testing::NsgRecord;

const std::string kGood1 = NsgRecord(kV2Tuple, "000D3AF87856", "2018-11-13T12:00:35Z");
const std::string kGood2 = NsgRecord(kV2Tuple2, "000D3AF87856", "2018-11-13T12:02:35Z");

std::string Blob3(const std::string& middle) { return R"({"records":[)" + kGood1 + "," + middle + "," + kGood2 + "]}"; }

TEST_CASE("A record with a structural error is dropped - its neighbours are kept") {
  DecodeStats st;
  auto f = DecodeAll(Blob3(R"({"time":"x","properties":{"flows":[{"rule":"r","flows":[{"mac":,}]}]}})"), &st);
  REQUIRE(f.size() == 2);
  REQUIRE(st.records == 2);
  REQUIRE(Errors(st, DecodeError::kBadJson) == 1);
}

TEST_CASE("Invalid UTF-8 in one record spoils only that record") {
  DecodeStats st;
  auto f = DecodeAll(Blob3(NsgRecord(kV2Tuple, "000D3AF87856", "2018-11-13T12:01:35Z\xC3\x28")), &st);
  REQUIRE(f.size() == 2);
  REQUIRE(Errors(st, DecodeError::kBadUtf8) == 1);
}

TEST_CASE("A truncated blob keeps every complete record before the cut") {
  const std::string blob = Blob3(NsgRecord(kV2Tuple, "000D3AF87856", "2018-11-13T12:01:35Z"));
  const std::string cut = blob.substr(0, blob.size() - 40);  // inside the third record
  DecodeStats st;
  auto f = DecodeAll(cut, &st);
  REQUIRE(f.size() == 2);
  REQUIRE(st.records == 2);
  REQUIRE(Errors(st, DecodeError::kBadJson) == 1);
  // Cut inside a string: the rest of the body is one broken piece.
  DecodeStats st2;
  auto f2 = DecodeAll(blob.substr(0, kGood1.size() + 60), &st2);
  REQUIRE(f2.size() == 1);
  REQUIRE(Errors(st2, DecodeError::kBadJson) == 1);
}

TEST_CASE("Wrong types skip the element that has them") {
  DecodeStats st;
  // flowTuples holds a number among strings: that tuple is bad, the others count.
  auto f = DecodeAll(NsgRecord(std::string(kV2Tuple) + ",42," + kV2Tuple2), &st);
  REQUIRE(f.size() == 2);
  REQUIRE(Errors(st, DecodeError::kBadTuple) == 1);
  // flowTuples is an object, mac a number, rule an array: the record is bad.
  for (const std::string& bad : {
           std::string(R"({"time":"t","properties":{"flows":[{"rule":"r","flows":[{"mac":"000D3AF87856","flowTuples":{}}]}]}})"),
           std::string(R"({"time":"t","properties":{"flows":[{"rule":"r","flows":[{"mac":12,"flowTuples":[]}]}]}})"),
           std::string(R"({"time":"t","properties":{"flows":[{"rule":["r"],"flows":[]}]}})"),
           std::string(R"({"time":"t","properties":"v2"})"),
           std::string(R"({"time":"t","flowRecords":{"flows":7}})"),
           std::string(R"({"time":"t","macAddress":"nothex000000","flowRecords":{"flows":[]}})"),
       }) {
    INFO(bad);
    DecodeStats s2;
    REQUIRE(DecodeAll(Blob3(bad), &s2).size() == 2);
    REQUIRE(Errors(s2, DecodeError::kBadRecord) == 1);
    REQUIRE(s2.error_total() == 1);
  }
}

TEST_CASE("Unknown shapes are counted as unknown_format") {
  DecodeStats st;
  REQUIRE(DecodeAll(R"({"hello":"world"})" "\n" "[1,2,3]" "\n" R"("just a string")", &st).empty());
  REQUIRE(Errors(st, DecodeError::kUnknownFormat) == 5);  // the object, each array element, the string
}

TEST_CASE("Huge numbers, bad ports and bad addresses are per-tuple errors") {
  DecodeStats st;
  auto f = DecodeAll(NsgRecord(
                         std::string(kV2Tuple) +
                         R"(,"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,1,184467440737095516150,1,1")"
                         R"(,"1542110379,10.5.16.4,203.0.113.115,44931,65536,T,O,A,C,1,1,1,1")"
                         R"(,"1542110379,10.5.16.400,203.0.113.115,44931,443,T,O,A,C,1,1,1,1")"
                         R"(,"4102444800000000,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,1,1,1,1")"),
                     &st);
  REQUIRE(f.size() == 1);
  REQUIRE(Errors(st, DecodeError::kBadTuple) == 2);
  REQUIRE(Errors(st, DecodeError::kBadIp) == 1);
  REQUIRE(Errors(st, DecodeError::kBadTimestamp) == 1);
  REQUIRE(st.records == 1);
}

TEST_CASE("10 MB strings are rejected without harm") {
  const std::string huge(10 << 20, 'A');
  DecodeStats st;
  auto f = DecodeAll(Blob3(NsgRecord('"' + huge + '"')), &st);  // a 10 MB tuple
  REQUIRE(f.size() == 2);
  REQUIRE(Errors(st, DecodeError::kBadTuple) == 1);
  DecodeStats st2;
  auto f2 = DecodeAll(Blob3(NsgRecord(kV2Tuple, "000D3AF87856", "t", huge)), &st2);  // a 10 MB rule name
  REQUIRE(f2.size() == 2);
  REQUIRE(Errors(st2, DecodeError::kTooLarge) == 1);
}

TEST_CASE("Bodies beyond the size limit are too_large, compressed or not") {
  DecoderOptions small;
  small.max_body_bytes = 1000;
  const std::string big = Blob3(NsgRecord(kV2Tuple)) + std::string(2000, ' ');
  DecodeStats st;
  REQUIRE(DecodeAll(big, &st, nullptr, small).empty());
  REQUIRE(Errors(st, DecodeError::kTooLarge) == 1);
  DecodeStats st2;
  REQUIRE(DecodeAll(Gzip(big), &st2, nullptr, small).empty());  // a gzip bomb stops at the limit
  REQUIRE(Errors(st2, DecodeError::kTooLarge) == 1);
}

TEST_CASE("Corrupt and truncated gzip, empty bodies, garbage and deep nesting") {
  DecodeStats st;
  const std::string gz = Gzip(Blob3(NsgRecord(kV2Tuple)));
  REQUIRE(DecodeAll(gz.substr(0, gz.size() / 2), &st).empty());
  REQUIRE(Errors(st, DecodeError::kBadGzip) == 1);
  std::string flipped = gz;
  flipped[flipped.size() / 2] ^= 0x55;
  DecodeStats st2;
  DecodeAll(flipped, &st2);
  REQUIRE(Errors(st2, DecodeError::kBadGzip) + Errors(st2, DecodeError::kBadJson) +
              Errors(st2, DecodeError::kBadUtf8) >= 1);
  DecodeStats st3;
  REQUIRE(DecodeAll(" \n\t ", &st3).empty());
  REQUIRE(Errors(st3, DecodeError::kEmptyBody) == 1);
  DecodeStats st4;
  REQUIRE(DecodeAll("this is not json\nneither is this", &st4).empty());
  REQUIRE(Errors(st4, DecodeError::kBadJson) == 2);  // one per line, not per word
  DecodeStats st5;
  REQUIRE(DecodeAll(std::string(100000, '[') + std::string(100000, ']'), &st5).empty());
  REQUIRE(st5.error_total() >= 1);
  DecodeStats st6;
  REQUIRE(DecodeAll(std::string(100000, '{'), &st6).empty());
  REQUIRE(st6.error_total() >= 1);
}

TEST_CASE("NDJSON: a broken line does not take its neighbours with it") {
  DecodeStats st;
  auto f = DecodeAll(kGood1 + "\n" + R"({"records":[{"time":"unterminated)" + "\n" + "\xFF\xFE garbage\n" + kGood2 + "\n",
                     &st);
  REQUIRE(f.size() == 2);
  REQUIRE(st.records == 2);
  REQUIRE(Errors(st, DecodeError::kBadJson) + Errors(st, DecodeError::kBadUtf8) == 2);
}

TEST_CASE("A body too large to parse whole is split into records - a broken one fails alone") {
  // Over 8 MiB: decoded record by record (bounded parser memory).
  std::string blob = R"({"records":[)";
  const int kRecords = 40000;
  for (int i = 0; i < kRecords; ++i) {
    if (i) blob += ",";
    blob += i == 20000 ? std::string(R"({"time":"x","properties":{"flows":[{"rule":}]}})")
                       : NsgRecord(kV2Tuple, "000D3AF87856", "2018-11-13T12:00:" + std::to_string(i) + "Z");
  }
  blob += "]}";
  REQUIRE(blob.size() > (8u << 20));
  DecodeStats st;
  auto f = DecodeAll(blob, &st);
  REQUIRE(f.size() == kRecords - 1);
  REQUIRE(st.records == kRecords - 1);
  REQUIRE(Errors(st, DecodeError::kBadJson) == 1);
  REQUIRE(st.error_total() == 1);
}

TEST_CASE("A nested records container inside a record is rejected, as in the v1 docs sample") {
  DecodeStats st;
  auto f = DecodeAll(Blob3(R"({"records":[)" + kGood1 + "]}"), &st);
  REQUIRE(f.size() == 2);
  REQUIRE(Errors(st, DecodeError::kBadRecord) == 1);
}

}  // namespace
}  // namespace flowwatch::decode
