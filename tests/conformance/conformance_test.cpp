// Conformance: flowwatch's reading of real Azure flow-log samples, checked
// against what other parsers ship as expected output. The samples are read in
// place from $FLOWWATCH_CONFORMANCE_DIR or ../shared/conformance (see each
// folder's SOURCE.md); without them every test here is skipped (exit 77).
//
// Oracles:
//  - Elastic's ingest-pipeline expectations (*-expected.json) and system-test
//    outputs (sample_event.json): every field of every tuple.
//  - Sumo Logic's BlockBlobReader test: events per fixture (one per tuple), minus
//    the records its fixtures repeat (flowwatch counts a repeated record once).
//  - Microsoft's docs: the bandwidth example's totals, and the record/tuple
//    structure of each sample.
// Deliberate differences are stated where they occur (Elastic drops v1 tuples).
#include <simdjson.h>

#define CATCH_CONFIG_EXTERNAL_INTERFACES  // for the listener that skips without the samples
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lib/common/text_format.h"
#include "lib/common/time_util.h"
#include "lib/decode/decoder.h"
#include "lib/decode/flow_tuple.h"
#include "lib/shard/dedup_window.h"
#include "tests/conformance_dir.h"

namespace flowwatch {
namespace {

using decode::DecodeError;
using decode::DecodeStats;

// Every test here reads the samples: skip them all when they are absent.
struct ConformanceGate : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const&) override { testing::SkipUnlessConformancePresent(); }
};
CATCH_REGISTER_LISTENER(ConformanceGate)

const std::string kRoot = testing::ConformanceDir();
const std::string kElastic = kRoot + "/elastic-integrations/packages/";
const std::string kDocs = kRoot + "/microsoft-azure-docs/";
const std::string kSumo = kRoot + "/sumologic-azure-function/BlockBlobReader/tests/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Decoded {
  std::vector<FlowRecord> flows;
  DecodeStats stats;
  NameTables names;
};

struct Collect : decode::FlowSink {
  std::vector<FlowRecord>* out;
  void OnFlows(std::span<FlowRecord> f) override { out->insert(out->end(), f.begin(), f.end()); }
};

void DecodeFile(const std::string& path, Decoded* d) {
  decode::Decoder decoder({}, &d->names);
  Collect sink;
  sink.out = &d->flows;
  decoder.Decode(ReadFile(path), &sink);
  d->stats = decoder.stats();
}

uint64_t Error(const DecodeStats& s, DecodeError e) { return s.errors[static_cast<int>(e)]; }

// One tuple as another parser printed it.
struct Expected {
  std::string src, dst, protocol, direction, decision, state, encryption, rule, timestamp;
  int64_t sport = 0, dport = 0;
  uint64_t bytes_sent = 0, bytes_received = 0, packets_sent = 0, packets_received = 0;
  uint64_t mac = 0;
};

std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  if (e[key].get(v)) return "";
  return std::string(v);
}
uint64_t Num(simdjson::dom::element e, const char* k1, const char* k2) {
  uint64_t v = 0;
  if (e[k1][k2].get(v)) return 0;  // Elastic omits empty v2 counters
  return v;
}

Expected ReadCommon(simdjson::dom::element t) {
  Expected x;
  x.src = Str(t["source"], "ip");
  x.dst = Str(t["destination"], "ip");
  x.sport = t["source"]["port"].get_int64().value();
  x.dport = t["destination"]["port"].get_int64().value();
  x.protocol = Str(t, "protocol");
  x.timestamp = Str(t, "timestamp");
  x.bytes_sent = Num(t, "bytes", "sent");
  x.bytes_received = Num(t, "bytes", "received");
  x.packets_sent = Num(t, "packets", "sent");
  x.packets_received = Num(t, "packets", "received");
  return x;
}

