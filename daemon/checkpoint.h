// The daemon's checkpoint: everything the shards learnt, with the Kafka
// offsets it covers, as sections of a lib/state checkpoint file
// (docs/checkpoint_format.md):
//   meta      u32 shard count, the topic, (partition, next offset) pairs
//   names     the VM and NSG rule names the state's ids stand for
//   shard.<i> ShardPipeline::Save of shard i (counters, de-duplication window,
//             port inventory, baselines, incidents, open buckets)
//   alerts    the open incidents' firing events (for /api/v1/alerts)
// Building one reads the shards: call it with them paused (or joined).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "daemon/alert_writer.h"
#include "daemon/shard_pipeline.h"
#include "lib/common/status.h"
#include "lib/model/names.h"
#include "lib/state/checkpoint_file.h"

namespace flowwatch::app {

struct CheckpointMeta {
  uint32_t shards = 0;
  std::string topic;
  std::map<int32_t, int64_t> offsets;  // partition -> next offset the state covers
};

// Serializes each shard on its own thread.
state::Checkpoint BuildCheckpoint(uint64_t sequence, const CheckpointMeta& meta, const NameTables& names,
                                  const std::vector<const ShardPipeline*>& shards, const AlertWriter& alerts);

// Restores a checkpoint into fresh pipelines, names and alert writer (before
// anything starts) and returns its meta. Refused with a message naming the
// file and the reason if it does not fit this configuration (another topic,
// shard count or bucket size) or does not read back.
Status RestoreCheckpoint(const state::Checkpoint& c, const std::string& source, const std::string& topic,
                         NameTables* names, const std::vector<ShardPipeline*>& shards, AlertWriter* alerts,
                         CheckpointMeta* meta);

}  // namespace flowwatch::app
