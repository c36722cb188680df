// BlobWriter: the exact text of NSG v2 and VNet v4 blobs and their paths.
#include "lib/gen/blob_writer.h"

#include <catch2/catch.hpp>

#include "lib/gen/generator.h"
#include "tests/unit/gen/gen_test_util.h"

namespace flowwatch::gen {
namespace {

using testing::Ip;
using testing::ReadFile;
using testing::TempDir;

AzureNames Names() {
  AzureNames n;
  n.resource_group = "demo-rg";
  n.nsg = "demo-nsg";
  n.vnet = "demo-vnet";
  n.flow_log = "demo-vnet-flowlog";
  return n;
}

std::vector<NicTuple> SampleTuples() {
  NicTuple b;
  b.time_ms = kDefaultStartMs + 5'250;
  b.src = Ip("10.0.1.4");
  b.dst = Ip("10.0.1.6");
  b.src_port = 50000;
  b.dst_port = 1433;
  b.direction = Direction::kOutbound;
  b.rule = 0;
  NicTuple e = b;
  e.time_ms += 3'000;
  e.state = FlowState::kEnd;
  e.packets_sd = 358;
  e.bytes_sd = 500000;
  e.packets_ds = 18;
  e.bytes_ds = 25000;
  NicTuple d;
  d.time_ms = kDefaultStartMs + 7'000;
  d.src = Ip("203.0.113.7");
  d.dst = Ip("10.0.1.4");
  d.src_port = 40000;
  d.dst_port = 3389;
  d.protocol = kProtoUdp;
  d.state = FlowState::kDeny;
  d.rule = 1;
  return {b, e, d};
}

}  // namespace

TEST_CASE("BlobWriter writes NSG v2 records like Azure's sample", "[gen]") {
  TempDir dir("blob_nsg");
  BlobWriter w(RecordFormat::kNsgV2, Names(), {"DefaultRule_AllowVnetOutBound", "DefaultRule_DenyAllInBound"});
  VmSpec vm{"vm01", Ip("10.0.1.4"), 0x000D3A000001ull};
  w.Begin(vm, kDefaultStartMs);
  const std::vector<NicTuple> tuples = SampleTuples();
  w.AddRecord(kDefaultStartMs * 10'000 + 353'899'262, tuples);
  w.AddRecord(kDefaultStartMs * 10'000, {});  // empty: no record
  CHECK(w.records() == 1);
  uint64_t written = 0;
  REQUIRE(w.Finish(dir.str(), false, &written).ok());
  const std::string path =
      "resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/DEMO-RG/PROVIDERS/"
      "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/DEMO-NSG/y=2021/m=05/d=03/h=00/m=00/macAddress=000D3A000001";
  CHECK(BlobWriter::BlobDirectory(RecordFormat::kNsgV2, Names(), vm.mac, kDefaultStartMs) == path);
  const std::string body = ReadFile(dir.path() / path / "PT1H.json");
  CHECK(written == body.size());
  const std::string prefix = "{\"records\":[{\"time\":\"2021-05-03T00:00:35.3899262Z\",\"systemId\":\"";
  REQUIRE(body.starts_with(prefix));
  const std::string rest = body.substr(prefix.size() + 36);  // after the GUID
  CHECK(rest ==
        "\",\"category\":\"NetworkSecurityGroupFlowEvent\",\"resourceId\":\"/SUBSCRIPTIONS/"
        "00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/DEMO-RG/PROVIDERS/MICROSOFT.NETWORK/"
        "NETWORKSECURITYGROUPS/DEMO-NSG\",\"operationName\":\"NetworkSecurityGroupFlowEvents\","
        "\"properties\":{\"Version\":2,\"flows\":["
        "{\"rule\":\"DefaultRule_AllowVnetOutBound\",\"flows\":[{\"mac\":\"000D3A000001\",\"flowTuples\":["
        "\"1620000005,10.0.1.4,10.0.1.6,50000,1433,T,O,A,B,,,,\","
        "\"1620000008,10.0.1.4,10.0.1.6,50000,1433,T,O,A,E,358,500000,18,25000\"]}]},"
        "{\"rule\":\"DefaultRule_DenyAllInBound\",\"flows\":[{\"mac\":\"000D3A000001\",\"flowTuples\":["
        "\"1620000007,203.0.113.7,10.0.1.4,40000,3389,U,I,D,B,,,,\"]}]}]}}]}\n");
}

TEST_CASE("BlobWriter writes VNet v4 records like Azure's sample", "[gen]") {
  TempDir dir("blob_vnet");
  BlobWriter w(RecordFormat::kVnetV4, Names(), {"DefaultRule_AllowVnetOutBound", "DefaultRule_DenyAllInBound"});
  VmSpec vm{"vm01", Ip("10.0.1.4"), 0x000D3A000001ull};
  w.Begin(vm, kDefaultStartMs + 3'600'000);
  w.AddRecord((kDefaultStartMs + 3'600'000) * 10'000 + 400'000'000, SampleTuples());
  uint64_t written = 0;
  REQUIRE(w.Finish(dir.str(), false, &written).ok());
  const std::string path =
      "flowLogResourceID=/00000000-0000-0000-0000-000000000000/NETWORKWATCHERRG/NETWORKWATCHER_EASTUS/"
      "DEMO-VNET-FLOWLOG/y=2021/m=05/d=03/h=01/m=00/macAddress=000D3A000001";
  const std::string body = ReadFile(dir.path() / path / "PT1H.json");
  CHECK(body.starts_with("{\"records\":[{\"time\":\"2021-05-03T01:00:40.0000000Z\",\"flowLogVersion\":4,"));
  CHECK(body.find("\"macAddress\":\"000D3A000001\",\"category\":\"FlowLogFlowEvent\",\"flowLogResourceID\":\""
                  "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/"
                  "MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS/FLOWLOGS/DEMO-VNET-FLOWLOG\","
                  "\"targetResourceID\":\"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                  "demo-rg/providers/Microsoft.Network/virtualNetworks/demo-vnet\",\"operationName\":"
                  "\"FlowLogFlowEvent\",\"flowRecords\":{\"flows\":[{\"aclID\":\"") != std::string::npos);
  CHECK(body.ends_with(
      "\",\"flowGroups\":["
      "{\"rule\":\"DefaultRule_AllowVnetOutBound\",\"flowTuples\":["
      "\"1620000005250,10.0.1.4,10.0.1.6,50000,1433,6,O,B,NX,0,0,0,0\","
      "\"1620000008250,10.0.1.4,10.0.1.6,50000,1433,6,O,E,NX,358,500000,18,25000\"]},"
      "{\"rule\":\"DefaultRule_DenyAllInBound\",\"flowTuples\":["
      "\"1620000007000,203.0.113.7,10.0.1.4,40000,3389,17,I,D,NX,0,0,0,0\"]}]}]}}]}\n"));
}

TEST_CASE("BlobWriter skips a blob without records and MacText pads", "[gen]") {
  TempDir dir("blob_empty");
  BlobWriter w(RecordFormat::kNsgV2, Names(), {"r"});
  w.Begin(VmSpec{"vm", Ip("10.0.0.4"), 1}, kDefaultStartMs);
  uint64_t written = 7;
  REQUIRE(w.Finish(dir.str(), false, &written).ok());
  CHECK(written == 0);
  CHECK_FALSE(std::filesystem::exists(dir.path()));
  CHECK(MacText(0x000D3A0000FFull) == "000D3A0000FF");
  CHECK(MacText(0xABCDEF012345ull) == "ABCDEF012345");
}

}  // namespace flowwatch::gen
