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

void PortTable::Save(state::Writer* w) const {
  w->Put<uint64_t>(folded_tuples_);
  w->Put<uint64_t>(evicted_);
  w->Put<uint64_t>(table_.size());
  table_.ForEach([&](const FlowKey& k, const PortStats& s) {
    w->Put<uint64_t>(k.Packed());
    w->Put<uint64_t>(s.tuples);
    w->Put<uint64_t>(s.flows);
    w->Put<uint64_t>(s.denied_flows);
    w->Put<uint64_t>(s.packets);
    w->Put<uint64_t>(s.bytes);
    w->Put<int64_t>(s.first_seen_ms);
    w->Put<int64_t>(s.last_seen_ms);
    w->Put<uint64_t>(s.untracked_flows);
    w->Put<uint64_t>(s.untracked_bytes);
    w->Put<uint8_t>(s.peers_truncated);
    w->Put<uint64_t>(s.rules.size());
    for (const RuleHits& h : s.rules) {
      w->Put<uint32_t>(h.rule_id);
      w->Put<uint64_t>(h.flows);
      w->Put<uint64_t>(h.tuples);
      w->Put<uint64_t>(h.bytes);
    }
    w->Put<uint64_t>(s.peers.size());
    for (const PeerStats& p : s.peers) {
      w->Put<uint64_t>(p.ip.hi());
      w->Put<uint64_t>(p.ip.lo());
      w->Put<uint64_t>(p.flows);
      w->Put<uint64_t>(p.bytes);
    }
  });
}

bool PortTable::Load(state::Reader* r, const state::IdRemap& remap) {
  folded_tuples_ += r->Get<uint64_t>();
  evicted_ += r->Get<uint64_t>();
  const uint64_t keys = r->Count(89);
  for (uint64_t i = 0; i < keys && r->ok(); ++i) {
    const FlowKey key = state::ReadFlowKey(r, remap);
    PortStats s;
    s.tuples = r->Get<uint64_t>();
    s.flows = r->Get<uint64_t>();
    s.denied_flows = r->Get<uint64_t>();
    s.packets = r->Get<uint64_t>();
    s.bytes = r->Get<uint64_t>();
    s.first_seen_ms = r->Get<int64_t>();
    s.last_seen_ms = r->Get<int64_t>();
    s.untracked_flows = r->Get<uint64_t>();
    s.untracked_bytes = r->Get<uint64_t>();
    s.peers_truncated = r->Get<uint8_t>() != 0;
    const uint64_t rules = r->Count(28);
    for (uint64_t j = 0; j < rules && r->ok(); ++j) {
      RuleHits h;
      if (!remap.Rule(r->Get<uint32_t>(), &h.rule_id)) r->Fail("a rule that the checkpoint does not name");
      h.flows = r->Get<uint64_t>();
      h.tuples = r->Get<uint64_t>();
      h.bytes = r->Get<uint64_t>();
      s.rules.push_back(h);
    }
    const uint64_t peers = r->Count(32);
    for (uint64_t j = 0; j < peers && r->ok(); ++j) {
      PeerStats p;
      const uint64_t hi = r->Get<uint64_t>();
      p.ip = IpAddress::FromV6(hi, r->Get<uint64_t>());
      p.flows = r->Get<uint64_t>();
      p.bytes = r->Get<uint64_t>();
      if (!s.peers.empty() && !(s.peers.back().ip < p.ip)) r->Fail("peers out of order");
      s.peers.push_back(p);
    }
    if (!r->ok()) break;
    auto [slot, inserted] = table_.TryEmplace(key);
    if (!inserted) {
      r->Fail("a port key twice");
      break;
    }
    *slot = std::move(s);
    ++*keys_per_vm_.TryEmplace(key.vm_id).first;
  }
  return r->ok();
}

}  // namespace flowwatch::ports
