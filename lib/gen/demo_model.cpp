#include "lib/gen/demo_model.h"

namespace flowwatch::gen {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr double kKb = 1000;

IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return IpAddress::FromV4((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d);
}

bool IsAllowedDemoPort(int64_t port) { return port == 22 || port == 80 || port == 443 || port == 1433; }

}  // namespace

IpAddress DrawDocumentationAddress(FlowRng* rng) {
  for (;;) {
    const uint32_t host = static_cast<uint32_t>(DrawRange(*rng, 1, 254));
    if (host == 50 || host == 99) continue;
    return DrawBelow(*rng, 2) == 0 ? V4(203, 0, 113, static_cast<uint8_t>(host))
                                   : V4(198, 51, 100, static_cast<uint8_t>(host));
  }
}

void DemoModel::AnomalyWindow(int64_t start_ms, int hours, int64_t* begin_ms, int64_t* end_ms) {
  if (hours >= 24) {
    *begin_ms = start_ms + 23 * kHourMs + 30 * kMinuteMs;
  } else {
    *begin_ms = start_ms + hours * kHourMs - 30 * kMinuteMs;
  }
  *end_ms = *begin_ms + 15 * kMinuteMs;
}

DemoModel::DemoModel(uint64_t seed, int64_t start_ms, int hours, bool with_anomaly) : TrafficModel(seed) {
  names_.resource_group = "demo-rg";
  names_.nsg = "demo-nsg";
  names_.vnet = "demo-vnet";
  names_.flow_log = "demo-vnet-flowlog";
  for (int i = 0; i < 4; ++i) {
    VmSpec vm;
    vm.name = "vm0" + std::to_string(i + 1);
    vm.ip = V4(10, 0, 1, static_cast<uint8_t>(4 + i));
    vm.mac = 0x000D3A000001ull + static_cast<uint64_t>(i);
    vms_.push_back(vm);
  }
  if (with_anomaly) {
    AnomalyWindow(start_ms, hours, &anomaly_begin_ms_, &anomaly_end_ms_);
  }

  const uint16_t vnet_out = Rule(kRuleAllowVnetOutbound);
  const uint16_t sql = Rule("UserRule_AllowSql");
  const uint16_t http = Rule("UserRule_AllowHttp");
  const uint16_t https_internal = Rule("UserRule_AllowHttpsInternal");
  const uint16_t https_inbound = Rule("UserRule_AllowHttpsInbound");
  const uint16_t any_custom = Rule("UserRule_AllowAnyCustom");
  const uint16_t deny = Rule(kRuleDenyAllInbound);

  constexpr int32_t kVm01 = 0, kVm02 = 1, kVm03 = 2, kVm04 = 3, kExt = StreamEnds::kExternal;
  // vm01 and vm02 each send ~1000 KB a minute, split evenly between vm03 and vm04.
  for (int32_t src : {kVm01, kVm02}) {
    for (int32_t dst : {kVm03, kVm04}) {
      Add(src, dst, {Kind::kTransfer, 1433, 500 * kKb, src == kVm01 ? kSqlFactor : 1.0, sql, vnet_out});
    }
  }
  Add(kVm01, kVm02, {Kind::kTransfer, 80, 100 * kKb, kHttpFactor, http, vnet_out});
  Add(kVm03, kVm04, {Kind::kTransfer, 443, 100 * kKb, 1.0, https_internal, vnet_out});
  Add(kExt, kVm03, {Kind::kHttpsClients, 443, 60 * kKb, 1.0, https_inbound, https_inbound});
  Add(kExt, kVm03, {Kind::kSsh, 22, 5 * kKb, 1.0, any_custom, any_custom});
  Add(kExt, kVm03, {Kind::kDeniedProbes, 0, 0, 1.0, deny, deny});
  Add(kExt, kVm04, {Kind::kDeniedProbes, 0, 0, 1.0, deny, deny});
}

void DemoModel::Add(int32_t src, int32_t dst, DemoStream s) {
  AddStream(src, dst);
  demo_streams_.push_back(s);
}

void DemoModel::EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const {
  const DemoStream& s = demo_streams_[stream];
  const StreamEnds& ends = streams_[stream];
  FlowRng rng(seed_, stream, static_cast<uint64_t>(minute_ms / kMinuteMs));
  const IpAddress dst_ip = vms_[static_cast<size_t>(ends.dst_vm)].ip;
  switch (s.kind) {
    case Kind::kTransfer: {
      double factor = DrawUniform(rng, 0.85, 1.15);
      if (minute_ms >= anomaly_begin_ms_ && minute_ms < anomaly_end_ms_) factor *= s.anomaly_factor;
      TransferSpec t{vms_[static_cast<size_t>(ends.src_vm)].ip, dst_ip, s.port, kProtoTcp,
                     s.bytes_per_minute * factor, false, s.rule_in, s.rule_out};
      out->push_back(MakeTransfer(t, minute_ms, &rng));
      break;
    }
    case Kind::kHttpsClients: {
      const int64_t clients = DrawRange(rng, 3, 6);
      const double per_client = s.bytes_per_minute * DrawUniform(rng, 0.85, 1.15) / static_cast<double>(clients);
      for (int64_t i = 0; i < clients; ++i) {
        TransferSpec t{DrawDocumentationAddress(&rng), dst_ip, s.port, kProtoTcp, per_client, false,
                       s.rule_in, s.rule_out};
        out->push_back(MakeTransfer(t, minute_ms, &rng));
      }
      break;
    }
    case Kind::kSsh: {
      if (DrawUnit(rng) >= 0.2) break;
      TransferSpec t{V4(203, 0, 113, 50), dst_ip, s.port, kProtoTcp,
                     s.bytes_per_minute * DrawUniform(rng, 0.85, 1.15), false, s.rule_in, s.rule_out};
      out->push_back(MakeTransfer(t, minute_ms, &rng));
      break;
    }
    case Kind::kDeniedProbes: {
      // ~4 attempts an hour per VM, on ports nothing listens on from outside.
      if (DrawUnit(rng) >= 0.07) break;
      int64_t port = DrawRange(rng, 1, 65535);
      while (IsAllowedDemoPort(port)) port = DrawRange(rng, 1, 65535);
      const uint8_t proto = DrawUnit(rng) < 0.85 ? kProtoTcp : kProtoUdp;
      const IpAddress src = DrawDocumentationAddress(&rng);
      const uint16_t sport = static_cast<uint16_t>(DrawRange(rng, 1024, 65535));
      const int64_t t = minute_ms + static_cast<int64_t>(DrawBelow(rng, kTupleWindowMs));
      out->push_back(MakeDenied(src, dst_ip, sport, static_cast<uint16_t>(port), proto, t, s.rule_in));
      break;
    }
  }
}

std::vector<GroundTruthEntry> DemoModel::GroundTruth() const {
  if (anomaly_end_ms_ == anomaly_begin_ms_) return {};
  return {
      {vms_[0].name, kProtoTcp, 1433, Direction::kOutbound, anomaly_begin_ms_, anomaly_end_ms_, kSqlFactor},
      {vms_[0].name, kProtoTcp, 80, Direction::kOutbound, anomaly_begin_ms_, anomaly_end_ms_, kHttpFactor},
  };
}

}  // namespace flowwatch::gen
