#include "daemon/daemon_metrics.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace flowwatch::app {

metrics::MetricFamilies DaemonMetrics(const DaemonSnapshot& s) {
  metrics::MetricFamilies m;
  const source::SourceCounters& k = *s.source;
  auto d = [](uint64_t v) { return static_cast<double>(v); };

  // Source: what came from the broker and what the consumer did.
  m.Counter("flowwatch_source_messages_total", "Messages consumed from the broker.", d(k.messages.value()));
  m.Counter("flowwatch_source_bytes_total", "Bytes of message bodies consumed from the broker.", d(k.bytes.value()));
  if (s.lag >= 0) {
    m.Gauge("flowwatch_source_consumer_lag_messages",
            "Messages behind the end of the assigned partitions (updated every 500 ms).", d(s.lag));
  }
  m.Gauge("flowwatch_source_partitions_assigned", "Partitions this process holds (with source.files: the files followed, not yet retired).", d(s.partitions_assigned));
  m.Gauge("flowwatch_ready", "1 when /readyz answers 200: partitions assigned and the last checkpoint written.",
          s.ready ? 1 : 0);
  for (const auto& [p, backlog] : s.partition_backlog) {
    m.Gauge("flowwatch_source_partition_lag_messages", "Messages waiting in the broker, per assigned partition.",
            d(backlog), {{"partition", std::to_string(p)}});
  }
  for (const auto& [p, c] : s.partition_consumed) {
    m.Counter("flowwatch_source_partition_messages_total", "Messages consumed, per partition.", d(c.messages),
              {{"partition", std::to_string(p)}});
    m.Counter("flowwatch_source_partition_bytes_total", "Bytes of message bodies consumed, per partition.", d(c.bytes),
              {{"partition", std::to_string(p)}});
  }
  m.Counter("flowwatch_source_errors_total", "Consumer errors, transient ones included.", d(k.errors.value()));
  if (s.followed) {
    const source::ObjectFollower::Backlog& b = *s.followed;
    m.Gauge("flowwatch_source_objects_tracked", "Files or blobs listed at the last poll.", d(b.tracked));
    m.Gauge("flowwatch_source_behind_bytes", "Bytes listed and not yet read (a blob's trailer aside).",
            d(b.bytes_behind));
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count();
    m.Gauge("flowwatch_source_oldest_unread_seconds",
            "How long the oldest listed bytes not yet read have waited (0: none wait).",
            b.oldest_unread_ms < 0 ? 0 : static_cast<double>(std::max<int64_t>(0, now - b.oldest_unread_ms)) / 1000.0);
    m.Gauge("flowwatch_source_streams", "Flow-log streams listed (one NIC's or NSG's hourly blobs).", d(b.streams));
    m.Gauge("flowwatch_source_streams_silent",
            "Streams with no blob in the newest hour listed nor the one before: a VM stopped, or its flow log switched off.",
            d(b.streams_silent));
  }
  for (const auto& [kind_status, n] : s.blob_requests) {
    m.Counter("flowwatch_source_blob_requests_total",
              "Blob Storage requests, by kind (list, get) and HTTP status (0: no answer).", d(n),
              {{"kind", kind_status.first}, {"status", kind_status.second}});
  }
  if (const source::BlobEventCounters* e = s.blob_events) {
    const char* help = "BlobCreated events, by outcome: followed (the blob read), ignored (not a flow-log blob of the "
                       "configured account and containers), missing (the blob gone), retried (Storage failed; tried again).";
    m.Counter("flowwatch_source_blob_events_total", help, d(e->followed.value()), {{"outcome", "followed"}});
    m.Counter("flowwatch_source_blob_events_total", help, d(e->ignored.value()), {{"outcome", "ignored"}});
    m.Counter("flowwatch_source_blob_events_total", help, d(e->missing.value()), {{"outcome", "missing"}});
    m.Counter("flowwatch_source_blob_events_total", help, d(e->retried.value()), {{"outcome", "retried"}});
    m.Counter("flowwatch_source_blob_event_records_total", "Records read from the blobs BlobCreated events name.",
              d(e->records.value()));
    const char* problems = "Blobs read again from their start (rewritten) and records stepped over (too_large).";
    m.Counter("flowwatch_source_blob_event_problems_total", problems, d(e->rewritten.value()), {{"kind", "rewritten"}});
    m.Counter("flowwatch_source_blob_event_problems_total", problems, d(e->too_large.value()), {{"kind", "too_large"}});
  }
  m.Counter("flowwatch_azure_token_requests_total", "Entra ID token exchanges, by result (ok, failed).",
            s.tokens ? d(s.tokens->fetched.value()) : 0, {{"result", "ok"}});
  m.Counter("flowwatch_azure_token_requests_total", "Entra ID token exchanges, by result (ok, failed).",
            s.tokens ? d(s.tokens->failed.value()) : 0, {{"result", "failed"}});
  m.Counter("flowwatch_source_commits_total", "Offset commits the broker acknowledged.", d(k.commits.value()));
  m.Counter("flowwatch_source_commit_failures_total", "Offset commits that failed (retried at the next interval).",
            d(k.commit_failures.value()));
  m.Counter("flowwatch_source_rebalances_total", "Partition assignments and revocations.", d(k.rebalances.value()));
  m.Counter("flowwatch_source_pauses_total", "Partitions paused because the pipeline had no room.",
            d(k.pauses.value()));
  m.Counter("flowwatch_source_dead_lettered_total", "Undecodable messages copied to the dead-letter topic.",
            d(k.dead_lettered.value()));

  // Decode: what was read from the messages.
  m.Counter("flowwatch_decode_messages_total", "Messages decoded (re-deliveries included).", d(s.messages_decoded));
  m.Counter("flowwatch_decode_poison_messages_total", "Messages from which nothing at all could be read.",
            d(s.poison_messages));
  m.Counter("flowwatch_decode_records_total", "Flow-log records accepted.", d(s.decode.records));
  for (int f = 0; f < kRecordFormatCount; ++f) {
    m.Counter("flowwatch_decode_tuples_total", "Flow tuples decoded, by record format.", d(s.decode.tuples_by_format[f]),
              {{"format", std::string(FormatName(static_cast<RecordFormat>(f)))}});
  }
  for (int e = 0; e < decode::kDecodeErrorCount; ++e) {
    m.Counter("flowwatch_decode_errors_total", "Elements skipped, by error type (docs/formats.md).", d(s.decode.errors[e]),
              {{"type", std::string(decode::DecodeErrorName(static_cast<decode::DecodeError>(e)))}});
  }

  // Shards: what was applied, after de-duplication.
  m.Counter("flowwatch_shard_tuples_applied_total", "Flow tuples applied to the port inventory and detection.",
            d(s.totals.tuples));
  m.Counter("flowwatch_shard_duplicates_dropped_total", "Flow tuples dropped as repeats (de-duplication window).",
            d(s.totals.duplicates));
  for (size_t i = 0; i < s.shard_queued.size(); ++i) {
    m.Gauge("flowwatch_shard_queued_flows", "Flows waiting in a shard's rings.", d(s.shard_queued[i]),
            {{"shard", std::to_string(i)}});
  }
  for (size_t i = 0; i < s.decoder_backpressure_ns.size(); ++i) {
    m.Counter("flowwatch_shard_backpressure_seconds_total", "Time a decoder waited on full shard rings.",
              static_cast<double>(s.decoder_backpressure_ns[i]) / 1e9, {{"decoder", std::to_string(i)}});
  }
  m.Counter("flowwatch_traffic_bytes_total", "Bytes of the applied flows, both directions.", d(s.totals.bytes));
  m.Counter("flowwatch_traffic_packets_total", "Packets of the applied flows, both directions.", d(s.totals.packets));
  for (int p = 0; p < enrich::kPeerClassCount; ++p) {
    const std::string peer(enrich::PeerClassName(static_cast<enrich::PeerClass>(p)));
    m.Counter("flowwatch_traffic_vm_bytes_total", "Bytes into (ingress) and out of (egress) the VMs, by the peer's class.",
              d(s.totals.ingress_bytes[p]), {{"way", "ingress"}, {"peer_class", peer}});
    m.Counter("flowwatch_traffic_vm_bytes_total", "Bytes into (ingress) and out of (egress) the VMs, by the peer's class.",
              d(s.totals.egress_bytes[p]), {{"way", "egress"}, {"peer_class", peer}});
    for (int dir = 0; dir < 2; ++dir) {
      m.Counter("flowwatch_traffic_flows_total", "Flows started, by direction (relative to the VM) and the peer's class.",
                d(s.totals.flows[dir][p]),
                {{"direction", std::string(DirectionName(static_cast<Direction>(dir)))}, {"peer_class", peer}});
    }
  }
  for (const VmTrafficRow& r : s.top_vms) {
    m.Counter("flowwatch_traffic_top_vm_bytes_total", "Bytes into and out of the 10 busiest VMs since start.",
              d(r.bytes.ingress), {{"vm", r.vm}, {"way", "ingress"}});
    m.Counter("flowwatch_traffic_top_vm_bytes_total", "Bytes into and out of the 10 busiest VMs since start.",
              d(r.bytes.egress), {{"vm", r.vm}, {"way", "egress"}});
  }

  // Detection and the port inventory.
  m.Gauge("flowwatch_detect_keys", "Keys (VM, protocol, port, direction) with a baseline.", d(s.totals.keys));
  m.Counter("flowwatch_detect_late_flows_total", "Flows that arrived after their bucket had closed.",
            d(s.totals.late_flows));
  m.Counter("flowwatch_detect_folded_flows_total", "Flows folded into a VM's \"other\" key by the key caps.",
            d(s.totals.folded_flows));
  m.Gauge("flowwatch_detect_alerts_firing", "Incidents firing now.", d(s.totals.alerts_firing));
  if (s.detect_closed_until_ms != INT64_MIN) {
    m.Gauge("flowwatch_detect_closed_until_seconds",
            "Event time (Unix seconds) up to which every bucket is closed and judged, in the slowest shard.",
            static_cast<double>(s.detect_closed_until_ms) / 1000);
  }
  m.Gauge("flowwatch_ports_keys", "Port inventory keys (VM, protocol, port, direction).", d(s.totals.port_keys));
  m.Counter("flowwatch_detect_keys_evicted_total", "Baselines dropped after detection.idle_ttl without traffic.",
            d(s.detect_keys_evicted));
  m.Counter("flowwatch_ports_folded_flows_total",
            "Flows folded into a VM's \"other\" port key by the key caps (ports.max_keys_per_vm, detection.max_keys).",
            d(s.port_folded_flows));
  m.Counter("flowwatch_dedup_early_rotations_total",
            "Times the de-duplication window was cut short to stay within dedup.max_entries.",
            d(s.dedup_early_rotations));
  for (const auto& [table, n] : s.name_overflows) {
    m.Counter("flowwatch_names_overflows_total", "Names not interned because their table was full (counted as other).",
              d(n), {{"table", table}});
  }
  m.Counter("flowwatch_ports_keys_evicted_total", "Port inventory keys dropped after ports.idle_ttl without traffic.",
            d(s.port_keys_evicted));

  // Checkpoints.
  const CheckpointStats& c = s.checkpoint;
  if (c.last_written) {
    m.Gauge("flowwatch_checkpoint_age_seconds", "Time since the last checkpoint was written (absent until the first).",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - *c.last_written).count());
  }
  m.Counter("flowwatch_checkpoints_total", "Checkpoints written.", d(c.written));
  m.Counter("flowwatch_checkpoint_failures_total", "Checkpoints that could not be written (the previous one stays).",
            d(c.failures));
  m.Gauge("flowwatch_checkpoint_bytes", "Size of the last checkpoint written.", d(c.last_bytes));
  m.Gauge("flowwatch_checkpoint_pause_seconds", "How long the shards paused for the last checkpoint's snapshot.",
          c.last_pause_seconds);
  m.Gauge("flowwatch_checkpoint_write_seconds", "How long writing the last checkpoint took (fsync included).",
          c.last_write_seconds);
  m.Gauge("flowwatch_checkpoint_restored", "1 if this run started from a checkpoint.", s.checkpoint_restored ? 1 : 0);

  // Alert output.
  for (const auto& [kind, n] : s.alerts_by_kind) {
    m.Counter("flowwatch_alert_events_total", "Alert events written, by status, severity and detector.", d(n),
              {{"status", kind.status}, {"severity", kind.severity}, {"detector", kind.detector}});
  }
  m.Counter("flowwatch_alert_repeats_total",
            "Alert events not emitted again because they went out before a restart (flows processed again).",
            d(s.alert_repeats));
  m.Counter("flowwatch_alert_events_dropped_total", "Alert events lost to a failing alert file.", d(s.alerts_dropped));

  // Delivery, per webhook (label sink: its index in alerts.webhooks).
  for (size_t i = 0; i < s.sinks.size(); ++i) {
    const alert::SinkStats& k = s.sinks[i];
    const std::string sink = std::to_string(i);
    m.Counter("flowwatch_alert_deliveries_total", "Webhook calls for alert events, by outcome.", d(k.delivered),
              {{"sink", sink}, {"outcome", "delivered"}});
    m.Counter("flowwatch_alert_deliveries_total", "Webhook calls for alert events, by outcome.", d(k.retries),
              {{"sink", sink}, {"outcome", "retry"}});
    m.Counter("flowwatch_alert_deliveries_total", "Webhook calls for alert events, by outcome.", d(k.rejected),
              {{"sink", sink}, {"outcome", "rejected"}});
  }
  for (size_t i = 0; i < s.sinks.size(); ++i) {
    m.Counter("flowwatch_alert_deliveries_dropped_total", "Alert events dropped from a full delivery queue.",
              d(s.sinks[i].dropped), {{"sink", std::to_string(i)}});
  }
  for (size_t i = 0; i < s.sinks.size(); ++i) {
    m.Gauge("flowwatch_alert_queue_events", "Alert events waiting for delivery.", d(s.sinks[i].queued),
            {{"sink", std::to_string(i)}});
  }
  for (size_t i = 0; i < s.sinks.size(); ++i) {
    m.Gauge("flowwatch_alert_oldest_undelivered_seconds", "Age of the oldest alert event waiting for delivery.",
            s.sinks[i].oldest_undelivered_seconds, {{"sink", std::to_string(i)}});
  }
  for (size_t i = 0; i < s.sinks.size(); ++i) {
    m.Counter("flowwatch_alert_reminders_total", "Firing alerts re-sent to Alertmanager so that they stay active.",
              d(s.sinks[i].reminders), {{"sink", std::to_string(i)}});
  }
  for (size_t i = 0; i < s.sinks.size(); ++i) {
    m.Counter("flowwatch_alert_spool_errors_total",
              "Alert events that could not be written to or removed from the spool under state.dir.",
              d(s.sinks[i].spool_errors), {{"sink", std::to_string(i)}});
  }
  m.Counter("flowwatch_alert_rate_limited_total", "Firing alerts held back by alerts.rate_limit (not sent to any webhook).",
            d(s.rate_limit.suppressed));
  m.Gauge("flowwatch_alert_storm_active", "1 while the alert rate limit holds alerts back.",
          s.rate_limit.storm_active ? 1 : 0);

  // Per key, for the firing keys and those closest to firing (bounded; a
  // series disappears when its key leaves that set).
  for (const DeviationRow& r : s.deviations) {
    const metrics::Labels labels{
        {"vm", r.vm}, {"protocol", r.protocol}, {"port", std::to_string(r.d.key.port)}, {"direction", r.direction}};
    m.Gauge("flowwatch_deviation_ratio", "Bytes in the last closed bucket over the baseline, per key.", r.d.ratio,
            labels);
    m.Gauge("flowwatch_deviation_observed_bytes", "Bytes in the last closed bucket, per key.", d(r.d.observed_bytes),
            labels);
    m.Gauge("flowwatch_deviation_baseline_bytes", "The bytes the key's baseline expected in the last closed bucket.", r.d.baseline_bytes,
            labels);
    m.Gauge("flowwatch_deviation_firing", "1 if the key has an open incident.", r.d.firing ? 1 : 0, labels);
  }
  return m;
}

}  // namespace flowwatch::app
