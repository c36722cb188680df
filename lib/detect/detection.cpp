#include "lib/detect/detection.h"

#include <algorithm>
#include <cmath>

#include "lib/common/interner.h"
#include "lib/common/logging.h"

namespace flowwatch::detect {
namespace {

constexpr size_t kMaxSpareMaps = 1;  // a bucket table is large: keep one for reuse
constexpr int64_t kEvictionEveryBuckets = 12;

}  // namespace

Detection::Detection(const DetectionOptions& options, AlertSink* sink, BucketObserver* observer)
    : options_(options),
      alpha_(AlphaForHalfLife(static_cast<double>(options.half_life_ms) / static_cast<double>(options.bucket_ms))),
      young_age_(static_cast<uint32_t>(std::ceil(1 / alpha_))),
      sink_(sink),
      observer_(observer) {}

Detection::~Detection() = default;

void Detection::UpdateThresholds(const DetectionOptions& o) {
  const int64_t bucket_ms = options_.bucket_ms, lateness_ms = options_.allowed_lateness_ms,
                half_life_ms = options_.half_life_ms;
  options_ = o;
  options_.bucket_ms = bucket_ms;
  options_.allowed_lateness_ms = lateness_ms;
  options_.half_life_ms = half_life_ms;
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
  const FlowKey key = Admit(FlowKey::Of(flow));
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
  BucketAgg& agg = *cached_map_->TryEmplace(key).first;
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

}  // namespace

void Detection::CloseBucket(int64_t bucket, BucketMap* data) {
  next_firing_.clear();
  next_top_.clear();
  std::vector<FlowKey> resolved;
  if (data != nullptr) {
    data->ForEach([&](const FlowKey& key, const BucketAgg& agg) {
      if (observer_ != nullptr) observer_->OnBucket(key, bucket * options_.bucket_ms, agg.bytes);
      Judge(key, bucket, agg, &resolved);
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
}

void Detection::CatchUp(KeyBaseline* b, int64_t bucket) const {
  if (b->age == 0) return;
  int64_t zeros = bucket - b->last_bucket - 1;
  // While young, the mean is a running average (alpha = 1/age): step by step.
  while (zeros > 0 && b->age < young_age_) {
    Fold(b, 0);
    --zeros;
  }
  if (zeros > 0) {
    b->bytes.DecayZeros(zeros, alpha_);
    b->age = static_cast<uint32_t>(std::min<int64_t>(UINT32_MAX - 1, b->age + zeros));
  }
}

void Detection::Fold(KeyBaseline* b, double x) const {
  const double alpha = std::max(alpha_, 1.0 / (static_cast<double>(b->age) + 1));
  b->bytes.Update(x, alpha);
  if (b->age < UINT32_MAX - 1) ++b->age;
}

void Detection::Judge(const FlowKey& key, int64_t bucket, const BucketAgg& agg, std::vector<FlowKey>* resolved) {
  KeyBaseline* b = baselines_.Find(key);
  if (b == nullptr) {  // evicted while a bucket of it was open: start afresh
    b = baselines_.TryEmplace(key).first;
    ++*keys_per_vm_.TryEmplace(key.vm_id).first;
  }
  CatchUp(b, bucket);
  const VolumeVerdict v = EvaluateVolume(b->bytes, b->age, agg.bytes, options_.volume);
  const double x = BaselineInput(b->bytes, agg.bytes, v, options_.volume);
  if (b->firing) {
    Incident* inc = incidents_.Find(key);
    if (v.anomalous) {
      b->normal_streak = 0;
      if (inc != nullptr && v.severity == Severity::kCritical) inc->severity = Severity::kCritical;
    } else if (++b->normal_streak >= options_.resolve_after_buckets) {
      b->firing = 0;
      b->normal_streak = 0;
      Alert a = MakeAlert(AlertStatus::kResolved, key, bucket, agg, v, inc ? inc->start_bucket : bucket);
      if (inc != nullptr) a.severity = inc->severity;
      sink_->Emit(std::move(a));
      resolved->push_back(key);
    }
  } else if (v.anomalous) {
    b->firing = 1;
    b->normal_streak = 0;
    *incidents_.TryEmplace(key).first = Incident{bucket, v.severity};
    sink_->Emit(MakeAlert(AlertStatus::kFiring, key, bucket, agg, v, bucket));
  }
  const Deviation d{key, bucket * options_.bucket_ms, agg.bytes, v.baseline, v.ratio, v.zscore, b->firing != 0};
  if (d.firing) {
    next_firing_.push_back(d);
  } else if (b->age >= options_.volume.warmup_buckets && options_.top_deviations > 0) {
    if (next_top_.size() < options_.top_deviations) {
      next_top_.push_back(d);
      std::push_heap(next_top_.begin(), next_top_.end(), HigherRatio);
    } else if (d.ratio > next_top_.front().ratio) {
      std::pop_heap(next_top_.begin(), next_top_.end(), HigherRatio);
      next_top_.back() = d;
      std::push_heap(next_top_.begin(), next_top_.end(), HigherRatio);
    }
  }
  Fold(b, x);
  b->last_bucket = bucket;
}

void Detection::EvictIdle(int64_t bucket) {
  const int64_t ttl_buckets = std::max<int64_t>(1, options_.idle_ttl_ms / options_.bucket_ms);
  evicted_keys_ += baselines_.EraseIf([&](const FlowKey& key, const KeyBaseline& b) {
    if (b.firing || b.age == 0 || b.last_bucket >= bucket - ttl_buckets) return false;
    if (uint32_t* n = keys_per_vm_.Find(key.vm_id); n != nullptr && --*n == 0) keys_per_vm_.Erase(key.vm_id);
    return true;
  });
}

Alert Detection::MakeAlert(AlertStatus status, const FlowKey& key, int64_t bucket, const BucketAgg& agg,
                           const VolumeVerdict& v, int64_t incident_start) const {
  Alert a;
  a.status = status;
  a.key = key;
  a.window_start_ms = bucket * options_.bucket_ms;
  a.window_end_ms = a.window_start_ms + options_.bucket_ms;
  a.incident_start_ms = incident_start * options_.bucket_ms;
  a.observed_bytes = agg.bytes;
  a.baseline_bytes = v.baseline;
  a.ratio = v.ratio;
  a.zscore = v.zscore;
  a.severity = v.severity;
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
  w->Put<uint64_t>(baselines_.size());
  baselines_.ForEach([&](const FlowKey& k, const KeyBaseline& b) {
    w->Put<uint64_t>(k.Packed());
    w->Put<float>(b.bytes.mean);
    w->Put<float>(b.bytes.var);
    w->Put<int64_t>(b.last_bucket);
    w->Put<uint32_t>(b.age);
    w->Put<uint8_t>(b.firing);
    w->Put<uint8_t>(b.normal_streak);
  });
  w->Put<uint64_t>(incidents_.size());
  incidents_.ForEach([&](const FlowKey& k, const Incident& i) {
    w->Put<uint64_t>(k.Packed());
    w->Put<int64_t>(i.start_bucket);
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

bool Detection::Load(state::Reader* r, const state::IdRemap& remap) {
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
  const uint64_t baselines = r->Count(30);
  for (uint64_t i = 0; i < baselines && r->ok(); ++i) {
    const FlowKey key = state::ReadFlowKey(r, remap);
    KeyBaseline b;
    b.bytes.mean = r->Get<float>();
    b.bytes.var = r->Get<float>();
    b.last_bucket = r->Get<int64_t>();
    b.age = r->Get<uint32_t>();
    b.firing = r->Get<uint8_t>() != 0;
    b.normal_streak = r->Get<uint8_t>();
    if (!r->ok()) break;
    auto [slot, inserted] = baselines_.TryEmplace(key);
    if (!inserted) r->Fail("a baseline twice");
    *slot = b;
    ++*keys_per_vm_.TryEmplace(key.vm_id).first;
  }
  const uint64_t incidents = r->Count(17);
  for (uint64_t i = 0; i < incidents && r->ok(); ++i) {
    const FlowKey key = state::ReadFlowKey(r, remap);
    Incident inc;
    inc.start_bucket = r->Get<int64_t>();
    const uint8_t severity = r->Get<uint8_t>();
    if (severity > static_cast<uint8_t>(Severity::kCritical)) r->Fail("a bad severity");
    inc.severity = static_cast<Severity>(severity);
    const KeyBaseline* b = baselines_.Find(key);
    if (b == nullptr || !b->firing) r->Fail("an incident without a firing baseline");
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
  return r->ok();
}

}  // namespace flowwatch::detect
