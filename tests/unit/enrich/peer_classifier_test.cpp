#include "lib/enrich/peer_classifier.h"

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

namespace flowwatch::enrich {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

PeerClass ClassOf(const PeerClassifier& c, std::string_view text) {
  IpAddress ip;
  REQUIRE(IpAddress::Parse(text, &ip));
  return c.Classify(ip);
}

// A ServiceTags document with the given values (each a JSON object).
std::string Tags(const std::vector<std::string>& values) {
  std::string json = R"({"changeNumber":7,"cloud":"Public","values":[)";
  for (size_t i = 0; i < values.size(); ++i) json += (i ? "," : "") + values[i];
  return json + "]}";
}
std::string Tag(std::string_view name, std::string_view prefixes) {
  return R"({"name":")" + std::string(name) + R"(","id":")" + std::string(name) +
         R"(","properties":{"changeNumber":1,"region":"","regionId":0,"platform":"Azure","systemService":"",)"
         R"("addressPrefixes":[)" + std::string(prefixes) + R"(],"networkFeatures":["API","NSG"]}})";
}

std::string TagsError(std::string_view json) {
  PeerClassifier c;
  Status s = c.ParseServiceTags(json, "tags.json");
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  // A failed load leaves the classifier as it was.
  CHECK(c.source() == "built-in");
  CHECK(c.azure_prefix_count() == 1);
  return s.message();
}

}  // namespace

TEST_CASE("PeerClassName", "[peer_classifier]") {
  CHECK(PeerClassName(PeerClass::kPrivate) == "private");
  CHECK(PeerClassName(PeerClass::kAzure) == "azure");
  CHECK(PeerClassName(PeerClass::kExternal) == "external");
}

TEST_CASE("Built-in classes at range boundaries", "[peer_classifier]") {
  const PeerClassifier c;
  const auto kP = PeerClass::kPrivate;
  const auto kA = PeerClass::kAzure;
  const auto kE = PeerClass::kExternal;
  const std::vector<std::pair<std::string_view, PeerClass>> cases = {
      {"9.255.255.255", kE},   {"10.0.0.0", kP},        {"10.255.255.255", kP},  {"11.0.0.0", kE},
      {"172.15.255.255", kE},  {"172.16.0.0", kP},      {"172.31.255.255", kP},  {"172.32.0.0", kE},
      {"192.167.255.255", kE}, {"192.168.0.0", kP},     {"192.168.255.255", kP}, {"192.169.0.0", kE},
      {"100.63.255.255", kE},  {"100.64.0.0", kP},      {"100.127.255.255", kP}, {"100.128.0.0", kE},
      {"169.253.255.255", kE}, {"169.254.0.0", kP},     {"169.254.169.254", kP}, {"169.255.0.0", kE},
      {"126.255.255.255", kE}, {"127.0.0.1", kP},       {"127.255.255.255", kP}, {"128.0.0.0", kE},
      {"168.63.129.15", kE},   {"168.63.129.16", kA},   {"168.63.129.17", kE},   {"13.64.0.1", kE},
      {"8.8.8.8", kE},         {"0.0.0.0", kE},         {"255.255.255.255", kE},
      {"fc00::1", kP},         {"fdff:ffff::1", kP},    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kE},
      {"fe00::", kE},          {"fe80::1", kP},         {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kP},
      {"fec0::", kE},          {"::1", kP},             {"::", kE},              {"::2", kE},
      {"2001:db8::1", kE},     {"2603:1000::1", kE},
      {"::ffff:10.1.2.3", kP}, {"::ffff:168.63.129.16", kA}, {"::ffff:8.8.8.8", kE},  // v4-mapped = IPv4
  };
  for (const auto& [text, want] : cases) {
    INFO(text);
    CHECK(PeerClassName(ClassOf(c, text)) == PeerClassName(want));
  }
  CHECK(c.azure_prefix_count() == 1);
  CHECK(c.azure_range_count() == 1);
  CHECK(c.source() == "built-in");
}

