#include "lib/gen/synthetic_flow.h"

#include <algorithm>
#include <cmath>

namespace flowwatch::gen {

uint64_t PacketsFor(uint64_t bytes) {
  return static_cast<uint64_t>(std::ceil(static_cast<double>(bytes) / kBytesPerPacket));
}

SyntheticFlow MakeTransfer(const TransferSpec& spec, int64_t minute_ms, FlowRng* rng) {
  SyntheticFlow f;
  f.start_ms = minute_ms + static_cast<int64_t>(DrawBelow(*rng, 20'000));
  f.end_ms = f.start_ms + DrawRange(*rng, 1'000, kTupleWindowMs - 20'000 - 1);
  f.src = spec.src;
  f.dst = spec.dst;
  f.src_port = static_cast<uint16_t>(DrawRange(*rng, 49152, 65535));
  f.dst_port = spec.dst_port;
  f.protocol = spec.protocol;
  f.rule_in = spec.rule_in;
  f.rule_out = spec.rule_out;
  const double main_bytes = std::max(1.0, std::round(spec.bytes));
  const double reply_bytes = std::round(main_bytes * DrawUniform(*rng, 0.03, 0.08));
  const uint64_t main_u = static_cast<uint64_t>(main_bytes);
  const uint64_t reply_u = static_cast<uint64_t>(reply_bytes);
  f.bytes_sd = spec.reply_dominates ? reply_u : main_u;
  f.bytes_ds = spec.reply_dominates ? main_u : reply_u;
  f.packets_sd = PacketsFor(f.bytes_sd);
  f.packets_ds = PacketsFor(f.bytes_ds);
  return f;
}

SyntheticFlow MakeDenied(IpAddress src, IpAddress dst, uint16_t src_port, uint16_t dst_port,
                         uint8_t protocol, int64_t time_ms, uint16_t rule) {
  SyntheticFlow f;
  f.start_ms = time_ms;
  f.end_ms = time_ms;
  f.src = src;
  f.dst = dst;
  f.src_port = src_port;
  f.dst_port = dst_port;
  f.protocol = protocol;
  f.rule_in = rule;
  f.rule_out = rule;
  f.denied = true;
  return f;
}

}  // namespace flowwatch::gen
