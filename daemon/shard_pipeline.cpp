#include "daemon/shard_pipeline.h"

namespace flowwatch::app {
namespace {

constexpr int64_t kEvictionIntervalMs = 3600 * 1000;  // sweep idle keys once an event-time hour

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

ShardPipeline::ShardPipeline(const config::Config& config)
    : dedup_(DedupOptions(config)), ports_(PortOptions(config)) {}

void ShardPipeline::OnFlow(const FlowRecord& flow) {
  if (dedup_.CheckAndInsert(flow.dedup_hash, flow.time_ms)) {
    counters_.duplicates.Add();
    return;
  }
  counters_.tuples_by_format[static_cast<int>(flow.format)].Add();
  counters_.bytes.Add(flow.bytes());
  counters_.packets.Add(flow.packets());
  ports_.Apply(flow);
  counters_.keys.Set(ports_.size());
}

void ShardPipeline::OnProgress(int64_t input_time_ms) {
  if (last_eviction_ms_ == INT64_MIN) last_eviction_ms_ = input_time_ms;
  if (input_time_ms - last_eviction_ms_ >= kEvictionIntervalMs) {
    ports_.EvictIdle(input_time_ms);
    counters_.keys.Set(ports_.size());
    last_eviction_ms_ = input_time_ms;
  }
}

void ShardPipeline::OnEndOfInput() { counters_.keys.Set(ports_.size()); }

}  // namespace flowwatch::app
