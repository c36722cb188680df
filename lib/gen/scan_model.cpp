#include "lib/gen/scan_model.h"

#include <algorithm>
#include <random>
#include <utility>

namespace flowwatch::gen {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr uint32_t kScannerIp = (198u << 24) | (51u << 16) | (100u << 8) | 99u;

}  // namespace

IpAddress ScanModel::SweepSource(uint32_t i) {
  // First octet from a few public-looking /8s; the low 24 bits are an odd
  // multiple of the index modulo 2^24, a bijection, so sources never repeat.
  static constexpr uint32_t kFirstOctets[] = {45, 77, 89, 103, 185};
  const uint32_t first = kFirstOctets[i % 5];
  const uint32_t low = ((i / 5) * 0x9E3779u + 0x05A5A5u) & 0xFFFFFFu;
  return IpAddress::FromV4((first << 24) | low);
}

ScanModel::ScanModel(uint64_t seed, int64_t start_ms, int hours) : DemoModel(seed, start_ms, hours, false) {
  scan_start_ms_ = start_ms + std::min(12, hours - 1) * kHourMs;
  deny_rule_ = Rule(kRuleDenyAllInbound);
  scan_stream_ = AddStream(StreamEnds::kExternal, 2);   // -> vm03
  sweep_stream_ = AddStream(StreamEnds::kExternal, 3);  // -> vm04

  std::mt19937_64 engine(seed ^ 0x5ca17ab1e5ca17abull);
  port_order_.resize(kScanPorts);
  for (uint32_t p = 0; p < kScanPorts; ++p) port_order_[p] = static_cast<uint16_t>(p + 1);
  for (uint32_t i = kScanPorts - 1; i > 0; --i) {
    std::swap(port_order_[i], port_order_[DrawBelow(engine, uint64_t{i} + 1)]);
  }
}

void ScanModel::EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const {
  if (stream < demo_stream_count()) {
    DemoModel::EmitFlows(stream, minute_ms, out);
    return;
  }
  if (minute_ms < scan_start_ms_) return;
  const int64_t minute_index = (minute_ms - scan_start_ms_) / kMinuteMs;
  FlowRng rng(seed_, stream, static_cast<uint64_t>(minute_ms / kMinuteMs));
  if (stream == scan_stream_) {
    EmitPortScan(minute_index, minute_ms, &rng, out);
  } else if (stream == sweep_stream_) {
    EmitSweep(minute_index, minute_ms, &rng, out);
  }
}

void ScanModel::EmitPortScan(int64_t minute_index, int64_t minute_ms, FlowRng* rng,
                             std::vector<SyntheticFlow>* out) const {
  if (minute_index >= kScanMinutes) return;
  const int64_t lo = minute_index * kScanPorts / kScanMinutes;
  const int64_t hi = (minute_index + 1) * kScanPorts / kScanMinutes;
  const IpAddress dst = vms_[2].ip;
  const uint16_t sport = static_cast<uint16_t>(DrawRange(*rng, 40000, 65000));  // a SYN scanner's fixed port
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t t = minute_ms + (i - lo) * kTupleWindowMs / (hi - lo);
    out->push_back(MakeDenied(IpAddress::FromV4(kScannerIp), dst, sport, port_order_[static_cast<size_t>(i)],
                              kProtoTcp, t, deny_rule_));
  }
}

void ScanModel::EmitSweep(int64_t minute_index, int64_t minute_ms, FlowRng* rng,
                          std::vector<SyntheticFlow>* out) const {
  if (minute_index >= kSweepMinutes) return;
  const int64_t lo = minute_index * kSweepSources / kSweepMinutes;
  const int64_t hi = (minute_index + 1) * kSweepSources / kSweepMinutes;
  const IpAddress dst = vms_[3].ip;
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t t = minute_ms + static_cast<int64_t>(DrawBelow(*rng, kTupleWindowMs));
    const uint16_t sport = static_cast<uint16_t>(DrawRange(*rng, 1024, 65535));
    out->push_back(MakeDenied(SweepSource(static_cast<uint32_t>(i)), dst, sport, 23, kProtoTcp, t, deny_rule_));
  }
}

}  // namespace flowwatch::gen
