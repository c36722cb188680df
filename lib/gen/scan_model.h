// ScanModel: the demo's four VMs and their normal traffic (no anomaly), plus
// hostile traffic that the firewall denies and that must therefore not alert:
//  - one scanner, 198.51.100.99, probes vm03 on every TCP port 1..65535 in a
//    random order within 10 minutes;
//  - 100,000 distinct public-looking sources each send one denied SYN to vm04
//    TCP 23, spread over the hour that starts with the scan.
// The scan starts at start + 12 h, or at the last generated hour for runs of 12
// hours or less. All hostile tuples are zero-byte deny tuples.
//
// Immutable after construction; thread-safe const methods.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/gen/demo_model.h"

namespace flowwatch::gen {

class ScanModel : public DemoModel {
 public:
  ScanModel(uint64_t seed, int64_t start_ms, int hours);

  void EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const override;
  std::vector<GroundTruthEntry> GroundTruth() const override { return {}; }

  int64_t scan_start_ms() const { return scan_start_ms_; }
  // The i-th source of the port-23 sweep, 0 <= i < kSweepSources; all distinct.
  static IpAddress SweepSource(uint32_t i);

  static constexpr uint32_t kScanPorts = 65535;
  static constexpr int64_t kScanMinutes = 10;
  static constexpr uint32_t kSweepSources = 100'000;
  static constexpr int64_t kSweepMinutes = 60;

 private:
  void EmitPortScan(int64_t minute_index, int64_t minute_ms, FlowRng* rng,
                    std::vector<SyntheticFlow>* out) const;
  void EmitSweep(int64_t minute_index, int64_t minute_ms, FlowRng* rng, std::vector<SyntheticFlow>* out) const;

  int64_t scan_start_ms_ = 0;
  uint32_t scan_stream_ = 0;
  uint32_t sweep_stream_ = 0;
  uint16_t deny_rule_ = 0;
  std::vector<uint16_t> port_order_;  // a permutation of 1..65535
};

}  // namespace flowwatch::gen
