// SteadyModel: a large estate with normal, cyclic traffic and no anomalies - the
// false-alert-rate workload and the benchmark workload.
//
// `vms` VMs vm0001.. (10.<s/256>.<s%256>.<4 + i%250> with s = i/250; MACs
// 000D3A000001..) each serve `ports_per_vm` keys: distinct service ports drawn
// from a mix of common ones (443, 80, 1433, 5432, 6379, 8080, 22, 3389, 9092,
// 53/udp, ...; beyond the mix, 30000+). Each key has one client: another VM
// (half of the keys when there are several VMs, so both NICs log the flows) or
// a public-looking external /24. Each key has a base volume, log-uniform in
// [50 KB, 5 MB] a minute, a diurnal cycle x (1 + 0.5 sin(2 pi t/24h + phase))
// with t the time of day, a per-minute noise factor in [0.8, 1.25], and
// `flows_per_minute` flows a minute sharing that volume.
//
// Immutable after construction; thread-safe const methods. Memory: ~32 bytes a key.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/gen/traffic_model.h"

namespace flowwatch::gen {

class SteadyModel : public TrafficModel {
 public:
  SteadyModel(uint64_t seed, int vms, int ports_per_vm, int flows_per_minute);

  void EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const override;

  static IpAddress VmAddress(uint32_t index);

 private:
  struct Key {  // one per stream
    uint32_t external_prefix = 0;  // host-order /24 of an external client; 0 for a VM client
    float base_bytes = 0;          // per minute, before cycle and noise
    float phase = 0;               // radians
    uint16_t port = 0;
    uint16_t rule_in = 0;
    uint8_t protocol = kProtoTcp;
    bool reply_dominates = false;  // e.g. downloads: the server sends
  };

  std::vector<Key> keys_;
  int flows_per_minute_;
  uint16_t rule_out_ = 0;
};

}  // namespace flowwatch::gen
