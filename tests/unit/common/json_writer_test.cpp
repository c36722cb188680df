#include "lib/common/json_writer.h"

#include <catch2/catch.hpp>

namespace flowwatch {
namespace {

TEST_CASE("JsonWriter writes nested documents with commas in the right places") {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("vm", "vm01");
  w.Field("port", 1433);
  w.Key("peers");
  w.BeginArray();
  w.BeginObject();
  w.Field("ip", "10.0.1.6");
  w.EndObject();
  w.Uint(7);
  w.EndArray();
  w.FieldDouble("ratio", 6.98765, 2);
  w.Key("empty");
  w.BeginArray();
  w.EndArray();
  w.EndObject();
  REQUIRE(out == R"({"vm":"vm01","port":1433,"peers":[{"ip":"10.0.1.6"},7],"ratio":6.99,"empty":[]})");
}

TEST_CASE("JsonWriter escapes control characters, quotes and invalid UTF-8") {
  std::string out;
  JsonWriter::AppendEscaped(&out, std::string("a\"b\\c\n\x01 \xC3\xA9 \xFF \xED\xA0\x80 z"));
  REQUIRE(out == "\"a\\\"b\\\\c\\n\\u0001 \xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD z\"");
}

TEST_CASE("JsonWriter formats doubles compactly and never emits NaN") {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  w.Double(7.0);
  w.Double(0.125, 3);
  w.Double(-0.0001, 2);
  w.Double(0.0 / 0.0);
  w.EndArray();
  REQUIRE(out == "[7,0.125,0,null]");
}

TEST_CASE("JsonWriter writes huge doubles in exponent form instead of overrunning its buffer") {
  // Found by fuzz_alert_spool: a ratio of ~9e116 overflowed the fixed-notation buffer.
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  w.Double(8.8888888888888889e116, 1);
  w.Double(-1e300, 3);
  w.Double(1e40, 1);
  w.EndArray();
  REQUIRE(out == "[8.8888888888888884e+116,-1.0000000000000001e+300,10000000000000000303786028427003666890752]");
}

}  // namespace
}  // namespace flowwatch
