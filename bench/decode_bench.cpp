// Decode throughput against its ceiling.
//
// Generates (once) ~200 MB of flow logs, loads them into memory, then times:
//  (a) simdjson On-Demand alone walking every document down to each tuple
//      string (the ceiling: parse and visit, no interpretation), and
//  (b) flowwatch's full decode (shape detection, record splitting, every tuple
//      parsed into a FlowRecord, names interned, de-dup fingerprints).
// Prints tuples/s and MB/s of each and (b)/(a). Target: >= 50%.
//
//   decode_bench [--format nsg_v2|vnet_v4] [--dir DIR] [--repeat N]
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/bench_util.h"
#include "lib/decode/decoder.h"

using namespace flowwatch;

namespace {

namespace od = simdjson::ondemand;

// Visits every tuple string of an NSG v2 or VNet v4 blob. Returns the tuple count.
uint64_t WalkSimdjson(od::parser& parser, const bench::LoadedFile& f, bool vnet, uint64_t* chars) {
  uint64_t tuples = 0;
  od::document doc;
  if (parser.iterate(f.data.data(), f.size, f.data.size()).get(doc)) std::abort();
  for (auto record : doc["records"]) {
    if (vnet) {
      for (auto acl : record["flowRecords"]["flows"]) {
        for (auto group : acl["flowGroups"]) {
          for (auto t : group["flowTuples"]) {
            std::string_view s;
            if (t.get_string().get(s)) std::abort();
            *chars += s.size();
            ++tuples;
          }
        }
      }
    } else {
      for (auto rule : record["properties"]["flows"]) {
        for (auto group : rule["flows"]) {
          for (auto t : group["flowTuples"]) {
            std::string_view s;
            if (t.get_string().get(s)) std::abort();
            *chars += s.size();
            ++tuples;
          }
        }
      }
    }
  }
  return tuples;
}

struct CountingSink : decode::FlowSink {
  uint64_t flows = 0;
  uint64_t bytes = 0;
  void OnFlows(std::span<FlowRecord> f) override {
    flows += f.size();
    for (const FlowRecord& r : f) bytes += r.bytes();
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string format = "nsg_v2";
  std::string dir;
  int repeat = 3;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 < argc && !std::strcmp(argv[i], "--format")) format = argv[i + 1];
    else if (i + 1 < argc && !std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (i + 1 < argc && !std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    else {  // before anything is generated under the working directory
      std::fprintf(stderr, "usage: decode_bench [--format nsg_v2|vnet_v4] [--dir DIR] [--repeat N] (not '%s')\n", argv[i]);
      return 2;
    }
  }
  const bool vnet = format == "vnet_v4";
  gen::GenOptions o;
  o.scenario = gen::Scenario::kSteady;
  o.format = vnet ? RecordFormat::kVnetV4 : RecordFormat::kNsgV2;
  o.vms = 270;
  o.ports_per_vm = 50;
  o.hours = 1;
  o.out_dir = dir.empty() ? "bench-data/decode-" + format : dir;
  bench::EnsureWorkload(o);
  uint64_t total_bytes = 0;
  const auto files = bench::LoadAll(o.out_dir, simdjson::SIMDJSON_PADDING, &total_bytes);

  double best_walk = 1e9, best_decode = 1e9;
  uint64_t walk_tuples = 0, decode_tuples = 0, chars = 0;
  od::parser parser;
  NameTables names;
  decode::Decoder decoder({}, &names);
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    walk_tuples = 0;
    for (const auto& f : files) walk_tuples += WalkSimdjson(parser, f, vnet, &chars);
    best_walk = std::min(best_walk, bench::Seconds(t0));

    t0 = std::chrono::steady_clock::now();
    CountingSink sink;
    for (const auto& f : files) decoder.DecodePadded(f.data.data(), f.size, f.data.size(), &sink);
    best_decode = std::min(best_decode, bench::Seconds(t0));
    decode_tuples = sink.flows;
  }
  if (walk_tuples != decode_tuples) {
    std::fprintf(stderr, "tuple counts differ: walk %llu, decode %llu\n", static_cast<unsigned long long>(walk_tuples),
                 static_cast<unsigned long long>(decode_tuples));
    return 1;
  }
  const double mb = total_bytes / 1e6;
  std::printf("decode benchmark: %s, %zu files, %.0f MB, %.2f M tuples, best of %d, one thread\n", format.c_str(),
              files.size(), mb, walk_tuples / 1e6, repeat);
  std::printf("  %-34s %12s %10s\n", "", "M tuples/s", "MB/s");
  std::printf("  %-34s %12.2f %10.0f\n", "(a) simdjson On-Demand walk", walk_tuples / 1e6 / best_walk, mb / best_walk);
  std::printf("  %-34s %12.2f %10.0f\n", "(b) flowwatch full decode", decode_tuples / 1e6 / best_decode, mb / best_decode);
  std::printf("  ratio (b)/(a): %.0f%%  (target >= 50%%)\n", 100.0 * best_walk / best_decode);
  return 0;
}
