#include "daemon/shard_pipeline.h"

namespace flowwatch::app {
namespace {

constexpr int64_t kEvictionIntervalMs = 3600 * 1000;  // sweep idle port keys once an event-time hour

shard::DedupWindow::Options DedupOptions(const config::Config& c) {
  shard::DedupWindow::Options o;
  o.window_ms = c.dedup.window.count();
  o.max_entries = c.dedup.max_entries;
  return o;
}

ports::PortTableOptions PortOptions(const config::Config& c) {
  ports::PortTableOptions o;
  o.max_keys = c.detection.max_keys;
  o.max_keys_per_vm = c.detection.max_keys_per_vm;
  o.max_peers_per_key = c.ports.max_peers_per_key;
  o.idle_ttl_ms = c.ports.idle_ttl.count();
  return o;
}

}  // namespace

detect::DetectionOptions DetectionOptionsFrom(const config::Config& c) {
  const config::DetectionConfig& d = c.detection;
  detect::DetectionOptions o;
  o.bucket_ms = d.bucket.count();
  o.allowed_lateness_ms = d.allowed_lateness.count();
  o.half_life_ms = d.half_life.count();
  o.relearn_after_ms = d.relearn_after.count();
  o.volume.false_alerts_per_1k_key_days = d.false_alerts_per_1k_key_days;
  o.volume.min_ratio = d.min_ratio;
  o.volume.min_zscore = d.min_zscore;
  o.volume.min_bytes = d.min_bytes;
  o.volume.critical_ratio = d.critical_ratio;
  o.volume.warmup_buckets = static_cast<uint32_t>(d.warmup_buckets);
  o.resolve_after_buckets = static_cast<uint32_t>(d.resolve_after_buckets);
  o.max_keys = d.max_keys;
  o.max_keys_per_vm = d.max_keys_per_vm;
  o.idle_ttl_ms = d.idle_ttl.count();
  o.top_peers = d.top_peers;
  return o;
}

ShardPipeline::ShardPipeline(const config::Config& config, detect::AlertSink* alerts, Mode mode)
    : dedup_(DedupOptions(config)),
      ports_(PortOptions(config)),
      new_peers_(this, alerts),
      detection_(DetectionOptionsFrom(config), &new_peers_, mode.observer, &new_peers_),
      classifier_(mode.enrichment ? mode.enrichment->Snapshot().first
                                  : std::make_shared<const enrich::PeerClassifier>()),
      mode_(mode),
      config_generation_(mode.live ? mode.live->generation() : 0) {}

void ShardPipeline::NewPeers::Emit(Alert alert) {
  if (alert.status == AlertStatus::kFiring && !alert.top_peers.empty()) {
    std::vector<IpAddress> top;
    for (const PeerBytes& p : alert.top_peers) top.push_back(p.ip);
    alert.new_peers = shard_->ports_.NewPeers(alert.key, top, alert.window_end_ms - kWindowMs, kWindowMs);
  }
  next_->Emit(std::move(alert));
}

bool ShardPipeline::NewPeers::IsNew(const FlowKey& key, const IpAddress& peer, int64_t now_ms) const {
  const ports::PortTable& ports = shard_->ports_;
  if (ports.NewPeers(key, {peer}, now_ms - kWindowMs, kWindowMs).empty()) return false;
  return shard_->classifier_->Classify(peer) == enrich::PeerClass::kPrivate ||
         ports.NewNetwork(key, peer, now_ms - kWindowMs, kWindowMs);
}

void ShardPipeline::OnFlow(const FlowRecord& flow) {
  if (dedup_.CheckAndInsert(flow.dedup_hash, flow.time_ms)) {
    counters_.duplicates.Add();
    return;
  }
  counters_.tuples_by_format[static_cast<int>(flow.format)].Add();
  counters_.bytes.Add(flow.bytes());
  counters_.packets.Add(flow.packets());
  const int peer = static_cast<int>(classifier_->Classify(flow.remote_ip()));
  const bool inbound = flow.direction == Direction::kInbound;
  const uint64_t in = inbound ? flow.bytes_sd : flow.bytes_ds;
  const uint64_t out = inbound ? flow.bytes_ds : flow.bytes_sd;
  counters_.ingress_bytes[peer].Add(in);
  counters_.egress_bytes[peer].Add(out);
  if (flow.starts_flow()) counters_.flows[static_cast<int>(flow.direction)][peer].Add();
  VmTraffic& vm = *vm_traffic_.TryEmplace(flow.vm_id).first;
  vm.ingress += in;
  vm.egress += out;
  ports_.Apply(flow);
  detection_.OnFlow(flow);
}

void ShardPipeline::OnProgress(int64_t input_time_ms) {
  if (mode_.live && mode_.live->generation() != config_generation_) {
    config_generation_ = mode_.live->generation();
    detection_.UpdateThresholds(DetectionOptionsFrom(*mode_.live->Get()));
    if (mode_.enrichment) classifier_ = mode_.enrichment->Snapshot().first;  // service tags reloaded
  }
  detection_.OnProgress(input_time_ms);
  if (last_eviction_ms_ == INT64_MIN) last_eviction_ms_ = input_time_ms;
  if (input_time_ms - last_eviction_ms_ >= kEvictionIntervalMs) {
    ports_.EvictIdle(input_time_ms);
    last_eviction_ms_ = input_time_ms;
  }
  UpdateGauges();
}

void ShardPipeline::OnEndOfInput() {
  if (mode_.close_at_end) detection_.Finish();
  UpdateGauges();
}

void ShardPipeline::UpdateGauges() {
  counters_.port_keys.Set(ports_.size());
  counters_.detect_keys.Set(detection_.keys());
  counters_.firing.Set(detection_.firing());
}

void ShardPipeline::Save(state::Writer* w) const {
  for (const Counter& c : counters_.tuples_by_format) w->Put<uint64_t>(c.value());
  w->Put<uint64_t>(counters_.bytes.value());
  w->Put<uint64_t>(counters_.packets.value());
  w->Put<uint64_t>(counters_.duplicates.value());
  for (int p = 0; p < enrich::kPeerClassCount; ++p) {
    w->Put<uint64_t>(counters_.ingress_bytes[p].value());
    w->Put<uint64_t>(counters_.egress_bytes[p].value());
    w->Put<uint64_t>(counters_.flows[0][p].value());
    w->Put<uint64_t>(counters_.flows[1][p].value());
  }
  w->Put<int64_t>(last_eviction_ms_);
  w->Put<uint64_t>(vm_traffic_.size());
  vm_traffic_.ForEach([&](uint32_t vm, const VmTraffic& t) {
    w->Put<uint32_t>(vm);
    w->Put<uint64_t>(t.ingress);
    w->Put<uint64_t>(t.egress);
  });
  dedup_.Save(w);
  ports_.Save(w);
  detection_.Save(w);
}

Status ShardPipeline::Load(std::string_view saved, const state::IdRemap& remap, const std::string& what,
                           uint32_t version) {
  state::Reader r(saved, what);
  for (Counter& c : counters_.tuples_by_format) c.Set(r.Get<uint64_t>());
  counters_.bytes.Set(r.Get<uint64_t>());
  counters_.packets.Set(r.Get<uint64_t>());
  counters_.duplicates.Set(r.Get<uint64_t>());
  for (int p = 0; p < enrich::kPeerClassCount; ++p) {
    counters_.ingress_bytes[p].Set(r.Get<uint64_t>());
    counters_.egress_bytes[p].Set(r.Get<uint64_t>());
    counters_.flows[0][p].Set(r.Get<uint64_t>());
    counters_.flows[1][p].Set(r.Get<uint64_t>());
  }
  last_eviction_ms_ = r.Get<int64_t>();
  const uint64_t vms = r.Count(20);
  for (uint64_t i = 0; i < vms && r.ok(); ++i) {
    uint32_t vm = 0;
    if (!remap.Vm(r.Get<uint32_t>(), &vm)) r.Fail("traffic of an unnamed VM");
    VmTraffic& t = *vm_traffic_.TryEmplace(vm).first;
    t.ingress = r.Get<uint64_t>();
    t.egress = r.Get<uint64_t>();
  }
  if (r.ok() && dedup_.Load(&r) && ports_.Load(&r, remap, version) && detection_.Load(&r, remap, version) && !r.done()) {
    r.Fail("bytes after the shard's state");
  }
  if (!r.ok()) return Status::Corruption(r.error());
  UpdateGauges();
  return Status::Ok();
}

}  // namespace flowwatch::app
