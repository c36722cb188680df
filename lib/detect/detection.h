// Detection: one shard's event-time windows, baselines and incidents.
//
// Flows are summed per (key, bucket) while their bucket is open. The watermark
// is the shards' input frontier minus the allowed lateness; a bucket closes when
// the watermark passes its end, and a flow for a closed bucket is late (counted,
// left out of detection; the caller still counts it elsewhere). At a bucket's
// close each key with traffic in it is judged against its baseline (see
// detectors/volume_detector.h) and folded into it; the buckets a key missed are
// applied as zeros in closed form at that moment, so idle keys cost nothing.
// Keys that are firing are judged every bucket, with or without traffic, so an
// incident resolves after resolve_after_buckets normal buckets even when the
// key falls silent. One incident per key: a firing alert when it starts, a
// resolved alert when it ends.
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
#include "lib/common/flat_hash_map.h"
#include "lib/common/hash.h"
#include "lib/detect/detectors/volume_detector.h"
#include "lib/detect/ewma.h"
#include "lib/detect/peer_sketch.h"
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
  VolumeOptions volume;
  uint32_t resolve_after_buckets = 3;
  uint64_t max_keys = 1u << 20;
  uint64_t max_keys_per_vm = 4096;
  int64_t idle_ttl_ms = 7LL * 24 * 3600 * 1000;
  int top_peers = 5;
  size_t top_deviations = 20;  // non-firing keys kept in deviations()
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

// Sees each key's bytes in each closed bucket that had traffic, as detection
// judges them, on the detector's thread: benchmarks run other detectors on
// exactly the same series.
class BucketObserver {
 public:
  virtual ~BucketObserver() = default;
  virtual void OnBucket(const FlowKey& key, int64_t window_start_ms, uint64_t bytes) = 0;
};

// The per-key state kept between buckets: 24 bytes, plus an 8-byte key.
struct KeyBaseline {
  Ewma bytes;                  // per-bucket bytes, both directions
  int64_t last_bucket = 0;     // the last bucket folded into `bytes`
  uint32_t age = 0;            // buckets folded in since the key was first seen
  uint8_t firing = 0;          // an incident is open
  uint8_t normal_streak = 0;   // normal buckets since the last anomalous one, while firing
};
static_assert(sizeof(KeyBaseline) == 24);

class Detection {
 public:
  // observer may be null.
  Detection(const DetectionOptions& options, AlertSink* sink, BucketObserver* observer = nullptr);
  ~Detection();

  // Applies new thresholds (volume tests, resolve_after_buckets, top_peers,
  // caps, idle_ttl) from the next bucket on; the bucket size, lateness and
  // half-life of a running detector do not change (that needs a restart).
  void UpdateThresholds(const DetectionOptions& options);

  // Baselines, incidents, open buckets and counters, for a checkpoint.
  void Save(state::Writer* w) const;
  // Replaces this (fresh) detector's state with a saved one, VM ids mapped
  // through remap; false (and r failed) if the bytes are not one, or were
  // written with another bucket size.
  bool Load(state::Reader* r, const state::IdRemap& remap);

  void OnFlow(const FlowRecord& flow);
  // The shards' input frontier: everything up to it has been delivered.
  void OnProgress(int64_t frontier_ms);
  // End of input: close every open bucket.
  void Finish();

  size_t keys() const { return baselines_.size(); }
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
    int64_t start_bucket = 0;
    Severity severity = Severity::kWarning;  // the worst seen so far
  };

  FlowKey Admit(FlowKey key);
  void CloseThrough(int64_t last_bucket);
  void CloseBucket(int64_t bucket, BucketMap* data);
  void Judge(const FlowKey& key, int64_t bucket, const BucketAgg& agg, std::vector<FlowKey>* resolved);
  void CatchUp(KeyBaseline* b, int64_t bucket) const;
  void Fold(KeyBaseline* b, double x) const;
  void EvictIdle(int64_t bucket);
  Alert MakeAlert(AlertStatus status, const FlowKey& key, int64_t bucket, const BucketAgg& agg,
                  const VolumeVerdict& v, int64_t incident_start) const;

  DetectionOptions options_;
  const double alpha_;
  const uint32_t young_age_;  // below it the mean is a plain running average
  AlertSink* sink_;
  BucketObserver* observer_;
  FlatHashMap<FlowKey, KeyBaseline, FlowKeyHash> baselines_;
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
  Counter late_flows_;
  Counter folded_flows_;
  uint64_t evicted_keys_ = 0;
};

}  // namespace flowwatch::detect
