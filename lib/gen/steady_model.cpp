#include "lib/gen/steady_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <utility>

namespace flowwatch::gen {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kDayMs = 86'400'000;

struct Service {
  uint16_t port;
  uint8_t protocol;
  const char* rule;
  bool reply_dominates;
};

// The mix each VM draws its service ports from (in a per-VM random order).
constexpr Service kServices[] = {
    {443, kProtoTcp, "UserRule_AllowHttpsInbound", true}, {80, kProtoTcp, "UserRule_AllowHttp", true},
    {1433, kProtoTcp, "UserRule_AllowSql", false},        {5432, kProtoTcp, "UserRule_AllowPostgres", false},
    {6379, kProtoTcp, "UserRule_AllowRedis", false},      {8080, kProtoTcp, "UserRule_AllowHttpAlt", true},
    {22, kProtoTcp, "UserRule_AllowSsh", false},          {3389, kProtoTcp, "UserRule_AllowRdp", true},
    {9092, kProtoTcp, "UserRule_AllowKafka", false},      {53, kProtoUdp, "UserRule_AllowDns", true},
    {3306, kProtoTcp, "UserRule_AllowMySql", false},      {27017, kProtoTcp, "UserRule_AllowMongo", false},
    {9200, kProtoTcp, "UserRule_AllowElastic", true},     {5672, kProtoTcp, "UserRule_AllowAmqp", false},
    {8443, kProtoTcp, "UserRule_AllowHttpsAlt", true},    {2181, kProtoTcp, "UserRule_AllowZookeeper", false},
    {11211, kProtoTcp, "UserRule_AllowMemcached", true},  {123, kProtoUdp, "UserRule_AllowNtp", true},
    {514, kProtoUdp, "UserRule_AllowSyslog", false},      {25, kProtoTcp, "UserRule_AllowSmtp", false},
};
constexpr size_t kServiceCount = sizeof(kServices) / sizeof(kServices[0]);
constexpr uint16_t kAppPortBase = 30000;
constexpr uint32_t kExternalFirstOctets[] = {45, 62, 81, 91, 151, 185, 193, 212};

}  // namespace

IpAddress SteadyModel::VmAddress(uint32_t index) {
  const uint32_t subnet = index / 250;
  const uint32_t host = 4 + index % 250;
  return IpAddress::FromV4((10u << 24) | ((subnet & 0xFFFFu) << 8) | host);
}

SteadyModel::SteadyModel(uint64_t seed, int vms, int ports_per_vm, int flows_per_minute)
    : TrafficModel(seed), flows_per_minute_(flows_per_minute) {
  names_.resource_group = "steady-rg";
  names_.nsg = "steady-nsg";
  names_.vnet = "steady-vnet";
  names_.flow_log = "steady-vnet-flowlog";
  rule_out_ = Rule(kRuleAllowVnetOutbound);
  uint16_t service_rules[kServiceCount];
  for (size_t i = 0; i < kServiceCount; ++i) service_rules[i] = Rule(kServices[i].rule);
  const uint16_t app_rule = Rule("UserRule_AllowAppPorts");

  char name[32];
  vms_.reserve(static_cast<size_t>(vms));
  for (int i = 0; i < vms; ++i) {
    std::snprintf(name, sizeof name, "vm%04d", i + 1);
    vms_.push_back(VmSpec{name, VmAddress(static_cast<uint32_t>(i)), 0x000D3A000001ull + static_cast<uint64_t>(i)});
  }

  std::mt19937_64 engine(seed);
  const size_t key_count = static_cast<size_t>(vms) * static_cast<size_t>(ports_per_vm);
  keys_.reserve(key_count);
  streams_.reserve(key_count);
  size_t order[kServiceCount];
  for (int v = 0; v < vms; ++v) {
    for (size_t i = 0; i < kServiceCount; ++i) order[i] = i;
    for (size_t i = kServiceCount - 1; i > 0; --i) std::swap(order[i], order[DrawBelow(engine, i + 1)]);
    for (int k = 0; k < ports_per_vm; ++k) {
      Key key;
      if (static_cast<size_t>(k) < kServiceCount) {
        const Service& s = kServices[order[k]];
        key.port = s.port;
        key.protocol = s.protocol;
        key.rule_in = service_rules[order[k]];
        key.reply_dominates = s.reply_dominates;
      } else {
        key.port = static_cast<uint16_t>(kAppPortBase + (k - static_cast<int>(kServiceCount)));
        key.rule_in = app_rule;
        key.reply_dominates = DrawBelow(engine, 2) == 0;
      }
      key.base_bytes = static_cast<float>(DrawLogUniform(engine, 50e3, 5e6));
      key.phase = static_cast<float>(DrawUniform(engine, 0, 2 * std::numbers::pi));
      int32_t client = StreamEnds::kExternal;
      if (vms > 1 && DrawBelow(engine, 2) == 0) {
        // Another VM, uniformly: draw among vms-1 and skip over v.
        client = static_cast<int32_t>(DrawBelow(engine, static_cast<uint64_t>(vms - 1)));
        if (client >= v) ++client;
      } else {
        const uint32_t first = kExternalFirstOctets[DrawBelow(engine, std::size(kExternalFirstOctets))];
        key.external_prefix = (first << 24) | (static_cast<uint32_t>(DrawBelow(engine, 1u << 16)) << 8);
      }
      AddStream(client, v);
      keys_.push_back(key);
    }
  }
}

void SteadyModel::EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const {
  const Key& key = keys_[stream];
  const StreamEnds& ends = streams_[stream];
  FlowRng rng(seed_, stream, static_cast<uint64_t>(minute_ms / kMinuteMs));
  const double day_fraction = static_cast<double>(((minute_ms % kDayMs) + kDayMs) % kDayMs) / kDayMs;
  const double cycle = 1 + 0.5 * std::sin(2 * std::numbers::pi * day_fraction + key.phase);
  const double minute_bytes = key.base_bytes * cycle * DrawUniform(rng, 0.8, 1.25);
  TransferSpec t;
  t.dst = vms_[static_cast<size_t>(ends.dst_vm)].ip;
  t.dst_port = key.port;
  t.protocol = key.protocol;
  t.bytes = minute_bytes / flows_per_minute_;
  t.reply_dominates = key.reply_dominates;
  t.rule_in = key.rule_in;
  t.rule_out = rule_out_;
  for (int f = 0; f < flows_per_minute_; ++f) {
    t.src = ends.src_vm != StreamEnds::kExternal
                ? vms_[static_cast<size_t>(ends.src_vm)].ip
                : IpAddress::FromV4(key.external_prefix | static_cast<uint32_t>(DrawRange(rng, 1, 254)));
    out->push_back(MakeTransfer(t, minute_ms, &rng));
  }
}

}  // namespace flowwatch::gen
