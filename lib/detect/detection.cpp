#include "lib/detect/detection.h"

#include <algorithm>
#include <cmath>

#include "lib/common/hash.h"
#include "lib/common/interner.h"
#include "lib/common/logging.h"
#include "lib/state/checkpoint_file.h"

namespace flowwatch::detect {
namespace {

constexpr size_t kMaxSpareMaps = 1;  // a bucket table is large: keep one for reuse
constexpr int64_t kEvictionEveryBuckets = 12;
constexpr int64_t kDayMs = 86'400'000;

// The pooled tails: scores above kPoolBase are kept, the last kPoolCapacity of
// each; counts fade over kPoolHorizon key-buckets. 1 is about the 98th
// percentile of scores on realistic traffic, SPOT's initial threshold: over
// 3, a shard of ~2,000 keys held only 100-300 pairs after ten days, and the
// thresholds rested on their priors.
constexpr double kPoolBase = 1.0;
constexpr size_t kPoolCapacity = 4096;
constexpr double kPoolHorizon = 2e6;
// Thresholds while a shard has seen too few excesses to fit a tail (a few
// keys, the first hours), and their bounds whatever the fit says (a score and
// the sustained evidence are kept in quarter units up to 63.75).
constexpr VolumeThresholds kPriorThresholds{6.0, 5.0, 16.0};
constexpr double kMinScoreThreshold = 3, kMaxScoreThreshold = 60, kMinSustainedThreshold = 6, kMaxSustainedThreshold = 60;
constexpr double kMaxRarityKeyDays = 1e7;
// An incident this short is a burst: once over, its hours learn it (LearnBurst).
constexpr int64_t kShortIncidentMs = 3600 * 1000;
// The anomalous buckets an incident's mean residual averages over, at most.
constexpr uint32_t kShiftBuckets = 12;
// A bucket at least kNewPeerRatio times its expected bytes, at least
// kNewPeerShare of whose excess went to peers new to the key, pages.
constexpr double kNewPeerRatio = 2, kNewPeerShare = 0.5;

}  // namespace

Detection::Detection(const DetectionOptions& options, AlertSink* sink, BucketObserver* observer,
                     const PeerNovelty* novelty)
    : options_(options),
      model_(options.bucket_ms, options.half_life_ms),
      sink_(sink),
      observer_(observer),
      novelty_(novelty),
      bucket_pool_(kPoolBase, kPoolCapacity, kPoolHorizon),
      pair_pool_(kPoolBase, kPoolCapacity, kPoolHorizon),
      sustained_pool_(kPoolBase, kPoolCapacity, kPoolHorizon) {
  RefreshThresholds();
}

Detection::~Detection() = default;

void Detection::UpdateThresholds(const DetectionOptions& o) {
  const int64_t bucket_ms = options_.bucket_ms, lateness_ms = options_.allowed_lateness_ms,
                half_life_ms = options_.half_life_ms;
  options_ = o;
  options_.bucket_ms = bucket_ms;
  options_.allowed_lateness_ms = lateness_ms;
  options_.half_life_ms = half_life_ms;
  RefreshThresholds();
}

double Detection::BucketsPerDay() const { return static_cast<double>(kDayMs) / static_cast<double>(options_.bucket_ms); }

void Detection::RefreshThresholds() {
  bucket_pool_.Refresh();
  pair_pool_.Refresh();
  sustained_pool_.Refresh();
  // A third of the budget for each test, as a probability per key-bucket.
  const double p = options_.volume.false_alerts_per_1k_key_days / 1000 / BucketsPerDay() / 3;
  thresholds_.bucket = std::clamp(bucket_pool_.Threshold(p, kPriorThresholds.bucket), kMinScoreThreshold, kMaxScoreThreshold);
  thresholds_.pair = std::clamp(pair_pool_.Threshold(p, kPriorThresholds.pair), kMinScoreThreshold, kMaxScoreThreshold);
  thresholds_.sustained = std::clamp(sustained_pool_.Threshold(p, kPriorThresholds.sustained), kMinSustainedThreshold,
                                     kMaxSustainedThreshold);
}

double Detection::Rarity(const VolumeVerdict& v) const {
  double p = 1;
  if (v.single) p = std::min({p, bucket_pool_.Probability(v.score), pair_pool_.Probability(v.pair_score)});
  if (v.sustained) p = std::min(p, sustained_pool_.Probability(v.evidence));
  if (v.new_peers && !v.single && !v.sustained) p = bucket_pool_.Probability(v.score);  // its volume alone
  if (bucket_pool_.excesses() == 0) return 0;  // no tail to tell
  return p > 0 ? std::min(kMaxRarityKeyDays, 1 / (p * BucketsPerDay())) : kMaxRarityKeyDays;
}

FlowKey Detection::Admit(FlowKey key) {
  if (baselines_.Find(key) != nullptr) return key;
  const uint32_t* vm_keys = keys_per_vm_.Find(key.vm_id);
  const bool over_total = baselines_.size() >= options_.max_keys;
  if (over_total || (vm_keys != nullptr && *vm_keys >= options_.max_keys_per_vm)) {
    key.port = 0;
    key.protocol = kOverflowProtocol;
    if (over_total) key.vm_id = StringInterner::kOverflowId;
    folded_flows_.Add();
    if (baselines_.Find(key) != nullptr) return key;
  }
  baselines_.TryEmplace(key);  // age 0: nothing folded in yet
  ++*keys_per_vm_.TryEmplace(key.vm_id).first;
  return key;
}

void Detection::OnFlow(const FlowRecord& flow) {
  const uint64_t bytes = flow.bytes();
  if (bytes == 0) return;  // denied attempts and flow starts carry no volume
  const int64_t bucket = flow.time_ms / options_.bucket_ms;
  if (bucket <= closed_through_) {
    late_flows_.Add();
    if (late_flows_.value() <= 5) {
      spdlog::debug("late flow: event time {} s, bucket {} closed through {} (vm {})", flow.time_ms / 1000,
                    bucket, closed_through_, flow.vm_id);
    }
    return;
  }
  if (bucket != cached_bucket_) {
    std::unique_ptr<BucketMap>& slot = open_[bucket];
    if (!slot) {
      if (!spare_.empty()) {
        slot = std::move(spare_.back());
        spare_.pop_back();
      } else {
        slot = std::make_unique<BucketMap>();
      }
    }
    cached_bucket_ = bucket;
    cached_map_ = slot.get();
  }
  // A key already in the open bucket was admitted when it got there.
  FlowKey key = FlowKey::Of(flow);
  BucketAgg* found = cached_map_->Find(key);
  if (found == nullptr) {
    key = Admit(key);
    found = cached_map_->TryEmplace(key).first;
  }
  BucketAgg& agg = *found;
  agg.bytes += bytes;
  agg.bytes_sent += flow.direction == Direction::kOutbound ? flow.bytes_sd : flow.bytes_ds;
  agg.packets += flow.packets();
  if (flow.starts_flow()) ++agg.flows;
  agg.peers.Add(flow.remote_ip(), bytes);
}

void Detection::OnProgress(int64_t frontier_ms) {
  if (frontier_ms == INT64_MIN || frontier_ms == INT64_MAX) return;
  const int64_t watermark = frontier_ms - options_.allowed_lateness_ms;
  // Buckets whose end is at or before the watermark close.
  const int64_t last = (watermark >= 0 ? watermark / options_.bucket_ms : -1) - 1;
  if (last > closed_through_ && closed_through_ != INT64_MIN) {
    spdlog::debug("detection: frontier {} s closes buckets {}..{}", frontier_ms / 1000, closed_through_ + 1, last);
  }
  CloseThrough(last);
}

void Detection::Finish() {
  if (!open_.empty()) CloseThrough(open_.rbegin()->first);
}

void Detection::CloseThrough(int64_t last) {
  if (closed_through_ == INT64_MIN) {
    if (open_.empty()) return;  // nothing seen yet: nothing to close
    closed_through_ = std::min(open_.begin()->first, last + 1) - 1;
  }
  while (closed_through_ < last) {
    const int64_t next = closed_through_ + 1;
    auto it = open_.begin();
    if (it != open_.end() && it->first == next) {
      std::unique_ptr<BucketMap> data = std::move(it->second);
      open_.erase(it);
      if (cached_bucket_ == next) {
        cached_bucket_ = INT64_MIN;
        cached_map_ = nullptr;
      }
      CloseBucket(next, data.get());
      data->Clear();
      if (spare_.size() < kMaxSpareMaps) spare_.push_back(std::move(data));
    } else if (!incidents_.empty()) {
      CloseBucket(next, nullptr);  // an empty bucket still counts for open incidents
    } else {
      // Nothing to judge before the next bucket with data: skip the gap. Open
      // buckets are all after closed_through_, so this always advances.
      closed_through_ = it == open_.end() ? last : std::min(last, it->first - 1);
      continue;
    }
    closed_through_ = next;
  }
  if (last_eviction_bucket_ == INT64_MIN) last_eviction_bucket_ = closed_through_;
  if (closed_through_ - last_eviction_bucket_ >= kEvictionEveryBuckets) {
    EvictIdle(closed_through_);
    last_eviction_bucket_ = closed_through_;
  }
}

namespace {

bool HigherRatio(const Deviation& a, const Deviation& b) { return a.ratio > b.ratio; }

// Seeds a bucket's stochastic rounding from what does not depend on the order
// names were interned in (a VM's id differs from run to run and between the
// daemon and replay): the same flows give the same baselines everywhere.
uint64_t RoundingSeed(const FlowKey& key, uint64_t bytes) {
  return HashCombine(HashCombine(key.port, key.protocol), HashCombine(static_cast<uint64_t>(key.direction), bytes));
}

}  // namespace

void Detection::CloseBucket(int64_t bucket, BucketMap* data) {
  RefreshThresholds();
  next_firing_.clear();
  next_top_.clear();
  anomalous_.clear();
  std::vector<FlowKey> resolved;
  if (data != nullptr) {
    data->ForEach([&](const FlowKey& key, const BucketAgg& agg) {
      const VolumeVerdict v = Judge(key, bucket, agg, &resolved);
      if (observer_ != nullptr) observer_->OnBucket(key, bucket * options_.bucket_ms, agg.bytes, v);
    });
  }
  static const BucketAgg kEmpty;
  incidents_.ForEach([&](const FlowKey& key, const Incident&) {
    if (data == nullptr || data->Find(key) == nullptr) Judge(key, bucket, kEmpty, &resolved);
  });
  for (const FlowKey& key : resolved) incidents_.Erase(key);
  std::sort(next_top_.begin(), next_top_.end(), HigherRatio);
  std::sort(next_firing_.begin(), next_firing_.end(), HigherRatio);
  deviations_.swap(next_firing_);
  deviations_.insert(deviations_.end(), next_top_.begin(), next_top_.end());
  EmitPending();
}

void Detection::EmitPending() {
  // Each firing alert names the VM's other keys that deviate in this bucket.
  std::sort(anomalous_.begin(), anomalous_.end(), [](const Deviation& a, const Deviation& b) {
    return a.key.vm_id != b.key.vm_id ? a.key.vm_id < b.key.vm_id : a.ratio > b.ratio;
  });
  for (Alert& a : pending_) {
    if (a.status != AlertStatus::kFiring) continue;
    auto it = std::lower_bound(anomalous_.begin(), anomalous_.end(), a.key.vm_id,
                               [](const Deviation& d, uint32_t vm) { return d.key.vm_id < vm; });
    for (; it != anomalous_.end() && it->key.vm_id == a.key.vm_id && a.related.size() < options_.max_related; ++it) {
      if (!(it->key == a.key)) a.related.push_back(RelatedDeviation{it->key, it->observed_bytes, it->baseline_bytes});
    }
  }
  for (Alert& a : pending_) sink_->Emit(std::move(a));
  pending_.clear();
}

VolumeVerdict Detection::Judge(const FlowKey& key, int64_t bucket, const BucketAgg& agg, std::vector<FlowKey>* resolved) {
  SeasonalBaseline* b = baselines_.Find(key);
  if (b == nullptr) {  // evicted while a bucket of it was open: start afresh
    b = baselines_.TryEmplace(key).first;
    ++*keys_per_vm_.TryEmplace(key.vm_id).first;
  }
  VolumeVerdict v;
  if (agg.bytes > 0) {
    v = model_.Observe(b, RoundingSeed(key, agg.bytes), bucket, agg.bytes, thresholds_, options_.volume, &bucket_pool_,
                       &pair_pool_, &sustained_pool_, NewPeerExcess(key, *b, bucket, agg));
  } else {  // a firing key without traffic: a normal bucket
    VolumeModel::EndRun(b, &sustained_pool_, thresholds_.sustained);
    v.expected = model_.Expected(*b, bucket);
  }
  if (b->firing()) {
    Incident* inc = incidents_.Find(key);
    if (v.anomalous && inc != nullptr && (bucket - inc->start_bucket + 1) * options_.bucket_ms >= options_.relearn_after_ms) {
      // It has lasted: this is the key's normal now.
      model_.Relearn(b, inc->mean_residual);
      v.anomalous = false;
    }
    if (v.anomalous) {
      b->set_normal_streak(0);
      if (inc != nullptr) {
        if (v.severity == Severity::kCritical) inc->severity = Severity::kCritical;
        inc->last_bucket = bucket;
        inc->peak_residual = std::max(inc->peak_residual, static_cast<float>(v.residual));
        // A running mean, then an EWMA over about an hour of buckets, so that
        // relearning takes the shift and not one bucket's burst.
        inc->anomalous_buckets = std::min<uint32_t>(inc->anomalous_buckets + 1, kShiftBuckets);
        inc->mean_residual += static_cast<float>((v.residual - inc->mean_residual) / inc->anomalous_buckets);
      }
    } else if (b->normal_streak() + 1 >= static_cast<int>(options_.resolve_after_buckets)) {
      b->set_firing(false);
      b->set_normal_streak(0);
      if (inc != nullptr && (inc->last_bucket - inc->begin_bucket + 1) * options_.bucket_ms <= kShortIncidentMs) {
        model_.LearnBurst(b, inc->begin_bucket, inc->last_bucket, inc->peak_residual);
      }
      const Incident none{bucket, bucket, bucket, 0, v.severity};
      Alert a = MakeAlert(AlertStatus::kResolved, key, bucket, agg, v, inc ? *inc : none);
      if (inc != nullptr) a.severity = inc->severity;
      pending_.push_back(std::move(a));
      resolved->push_back(key);
    } else {
      b->set_normal_streak(b->normal_streak() + 1);
    }
  } else if (v.anomalous) {
    b->set_firing(true);
    b->set_normal_streak(0);
    // A sustained deviation began when its evidence started to build.
    const int64_t begin = v.sustained && !v.single ? bucket - std::max<int64_t>(v.run, 1) + 1 : bucket;
    const Incident inc{bucket, begin, bucket, static_cast<float>(v.residual), v.severity};
    *incidents_.TryEmplace(key).first = inc;
    Alert a = MakeAlert(AlertStatus::kFiring, key, bucket, agg, v, inc);
    a.once_in_key_days = Rarity(v);
    pending_.push_back(std::move(a));
  }
  const Deviation d{key, bucket * options_.bucket_ms, agg.bytes, v.expected, v.ratio, v.zscore, b->firing()};
  if (v.anomalous) anomalous_.push_back(d);
  if (d.firing) {
    next_firing_.push_back(d);
  } else if (v.warm && options_.top_deviations > 0) {
    if (next_top_.size() < options_.top_deviations) {
      next_top_.push_back(d);
      std::push_heap(next_top_.begin(), next_top_.end(), HigherRatio);
    } else if (d.ratio > next_top_.front().ratio) {
      std::pop_heap(next_top_.begin(), next_top_.end(), HigherRatio);
      next_top_.back() = d;
      std::push_heap(next_top_.begin(), next_top_.end(), HigherRatio);
    }
  }
  return v;
}

bool Detection::NewPeerExcess(const FlowKey& key, const SeasonalBaseline& b, int64_t bucket,
                              const BucketAgg& agg) const {
  if (novelty_ == nullptr || b.seen() == 0 || agg.bytes < options_.volume.min_bytes) return false;
  const double expected = model_.Expected(b, bucket);
  const double excess = static_cast<double>(agg.bytes) - expected;
  if (agg.bytes < kNewPeerRatio * expected) return false;
  uint64_t fresh = 0;
  for (const PeerBytes& p : agg.peers.Top(options_.top_peers)) {
    if (novelty_->IsNew(key, p.ip, (bucket + 1) * options_.bucket_ms)) fresh += p.bytes;
  }
  return static_cast<double>(fresh) >= kNewPeerShare * excess;
}

void Detection::EvictIdle(int64_t bucket) {
  const int64_t ttl_buckets = std::max<int64_t>(1, options_.idle_ttl_ms / options_.bucket_ms);
  evicted_keys_ += baselines_.EraseIf([&](const FlowKey& key, const SeasonalBaseline& b) {
    if (b.firing() || b.seen() == 0 || static_cast<int64_t>(b.last_bucket) >= bucket - ttl_buckets) return false;
    if (uint32_t* n = keys_per_vm_.Find(key.vm_id); n != nullptr && --*n == 0) keys_per_vm_.Erase(key.vm_id);
    return true;
  });
}

Alert Detection::MakeAlert(AlertStatus status, const FlowKey& key, int64_t bucket, const BucketAgg& agg,
                           const VolumeVerdict& v, const Incident& incident) const {
  Alert a;
  a.status = status;
  a.key = key;
  a.window_start_ms = bucket * options_.bucket_ms;
  a.window_end_ms = a.window_start_ms + options_.bucket_ms;
  a.incident_start_ms = incident.start_bucket * options_.bucket_ms;
  a.observed_bytes = agg.bytes;
  a.baseline_bytes = a.expected_bytes = v.expected;
  a.ratio = v.ratio;
  a.zscore = v.zscore;
  a.severity = v.severity;
  // Firing: from where the deviation began to now; resolved: to the last
  // anomalous bucket, before the normal ones that resolved it.
  const int64_t last = status == AlertStatus::kFiring ? bucket : bucket - options_.resolve_after_buckets;
  a.duration_ms = std::max<int64_t>(1, last - incident.begin_bucket + 1) * options_.bucket_ms;
  a.top_peers = agg.peers.Top(options_.top_peers);
  return a;
}

void Detection::Save(state::Writer* w) const {
  w->Put<int64_t>(options_.bucket_ms);
  w->Put<int64_t>(closed_through_);
  w->Put<int64_t>(last_eviction_bucket_);
  w->Put<uint64_t>(late_flows_.value());
  w->Put<uint64_t>(folded_flows_.value());
  w->Put<uint64_t>(evicted_keys_);
  bucket_pool_.Save(w);
  pair_pool_.Save(w);
  sustained_pool_.Save(w);
  w->Put<uint64_t>(baselines_.size());
  baselines_.ForEach([&](const FlowKey& k, const SeasonalBaseline& b) {
    w->Put<uint64_t>(k.Packed());
    w->Put<uint32_t>(b.last_bucket);
    w->Put<uint16_t>(b.level);
    w->Put<uint8_t>(b.scale);
    w->Put<uint8_t>(b.last_score);
    w->Put<uint16_t>(b.flags);
    w->Put<uint8_t>(b.evidence);
    w->Put<uint8_t>(b.evidence_peak);
    w->Put<uint8_t>(b.run);
    for (int8_t v : b.day) w->Put<int8_t>(v);
    w->Put<uint8_t>(b.run_peak);
    w->Put<uint8_t>(b.run_high);
    w->Put<uint8_t>(b.raised);
    for (uint8_t v : b.weeks) w->Put<uint8_t>(v);
    for (uint8_t v : b.ceilings) w->Put<uint8_t>(v);
  });
  w->Put<uint64_t>(incidents_.size());
  incidents_.ForEach([&](const FlowKey& k, const Incident& i) {
    w->Put<uint64_t>(k.Packed());
    w->Put<int64_t>(i.start_bucket);
    w->Put<int64_t>(i.begin_bucket);
    w->Put<int64_t>(i.last_bucket);
    w->Put<float>(i.peak_residual);
    w->Put<float>(i.mean_residual);
    w->Put<uint32_t>(i.anomalous_buckets);
    w->Put<uint8_t>(static_cast<uint8_t>(i.severity));
  });
  w->Put<uint64_t>(open_.size());
  for (const auto& [bucket, map] : open_) {
    w->Put<int64_t>(bucket);
    w->Put<uint64_t>(map->size());
    map->ForEach([&](const FlowKey& k, const BucketAgg& a) {
      w->Put<uint64_t>(k.Packed());
      w->Put<uint64_t>(a.bytes);
      w->Put<uint64_t>(a.bytes_sent);
      w->Put<uint64_t>(a.packets);
      w->Put<uint32_t>(a.flows);
      a.peers.Save(w);
    });
  }
}

bool Detection::LoadBaselines(state::Reader* r, const state::IdRemap& remap, uint32_t version) {
  const uint64_t baselines = r->Count(version == 1 ? 30 : version == 2 ? 51 : 52);
  for (uint64_t i = 0; i < baselines && r->ok(); ++i) {
    const FlowKey key = state::ReadFlowKey(r, remap);
    SeasonalBaseline b;
    if (version == 1) {
      // An EWMA of bytes (empty buckets as zeros): its mean and spread become
      // the level and scale of log bytes (a lognormal's); the profile starts
      // empty, so each hour is seen once more before it may alert.
      const double mean = std::max(1.0, static_cast<double>(r->Get<float>()));
      const double var = std::max(0.0, static_cast<double>(r->Get<float>()));
      const int64_t last_bucket = r->Get<int64_t>();
      const uint32_t age = r->Get<uint32_t>();
      const bool firing = r->Get<uint8_t>() != 0;
      const uint8_t streak = r->Get<uint8_t>();
      if (last_bucket < 0 || last_bucket > UINT32_MAX) r->Fail("a baseline's last bucket " + std::to_string(last_bucket));
      b.last_bucket = static_cast<uint32_t>(std::clamp<int64_t>(last_bucket, 0, UINT32_MAX));
      b.level = static_cast<uint16_t>(std::clamp(std::log(mean) / SeasonalBaseline::kLevelUnit, 0.0, 65535.0));
      const double spread = std::max(SeasonalBaseline::kScaleFloor, std::sqrt(std::log1p(var / (mean * mean))));
      b.scale = static_cast<uint8_t>(std::clamp(
          SeasonalBaseline::kScaleSteps * std::log(spread / SeasonalBaseline::kScaleFloor), 1.0, 255.0));
      b.set_seen(static_cast<int>(std::min<uint32_t>(age, SeasonalBaseline::kMaxSeen)));
      if (age == 0) b.set_seen(0);
      b.set_firing(firing);
      b.set_normal_streak(streak);
    } else {
      b.last_bucket = r->Get<uint32_t>();
      b.level = r->Get<uint16_t>();
      b.scale = r->Get<uint8_t>();
      b.last_score = r->Get<uint8_t>();
      b.flags = r->Get<uint16_t>();
      b.evidence = r->Get<uint8_t>();
      b.evidence_peak = r->Get<uint8_t>();
      b.run = r->Get<uint8_t>();
      for (int8_t& v : b.day) v = r->Get<int8_t>();
      b.run_peak = r->Get<uint8_t>();
      b.run_high = r->Get<uint8_t>();
      if (version >= 3) {
        b.raised = r->Get<uint8_t>();
      } else {
        // Format 2 kept evidence in eighths and the run's bursts in a whole
        // byte; the run past the floors starts afresh.
        b.evidence = static_cast<uint8_t>((b.evidence + 1) / 2);
        b.evidence_peak = static_cast<uint8_t>((b.evidence_peak + 1) / 2);
        b.run_high = std::min<uint8_t>(b.run_high, 0x7F);
      }
      for (uint8_t& v : b.weeks) v = r->Get<uint8_t>();
      for (uint8_t& v : b.ceilings) v = r->Get<uint8_t>();
      if (b.first_visit() > 7) r->Fail("a baseline's weekday " + std::to_string(b.first_visit() - 1));
    }
    if (!r->ok()) break;
    auto [slot, inserted] = baselines_.TryEmplace(key);
    if (!inserted) r->Fail("a baseline twice");
    *slot = b;
    ++*keys_per_vm_.TryEmplace(key.vm_id).first;
  }
  return r->ok();
}

bool Detection::Load(state::Reader* r, const state::IdRemap& remap, uint32_t version) {
  if (version < 1 || version > state::kCheckpointVersion) {
    r->Fail("detection state of format " + std::to_string(version));
    return false;
  }
  const int64_t bucket_ms = r->Get<int64_t>();
  if (r->ok() && bucket_ms != options_.bucket_ms) {
    r->Fail("baselines of " + std::to_string(bucket_ms / 1000) + " s buckets; detection.bucket is now " +
            std::to_string(options_.bucket_ms / 1000) + " s");
    return false;
  }
  closed_through_ = r->Get<int64_t>();
  last_eviction_bucket_ = r->Get<int64_t>();
  late_flows_.Add(r->Get<uint64_t>());
  folded_flows_.Add(r->Get<uint64_t>());
  evicted_keys_ = r->Get<uint64_t>();
  if (version >= 2 && r->ok() && !(bucket_pool_.Load(r) && pair_pool_.Load(r) && sustained_pool_.Load(r))) return false;
  if (!LoadBaselines(r, remap, version)) return false;
  const uint64_t incidents = r->Count(version == 1 ? 17 : 45);
  for (uint64_t i = 0; i < incidents && r->ok(); ++i) {
    const FlowKey key = state::ReadFlowKey(r, remap);
    Incident inc;
    inc.start_bucket = r->Get<int64_t>();
    inc.begin_bucket = version == 1 ? inc.start_bucket : r->Get<int64_t>();
    inc.last_bucket = version == 1 ? inc.start_bucket : r->Get<int64_t>();
    inc.peak_residual = version == 1 ? 0.0f : r->Get<float>();
    inc.mean_residual = version == 1 ? 0.0f : r->Get<float>();
    inc.anomalous_buckets = version == 1 ? 0 : r->Get<uint32_t>();
    const uint8_t severity = r->Get<uint8_t>();
    if (severity > static_cast<uint8_t>(Severity::kCritical)) r->Fail("a bad severity");
    if (inc.begin_bucket > inc.start_bucket || inc.last_bucket < inc.start_bucket || !std::isfinite(inc.peak_residual) ||
        !std::isfinite(inc.mean_residual)) {
      r->Fail("an incident's buckets out of order");
    }
    inc.severity = static_cast<Severity>(severity);
    const SeasonalBaseline* b = baselines_.Find(key);
    if (b == nullptr || !b->firing()) r->Fail("an incident without a firing baseline");
    if (!r->ok()) break;
    *incidents_.TryEmplace(key).first = inc;
  }
  const uint64_t buckets = r->Count(16);
  for (uint64_t i = 0; i < buckets && r->ok(); ++i) {
    const int64_t bucket = r->Get<int64_t>();
    if (closed_through_ != INT64_MIN && bucket <= closed_through_) r->Fail("an open bucket that is closed");
    if (open_.count(bucket) != 0) r->Fail("an open bucket twice");
    auto map = std::make_unique<BucketMap>();
    const uint64_t keys = r->Count(37);
    for (uint64_t j = 0; j < keys && r->ok(); ++j) {
      const FlowKey key = state::ReadFlowKey(r, remap);
      BucketAgg a;
      a.bytes = r->Get<uint64_t>();
      a.bytes_sent = r->Get<uint64_t>();
      a.packets = r->Get<uint64_t>();
      a.flows = r->Get<uint32_t>();
      a.peers.Load(r);
      if (!r->ok()) break;
      *map->TryEmplace(key).first = a;
    }
    if (r->ok()) open_[bucket] = std::move(map);
  }
  if (r->ok()) RefreshThresholds();
  return r->ok();
}

}  // namespace flowwatch::detect
