// Detection: one shard's event-time windows, baselines and incidents.
//
// Flows are summed per (key, bucket) while their bucket is open. The watermark
// is the shards' input frontier minus the allowed lateness; a bucket closes when
// the watermark passes its end, and a flow for a closed bucket is late (counted,
// left out of detection; the caller still counts it elsewhere). At a bucket's
// close each key with traffic in it is judged against its seasonal baseline and
// folded into it (detectors/volume_detector.h); empty buckets change nothing,
// so idle keys cost nothing. Keys that are firing are judged every bucket, with
// or without traffic, so an incident resolves after resolve_after_buckets
// normal buckets even when the key falls silent; an incident that lasts
// relearn_after becomes the key's new normal and resolves. One incident per
// key: a firing alert when it starts, a resolved alert when it ends; a firing
// alert lists the VM's other keys deviating in the same bucket (`related`).
//
// The three tests' thresholds follow from the false-alert budget: each gets a
// third of it as a probability per key-bucket, turned into a threshold by a
// pooled tail of the shard's scores (pooled_tail.h), refreshed at every bucket
// close.
//
// Only flows that carry bytes create detection keys: a scan of denied,
// zero-byte SYNs costs no baselines. Keys are capped per VM and in total (the
// overflow folds into a per-VM "other" key) and evicted after idle_ttl.
//
// Owned by one shard worker; not thread-safe. Alerts go to the AlertSink on the
// same thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "lib/common/counter.h"
#include "lib/common/dense_hash_map.h"
#include "lib/common/flat_hash_map.h"
#include "lib/common/hash.h"
#include "lib/detect/detectors/volume_detector.h"
#include "lib/detect/peer_sketch.h"
#include "lib/detect/pooled_tail.h"
#include "lib/detect/seasonal_baseline.h"
#include "lib/model/alert.h"
#include "lib/model/flow_key.h"
#include "lib/model/flow_record.h"
#include "lib/state/codec.h"
#include "lib/state/id_remap.h"

namespace flowwatch::detect {

struct DetectionOptions {
  int64_t bucket_ms = 5 * 60 * 1000;
  int64_t allowed_lateness_ms = 3 * 60 * 1000;
  int64_t half_life_ms = 6 * 3600 * 1000;
  int64_t relearn_after_ms = 4 * 3600 * 1000;
  VolumeOptions volume;
  uint32_t resolve_after_buckets = 3;
  uint64_t max_keys = 1u << 20;
  uint64_t max_keys_per_vm = 4096;
  int64_t idle_ttl_ms = 7LL * 24 * 3600 * 1000;
  int top_peers = 5;
  size_t top_deviations = 20;  // non-firing keys kept in deviations()
  size_t max_related = 5;      // related keys listed in an alert
};

// A key's verdict in the last closed bucket (for the deviations API and the
// per-key Grafana series).
struct Deviation {
  FlowKey key;
  int64_t window_start_ms = 0;
  uint64_t observed_bytes = 0;
  double baseline_bytes = 0;
  double ratio = 0;
  double zscore = 0;
  bool firing = false;
};

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void Emit(Alert alert) = 0;
};

// Sees each key's bytes in each closed bucket that had traffic, and the
// detector's verdict on it, on the detector's thread: benchmarks run other
// detectors on exactly the same series, and look into this one's.
class BucketObserver {
 public:
  virtual ~BucketObserver() = default;
  virtual void OnBucket(const FlowKey& key, int64_t window_start_ms, uint64_t bytes, const VolumeVerdict& verdict) = 0;
};

// Tells whether a remote peer is new to a key (ShardPipeline: from the port
// inventory), on the detector's thread.
class PeerNovelty {
 public:
  virtual ~PeerNovelty() = default;
  virtual bool IsNew(const FlowKey& key, const IpAddress& peer, int64_t now_ms) const = 0;
};

class Detection {
 public:
  // observer and novelty may be null (without novelty, no bucket pages for
  // its new peers).
  Detection(const DetectionOptions& options, AlertSink* sink, BucketObserver* observer = nullptr,
            const PeerNovelty* novelty = nullptr);
  ~Detection();

  // Applies new settings (the budget, the floors, resolve_after_buckets,
  // relearn_after, top_peers, caps, idle_ttl) from the next bucket on; the
  // bucket size, lateness and half-life of a running detector do not change
  // (that needs a restart).
  void UpdateThresholds(const DetectionOptions& options);

  // Baselines, incidents, open buckets and counters, for a checkpoint.
  void Save(state::Writer* w) const;
  // Replaces this (fresh) detector's state with a saved one, VM ids mapped
  // through remap; false (and r failed) if the bytes are not one, or were
  // written with another bucket size. `version` is the checkpoint's format:
  // version 1 held EWMA baselines, migrated (level and spread carried over,
  // the daily profile learnt again: such a key does not alert at an hour of
  // the day until it has seen that hour once more); version 2 kept the
  // sustained evidence in eighths (halved into quarters) and no run past
  // the floors (it starts afresh).
  bool Load(state::Reader* r, const state::IdRemap& remap, uint32_t version);

  void OnFlow(const FlowRecord& flow);
  // The shards' input frontier: everything up to it has been delivered.
  void OnProgress(int64_t frontier_ms);
  // End of input: close every open bucket.
  void Finish();

