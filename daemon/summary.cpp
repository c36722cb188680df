#include "daemon/summary.h"

namespace flowwatch::app {

PipelineTotals Totals(const std::vector<const ShardPipeline*>& shards) {
  PipelineTotals t;
  for (const ShardPipeline* s : shards) {
    const ShardCounters& c = s->counters();
    for (int f = 0; f < kRecordFormatCount; ++f) t.tuples_by_format[f] += c.tuples_by_format[f].value();
    t.tuples += c.tuples();
    t.bytes += c.bytes.value();
    t.packets += c.packets.value();
    t.duplicates += c.duplicates.value();
    t.keys += c.detect_keys.value();
    t.port_keys += c.port_keys.value();
    t.alerts_firing += c.firing.value();
    t.late_flows += s->detection().late_flows();
    t.folded_flows += s->detection().folded_flows();
    for (int p = 0; p < enrich::kPeerClassCount; ++p) {
      t.ingress_bytes[p] += c.ingress_bytes[p].value();
      t.egress_bytes[p] += c.egress_bytes[p].value();
      for (int d = 0; d < 2; ++d) t.flows[d][p] += c.flows[d][p].value();
    }
  }
  return t;
}

void WriteSummaryFields(JsonWriter* w, const decode::DecodeStats& decode, const PipelineTotals& t) {
  w->Field("records", decode.records);
  w->Field("tuples", t.tuples);
  w->Key("tuples_by_format");
  w->BeginObject();
  for (int f = 0; f < kRecordFormatCount; ++f) w->Field(FormatName(static_cast<RecordFormat>(f)), t.tuples_by_format[f]);
  w->EndObject();
  w->Field("bytes", t.bytes);
  w->Field("packets", t.packets);
  w->Key("errors");
  w->BeginObject();
  for (int e = 0; e < decode::kDecodeErrorCount; ++e) {
    if (decode.errors[e] > 0) w->Field(decode::DecodeErrorName(static_cast<decode::DecodeError>(e)), decode.errors[e]);
  }
  w->EndObject();
  w->Field("notifications", decode.notifications);
  w->Field("duplicates_dropped", t.duplicates);
  w->Field("keys", t.keys);
  w->Field("alerts_firing", t.alerts_firing);
  // Ours: the balance (tuples_decoded = tuples + duplicates_dropped) and more.
  w->Field("tuples_decoded", decode.tuples());
  w->Field("late_flows", t.late_flows);
  w->Field("keys_folded_flows", t.folded_flows);
  w->Field("port_keys", t.port_keys);
}

}  // namespace flowwatch::app
