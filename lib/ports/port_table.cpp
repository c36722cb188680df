#include "lib/ports/port_table.h"

#include <algorithm>

#include "lib/common/interner.h"

namespace flowwatch::ports {
namespace {


}  // namespace

PortStats* PortTable::Admit(const FlowRecord& flow, FlowKey key) {
  if (PortStats* s = table_.Find(key)) return s;
  const uint32_t* vm_keys = keys_per_vm_.Find(key.vm_id);
  const bool folded_total = table_.size() >= options_.max_keys;
  if (folded_total || (vm_keys != nullptr && *vm_keys >= options_.max_keys_per_vm)) {
    key.port = 0;
    key.protocol = kOverflowProtocol;
    if (folded_total) key.vm_id = StringInterner::kOverflowId;
    ++folded_tuples_;
    if (PortStats* s = table_.Find(key)) return s;
  }
  (void)flow;
  ++*keys_per_vm_.TryEmplace(key.vm_id).first;
  return table_.TryEmplace(key).first;
}

void PortTable::Apply(const FlowRecord& flow) {
  PortStats* s = Admit(flow, FlowKey::Of(flow));
  ++s->tuples;
  const bool starts = flow.starts_flow();
  if (starts) {
    ++s->flows;
    if (flow.decision == Decision::kDeny) ++s->denied_flows;
  }
  s->packets += flow.packets();
  s->bytes += flow.bytes();
  if (flow.time_ms < s->first_seen_ms) s->first_seen_ms = flow.time_ms;
  if (flow.time_ms > s->last_seen_ms) s->last_seen_ms = flow.time_ms;

  RuleHits* rule = nullptr;
  for (RuleHits& r : s->rules) {
    if (r.rule_id == flow.rule_id) {
      rule = &r;
      break;
    }
  }
  if (rule == nullptr) {
    uint32_t id = flow.rule_id;
    if (s->rules.size() >= options_.max_rules_per_key) {
      id = StringInterner::kOverflowId;
      for (RuleHits& r : s->rules) {
        if (r.rule_id == id) rule = &r;
      }
    }
    if (rule == nullptr) rule = &s->rules.emplace_back(RuleHits{id, 0, 0, 0});
  }
  ++rule->tuples;
  if (starts) ++rule->flows;
  rule->bytes += flow.bytes();

  AddPeer(s, flow);
}

void PortTable::AddPeer(PortStats* s, const FlowRecord& flow) {
  const IpAddress& remote = flow.remote_ip();
  const bool starts = flow.starts_flow();
  auto it = std::lower_bound(s->peers.begin(), s->peers.end(), remote,
                             [](const PeerStats& p, const IpAddress& ip) { return p.ip < ip; });
  if (it == s->peers.end() || it->ip != remote) {
    if (s->peers.size() >= options_.max_peers_per_key) {
      s->peers_truncated = true;
      s->untracked_flows += starts ? 1 : 0;
      s->untracked_bytes += flow.bytes();
      return;
    }
    it = s->peers.insert(it, PeerStats{remote, 0, 0});
  }
  it->flows += starts ? 1 : 0;
  it->bytes += flow.bytes();
}

size_t PortTable::memory_bytes() const {
  size_t n = table_.memory_bytes() + keys_per_vm_.memory_bytes();
  table_.ForEach([&](const FlowKey&, const PortStats& s) {
    n += s.peers.capacity() * sizeof(PeerStats) + s.rules.capacity() * sizeof(RuleHits);
  });
  return n;
}

size_t PortTable::EvictIdle(int64_t now_ms) {
  const int64_t cutoff = now_ms - options_.idle_ttl_ms;
  const size_t n = table_.EraseIf([&](const FlowKey& key, const PortStats& s) {
    if (s.last_seen_ms >= cutoff) return false;
    if (uint32_t* c = keys_per_vm_.Find(key.vm_id); c != nullptr && --*c == 0) keys_per_vm_.Erase(key.vm_id);
    return true;
  });
  evicted_ += n;
  return n;
}

}  // namespace flowwatch::ports
