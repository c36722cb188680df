// What the daemon's HTTP API and the per-key series read from the shards'
// state: the latest deviations and the live port inventory. Every function
// taking pipelines must run inside ShardSet::WithAllPaused() (or after the
// shards have been joined): the tables belong to the shard threads.
#pragma once

#include <string>
#include <vector>

#include "daemon/shard_pipeline.h"
#include "lib/detect/detection.h"
#include "lib/model/names.h"

namespace flowwatch::app {

struct DeviationRow {
  std::string vm;
  std::string protocol;
  std::string direction;
  detect::Deviation d;
};

// Every shard's deviations (detect::Detection::deviations), highest ratio first.
std::vector<DeviationRow> CollectDeviations(const std::vector<const ShardPipeline*>& pipelines,
                                            const NameTables& names);

struct VmTrafficRow {
  std::string vm;
  ShardPipeline::VmTraffic bytes;
};

// The k VMs with the most bytes (both ways) since start, most first.
std::vector<VmTrafficRow> TopVmTraffic(const std::vector<const ShardPipeline*>& pipelines, const NameTables& names,
                                       size_t k);

// GET /api/v1/deviations: rows of VM `vm` ("" for all), at most `limit`.
std::string DeviationsJson(const std::vector<DeviationRow>& rows, const std::string& vm, size_t limit,
                           int64_t bucket_ms);

}  // namespace flowwatch::app
