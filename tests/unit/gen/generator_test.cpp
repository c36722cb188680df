// Generator tests: real output, decoded by the real Decoder.
#include "lib/gen/generator.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <tuple>

#include "lib/common/time_util.h"
#include "lib/gen/demo_model.h"
#include "tests/unit/gen/gen_test_util.h"

namespace flowwatch::gen {
namespace {

using testing::Decoded;
using testing::DecodeFolder;
using testing::Ip;
using testing::ListFiles;
using testing::ReadFile;
using testing::TempDir;

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr uint64_t kVm01Mac = 0x000D3A000001ull;

GenOptions DemoOptions(const TempDir& dir, int hours, RecordFormat format = RecordFormat::kNsgV2) {
  GenOptions o;
  o.out_dir = dir.str();
  o.hours = hours;
  o.format = format;
  return o;
}

GenReport MustGenerate(const GenOptions& o) {
  Result<GenReport> r = Generate(o);
  INFO(r.status().message());
  REQUIRE(r.ok());
  return *r;
}

void RequireCleanDecode(const Decoded& d, const GenReport& r, RecordFormat format) {
  CHECK(d.stats.error_total() == 0);
  CHECK(d.blobs.size() == r.files);
  CHECK(d.stats.records == r.records);
  CHECK(d.stats.tuples() == r.tuples);
  CHECK(d.stats.tuples_by_format[static_cast<int>(format)] == r.tuples);
  CHECK(d.flows.size() == r.tuples);
  CHECK(testing::SumBytes(d.flows) == r.bytes);
}

// What both formats must agree on, per minute.
using FlowView = std::tuple<int64_t, IpAddress, IpAddress, uint16_t, Direction, Decision, uint64_t, uint64_t>;

std::multiset<FlowView> Views(const std::vector<FlowRecord>& flows) {
  std::multiset<FlowView> out;
  for (const FlowRecord& f : flows) {
    out.emplace(f.time_ms / kMinuteMs, f.src, f.dst, f.dst_port, f.direction, f.decision, f.bytes(), f.packets());
  }
  return out;
}

// Bytes per minute of vm01's outbound tuples to `port`.
std::map<int64_t, uint64_t> Vm01OutboundPerMinute(const std::vector<FlowRecord>& flows, uint16_t port) {
  std::map<int64_t, uint64_t> out;
  for (const FlowRecord& f : flows) {
    if (f.mac == kVm01Mac && f.direction == Direction::kOutbound && f.dst_port == port) {
      out[f.time_ms / kMinuteMs * kMinuteMs] += f.bytes();
    }
  }
  return out;
}

double MeanOver(const std::map<int64_t, uint64_t>& per_minute, int64_t begin_ms, int64_t end_ms) {
  double sum = 0;
  int n = 0;
  for (int64_t t = begin_ms; t < end_ms; t += kMinuteMs) {
    auto it = per_minute.find(t);
    sum += it == per_minute.end() ? 0.0 : static_cast<double>(it->second);
    ++n;
  }
  return sum / n;
}

}  // namespace

TEST_CASE("demo NSG v2: Azure blob layout, clean decode, report matches", "[gen]") {
  TempDir dir("demo_nsg");
  std::vector<GenReport> progress;
  Result<GenReport> result = Generate(DemoOptions(dir, 3), [&](const GenReport& r) { progress.push_back(r); });
  REQUIRE(result.ok());
  const GenReport& r = *result;
  CHECK(r.files == 12);  // 4 NICs x 3 hours
  CHECK(r.records == 12 * 60);
  REQUIRE(progress.size() == 3);
  CHECK(progress[0].files == 4);
  CHECK(progress[2].tuples == r.tuples);

  const std::regex kPath(
      "resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/DEMO-RG/PROVIDERS/"
      "MICROSOFT\\.NETWORK/NETWORKSECURITYGROUPS/DEMO-NSG/y=2021/m=05/d=03/h=0[0-2]/m=00/"
      "macAddress=000D3A00000[1-4]/PT1H\\.json");
  std::vector<std::string> files = ListFiles(dir.path());
  CHECK(files.size() == 12 + 2);
  for (const std::string& f : files) {
    INFO(f);
    CHECK((f == "inventory.csv" || f == "ground_truth.jsonl" || std::regex_match(f, kPath)));
  }
  CHECK(std::filesystem::is_regular_file(
      dir.path() /
      "resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/DEMO-RG/PROVIDERS/"
      "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/DEMO-NSG/y=2021/m=05/d=03/h=02/m=00/macAddress=000D3A000004/"
      "PT1H.json"));

  NameTables names;
  Decoded d = DecodeFolder(dir.path(), &names);
  RequireCleanDecode(d, r, RecordFormat::kNsgV2);

  // Every tuple lies in the hour of its blob and in the generated period.
  for (const FlowRecord& f : d.flows) {
    CHECK(f.time_ms >= kDefaultStartMs);
    CHECK(f.time_ms < kDefaultStartMs + 3 * kHourMs);
  }
  // The demo's rules, including the catch-all one carrying SSH.
  uint32_t any_custom = 0;
  REQUIRE(names.rules.Find("UserRule_AllowAnyCustom", &any_custom));
  uint64_t ssh = 0;
  for (const FlowRecord& f : d.flows) {
    if (f.rule_id == any_custom) {
      ++ssh;
      CHECK(f.dst_port == 22);
      CHECK(f.src == Ip("203.0.113.50"));
    }
  }
  CHECK(ssh > 0);
}

TEST_CASE("demo VNet v4: Azure blob layout and the same flows as NSG v2", "[gen]") {
  TempDir nsg_dir("demo_nsg2");
  TempDir vnet_dir("demo_vnet");
  const GenReport nsg = MustGenerate(DemoOptions(nsg_dir, 3, RecordFormat::kNsgV2));
  const GenReport vnet = MustGenerate(DemoOptions(vnet_dir, 3, RecordFormat::kVnetV4));
  CHECK(vnet.files == 12);
  CHECK(vnet.tuples == nsg.tuples);
  CHECK(vnet.bytes == nsg.bytes);

  const std::regex kPath(
      "flowLogResourceID=/00000000-0000-0000-0000-000000000000/NETWORKWATCHERRG/NETWORKWATCHER_EASTUS/"
      "DEMO-VNET-FLOWLOG/y=2021/m=05/d=03/h=0[0-2]/m=00/macAddress=000D3A00000[1-4]/PT1H\\.json");
  NameTables names;
  Decoded v = DecodeFolder(vnet_dir.path(), &names);
  RequireCleanDecode(v, vnet, RecordFormat::kVnetV4);
  for (const std::string& f : v.blobs) {
    INFO(f);
    CHECK(std::regex_match(f, kPath));
  }
  bool saw_deny = false;
  for (const FlowRecord& f : v.flows) {
    CHECK(f.encryption == Encryption::kNotEncrypted);
    if (f.decision == Decision::kDeny) {
      saw_deny = true;
      CHECK(f.state == FlowState::kDeny);
      CHECK(f.bytes() == 0);
    }
  }
  CHECK(saw_deny);

  NameTables names2;
  Decoded n = DecodeFolder(nsg_dir.path(), &names2);
  CHECK(Views(n.flows) == Views(v.flows));
}

TEST_CASE("demo anomaly: vm01 TCP 1433 x7 and TCP 80 x5 in the window, ground truth and inventory", "[gen]") {
  TempDir dir("demo_anomaly");
  const GenReport r = MustGenerate(DemoOptions(dir, 3));
  NameTables names;
  Decoded d = DecodeFolder(dir.path(), &names);
  RequireCleanDecode(d, r, RecordFormat::kNsgV2);

  // Runs shorter than 24 hours: [end - 30 min, end - 15 min).
  const int64_t begin = kDefaultStartMs + 2 * kHourMs + 30 * kMinuteMs;
  const int64_t end = begin + 15 * kMinuteMs;
  const auto sql = Vm01OutboundPerMinute(d.flows, 1433);
  const auto http = Vm01OutboundPerMinute(d.flows, 80);
  const double sql_ratio = MeanOver(sql, begin, end) / MeanOver(sql, begin - kHourMs, begin);
  const double http_ratio = MeanOver(http, begin, end) / MeanOver(http, begin - kHourMs, begin);
  CHECK(sql_ratio > 5);
  CHECK(sql_ratio < 9);
  CHECK(http_ratio > 3.5);
  CHECK(http_ratio < 6.5);
  // Before the window, vm01 sends ~1000 KB a minute on 1433 (+ 3-8% replies).
  const double normal = MeanOver(sql, kDefaultStartMs, begin);
  CHECK(normal > 0.95e6);
  CHECK(normal < 1.2e6);
  // After it, back to normal.
  const double after = MeanOver(sql, end, end + 15 * kMinuteMs);
  CHECK(after < 1.2e6);

  CHECK(ReadFile(dir.path() / "ground_truth.jsonl") ==
        "{\"vm\":\"vm01\",\"protocol\":\"tcp\",\"port\":1433,\"direction\":\"outbound\","
        "\"start\":\"2021-05-03T02:30:00Z\",\"end\":\"2021-05-03T02:45:00Z\",\"factor\":7,\"kind\":\"anomaly\",\"attack\":true}\n"
        "{\"vm\":\"vm01\",\"protocol\":\"tcp\",\"port\":80,\"direction\":\"outbound\","
        "\"start\":\"2021-05-03T02:30:00Z\",\"end\":\"2021-05-03T02:45:00Z\",\"factor\":5,\"kind\":\"anomaly\",\"attack\":true}\n");
  CHECK(ReadFile(dir.path() / "inventory.csv") ==
        "name,ip,mac\n"
        "vm01,10.0.1.4,000D3A000001\n"
        "vm02,10.0.1.5,000D3A000002\n"
        "vm03,10.0.1.6,000D3A000003\n"
        "vm04,10.0.1.7,000D3A000004\n");

  // A full day puts the window at 23:30-23:45.
  int64_t b = 0, e = 0;
  DemoModel::AnomalyWindow(kDefaultStartMs, 24, &b, &e);
  CHECK(FormatIso8601(b) == "2021-05-03T23:30:00Z");
  CHECK(FormatIso8601(e) == "2021-05-03T23:45:00Z");
}

TEST_CASE("demo flows: both NICs log VM-to-VM flows, external ones only the VM's NIC", "[gen]") {
  TempDir dir("demo_nics");
  const GenReport r = MustGenerate(DemoOptions(dir, 1));
  NameTables names;
  Decoded d = DecodeFolder(dir.path(), &names);
  RequireCleanDecode(d, r, RecordFormat::kNsgV2);

  const std::map<IpAddress, uint64_t> mac_of = {{Ip("10.0.1.4"), 0x000D3A000001ull},
                                                {Ip("10.0.1.5"), 0x000D3A000002ull},
                                                {Ip("10.0.1.6"), 0x000D3A000003ull},
                                                {Ip("10.0.1.7"), 0x000D3A000004ull}};
  // E tuples by flow identity.
  std::map<std::tuple<int64_t, IpAddress, IpAddress, uint16_t, uint16_t>, std::vector<FlowRecord>> ends;
  uint64_t begins = 0;
  for (const FlowRecord& f : d.flows) {
    if (f.state == FlowState::kBegin && f.decision == Decision::kAllow) {
      ++begins;
      CHECK(f.bytes() == 0);
    }
    if (f.state == FlowState::kEnd) ends[{f.time_ms, f.src, f.dst, f.src_port, f.dst_port}].push_back(f);
  }
  uint64_t end_tuples = 0;
  for (const auto& [key, tuples] : ends) {
    end_tuples += tuples.size();
    const FlowRecord& f = tuples[0];
    CHECK(f.src_port >= 49152);
    // Reply share 3-8%, packets ~ bytes / 1400 rounded up.
    CHECK(f.bytes_ds >= static_cast<uint64_t>(0.029 * static_cast<double>(f.bytes_sd)));
    CHECK(f.bytes_ds <= static_cast<uint64_t>(0.081 * static_cast<double>(f.bytes_sd)) + 1);
    CHECK(f.packets_sd == (f.bytes_sd + 1399) / 1400);
    CHECK(f.packets_ds == (f.bytes_ds + 1399) / 1400);
    const bool src_vm = mac_of.count(f.src) > 0;
    REQUIRE(mac_of.count(f.dst) == 1);
    if (src_vm) {
      REQUIRE(tuples.size() == 2);
      const FlowRecord& out = tuples[0].direction == Direction::kOutbound ? tuples[0] : tuples[1];
      const FlowRecord& in = tuples[0].direction == Direction::kOutbound ? tuples[1] : tuples[0];
      CHECK(out.direction == Direction::kOutbound);
      CHECK(in.direction == Direction::kInbound);
      CHECK(out.mac == mac_of.at(f.src));
      CHECK(in.mac == mac_of.at(f.dst));
      CHECK(out.bytes_sd == in.bytes_sd);
      CHECK(out.bytes_ds == in.bytes_ds);
      CHECK(out.packets_sd == in.packets_sd);
    } else {
      REQUIRE(tuples.size() == 1);
      CHECK(f.direction == Direction::kInbound);
      CHECK(f.mac == mac_of.at(f.dst));
    }
  }
  CHECK(begins == end_tuples);  // every allowed flow: one B and one E per logging NIC
}

TEST_CASE("determinism: the same seed gives byte-identical output, another seed differs", "[gen]") {
  TempDir a("det_a"), b("det_b"), c("det_c");
  GenOptions o = DemoOptions(a, 2);
  MustGenerate(o);
  o.out_dir = b.str();
  MustGenerate(o);
  o.out_dir = c.str();
  o.seed = 2;
  MustGenerate(o);

  const std::vector<std::string> files = ListFiles(a.path());
  REQUIRE(files == ListFiles(b.path()));
  REQUIRE(files == ListFiles(c.path()));
  int differ = 0;
  for (const std::string& f : files) {
    INFO(f);
    CHECK(ReadFile(a.path() / f) == ReadFile(b.path() / f));
    if (ReadFile(a.path() / f) != ReadFile(c.path() / f)) ++differ;
  }
  CHECK(differ == 8);  // every blob; inventory and ground truth do not depend on the seed
}

TEST_CASE("gzip output decodes to the same tuples", "[gen]") {
  TempDir plain_dir("plain"), gz_dir("gz");
  GenOptions o = DemoOptions(plain_dir, 2, RecordFormat::kVnetV4);
  const GenReport plain = MustGenerate(o);
  o.out_dir = gz_dir.str();
  o.gzip = true;
  const GenReport gz = MustGenerate(o);
  CHECK(gz.tuples == plain.tuples);
  CHECK(gz.output_bytes * 4 < plain.output_bytes);

  NameTables n1, n2;
  Decoded p = DecodeFolder(plain_dir.path(), &n1);
  Decoded g = DecodeFolder(gz_dir.path(), &n2);
  RequireCleanDecode(g, gz, RecordFormat::kVnetV4);
  for (const std::string& f : g.blobs) CHECK(f.ends_with("/PT1H.json.gz"));
  REQUIRE(p.flows.size() == g.flows.size());
  for (size_t i = 0; i < p.flows.size(); ++i) {
    const FlowRecord& x = p.flows[i];
    const FlowRecord& y = g.flows[i];
    CHECK(std::tie(x.time_ms, x.src, x.dst, x.src_port, x.dst_port, x.bytes_sd, x.bytes_ds, x.mac, x.dedup_hash) ==
          std::tie(y.time_ms, y.src, y.dst, y.src_port, y.dst_port, y.bytes_sd, y.bytes_ds, y.mac, y.dedup_hash));
  }
}

TEST_CASE("messages: one Event Hubs message per NIC-minute, in time order, the same tuples as the blobs", "[gen]") {
  TempDir blob_dir("blobs"), msg_dir("messages");
  GenOptions o = DemoOptions(blob_dir, 2, RecordFormat::kNsgV2);
  const GenReport blobs = MustGenerate(o);
  o.out_dir = msg_dir.str();
  o.messages = true;
  const GenReport messages = MustGenerate(o);
  CHECK(messages.tuples == blobs.tuples);
  CHECK(messages.records == blobs.records);
  REQUIRE(ListFiles(msg_dir.path()) == std::vector<std::string>{"ground_truth.jsonl", "inventory.csv", "messages.ndjson"});

  NameTables names;
  decode::Decoder decoder({}, &names);
  testing::CollectingSink sink;
  std::istringstream lines(ReadFile(msg_dir.path() / "messages.ndjson"));
  std::string line;
  uint64_t count = 0;
  int64_t last_minute = 0;
  while (std::getline(lines, line)) {
    const size_t tab = line.find('\t');
    REQUIRE(tab == 12);  // the NIC's MAC is the key
    const size_t before = sink.flows.size();
    decoder.Decode(std::string_view(line).substr(tab + 1), &sink);
    REQUIRE(sink.flows.size() > before);
    const int64_t minute = sink.flows[before].time_ms / 60000;
    CHECK(minute >= last_minute);  // time order across NICs
    last_minute = minute;
    ++count;
  }
  CHECK(count == messages.records);
  CHECK(decoder.stats().error_total() == 0);
  CHECK(sink.flows.size() == blobs.tuples);
  NameTables names2;
  CHECK(testing::SumBytes(sink.flows) == testing::SumBytes(DecodeFolder(blob_dir.path(), &names2).flows));
}

TEST_CASE("steady: a small run has 100 keys' worth of flows and no anomalies", "[gen]") {
  TempDir dir("steady");
  GenOptions o;
  o.scenario = Scenario::kSteady;
  o.out_dir = dir.str();
  o.vms = 20;
  o.ports_per_vm = 5;
  o.hours = 2;
  const GenReport r = MustGenerate(o);
  CHECK(r.files == 40);
  NameTables names;
  Decoded d = DecodeFolder(dir.path(), &names);
  RequireCleanDecode(d, r, RecordFormat::kNsgV2);
  CHECK(ReadFile(dir.path() / "ground_truth.jsonl").empty());

  const std::string inventory = ReadFile(dir.path() / "inventory.csv");
  CHECK(std::count(inventory.begin(), inventory.end(), '\n') == 21);
  CHECK(inventory.starts_with("name,ip,mac\nvm0001,10.0.0.4,000D3A000001\nvm0002,10.0.0.5,000D3A000002\n"));

  // Each key is a (server, protocol, port) that receives one new flow a minute.
  std::set<std::tuple<IpAddress, uint8_t, uint16_t>> keys;
  std::map<IpAddress, std::set<std::pair<uint8_t, uint16_t>>> ports_of;
  std::map<int64_t, int> inbound_begins;
  uint64_t outbound_begins = 0;
  for (const FlowRecord& f : d.flows) {
    CHECK(f.decision == Decision::kAllow);
    if (f.state != FlowState::kBegin) continue;
    if (f.direction == Direction::kInbound) {
      keys.emplace(f.dst, f.protocol, f.dst_port);
      ports_of[f.dst].emplace(f.protocol, f.dst_port);
      ++inbound_begins[f.time_ms / kMinuteMs];
    } else {
      ++outbound_begins;
    }
  }
  CHECK(keys.size() == 100);
  CHECK(ports_of.size() == 20);
  for (const auto& [ip, ports] : ports_of) CHECK(ports.size() == 5);
  CHECK(inbound_begins.size() == 120);
  for (const auto& [minute, n] : inbound_begins) CHECK(n == 100);
  // Some clients are VMs (their NICs log the flows too), some are outside.
  CHECK(outbound_begins > 0);
  CHECK(outbound_begins < 100 * 120);
}

TEST_CASE("scan: vm03 port scan and vm04 sweep are denied and zero-byte", "[gen]") {
  for (RecordFormat format : {RecordFormat::kNsgV2, RecordFormat::kVnetV4}) {
    TempDir dir("scan");
    GenOptions o;
    o.scenario = Scenario::kScan;
    o.format = format;
    o.out_dir = dir.str();
    o.hours = 1;
    const GenReport r = MustGenerate(o);
    NameTables names;
    Decoded d = DecodeFolder(dir.path(), &names);
    RequireCleanDecode(d, r, format);
    CHECK(ReadFile(dir.path() / "ground_truth.jsonl").empty());

    const IpAddress scanner = Ip("198.51.100.99"), vm03 = Ip("10.0.1.6"), vm04 = Ip("10.0.1.7");
    std::set<uint16_t> scanned;
    std::set<IpAddress> sweepers;
    uint64_t scan_tuples = 0, sweep_tuples = 0;
    for (const FlowRecord& f : d.flows) {
      if (f.src == scanner) {
        ++scan_tuples;
        CHECK(f.dst == vm03);
        CHECK(f.decision == Decision::kDeny);
        CHECK(f.bytes() == 0);
        CHECK(f.time_ms < kDefaultStartMs + 10 * kMinuteMs);
        scanned.insert(f.dst_port);
      } else if (f.dst == vm04 && f.dst_port == 23) {
        ++sweep_tuples;
        CHECK(f.decision == Decision::kDeny);
        CHECK(f.state == (format == RecordFormat::kVnetV4 ? FlowState::kDeny : FlowState::kBegin));
        CHECK(f.bytes() == 0);
        sweepers.insert(f.src);
      }
    }
    CHECK(scan_tuples == 65535);
    CHECK(scanned.size() == 65535);
    CHECK(*scanned.begin() == 1);
    CHECK(sweep_tuples == 100000);
    CHECK(sweepers.size() == 100000);
  }
}

TEST_CASE("invalid options are refused", "[gen]") {
  TempDir dir("invalid");
  GenOptions o = DemoOptions(dir, 1);
  o.start_ms += 60'000;
  CHECK(Generate(o).status().code() == StatusCode::kInvalidArgument);
  o = DemoOptions(dir, 1, RecordFormat::kNsgV1);
  CHECK(Generate(o).status().code() == StatusCode::kInvalidArgument);
  o = DemoOptions(dir, 0);
  CHECK(Generate(o).status().code() == StatusCode::kInvalidArgument);
  o = DemoOptions(dir, 1);
  o.out_dir.clear();
  CHECK(Generate(o).status().code() == StatusCode::kInvalidArgument);
  o = DemoOptions(dir, 1);
  o.scenario = Scenario::kSteady;
  o.vms = 0;
  CHECK(Generate(o).status().code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(std::filesystem::exists(dir.path()));
}

TEST_CASE("ParseScenario", "[gen]") {
  Scenario s = Scenario::kDemo;
  CHECK(ParseScenario("steady", &s));
  CHECK(s == Scenario::kSteady);
  CHECK(ParseScenario("scan", &s));
  CHECK(s == Scenario::kScan);
  CHECK(ParseScenario("demo", &s));
  CHECK(s == Scenario::kDemo);
  CHECK_FALSE(ParseScenario("Demo", &s));
  CHECK_FALSE(ParseScenario("", &s));
  CHECK(ScenarioName(Scenario::kScan) == "scan");
}

}  // namespace flowwatch::gen