// log: the azure_network_watcher_nsg.log object.
std::vector<Expected> ElasticNsgTuples(simdjson::dom::element log) {
  std::vector<Expected> out;
  for (simdjson::dom::element rule : log["properties"]["flows"].get_array()) {
    for (simdjson::dom::element group : rule["flows"].get_array()) {
      uint64_t mac = 0;
      REQUIRE(ParseMac(Str(group, "mac"), &mac));
      for (simdjson::dom::element t : group["tuples"].get_array()) {
        Expected x = ReadCommon(t);
        x.direction = Str(t["traffic"], "flow");
        x.decision = Str(t["traffic"], "decision");
        x.state = Str(t, "flow_state");
        x.rule = Str(rule, "rule");
        x.mac = mac;
        out.push_back(x);
      }
    }
  }
  return out;
}

// log: the azure_network_watcher_vnet.log object.
std::vector<Expected> ElasticVnetTuples(simdjson::dom::element log) {
  std::vector<Expected> out;
  uint64_t mac = 0;
  REQUIRE(ParseMac(Str(log, "mac_address"), &mac));
  for (simdjson::dom::element acl : log["records"]["flows"].get_array()) {
    for (simdjson::dom::element group : acl["groups"].get_array()) {
      for (simdjson::dom::element t : group["tuples"].get_array()) {
        Expected x = ReadCommon(t);
        x.direction = Str(t["flow"], "direction");
        x.state = Str(t["flow"], "state");
        x.encryption = Str(t["flow"], "encryption");
        x.rule = Str(group, "rule");
        x.mac = mac;
        out.push_back(x);
      }
    }
  }
  return out;
}

std::string StateName(FlowState s) {
  switch (s) {
    case FlowState::kBegin: return "Begin";
    case FlowState::kContinue: return "Continuing";
    case FlowState::kEnd: return "End";
    case FlowState::kDeny: return "Deny";
    case FlowState::kNone: return "";
  }
  return "?";
}

void RequireSame(const FlowRecord& r, const Expected& x, const NameTables& names, bool vnet) {
  INFO("expected " << x.src << ":" << x.sport << " -> " << x.dst << ":" << x.dport << " at " << x.timestamp);
  REQUIRE(r.src.ToString() == x.src);
  REQUIRE(r.dst.ToString() == x.dst);
  REQUIRE(r.src_port == x.sport);
  REQUIRE(r.dst_port == x.dport);
  if (vnet) {
    REQUIRE(std::to_string(r.protocol) == x.protocol);  // Elastic keeps the IANA number
    REQUIRE(x.encryption == "NX");
    REQUIRE(r.encryption == Encryption::kNotEncrypted);
  } else {
    REQUIRE((r.protocol == kProtoTcp ? "TCP" : r.protocol == kProtoUdp ? "UDP" : "?") == x.protocol);
    REQUIRE((r.decision == Decision::kAllow ? "Allowed" : "Denied") == x.decision);
  }
  REQUIRE((r.direction == Direction::kInbound ? "Inbound" : "Outbound") == x.direction);
  REQUIRE(StateName(r.state) == x.state);
  int64_t ms = 0;
  REQUIRE(ParseIso8601(x.timestamp, &ms));
  REQUIRE(r.time_ms == ms);
  REQUIRE(r.bytes_sd == x.bytes_sent);
  REQUIRE(r.bytes_ds == x.bytes_received);
  REQUIRE(r.packets_sd == x.packets_sent);
  REQUIRE(r.packets_ds == x.packets_received);
  REQUIRE(r.mac == x.mac);
  REQUIRE(names.rules.Get(r.rule_id) == x.rule);
}

TEST_CASE("Elastic NSG pipeline test: test-nsg.log matches test-nsg.log-expected.json") {
  const std::string dir = kElastic + "azure_network_watcher_nsg/data_stream/log/_dev/test/pipeline/";
  Decoded d;
  DecodeFile(dir + "test-nsg.log", &d);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.load(dir + "test-nsg.log-expected.json");
  std::vector<Expected> expected;
  for (simdjson::dom::element e : doc["expected"].get_array()) {
    for (const Expected& x : ElasticNsgTuples(e["azure_network_watcher_nsg"]["log"])) expected.push_back(x);
  }
  REQUIRE(expected.size() == 1);
  REQUIRE(d.flows.size() == expected.size());
  REQUIRE(d.stats.error_total() == 0);
  for (size_t i = 0; i < expected.size(); ++i) RequireSame(d.flows[i], expected[i], d.names, false);
}

