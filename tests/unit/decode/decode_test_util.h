// Helpers shared by the decoder tests: a sink that keeps what it is given, and
// gzip compression for building compressed bodies.
#pragma once

#include <zlib.h>

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/decode/decoder.h"

namespace flowwatch::decode::testing {

struct CollectingSink : FlowSink {
  std::vector<FlowRecord> flows;
  int calls = 0;
  void OnFlows(std::span<FlowRecord> f) override {
    ++calls;
    flows.insert(flows.end(), f.begin(), f.end());
  }
};

// Decodes body with a fresh decoder; returns the flows and leaves stats in *stats.
inline std::vector<FlowRecord> DecodeAll(std::string_view body, DecodeStats* stats = nullptr,
                                         NameTables* names = nullptr, DecoderOptions options = {}) {
  NameTables local;
  Decoder d(options, names ? names : &local);
  CollectingSink sink;
  d.Decode(body, &sink);
  if (stats) *stats = d.stats();
  return sink.flows;
}

inline uint64_t Errors(const DecodeStats& s, DecodeError e) { return s.errors[static_cast<int>(e)]; }

inline std::string Gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A small NSG v2 record with the given tuples and MAC.
inline std::string NsgRecord(const std::string& tuples_json, const std::string& mac = "000D3AF87856",
                             const std::string& time = "2018-11-13T12:00:35.3899262Z",
                             const std::string& rule = "DefaultRule_AllowInternetOutBound") {
  return R"({"time":")" + time + R"(","systemId":"x","category":"NetworkSecurityGroupFlowEvent",)"
         R"("resourceId":"/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1",)"
         R"("operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":")" +
         rule + R"(","flows":[{"mac":")" + mac + R"(","flowTuples":[)" + tuples_json + "]}]}]}}";
}

inline std::string VnetRecord(const std::string& tuples_json, const std::string& mac = "00224871C205",
                              const std::string& time = "2022-09-14T09:00:52.5625085Z") {
  return R"({"time":")" + time + R"(","flowLogVersion":4,"flowLogGUID":"g","macAddress":")" + mac +
         R"(","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/0/FLOWLOGS/VNETFLOWLOG",)"
         R"("targetResourceID":"/x","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"a",)"
         R"("flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":[)" +
         tuples_json + "]}]}]}}";
}

inline const char* kV2Tuple = R"("1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008")";
inline const char* kV2Tuple2 = R"("1542110406,10.5.16.4,198.51.100.225,59929,443,T,O,A,E,15,8489,12,7054")";
inline const char* kVnetTuple = R"("1663146022793,10.0.0.6,104.16.218.84,36776,443,6,O,E,NX,22,2217,33,32466")";

}  // namespace flowwatch::decode::testing
