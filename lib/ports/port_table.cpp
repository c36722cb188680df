#include "lib/ports/port_table.h"

#include <algorithm>

#include "lib/common/interner.h"

namespace flowwatch::ports {
namespace {

// The network an address belongs to, for PortStats::networks: its /24 (IPv4) or /48.
IpAddress NetworkOf(const IpAddress& ip) {
  return ip.is_v4() ? IpAddress::FromV4(ip.v4() & 0xFFFFFF00u) : IpAddress::FromV6(ip.hi() & ~0xFFFFull, 0);
}

// Where prefix is, or goes, in a key's sorted networks.
template <typename Networks>
auto NetworkSlot(Networks& v, const IpAddress& prefix) {
  return std::lower_bound(v.begin(), v.end(), prefix, [](const PeerNetwork& n, const IpAddress& p) { return n.prefix < p; });
}

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
  if (it != s->peers.end() && it->ip == remote) {  // the common case (its network went in with its first tuple)
    it->flows += starts ? 1 : 0;
    it->bytes += flow.bytes();
    it->first_seen_ms = std::min(it->first_seen_ms, flow.time_ms);  // a late tuple can come first
    return;
  }
  const IpAddress prefix = NetworkOf(remote);
  auto net = NetworkSlot(s->networks, prefix);
  if (net != s->networks.end() && net->prefix == prefix) {
    net->first_seen_ms = std::min(net->first_seen_ms, flow.time_ms);
  } else if (s->networks.size() < PortStats::kMaxNetworks) {
    s->networks.insert(net, PeerNetwork{prefix, flow.time_ms});
  }
  if (s->peers.size() >= options_.max_peers_per_key) {
    s->peers_truncated = true;
    s->untracked_flows += starts ? 1 : 0;
    s->untracked_bytes += flow.bytes();
    return;
  }
  s->peers.insert(it, PeerStats{remote, starts ? 1u : 0u, flow.bytes(), flow.time_ms});
}

bool PortTable::NewNetwork(const FlowKey& key, const IpAddress& ip, int64_t since_ms, int64_t history_ms) const {
  const PortStats* s = table_.Find(key);
  if (s == nullptr) return false;
  const IpAddress prefix = NetworkOf(ip);
  const auto net = NetworkSlot(s->networks, prefix);
  return net != s->networks.end() && net->prefix == prefix &&
         net->first_seen_ms >= std::max(since_ms, s->first_seen_ms + history_ms);
}

std::vector<IpAddress> PortTable::NewPeers(const FlowKey& key, const std::vector<IpAddress>& peers, int64_t since_ms,
                                           int64_t history_ms) const {
  std::vector<IpAddress> out;
  const PortStats* s = table_.Find(key);
  if (s == nullptr) return out;
  const int64_t from = std::max(since_ms, s->first_seen_ms + history_ms);
  for (const IpAddress& ip : peers) {
    auto it = std::lower_bound(s->peers.begin(), s->peers.end(), ip,
                               [](const PeerStats& p, const IpAddress& a) { return p.ip < a; });
    if (it != s->peers.end() && it->ip == ip) {
      if (it->first_seen_ms >= from) out.push_back(ip);
      continue;
    }
    // Past the exact list (it was full): new if its whole network is.
    if (s->peers_truncated && NewNetwork(key, ip, since_ms, history_ms)) out.push_back(ip);
  }
  return out;
}

size_t PortTable::memory_bytes() const {
  size_t n = table_.memory_bytes() + keys_per_vm_.memory_bytes();
  table_.ForEach([&](const FlowKey&, const PortStats& s) {
    n += s.peers.capacity() * sizeof(PeerStats) + s.rules.capacity() * sizeof(RuleHits) +
         s.networks.capacity() * sizeof(PeerNetwork);
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
      w->Put<int64_t>(p.first_seen_ms);
    }
    w->Put<uint64_t>(s.networks.size());
    for (const PeerNetwork& n : s.networks) {
      w->Put<uint64_t>(n.prefix.hi());
      w->Put<uint64_t>(n.prefix.lo());
      w->Put<int64_t>(n.first_seen_ms);
    }
  });
}

bool PortTable::Load(state::Reader* r, const state::IdRemap& remap, uint32_t version) {
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
    const uint64_t peers = r->Count(version >= 4 ? 40 : 32);
    for (uint64_t j = 0; j < peers && r->ok(); ++j) {
      PeerStats p;
      const uint64_t hi = r->Get<uint64_t>();
      p.ip = IpAddress::FromV6(hi, r->Get<uint64_t>());
      p.flows = r->Get<uint64_t>();
      p.bytes = r->Get<uint64_t>();
      p.first_seen_ms = version >= 4 ? r->Get<int64_t>() : s.first_seen_ms;
      if (!s.peers.empty() && !(s.peers.back().ip < p.ip)) r->Fail("peers out of order");
      s.peers.push_back(p);
    }
    if (version >= 4) {
      const uint64_t networks = r->Count(24);
      if (r->ok() && networks > PortStats::kMaxNetworks) r->Fail("a key with " + std::to_string(networks) + " peer networks");
      for (uint64_t j = 0; j < networks && r->ok(); ++j) {
        PeerNetwork n;
        const uint64_t hi = r->Get<uint64_t>();
        n.prefix = IpAddress::FromV6(hi, r->Get<uint64_t>());
        n.first_seen_ms = r->Get<int64_t>();
        if (!s.networks.empty() && !(s.networks.back().prefix < n.prefix)) r->Fail("peer networks out of order");
        s.networks.push_back(n);
      }
    } else {
      // Before format 4: the networks of the tracked peers, as old as the key.
      // Those of untracked peers are not known: on a key with a full peer
      // list, a network first seen after the upgrade counts as new from then.
      for (const PeerStats& p : s.peers) {
        const IpAddress prefix = NetworkOf(p.ip);
        if (!s.networks.empty() && s.networks.back().prefix == prefix) continue;
        if (s.networks.size() == PortStats::kMaxNetworks) break;
        s.networks.push_back(PeerNetwork{prefix, s.first_seen_ms});
      }
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
