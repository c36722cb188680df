// The daemon's /metrics: every family it serves, built at scrape time from the
// same counters as the summary file. docs/metrics.md lists them; a test keeps
// the two in sync.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/alert_writer.h"
#include "daemon/checkpoint.h"
#include "daemon/live_state.h"
#include "daemon/summary.h"
#include "lib/alert/dispatcher.h"
#include "lib/azure/credential.h"
#include "lib/decode/decode_stats.h"
#include "lib/metrics/metric_families.h"
#include "lib/source/blob/blob_events.h"
#include "lib/source/kafka/kafka_source.h"
#include "lib/source/object_follower.h"

namespace flowwatch::app {

struct DaemonSnapshot {
  decode::DecodeStats decode;
  PipelineTotals totals;
  uint64_t messages_decoded = 0, poison_messages = 0, alerts_written = 0, alerts_dropped = 0;
  const source::SourceCounters* source = nullptr;
  const azure::TokenCache* tokens = nullptr;  // with Entra ID
  size_t partitions_assigned = 0;
  bool ready = false;  // what /readyz answers
  std::map<int32_t, int64_t> partition_backlog;  // partition -> messages waiting
  std::map<int32_t, source::kafka::KafkaSource::PartitionConsumed> partition_consumed;
  uint64_t detect_keys_evicted = 0, port_keys_evicted = 0;  // read with the shards paused
  uint64_t port_folded_flows = 0, dedup_early_rotations = 0;  // read with the shards paused
  int64_t detect_closed_until_ms = INT64_MIN;  // the slowest shard's (of those that closed a bucket); paused
  std::map<std::string, uint64_t> name_overflows;             // interner table -> names refused when full
  std::map<AlertKind, uint64_t> alerts_by_kind;
  int64_t lag = -1;                              // their sum; -1 unknown
  std::optional<source::ObjectFollower::Backlog> followed;  // source.files, source.blob
  std::map<std::pair<std::string, std::string>, uint64_t> blob_requests;  // source.blob: (kind, status) -> requests
  const source::BlobEventCounters* blob_events = nullptr;  // source.kafka.follow_blob_events
  std::vector<size_t> shard_queued;              // per shard: flows waiting in its rings
  std::vector<uint64_t> decoder_backpressure_ns;  // per decoder: time waiting on full rings
  std::vector<alert::SinkStats> sinks;            // per webhook, in configuration order
  alert::RateLimitStats rate_limit;
  CheckpointStats checkpoint;
  bool checkpoint_restored = false;
  uint64_t alert_repeats = 0;
  std::vector<DeviationRow> deviations;           // firing keys and those closest to firing
  std::vector<VmTrafficRow> top_vms;              // the VMs with the most bytes
};

metrics::MetricFamilies DaemonMetrics(const DaemonSnapshot& s);

}  // namespace flowwatch::app