TEST_CASE("Elastic VNet pipeline test: test-vnet.log matches test-vnet.log-expected.json") {
  const std::string dir = kElastic + "azure_network_watcher_vnet/data_stream/log/_dev/test/pipeline/";
  Decoded d;
  DecodeFile(dir + "test-vnet.log", &d);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.load(dir + "test-vnet.log-expected.json");
  std::vector<Expected> expected;
  for (simdjson::dom::element e : doc["expected"].get_array()) {
    for (const Expected& x : ElasticVnetTuples(e["azure_network_watcher_vnet"]["log"])) expected.push_back(x);
  }
  REQUIRE(expected.size() == 2);
  REQUIRE(d.flows.size() == expected.size());
  REQUIRE(d.stats.error_total() == 0);
  for (size_t i = 0; i < expected.size(); ++i) RequireSame(d.flows[i], expected[i], d.names, true);
  // The doctored sample's mixed-case MAC and zero bytes received are read as written.
  REQUIRE(d.flows[1].bytes_ds == 0);
  REQUIRE(d.flows[1].packets_ds == 33);
}

TEST_CASE("Elastic NSG system test: record 1 of testdata.log matches sample_event.json") {
  Decoded d;
  DecodeFile(kElastic + "azure_network_watcher_nsg/_dev/deploy/docker/sample_logs/testdata.log", &d);
  simdjson::dom::parser parser;
  simdjson::dom::element ev = parser.load(kElastic + "azure_network_watcher_nsg/data_stream/log/sample_event.json");
  const std::vector<Expected> expected = ElasticNsgTuples(ev["azure_network_watcher_nsg"]["log"]);
  REQUIRE(expected.size() == 7);
  REQUIRE(d.stats.records == 2);
  REQUIRE(d.flows.size() == 11);  // record 1: 7 tuples, record 2: 4
  for (size_t i = 0; i < expected.size(); ++i) RequireSame(d.flows[i], expected[i], d.names, false);
}

TEST_CASE("Elastic VNet system test: testdata.log matches sample_event.json") {
  Decoded d;
  DecodeFile(kElastic + "azure_network_watcher_vnet/_dev/deploy/docker/sample_logs/testdata.log", &d);
  simdjson::dom::parser parser;
  simdjson::dom::element ev = parser.load(kElastic + "azure_network_watcher_vnet/data_stream/log/sample_event.json");
  const std::vector<Expected> expected = ElasticVnetTuples(ev["azure_network_watcher_vnet"]["log"]);
  REQUIRE(expected.size() == 19);
  REQUIRE(d.flows.size() == expected.size());
  REQUIRE(d.stats.error_total() == 0);
  for (size_t i = 0; i < expected.size(); ++i) RequireSame(d.flows[i], expected[i], d.names, true);
}

// An independent, naive reading of a Sumo fixture: every tuple string, and which
// records repeat an earlier one byte for byte.
struct NaiveCount {
  uint64_t tuples = 0, distinct_record_tuples = 0, distinct_record_bytes = 0, distinct_record_packets = 0;
};

NaiveCount NaiveRead(const std::string& path) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.load(path);
  NaiveCount c;
  std::set<std::string> seen_records;
  for (simdjson::dom::element rec : doc["records"].get_array()) {
    std::vector<std::string> tuples;
    simdjson::dom::array flows;
    const bool vnet = rec["flowRecords"]["flows"].get(flows) == simdjson::SUCCESS;
    if (!vnet) flows = rec["properties"]["flows"].get_array();
    for (simdjson::dom::element f : flows) {
      for (simdjson::dom::element g : f[vnet ? "flowGroups" : "flows"].get_array()) {
        for (simdjson::dom::element t : g["flowTuples"].get_array()) tuples.emplace_back(t.get_string().value());
      }
    }
    c.tuples += tuples.size();
    if (!seen_records.insert(simdjson::minify(rec)).second) continue;  // a repeated record
    c.distinct_record_tuples += tuples.size();
    for (const std::string& t : tuples) {
      std::vector<std::string> f;
      std::stringstream ss(t);
      std::string part;
      while (std::getline(ss, part, ',')) f.push_back(part);
      while (f.size() < 13) f.push_back("");
      auto n = [](const std::string& s) { return s.empty() ? 0ull : std::stoull(s); };
      c.distinct_record_packets += n(f[9]) + n(f[11]);
      c.distinct_record_bytes += n(f[10]) + n(f[12]);
    }
  }
  return c;
}

