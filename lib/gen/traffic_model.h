// TrafficModel: what a scenario generates - the VMs, the Azure resource names,
// the rules, and "streams" of flows that can be replayed minute by minute.
//
// A stream is a source of flows with fixed ends: a sending VM and a receiving VM
// (either may be kExternal). EmitFlows(stream, minute) is a pure function of the
// model, the stream and the minute, so the generator can ask for the same
// stream once per NIC that logs it (sender: outbound, receiver: inbound) and get
// identical flows, while holding only one NIC-hour in memory.
//
// Ownership and threads: built once by the generator, then immutable; const
// methods are safe from any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/common/ip_address.h"
#include "lib/gen/synthetic_flow.h"

namespace flowwatch::gen {

struct VmSpec {
  std::string name;
  IpAddress ip;
  uint64_t mac = 0;  // 48 bits, written as 12 upper-case hex digits
};

// Names of the Azure resources the blobs claim to come from.
struct AzureNames {
  std::string subscription = "00000000-0000-0000-0000-000000000000";
  std::string resource_group;  // the VMs' and the NSG's resource group
  std::string nsg;             // NSG flow logs: the NSG logged
  std::string vnet;            // VNet flow logs: the target virtual network
  std::string flow_log;        // VNet flow logs: the flow-log resource's name
  std::string region = "eastus";
};

// One labelled event on one key, as written to ground_truth.jsonl: an injected
// anomaly (attack: a detector should alert on this key inside the window), or
// a normal event worth scoring apart (a level shift, one occurrence of a
// recurring job), which should page at most once or never.
struct GroundTruthEntry {
  std::string vm;
  uint8_t protocol = kProtoTcp;
  uint16_t port = 0;
  Direction direction = Direction::kOutbound;
  int64_t start_ms = 0;  // window [start_ms, end_ms)
  int64_t end_ms = 0;
  double factor = 1;
  std::string_view kind = "anomaly";  // e.g. loud_exfil, slow_exfil, level_shift, backup
  bool attack = true;
  int occurrence = 0;  // recurring events: 1 for the first seen, 2, ...; 0 otherwise
  bool has_new_peer = false;  // the attack's traffic goes to or comes from an address new to the key:
  IpAddress new_peer{};       // this one
};

struct StreamEnds {
  static constexpr int32_t kExternal = -1;
  int32_t src_vm = kExternal;  // index into vms(), or kExternal
  int32_t dst_vm = kExternal;
};

class TrafficModel {
 public:
  virtual ~TrafficModel() = default;

  const std::vector<VmSpec>& vms() const { return vms_; }
  const AzureNames& names() const { return names_; }
  const std::vector<std::string>& rule_names() const { return rules_; }
  const std::vector<StreamEnds>& streams() const { return streams_; }

  // Appends the flows of `stream` that start in [minute_ms, minute_ms + 60 s).
  virtual void EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const = 0;
  virtual std::vector<GroundTruthEntry> GroundTruth() const { return {}; }
  // How the NIC of vms()[vm] writes the record of the minute starting at
  // minute_ms: 0 on time, d > 0 that many minutes late (inside a later record,
  // in a later hour's blob if need be), -1 never (a gap in the logs).
  virtual int RecordDelayMinutes(size_t /*vm*/, int64_t /*minute_ms*/) const { return 0; }

 protected:
  explicit TrafficModel(uint64_t seed) : seed_(seed) {}
  // Index of a rule name, adding it on first use.
  uint16_t Rule(const std::string& name);
  uint32_t AddStream(int32_t src_vm, int32_t dst_vm);

  uint64_t seed_;
  AzureNames names_;
  std::vector<VmSpec> vms_;
  std::vector<std::string> rules_;
  std::vector<StreamEnds> streams_;
};

// Rule names shared by the scenarios.
inline constexpr const char* kRuleDenyAllInbound = "DefaultRule_DenyAllInBound";
inline constexpr const char* kRuleAllowVnetOutbound = "DefaultRule_AllowVnetOutBound";

}  // namespace flowwatch::gen
