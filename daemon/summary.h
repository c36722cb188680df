// The summary both `replay` and `run` write: what was decoded, applied,
// dropped as duplicate, counted as error, and what the detector holds. The
// fields of PRODUCT.md's replay summary come first; each command adds its own.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "daemon/shard_pipeline.h"
#include "lib/common/json_writer.h"
#include "lib/decode/decode_stats.h"

namespace flowwatch::app {

// Totals over all shards, after de-duplication. Safe while the shards run.
struct PipelineTotals {
  uint64_t tuples = 0, bytes = 0, packets = 0, duplicates = 0, keys = 0, port_keys = 0, alerts_firing = 0,
           late_flows = 0, folded_flows = 0;
  std::array<uint64_t, kRecordFormatCount> tuples_by_format{};
  std::array<uint64_t, enrich::kPeerClassCount> ingress_bytes{}, egress_bytes{};  // by peer class
  std::array<std::array<uint64_t, enrich::kPeerClassCount>, 2> flows{};             // [Direction][PeerClass]
};
PipelineTotals Totals(const std::vector<const ShardPipeline*>& shards);

// Writes the common fields into an open JSON object.
void WriteSummaryFields(JsonWriter* w, const decode::DecodeStats& decode, const PipelineTotals& totals);

}  // namespace flowwatch::app
