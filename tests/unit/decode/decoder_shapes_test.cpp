// Every body shape and record version PRODUCT.md lists, decoded to the same
// flows. Real samples are checked in tests/conformance; these are minimal.
#include <catch2/catch.hpp>

#include "tests/unit/decode/decode_test_util.h"

namespace flowwatch::decode {
namespace {

using testing::DecodeAll;
using testing::Errors;
using testing::Gzip;
using testing::kV2Tuple;
using testing::kV2Tuple2;
using testing::kVnetTuple;
using testing::NsgRecord;
using testing::VnetRecord;

std::string Blob(const std::vector<std::string>& records) {
  std::string s = R"({"records":[)";
  for (size_t i = 0; i < records.size(); ++i) s += (i ? "," : "") + records[i];
  return s + "]}";
}

void RequireTwoV2Flows(const std::vector<FlowRecord>& f) {
  REQUIRE(f.size() == 2);
  REQUIRE(f[0].bytes_sd == 16978);
  REQUIRE(f[1].bytes_sd == 8489);
  REQUIRE(f[0].mac == 0x000D3AF87856ull);
}

TEST_CASE("A whole blob, a bare record, an array, NDJSON and concatenated documents decode alike") {
  const std::string r1 = NsgRecord(kV2Tuple, "000D3AF87856", "2018-11-13T12:00:35Z");
  const std::string r2 = NsgRecord(kV2Tuple2, "000D3AF87856", "2018-11-13T12:01:35Z");
  DecodeStats st;
  SECTION("blob") { RequireTwoV2Flows(DecodeAll(Blob({r1, r2}), &st)); }
  SECTION("pretty-printed blob") {
    RequireTwoV2Flows(DecodeAll("{\n  \"records\": [\n    " + r1 + ",\n    " + r2 + "\n  ]\n}\n", &st));
  }
  SECTION("array of records") { RequireTwoV2Flows(DecodeAll("[" + r1 + "," + r2 + "]", &st)); }
  SECTION("array of blobs") { RequireTwoV2Flows(DecodeAll("[" + Blob({r1}) + "," + Blob({r2}) + "]", &st)); }
  SECTION("NDJSON of records") { RequireTwoV2Flows(DecodeAll(r1 + "\n" + r2 + "\n", &st)); }
  SECTION("NDJSON with CRLF and blank lines") { RequireTwoV2Flows(DecodeAll(r1 + "\r\n\r\n" + r2, &st)); }
  SECTION("NDJSON of blobs") { RequireTwoV2Flows(DecodeAll(Blob({r1}) + "\n" + Blob({r2}), &st)); }
  SECTION("concatenated without separator") { RequireTwoV2Flows(DecodeAll(r1 + r2, &st)); }
  SECTION("UTF-8 BOM") { RequireTwoV2Flows(DecodeAll("\xEF\xBB\xBF" + Blob({r1, r2}), &st)); }
  SECTION("gzip blob") { RequireTwoV2Flows(DecodeAll(Gzip(Blob({r1, r2})), &st)); }
  SECTION("gzip NDJSON") { RequireTwoV2Flows(DecodeAll(Gzip(r1 + "\n" + r2), &st)); }
  SECTION("concatenated gzip members") { RequireTwoV2Flows(DecodeAll(Gzip(r1) + Gzip(r2), &st)); }
  REQUIRE(st.records == 2);
  REQUIRE(st.tuples() == 2);
  REQUIRE(st.error_total() == 0);
}

TEST_CASE("A bare record delivers once per record, with the record's names") {
  NameTables names;
  DecodeStats st;
  testing::CollectingSink sink;
  Decoder d({}, &names);
  d.Decode(NsgRecord(std::string(kV2Tuple) + "," + kV2Tuple2), &sink);
  REQUIRE(sink.calls == 1);
  REQUIRE(sink.flows.size() == 2);
  REQUIRE(names.rules.Get(sink.flows[0].rule_id) == "DefaultRule_AllowInternetOutBound");
  REQUIRE(names.resources.Get(sink.flows[0].resource_id) ==
          "/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1");
  REQUIRE(d.stats().tuples_by_format[static_cast<int>(RecordFormat::kNsgV2)] == 2);
}

TEST_CASE("Fields that follow the tuples (alphabetical writers) still apply to them") {
  // Keys in alphabetical order, as some forwarders write: flowTuples before mac,
  // flows before rule, flowRecords before macAddress.
  const std::string nsg =
      R"({"category":"NetworkSecurityGroupFlowEvent","properties":{"flows":[{"flows":[{"flowTuples":[)" +
      std::string(kV2Tuple) +
      R"(],"mac":"6045BDEC2532"}],"rule":"UserRule_Late"}],"Version":2},"resourceId":"/R/LATE","time":"2024-01-01T00:00:00Z"})";
  const std::string vnet = R"({"category":"FlowLogFlowEvent","flowLogResourceID":"/FL/LATE","flowLogVersion":4,)"
                           R"("flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"flowTuples":[)" +
                           std::string(kVnetTuple) +
                           R"(],"rule":"Rule_V"}]}]},"macAddress":"000D3A359573","time":"2024-12-12T04:00:24Z"})";
  NameTables names;
  auto f = DecodeAll(nsg + "\n" + vnet, nullptr, &names);
  REQUIRE(f.size() == 2);
  REQUIRE(f[0].mac == 0x6045BDEC2532ull);
  REQUIRE(names.rules.Get(f[0].rule_id) == "UserRule_Late");
  REQUIRE(names.resources.Get(f[0].resource_id) == "/R/LATE");
  REQUIRE(f[1].mac == 0x000D3A359573ull);
  REQUIRE(names.rules.Get(f[1].rule_id) == "Rule_V");
  REQUIRE(names.resources.Get(f[1].resource_id) == "/FL/LATE");
}

TEST_CASE("NSG v1, v2, VNet v4 and flat records are counted by format") {
  const std::string v1 = NsgRecord(R"("1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D")");
  const std::string v2 = NsgRecord(kV2Tuple);
  const std::string vnet = VnetRecord(kVnetTuple);
  const std::string flat =
      R"({"time":"2017-08-09T00:13:25.4850000Z","category":"NetworkSecurityGroupFlowEvent","operationName":"NetworkSecurityGroupFlowEvents",)"
      R"("resourceId":"/SUBSCRIPTIONS/X/NSG","version":2.0,"nsgRuleName":"UserRule_web","mac":"000D3AF8801A",)"
      R"("startTime":"1502237605","sourceAddress":"192.0.2.7","destinationAddress":"10.0.0.4","sourcePort":"52000",)"
      R"("destinationPort":"443","transportProtocol":"T","deviceDirection":"I","deviceAction":"A","flowState":"E",)"
      R"("packetsStoD":"10","bytesStoD":"1000","packetsDtoS":"8","bytesDtoS":"5000"})";
  DecodeStats st;
  NameTables names;
  auto f = DecodeAll("[" + v1 + "," + v2 + "," + vnet + "," + flat + "]", &st, &names);
  REQUIRE(st.error_total() == 0);
  REQUIRE(st.records == 4);
  REQUIRE(st.tuples_by_format == std::array<uint64_t, 4>{1, 1, 1, 1});
  REQUIRE(f.size() == 4);
  const FlowRecord& fl = f[3];
  REQUIRE(fl.format == RecordFormat::kFlat);
  REQUIRE(fl.time_ms == 1502237605000);
  REQUIRE(fl.src.ToString() == "192.0.2.7");
  REQUIRE(fl.dst_port == 443);
  REQUIRE(fl.protocol == kProtoTcp);
  REQUIRE(fl.direction == Direction::kInbound);
  REQUIRE(fl.state == FlowState::kEnd);
  REQUIRE(fl.bytes() == 6000);
  REQUIRE(fl.packets() == 18);
  REQUIRE(fl.mac == 0x000D3AF8801Aull);
  REQUIRE(names.rules.Get(fl.rule_id) == "UserRule_web");
}

TEST_CASE("Flat records accept numbers as numbers and fall back to the record time") {
  const std::string flat =
      R"({"time":"2017-08-09T00:13:25Z","resourceId":"/R","sourceAddress":"10.0.0.5","destinationAddress":"10.0.0.4",)"
      R"("sourcePort":52000,"destinationPort":1433,"transportProtocol":"T","deviceDirection":"O","deviceAction":"D"})";
  DecodeStats st;
  auto f = DecodeAll(flat, &st);
  REQUIRE(st.error_total() == 0);
  REQUIRE(f.size() == 1);
  REQUIRE(f[0].time_ms == 1502237605000);
  REQUIRE(f[0].dst_port == 1433);
  REQUIRE(f[0].direction == Direction::kOutbound);
  REQUIRE(f[0].decision == Decision::kDeny);
  REQUIRE(f[0].state == FlowState::kNone);
}

TEST_CASE("Event Grid blob notifications are recognised and counted, not decoded") {
  const std::string eg =
      R"([{"topic":"/subscriptions/s/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/a",)"
      R"("subject":"/blobServices/default/containers/insights-logs-networksecuritygroupflowevent/blobs/x/PT1H.json",)"
      R"("eventType":"Microsoft.Storage.BlobCreated","eventTime":"2017-06-26T18:41:00.9584103Z","id":"1",)"
      R"("data":{"api":"PutBlockList","contentType":"application/json","contentLength":524288,"blobType":"BlockBlob",)"
      R"("url":"https://a.blob.core.windows.net/c/PT1H.json","sequencer":"0"},"dataVersion":"","metadataVersion":"1"}])";
  const std::string ce =
      R"({"specversion":"1.0","type":"Microsoft.Storage.BlobCreated","source":"/subscriptions/s","id":"2",)"
      R"("time":"2017-06-26T18:41:00Z","data":{"api":"PutBlob","url":"https://a.blob.core.windows.net/c/b"}})";
  DecodeStats st;
  REQUIRE(DecodeAll(eg + "\n" + ce, &st).empty());
  REQUIRE(st.notifications == 2);
  REQUIRE(st.error_total() == 0);
}

TEST_CASE("Duplicate records carry equal fingerprints - distinct occurrences do not") {
  const std::string r = NsgRecord(std::string(kV2Tuple) + "," + kV2Tuple);  // the same tuple twice in one record
  auto f = DecodeAll(Blob({r, r}));
  REQUIRE(f.size() == 4);
  REQUIRE(f[0].dedup_hash == f[2].dedup_hash);  // the record repeated
  REQUIRE(f[1].dedup_hash == f[3].dedup_hash);
  REQUIRE(f[0].dedup_hash != f[1].dedup_hash);  // same text, another position
  auto other_mac = DecodeAll(NsgRecord(kV2Tuple, "000D3AF8AAAA"));
  REQUIRE(other_mac[0].dedup_hash != f[0].dedup_hash);
  auto other_time = DecodeAll(NsgRecord(kV2Tuple, "000D3AF87856", "2018-11-13T12:09:35Z"));
  REQUIRE(other_time[0].dedup_hash != f[0].dedup_hash);
}

}  // namespace
}  // namespace flowwatch::decode