TEST_CASE("Sumo Logic fixtures: tuple counts as Sumo expects, repeated records counted once") {
  struct Fixture {
    const char* file;
    uint64_t sumo_expected_events;  // test_blobreader.py lines 157-165
    uint64_t repeated_record_tuples;
    RecordFormat format;
  };
  const Fixture fixtures[] = {
      {"blob_fixtures.json", 153, 0, RecordFormat::kNsgV2},
      {"blob_fixtures_vnetflowlogs.json", 166, 83, RecordFormat::kVnetV4},
      {"blob_fixtures_subnetflowlogs.json", 68, 34, RecordFormat::kVnetV4},
      // Sumo's own test says 98; the file holds 61 tuples (SOURCE.md). Not an oracle.
      {"blob_fixtures_networkinterfaceflowlogs.json", 61, 12, RecordFormat::kVnetV4},
  };
  for (const Fixture& fx : fixtures) {
    INFO(fx.file);
    Decoded d;
    DecodeFile(kSumo + fx.file, &d);
    const NaiveCount naive = NaiveRead(kSumo + fx.file);
    REQUIRE(d.stats.error_total() == 0);
    REQUIRE(d.flows.size() == fx.sumo_expected_events);
    REQUIRE(naive.tuples == fx.sumo_expected_events);
    REQUIRE(d.stats.tuples_by_format[static_cast<int>(fx.format)] == fx.sumo_expected_events);

    // What a shard applies after de-duplication.
    shard::DedupWindow window({});
    uint64_t applied = 0, bytes = 0, packets = 0;
    for (const FlowRecord& r : d.flows) {
      if (window.CheckAndInsert(r.dedup_hash, r.time_ms)) continue;
      ++applied;
      bytes += r.bytes();
      packets += r.packets();
    }
    REQUIRE(applied == fx.sumo_expected_events - fx.repeated_record_tuples);
    REQUIRE(applied == naive.distinct_record_tuples);
    REQUIRE(bytes == naive.distinct_record_bytes);
    REQUIRE(packets == naive.distinct_record_packets);
  }
}

TEST_CASE("Sumo NSG fixture: the record-level macAddress and E tuples without counters") {
  Decoded d;
  DecodeFile(kSumo + "blob_fixtures.json", &d);
  REQUIRE(d.stats.records == 8);
  for (const FlowRecord& r : d.flows) REQUIRE(r.mac == 0x6045BDEC2532ull);
}

TEST_CASE("Microsoft docs: the v1 sample's nested records element is rejected, the rest kept") {
  Decoded d;
  DecodeFile(kDocs + "nsg-flow-logs-overview.v1-sample.json", &d);
  REQUIRE(d.stats.records == 2);
  REQUIRE(d.flows.size() == 9);
  REQUIRE(Error(d.stats, DecodeError::kBadRecord) == 1);
  REQUIRE(d.stats.tuples_by_format[static_cast<int>(RecordFormat::kNsgV1)] == 9);

  // Elastic's pipeline keeps only 13-field tuples and drops all of these; we keep
  // v1 tuples on purpose: they still say who talked to which port.
  Decoded derived;
  DecodeFile(kDocs + "nsg-flow-logs-overview.v1-sample.DERIVED-unnested.json", &derived);
  REQUIRE(derived.stats.records == 3);
  REQUIRE(derived.flows.size() == 12);
  REQUIRE(derived.stats.error_total() == 0);
  for (const FlowRecord& r : derived.flows) {
    REQUIRE(r.format == RecordFormat::kNsgV1);
    REQUIRE(r.bytes() == 0);
  }
}