TEST_CASE("Service tags fixture: AzureCloud prefixes are azure", "[peer_classifier]") {
  PeerClassifier c;
  REQUIRE(c.LoadServiceTags(FW_TEST_DATA_DIR "/enrich/ServiceTags_Public_fixture.json").ok());
  CHECK(c.azure_prefix_count() == 11);  // 10 AzureCloud prefixes + 168.63.129.16/32
  // 20.33/16 + 20.34/15 merge; the rest are disjoint: 6 IPv4 + 1 wire server, 3 IPv6.
  CHECK(c.azure_range_count() == 10);
  CHECK_THAT(c.source(), Contains("ServiceTags_Public_fixture.json") && Contains("changeNumber 318") &&
                             Contains("tag AzureCloud,") && Contains("10 prefixes"));
  const auto kA = PeerClass::kAzure;
  const auto kE = PeerClass::kExternal;
  const auto kP = PeerClass::kPrivate;
  const std::vector<std::pair<std::string_view, PeerClass>> cases = {
      {"13.63.255.255", kE}, {"13.64.0.0", kA}, {"13.80.1.2", kA}, {"13.95.255.255", kA}, {"13.96.0.0", kE},
      {"20.32.255.255", kE}, {"20.33.0.0", kA}, {"20.34.0.0", kA}, {"20.35.255.255", kA}, {"20.36.0.0", kE},
      {"52.226.37.8", kA},   {"104.47.255.255", kA}, {"104.48.0.0", kE},
      {"20.38.96.1", kE},    // only in the unrelated Storage tag
      {"4.145.74.53", kE},   // only in ActionGroup
      {"168.63.129.16", kA}, {"10.1.2.3", kP},
      {"2603:1000::1", kA},  {"2603:10ff:ffff::1", kA}, {"2603:1100::", kE}, {"2603:fff::1", kE},
      {"2a01:111:f406:1::5", kA}, {"2a01:111:f406:2::", kE},
      {"2a01:111:f100:1003:ffff::1", kA}, {"2a01:111:f100:1004::", kE},
      {"fd00::1", kP},
  };
  for (const auto& [text, want] : cases) {
    INFO(text);
    CHECK(PeerClassName(ClassOf(c, text)) == PeerClassName(want));
  }
}

TEST_CASE("Service tags: private wins over azure, overlaps and adjacency merge", "[peer_classifier]") {
  PeerClassifier c;
  REQUIRE(c.ParseServiceTags(
              Tags({Tag("AzureCloud", R"("10.0.0.0/8","40.74.0.0/15","40.75.128.0/17","40.76.0.0/16",)"
                                      R"("40.80.0.0/16","40.80.0.0/12","fd00::/8","2603:1000::/24")")}),
              "tags.json")
              .ok());
  CHECK(c.azure_prefix_count() == 9);
  // 10/8 | 40.74/15 + 40.75.128/17 (nested) + 40.76/16 (adjacent) | 40.80/12 | wire server, and 2 IPv6.
  CHECK(c.azure_range_count() == 6);
  CHECK(ClassOf(c, "10.1.2.3") == PeerClass::kPrivate);
  CHECK(ClassOf(c, "fd00::1") == PeerClass::kPrivate);
  CHECK(ClassOf(c, "40.73.255.255") == PeerClass::kExternal);
  CHECK(ClassOf(c, "40.76.255.255") == PeerClass::kAzure);
  CHECK(ClassOf(c, "40.77.0.0") == PeerClass::kExternal);
  CHECK(ClassOf(c, "40.95.255.255") == PeerClass::kAzure);
  CHECK(ClassOf(c, "40.96.0.0") == PeerClass::kExternal);
  CHECK(ClassOf(c, "168.63.129.16") == PeerClass::kAzure);  // always added
  CHECK(c.source() == "tags.json (changeNumber 7, tag AzureCloud, 8 prefixes)");
}

TEST_CASE("Service tags without AzureCloud fall back to the union of AzureCloud.<region>", "[peer_classifier]") {
  PeerClassifier c;
  REQUIRE(c.ParseServiceTags(Tags({Tag("Storage", R"("20.38.96.0/19")"), Tag("AzureCloud.eastus", R"("52.224.0.0/16")"),
                                   Tag("AzureCloudX", R"("1.0.0.0/8")"), Tag("AzureCloud.westeurope", R"("13.69.0.0/17")")}),
                              "regional.json")
              .ok());
  CHECK(ClassOf(c, "52.224.1.1") == PeerClass::kAzure);
  CHECK(ClassOf(c, "13.69.1.1") == PeerClass::kAzure);
  CHECK(ClassOf(c, "20.38.96.1") == PeerClass::kExternal);
  CHECK(ClassOf(c, "1.2.3.4") == PeerClass::kExternal);  // "AzureCloudX" is not a region of AzureCloud
  CHECK(c.azure_prefix_count() == 3);
  CHECK_THAT(c.source(), Contains("tag AzureCloud.*"));

  // When AzureCloud exists the regional tags are not needed (it is their union).
  PeerClassifier d;
  REQUIRE(d.ParseServiceTags(Tags({Tag("AzureCloud.eastus", R"("52.224.0.0/16")"), Tag("AzureCloud", R"("13.64.0.0/11")")}),
                             "t.json")
              .ok());
  CHECK(ClassOf(d, "52.224.1.1") == PeerClass::kExternal);
  CHECK(ClassOf(d, "13.64.1.1") == PeerClass::kAzure);
}

