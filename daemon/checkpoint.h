// The daemon's checkpoint: everything the shards learnt, with the Kafka
// offsets it covers, as sections of a lib/state checkpoint file
// (docs/checkpoint_format.md):
//   meta      u32 shard count, the topic (or "files" for followed folders),
//             (partition, next offset) pairs
//   files     (path, bytes applied, their fingerprint) of followed files (only when any)
//   frontier  i64 the largest event time the source had delivered (only when any)
//   names     the VM and NSG rule names the state's ids stand for
//   shard.<i> ShardPipeline::Save of shard i (counters, de-duplication window,
//             port inventory, baselines, incidents, open buckets)
//   alerts    the open incidents' firing events (for /api/v1/alerts)
// Building one reads the shards: call it with them paused (or joined).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/alert_writer.h"
#include "daemon/shard_pipeline.h"
#include "lib/common/status.h"
#include "lib/model/names.h"
#include "lib/source/source.h"
#include "lib/state/checkpoint_file.h"

namespace flowwatch::app {

struct CheckpointMeta {
  uint32_t shards = 0;
  std::string topic;
  std::map<int32_t, int64_t> offsets;  // partition -> next offset the state covers
  std::map<std::string, source::FilePosition> files{};  // followed file -> the bytes the state covers
  int64_t max_event_ms = INT64_MIN;  // the largest event time delivered (a zero-byte heartbeat's too)
};

// Serializes each shard on its own thread.
state::Checkpoint BuildCheckpoint(uint64_t sequence, const CheckpointMeta& meta, const NameTables& names,
                                  const std::vector<const ShardPipeline*>& shards, const AlertWriter& alerts);

// Reads the meta section alone (to size the shard set before restoring).
Status ReadCheckpointMeta(const state::Checkpoint& c, const std::string& source, CheckpointMeta* meta);

// Restores a checkpoint into fresh pipelines, names and alert writer (before
// anything starts) and returns its meta. Refused with a message naming the
// file and the reason if it does not fit this configuration (another topic,
// shard count or bucket size) or does not read back.
Status RestoreCheckpoint(const state::Checkpoint& c, const std::string& source, const std::string& topic,
                         NameTables* names, const std::vector<ShardPipeline*>& shards, AlertWriter* alerts,
                         CheckpointMeta* meta);

// CheckpointWriter: writes checkpoints on its own thread (the control plane),
// so that the disk's speed never stalls the shards. Submit() hands one over;
// if the previous is still being written, the newer replaces any that waits.
// After each durable write, on_durable(positions) runs (the source may commit up
// to them). A failed write (disk full, unwritable folder) leaves the previous
// file in place, is logged and counted, and the next checkpoint tries again.
struct CheckpointStats {
  uint64_t written = 0, failures = 0;
  size_t last_bytes = 0;
  double last_pause_seconds = 0;  // the shards were paused this long to snapshot
  double last_write_seconds = 0;
  std::optional<std::chrono::steady_clock::time_point> last_written;
  std::string last_error;  // "" when the last write succeeded
};

class CheckpointWriter {
 public:
  CheckpointWriter(std::string dir, std::function<void(const source::SourcePositions&)> on_durable);
  ~CheckpointWriter();

  void Start();
  void Stop();
  // final: write it now, on this thread, after whatever is in progress.
  void Submit(state::Checkpoint c, source::SourcePositions positions, double pause_seconds, bool final);
  CheckpointStats stats() const;

 private:
  void Run();
  void Write(const state::Checkpoint& c, const source::SourcePositions& positions, double pause_seconds);

  state::CheckpointStore store_;
  std::function<void(const source::SourcePositions&)> on_durable_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::tuple<state::Checkpoint, source::SourcePositions, double>> pending_;  // mu_
  bool stop_ = false;                                                                      // mu_
  std::mutex write_mu_;  // one write at a time
  CheckpointStats stats_;  // mu_
  std::thread thread_;
};

}  // namespace flowwatch::app