TEST_CASE("Microsoft docs: a v1 block with empty flows arrays, and a bare VNet record") {
  Decoded v1;
  DecodeFile(kDocs + "flow-logs-read.nsg-v1-block.json", &v1);
  REQUIRE(v1.stats.records == 1);
  REQUIRE(v1.flows.size() == 40);
  REQUIRE(v1.stats.error_total() == 0);
  REQUIRE(v1.names.rules.Get(v1.flows[0].rule_id) == "DefaultRule_AllowInternetOutBound");

  Decoded vnet;
  DecodeFile(kDocs + "flow-logs-read.vnet-v4-record.json", &vnet);
  REQUIRE(vnet.stats.records == 1);
  REQUIRE(vnet.flows.size() == 10);
  for (const FlowRecord& r : vnet.flows) {
    REQUIRE(r.decision == Decision::kDeny);
    REQUIRE(r.local_ip().ToString() == "192.168.0.4");
  }
  REQUIRE(vnet.names.rules.Get(vnet.flows[0].rule_id) ==
          "BlockHighRiskTCPPortsFromInternet_456b4993-6e57-4e46-aa4d-81767afff09c");
}

TEST_CASE("Microsoft docs: the v2 and v4 samples equal Elastic's copies of them, addresses aside") {
  Decoded ms_v2, el_v2, ms_v4, el_v4;
  DecodeFile(kDocs + "nsg-flow-logs-overview.v2-sample.json", &ms_v2);
  DecodeFile(kElastic + "azure_network_watcher_nsg/_dev/deploy/docker/sample_logs/testdata.log", &el_v2);
  DecodeFile(kDocs + "vnet-flow-logs-overview.v4-sample.json", &ms_v4);
  DecodeFile(kElastic + "azure_network_watcher_vnet/_dev/deploy/docker/sample_logs/testdata.log", &el_v4);
  REQUIRE(ms_v2.flows.size() == 11);
  REQUIRE(ms_v2.flows.size() == el_v2.flows.size());
  for (size_t i = 0; i < ms_v2.flows.size(); ++i) {
    const FlowRecord& a = ms_v2.flows[i];
    const FlowRecord& b = el_v2.flows[i];
    REQUIRE(a.time_ms == b.time_ms);
    REQUIRE(a.bytes_sd == b.bytes_sd);
    REQUIRE(a.bytes_ds == b.bytes_ds);
    REQUIRE(a.state == b.state);
    REQUIRE(a.dst_port == b.dst_port);
  }
  REQUIRE(ms_v4.flows.size() == 19);
  for (size_t i = 0; i < ms_v4.flows.size(); ++i) {
    REQUIRE(ms_v4.flows[i].src == el_v4.flows[i].src);  // identical file
    REQUIRE(ms_v4.flows[i].bytes() == el_v4.flows[i].bytes());
  }
}

TEST_CASE("Microsoft docs: the bandwidth examples add up to the documented totals") {
  // "the total number of packets transferred is 1021+52+8005+47 = 9125 ... the
  // total bytes transferred is 588096+29952+4610880+27072 = 5256000"
  for (const char* file : {"nsg-flow-logs-overview.bandwidth-tuples.txt", "vnet-flow-logs-overview.bandwidth-tuples.txt"}) {
    INFO(file);
    const bool vnet = std::string(file).starts_with("vnet");
    std::stringstream lines(ReadFile(kDocs + file));
    std::string line;
    uint64_t bytes = 0, packets = 0;
    int tuples = 0;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      FlowRecord r;
      DecodeError e;
      REQUIRE((vnet ? decode::ParseVnetTuple(line, &r, &e) : decode::ParseNsgTuple(line, &r, &e)));
      bytes += r.bytes();
      packets += r.packets();
      ++tuples;
    }
    REQUIRE(tuples == 3);
    REQUIRE(packets == 9125);
    REQUIRE(bytes == 5256000);
  }
}

}  // namespace
}  // namespace flowwatch
