// SyntheticFlow: one generated flow as every NIC that logs it sees it, and the
// helpers that build allowed transfers and denied attempts with Azure-like
// counters.
//
// An allowed flow becomes a B tuple at start_ms and an E tuple at end_ms (same
// minute) carrying all its counters; a denied flow becomes one deny tuple
// (NSG v2: "D,B,,,,"; VNet v4: state D, zero counters). The NIC that sends logs
// it as outbound under rule_out, the NIC that receives as inbound under rule_in
// (indexes into the model's rule names). Plain value type; thread-safe as a value.
#pragma once

#include <cstdint>

#include "lib/common/ip_address.h"
#include "lib/gen/flow_rng.h"
#include "lib/model/flow_record.h"

namespace flowwatch::gen {

struct SyntheticFlow {
  int64_t start_ms = 0;  // B tuple (or the deny tuple)
  int64_t end_ms = 0;    // E tuple; equals start_ms for denied flows
  IpAddress src;
  IpAddress dst;
  uint64_t packets_sd = 0;
  uint64_t bytes_sd = 0;
  uint64_t packets_ds = 0;
  uint64_t bytes_ds = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t rule_in = 0;
  uint16_t rule_out = 0;
  uint8_t protocol = kProtoTcp;
  bool denied = false;

  uint64_t bytes() const { return bytes_sd + bytes_ds; }
};

// Tuples of a minute lie in its first kTupleWindowMs; the record that carries
// them is stamped later in the minute, as Azure writes a record after its flows.
inline constexpr int64_t kTupleWindowMs = 30'000;
inline constexpr double kBytesPerPacket = 1400.0;

// A data transfer: `bytes` in the dominant direction (src->dst, or dst->src
// when reply_dominates), 3-8% of that in the other one.
struct TransferSpec {
  IpAddress src;
  IpAddress dst;
  uint16_t dst_port = 0;
  uint8_t protocol = kProtoTcp;
  double bytes = 0;
  bool reply_dominates = false;
  uint16_t rule_in = 0;
  uint16_t rule_out = 0;
};

// Draws start/end times inside [minute_ms, minute_ms + kTupleWindowMs), an
// ephemeral source port (49152-65535) and the reply share from *rng.
SyntheticFlow MakeTransfer(const TransferSpec& spec, int64_t minute_ms, FlowRng* rng);

// A denied attempt at time_ms (zero counters).
SyntheticFlow MakeDenied(IpAddress src, IpAddress dst, uint16_t src_port, uint16_t dst_port,
                         uint8_t protocol, int64_t time_ms, uint16_t rule);

// ceil(bytes / kBytesPerPacket).
uint64_t PacketsFor(uint64_t bytes);

}  // namespace flowwatch::gen
