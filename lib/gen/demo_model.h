// DemoModel: the four-VM story of PRODUCT.md ("The story to demo").
//
// Each minute vm01 and vm02 send ~1000 KB to vm03 and vm04 on TCP 1433 (one flow
// to each), vm01 ~100 KB to vm02 on TCP 80, vm03 ~100 KB to vm04 on TCP 443;
// 3-6 external clients send ~60 KB of HTTPS to vm03, about one minute in five
// 203.0.113.50 sends ~5 KB of SSH to vm03 (catch-all allow rule), and a few
// denied attempts per hour hit vm03/vm04 on random ports. Every volume carries a
// per-minute noise factor in [0.85, 1.15]. With the anomaly on, vm01's TCP 1433
// volume is 7x and its TCP 80 volume 5x during the 15 minutes starting at
// start + 23h30m (or end - 30 min for runs shorter than 24 hours).
//
// Immutable after construction; thread-safe const methods.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/gen/traffic_model.h"

namespace flowwatch::gen {

class DemoModel : public TrafficModel {
 public:
  DemoModel(uint64_t seed, int64_t start_ms, int hours, bool with_anomaly);

  void EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const override;
  std::vector<GroundTruthEntry> GroundTruth() const override;

  // The anomaly window for a run; [start + 23h30m, +15 min) for runs of 24 hours
  // or more, else [end - 30 min, end - 15 min).
  static void AnomalyWindow(int64_t start_ms, int hours, int64_t* begin_ms, int64_t* end_ms);

  static constexpr double kSqlFactor = 7;
  static constexpr double kHttpFactor = 5;

 protected:
  // Number of streams the demo itself uses (a subclass adds its own after them).
  uint32_t demo_stream_count() const { return static_cast<uint32_t>(demo_streams_.size()); }

 private:
  enum class Kind : uint8_t { kTransfer, kHttpsClients, kSsh, kDeniedProbes };
  struct DemoStream {
    Kind kind = Kind::kTransfer;
    uint16_t port = 0;
    double bytes_per_minute = 0;
    double anomaly_factor = 1;  // applied inside the anomaly window
    uint16_t rule_in = 0;
    uint16_t rule_out = 0;
  };
  void Add(int32_t src, int32_t dst, DemoStream s);

  std::vector<DemoStream> demo_streams_;  // parallel to the first streams()
  int64_t anomaly_begin_ms_ = 0;
  int64_t anomaly_end_ms_ = 0;  // == begin: no anomaly
};

// An address of the RFC 5737 documentation ranges 203.0.113.0/24 and
// 198.51.100.0/24 for an external client, never .50 or .99 (those two are the
// demo's SSH client and the scan scenario's scanner).
IpAddress DrawDocumentationAddress(FlowRng* rng);

}  // namespace flowwatch::gen
