// ShardProcessor: the state and logic of one shard, driven by exactly one shard
// worker thread. Implementations (de-duplication, port statistics, detection)
// own their state outright: no locks, no sharing. See ShardSet.
#pragma once

#include <cstdint>

#include "lib/model/flow_record.h"

namespace flowwatch::shard {

class ShardProcessor {
 public:
  virtual ~ShardProcessor() = default;
  // One flow routed to this shard.
  virtual void OnFlow(const FlowRecord& flow) = 0;
  // Every producer has delivered its input up to this event time (the minimum of
  // the producers' maximum event times). Non-decreasing. Allowed lateness is the
  // processor's business, not the shard set's.
  virtual void OnProgress(int64_t input_time_ms) = 0;
  // All producers have finished: close whatever is open (replay's end of input).
  virtual void OnEndOfInput() = 0;
};

}  // namespace flowwatch::shard
