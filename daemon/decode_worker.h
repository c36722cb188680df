// DecodeWorker: the producer side of the pipeline, one per decoding thread.
// Decodes message bodies, names each flow's VM (VmResolver) and sends it to the
// shard that owns the VM, through this thread's shard::Producer. Keeps the
// event-time progress it may promise to the shards (see ReportProgress).
//
// Used by exactly one thread. Its counters may be read from others.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "lib/common/counter.h"
#include "lib/decode/decoder.h"
#include "lib/enrich/vm_resolver.h"
#include "lib/shard/shard_set.h"

namespace flowwatch::app {

class DecodeWorker : public decode::FlowSink {
 public:
  // progress_cap returns the earliest event time that input not yet taken by any
  // worker may hold (INT64_MAX if none); progress is never promised beyond it.
  // Without progress_cap the worker reports no progress by itself (the daemon
  // reports it per partition, see DecoderPool).
  DecodeWorker(const decode::DecoderOptions& options, NameTables* names, const enrich::VmResolver* resolver,
               shard::Producer* producer, std::function<int64_t()> progress_cap);

  // Starts a new input (a file) whose data is expected from event time hint_ms.
  void BeginInput(int64_t hint_ms);
  void DecodePadded(const char* data, size_t size, size_t capacity);
  // flush=false leaves waking the shards to a later Flush() (after a batch).
  void Decode(std::string_view body, bool flush = true);
  void Flush();
  // Tells the shards how far this worker's input is complete.
  void ReportProgress();

  void OnFlows(std::span<FlowRecord> flows) override;

  const decode::DecodeStats& stats() const { return decoder_.stats(); }  // owner thread only
  uint64_t flows_sent() const { return flows_sent_.value(); }
  // The largest event time of the current input so far (INT64_MIN: none yet).
  int64_t input_max_ms() const { return input_max_ms_; }
  uint64_t bytes_in() const { return bytes_in_.value(); }

 private:
  static constexpr uint64_t kFlowsPerProgress = 1u << 16;

  decode::Decoder decoder_;
  const enrich::VmResolver* resolver_;
  enrich::VmResolver::Cache cache_;
  shard::Producer* producer_;
  std::function<int64_t()> progress_cap_;
  int64_t input_max_ms_ = INT64_MIN;  // the largest event time of the current input
  uint64_t since_progress_ = 0;
  Counter flows_sent_;
  Counter bytes_in_;
};

}  // namespace flowwatch::app
