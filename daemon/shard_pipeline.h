// ShardPipeline: what one shard does with each flow routed to it, in order:
// drop duplicates (DedupWindow), count it, add it to the port statistics
// (PortTable) and to detection (Detection). One instance per shard, driven by
// its worker thread (see lib/shard/shard_set.h); it owns all of its state.
//
// Counters are single-writer (Counter) so progress reports and /metrics can read
// them from other threads while the shard runs; the tables themselves are read
// only with the shards paused (ShardSet::WithAllPaused) or joined.
#pragma once

#include <array>
#include <cstdint>

#include "daemon/enrichment.h"
#include "daemon/live_config.h"
#include "lib/common/counter.h"
#include "lib/config/config.h"
#include "lib/common/flat_hash_map.h"
#include "lib/common/hash.h"
#include "lib/detect/detection.h"
#include "lib/enrich/peer_classifier.h"
#include "lib/model/flow_record.h"
#include "lib/ports/port_table.h"
#include "lib/shard/dedup_window.h"
#include "lib/shard/shard_processor.h"
#include "lib/state/checkpoint_file.h"
#include "lib/state/codec.h"
#include "lib/state/id_remap.h"

namespace flowwatch::app {

struct ShardCounters {
  std::array<Counter, kRecordFormatCount> tuples_by_format;  // applied, after de-duplication
  Counter bytes;
  Counter packets;
  Counter duplicates;
  Counter port_keys;    // live port-table keys
  Counter detect_keys;  // live detection keys (baselines)
  Counter firing;       // open incidents
  // Traffic by the remote peer's class: bytes into the VMs (ingress) and out
  // of them (egress), and flows started, by direction.
  std::array<Counter, enrich::kPeerClassCount> ingress_bytes, egress_bytes;
  std::array<std::array<Counter, enrich::kPeerClassCount>, 2> flows;  // [Direction][PeerClass]

  uint64_t tuples() const {
    uint64_t n = 0;
    for (const Counter& c : tuples_by_format) n += c.value();
    return n;
  }
};

detect::DetectionOptions DetectionOptionsFrom(const config::Config& config);

class ShardPipeline : public shard::ShardProcessor {
 public:
  struct Mode {
    // Close every open bucket at the end of input (replay). The daemon does
    // not: its input never ends, and a partial bucket would be judged wrongly.
    bool close_at_end = true;
    // Where new thresholds come from on SIGHUP (daemon); may be null.
    const LiveConfig* live = nullptr;
    // Where the peer classifier (service tags) comes from, re-read when `live`
    // moves; null: the built-in ranges only.
    const Enrichment* enrichment = nullptr;
    // Sees every closed bucket of every key (benchmarks); may be null.
    detect::BucketObserver* observer = nullptr;
  };
  // Bytes of one VM, both ways.
  struct VmTraffic {
    uint64_t ingress = 0, egress = 0;
  };
  // alerts: where this shard's alerts go, called on the shard's thread.
  ShardPipeline(const config::Config& config, detect::AlertSink* alerts, Mode mode);
  ShardPipeline(const config::Config& config, detect::AlertSink* alerts) : ShardPipeline(config, alerts, Mode{}) {}

  // All of this shard's state (counters, de-duplication window, port table,
  // detection), for a checkpoint; run on the shard's thread or with the shards
  // paused.
  void Save(state::Writer* w) const;
  // Replaces this fresh pipeline's state with a saved one; before the shard
  // starts. version: the checkpoint format it was written in. Status::Corruption
  // naming what is wrong if the bytes are not one.
  Status Load(std::string_view saved, const state::IdRemap& remap, const std::string& what,
              uint32_t version = state::kCheckpointVersion);

  void OnFlow(const FlowRecord& flow) override;
  void OnProgress(int64_t input_time_ms) override;
  void OnEndOfInput() override;

  const ShardCounters& counters() const { return counters_; }
  const ports::PortTable& ports() const { return ports_; }
  const detect::Detection& detection() const { return detection_; }
  const shard::DedupWindow& dedup() const { return dedup_; }
  // Per VM (NameTables::vms id); read with the shards paused.
  const FlatHashMap<uint32_t, VmTraffic, IntHash>& vm_traffic() const { return vm_traffic_; }

 private:
  void UpdateGauges();

  // What the port inventory says of peers new to a key. As a sink: names, in
  // each firing alert, its top peers first seen on the key within the last
  // kWindowMs, by a key that had lived that long without them (an attack can
  // start before its deviation shows, e.g. inside a backup), then passes the
  // alert on. As detection's PeerNovelty: the same, and for a peer outside
  // the private ranges its whole network new too (an Internet service's
  // clients come and go within their networks; a new network is news).
  class NewPeers : public detect::AlertSink, public detect::PeerNovelty {
   public:
    static constexpr int64_t kWindowMs = 24 * 3600 * 1000;
    NewPeers(const ShardPipeline* shard, detect::AlertSink* next) : shard_(shard), next_(next) {}
    void Emit(Alert alert) override;
    bool IsNew(const FlowKey& key, const IpAddress& peer, int64_t now_ms) const override;

   private:
    const ShardPipeline* shard_;
    detect::AlertSink* next_;
  };

  shard::DedupWindow dedup_;
  ports::PortTable ports_;
  NewPeers new_peers_;
  detect::Detection detection_;
  ShardCounters counters_;
  FlatHashMap<uint32_t, VmTraffic, IntHash> vm_traffic_;
  std::shared_ptr<const enrich::PeerClassifier> classifier_;
  const Mode mode_;
  uint64_t config_generation_ = 0;
  int64_t last_eviction_ms_ = INT64_MIN;
};

}  // namespace flowwatch::app
