// Replay: runs flow-log files through the same pipeline as the daemon (decode,
// route, shard: de-duplication, port statistics, detection), in event time, as
// fast as the machine allows, and closes every open window at the end.
// `flowwatch replay` and `flowwatch ports` are thin wrappers around it.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "daemon/shard_pipeline.h"
#include "daemon/summary.h"
#include "lib/config/config.h"
#include "lib/decode/decode_stats.h"
#include "lib/enrich/inventory.h"
#include "lib/enrich/peer_classifier.h"
#include "lib/model/alert.h"
#include "lib/model/names.h"

namespace flowwatch::app {

struct ReplayOptions {
  std::vector<std::string> paths;
  config::Config config;
  bool progress = true;  // progress lines on stderr
  // If set, each shard's detection reports its closed buckets there (called on
  // the shard's thread; benchmarks compare detectors on the same series).
  std::function<detect::BucketObserver*(int shard)> observer;
};

// What a finished replay knows. The shard pipelines stay alive for reports.
struct ReplayResult {
  int exit_code = 0;
  std::string error;  // when exit_code != 0
  size_t files = 0;
  size_t files_failed = 0;
  uint64_t input_bytes = 0;
  double seconds = 0;
  decode::DecodeStats decode;
  NameTables* names = nullptr;
  const enrich::PeerClassifier* classifier = nullptr;
  const enrich::Inventory* inventory = nullptr;
  std::vector<const ShardPipeline*> shards;
  // Every alert event, ordered by window, then VM, protocol, port, direction.
  std::vector<Alert> alerts;
};

// Loads the inventory and service tags named in config (exit 2 on error), then
// replays. Calls done(result) while the pipeline state is still alive.
int RunReplay(const ReplayOptions& options, const std::function<void(const ReplayResult&)>& done);

PipelineTotals Totals(const ReplayResult& result);

// The replay summary JSON of PRODUCT.md (plus a few fields of ours).
std::string SummaryJson(const ReplayResult& result);

}  // namespace flowwatch::app
