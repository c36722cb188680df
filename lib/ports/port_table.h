// PortTable: per-shard port statistics, one PortStats per FlowKey.
//
// Bounded: at most max_keys_per_vm keys per VM and max_keys in all. A flow whose
// key would exceed a cap is folded into an overflow key (protocol kOverflowProtocol,
// port 0; VM "(other)" when the total cap is reached), so its traffic still shows
// and a port scan cannot grow the table without bound. Keys idle for longer than
// idle_ttl_ms of event time are evicted by EvictIdle().
//
// Owned by one shard worker; not thread-safe.
#pragma once

#include <cstdint>

#include "lib/common/flat_hash_map.h"
#include "lib/model/flow_key.h"
#include "lib/model/flow_record.h"
#include "lib/ports/port_stats.h"
#include "lib/state/codec.h"
#include "lib/state/id_remap.h"

namespace flowwatch::ports {

struct PortTableOptions {
  size_t max_keys = 1u << 20;
  size_t max_keys_per_vm = 4096;
  size_t max_peers_per_key = 64;
  size_t max_rules_per_key = 64;
  int64_t idle_ttl_ms = 30LL * 24 * 3600 * 1000;  // 30 days of event time
};

class PortTable {
 public:
  explicit PortTable(const PortTableOptions& options) : options_(options) {}

  void Apply(const FlowRecord& flow);
  // Removes keys not seen since now_ms - idle_ttl_ms; returns how many.
  size_t EvictIdle(int64_t now_ms);

  size_t size() const { return table_.size(); }
  // Bytes held: the table plus each key's peer and rule lists (walks the table).
  size_t memory_bytes() const;
  uint64_t folded_flows() const { return folded_tuples_; }  // tuples applied to an overflow key
  uint64_t evicted() const { return evicted_; }
  template <typename F>
  void ForEach(F&& f) const {
    table_.ForEach(f);
  }

  // Of `peers`, those whose first tuple on `key` came at or after since_ms
  // and at least history_ms after the key's own first tuple: new to a key
  // that had been living without them. A peer the key does not track (its
  // list was full) is not claimed new: whether it was seen before is not known.
  std::vector<IpAddress> NewPeers(const FlowKey& key, const std::vector<IpAddress>& peers, int64_t since_ms,
                                  int64_t history_ms) const;

  // Whether ip's network (its /24, or /48) was first seen on `key` at or
  // after since_ms and at least history_ms after the key's first tuple;
  // false when the network is not among the key's (it had 16 before).
  bool NewNetwork(const FlowKey& key, const IpAddress& ip, int64_t since_ms, int64_t history_ms) const;

  // Every key with its statistics, for a checkpoint.
  void Save(state::Writer* w) const;
  // Adds the keys of a saved table, their ids mapped through remap; false
  // (and r failed) if the bytes are not a saved table. version: the
  // checkpoint format it was written in (before 4, peers carry no first
  // sighting: each takes its key's, so none is new afterwards).
  bool Load(state::Reader* r, const state::IdRemap& remap, uint32_t version);

 private:
  PortStats* Admit(const FlowRecord& flow, FlowKey key);
  void AddPeer(PortStats* s, const FlowRecord& flow);

  const PortTableOptions options_;
  FlatHashMap<FlowKey, PortStats, FlowKeyHash> table_;
  FlatHashMap<uint32_t, uint32_t, IntHash> keys_per_vm_;  // vm_id -> live keys
  uint64_t folded_tuples_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace flowwatch::ports