TEST_CASE("Service tags errors name the file and the problem", "[peer_classifier]") {
  CHECK(TagsError(Tags({Tag("Storage", R"("20.38.96.0/19")"), Tag("AzureCloudX", R"("1.0.0.0/8")")})) ==
        R"(tags.json: no "AzureCloud" or "AzureCloud.<region>" service tag among 2 values)");
  CHECK(TagsError(Tags({Tag("Storage", R"("20.38.96.0/19")"), Tag("AzureCloud", R"("13.64.0.0/11","13.64.0/11")")})) ==
        "tags.json: values[1] (AzureCloud): bad address prefix '13.64.0/11' (addressPrefixes[1])");
  CHECK(TagsError(Tags({Tag("AzureCloud", R"("2603:1000::/129")")})) ==
        "tags.json: values[0] (AzureCloud): bad address prefix '2603:1000::/129' (addressPrefixes[0])");
  CHECK(TagsError(Tags({Tag("AzureCloud.eastus", R"("52.224.0.0")")})) ==
        "tags.json: values[0] (AzureCloud.eastus): bad address prefix '52.224.0.0' (addressPrefixes[0])");
  CHECK(TagsError(Tags({Tag("AzureCloud", "")})) == "tags.json: service tag AzureCloud has no addressPrefixes");
  CHECK_THAT(TagsError(Tags({Tag("AzureCloud", "7")})), StartsWith("tags.json: values[0] (AzureCloud): bad properties.addressPrefixes[0]"));
  CHECK(TagsError(Tags({R"({"name":"AzureCloud","properties":{}})"})) ==
        "tags.json: values[0] (AzureCloud): properties.addressPrefixes missing");
  CHECK(TagsError(Tags({R"({"id":"x"})"})) == R"(tags.json: values[0]: "name" missing)");
  CHECK(TagsError(R"({"changeNumber":1,"cloud":"Public"})") ==
        R"(tags.json: no "values" array (is this a ServiceTags_Public file?))");
  CHECK_THAT(TagsError(R"([1,2])"), StartsWith("tags.json: top level is not a JSON object"));
  CHECK_THAT(TagsError(R"({"values":{}})"), StartsWith(R"(tags.json: "values" is not an array)"));
  CHECK_THAT(TagsError(""), StartsWith("tags.json: invalid JSON"));
  // Truncated file (an interrupted download).
  const std::string whole = Tags({Tag("AzureCloud", R"("13.64.0.0/11")")});
  CHECK_THAT(TagsError(whole.substr(0, whole.size() / 2)), StartsWith("tags.json:") && Contains("JSON"));
  CHECK_THAT(TagsError(whole + "{}"), StartsWith("tags.json: invalid JSON"));

  PeerClassifier c;
  Status s = c.LoadServiceTags(FW_TEST_DATA_DIR "/enrich/no-such-ServiceTags.json");
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kIoError);
  CHECK_THAT(s.message(), Contains("no-such-ServiceTags.json"));
}

TEST_CASE("Classify is safe from many threads at once", "[peer_classifier]") {
  PeerClassifier c;
  REQUIRE(c.LoadServiceTags(FW_TEST_DATA_DIR "/enrich/ServiceTags_Public_fixture.json").ok());
  // Each thread walks every /24 of 13.0.0.0/8 a few times; 13.64.0.0/11 holds 32
  // of its 256 /16s, 8192 of its /24s.
  std::vector<std::thread> threads;
  std::vector<size_t> azure(4, 0);
  for (size_t t = 0; t < azure.size(); ++t) {
    threads.emplace_back([&c, &azure, t] {
      for (int round = 0; round < 4; ++round) {
        for (uint32_t i = 0; i < 65536; ++i) {
          if (c.Classify(IpAddress::FromV4((13u << 24) | (i << 8))) == PeerClass::kAzure) ++azure[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const size_t want = 4 * 8192;
  for (size_t n : azure) CHECK(n == want);
}

}  // namespace flowwatch::enrich