  size_t keys() const { return baselines_.size(); }
  // A key's baseline, or null if the key has none.
  const SeasonalBaseline* baseline(const FlowKey& key) const { return baselines_.Find(key); }
  size_t firing() const { return incidents_.size(); }
  uint64_t late_flows() const { return late_flows_.value(); }
  uint64_t folded_flows() const { return folded_flows_.value(); }
  uint64_t evicted_keys() const { return evicted_keys_; }
  size_t open_buckets() const { return open_.size(); }
  // Event time up to which every bucket is closed and judged (the end of the
  // last closed bucket, or the start of the first open one); INT64_MIN until
  // progress is reported with flows seen.
  int64_t closed_until_ms() const {
    return closed_through_ == INT64_MIN ? INT64_MIN : (closed_through_ + 1) * options_.bucket_ms;
  }
  // The last closed bucket's verdicts: every key that is firing, plus the
  // top_deviations keys past warm-up that are not, highest ratio first (the
  // ones closest to firing). Replaced at each bucket close.
  const std::vector<Deviation>& deviations() const { return deviations_; }
  // The thresholds in force for the next bucket (robust z-score of one bucket,
  // sustained evidence), and how many pooled excesses they rest on.
  const VolumeThresholds& thresholds() const { return thresholds_; }
  size_t pooled_excesses() const { return bucket_pool_.excesses(); }
  const PooledTail& bucket_pool() const { return bucket_pool_; }
  const PooledTail& pair_pool() const { return pair_pool_; }
  const PooledTail& sustained_pool() const { return sustained_pool_; }
  // Bytes held by the baseline table (the per-key state between buckets).
  size_t baseline_bytes() const { return baselines_.memory_bytes(); }
  // Bytes held by open buckets (and spare bucket tables kept for reuse).
  size_t open_bucket_bytes() const {
    size_t n = 0;
    for (const auto& [bucket, map] : open_) n += map->memory_bytes();
    for (const auto& map : spare_) n += map->memory_bytes();
    return n;
  }

 private:
  struct BucketAgg {
    uint64_t bytes = 0;
    uint64_t bytes_sent = 0;  // by the VM
    uint64_t packets = 0;
    uint32_t flows = 0;
    PeerSketch peers;
  };
  using BucketMap = FlatHashMap<FlowKey, BucketAgg, FlowKeyHash>;
  struct Incident {
    int64_t start_bucket = 0;  // the bucket that fired
    int64_t begin_bucket = 0;  // where the deviation began (earlier when evidence built up)
    int64_t last_bucket = 0;   // the last anomalous bucket
    float peak_residual = 0;   // the largest residual (nats) while anomalous
    Severity severity = Severity::kWarning;  // the worst seen so far
    float mean_residual = 0;   // their mean over the last hour or so (nats): the shift relearning takes
    uint32_t anomalous_buckets = 0;
  };

  FlowKey Admit(FlowKey key);
  void CloseThrough(int64_t last_bucket);
  void CloseBucket(int64_t bucket, BucketMap* data);
  VolumeVerdict Judge(const FlowKey& key, int64_t bucket, const BucketAgg& agg, std::vector<FlowKey>* resolved);
  bool NewPeerExcess(const FlowKey& key, const SeasonalBaseline& b, int64_t bucket, const BucketAgg& agg) const;
  void RefreshThresholds();
  double BucketsPerDay() const;
  void EvictIdle(int64_t bucket);
  void EmitPending();
  double Rarity(const VolumeVerdict& v) const;
  Alert MakeAlert(AlertStatus status, const FlowKey& key, int64_t bucket, const BucketAgg& agg,
                  const VolumeVerdict& v, const Incident& incident) const;
  bool LoadBaselines(state::Reader* r, const state::IdRemap& remap, uint32_t version);

  DetectionOptions options_;
  VolumeModel model_;
  AlertSink* sink_;
  BucketObserver* observer_;
  const PeerNovelty* novelty_;
  DenseHashMap<FlowKey, SeasonalBaseline, FlowKeyHash> baselines_;
  PooledTail bucket_pool_, pair_pool_, sustained_pool_;
  VolumeThresholds thresholds_;
  FlatHashMap<FlowKey, Incident, FlowKeyHash> incidents_;
  FlatHashMap<uint64_t, uint32_t, IntHash> keys_per_vm_;
  std::map<int64_t, std::unique_ptr<BucketMap>> open_;  // by bucket index
  std::vector<std::unique_ptr<BucketMap>> spare_;       // cleared maps, reused
  int64_t closed_through_ = INT64_MIN;  // every bucket <= this is closed
  int64_t cached_bucket_ = INT64_MIN;   // the open bucket the last flow went to
  BucketMap* cached_map_ = nullptr;
  int64_t last_eviction_bucket_ = INT64_MIN;
  std::vector<Deviation> deviations_;
  std::vector<Deviation> next_firing_, next_top_;  // built while a bucket closes; next_top_ is a min-heap
  std::vector<Alert> pending_;                     // the closing bucket's alerts, emitted once related are known
  std::vector<Deviation> anomalous_;               // the closing bucket's anomalous keys
  Counter late_flows_;
  Counter folded_flows_;
  uint64_t evicted_keys_ = 0;
};

}  // namespace flowwatch::detect
