// ShardSet: N shard worker threads fed by P producers through P x N SPSC rings.
//
// Each producer (a decoding thread) routes every flow by a stable hash of its
// key's owner to one shard; each shard worker owns its ShardProcessor's state
// exclusively, so the per-flow path takes no lock. A full ring applies
// back-pressure: Send() waits (TrySend() reports it, so a Kafka source can pause
// partitions instead); nothing is ever dropped.
//
// Event-time progress travels in-band: Producer::Progress(t) puts a marker in
// every ring behind the flows sent before it, and a shard reports the minimum
// over its producers to its processor. Producer::Finish() ends a producer's
// stream; once all producers have finished and the rings are drained, each
// processor gets OnEndOfInput() and the workers exit.
//
// Reading shard state from another thread (the HTTP API): WithAllPaused()
// stops every worker between two batches, runs a function that may read all
// processors, and lets them go on. The flows keep queueing in the rings
// meanwhile (back-pressure, never loss).
//
// Threads: Start() spawns the workers; each Producer is used by one thread;
// Join() waits for the workers (call it after every producer has finished);
// WithAllPaused() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/model/flow_record.h"
#include "lib/shard/shard_processor.h"
#include "lib/shard/spsc_ring.h"

namespace flowwatch::shard {

struct ShardSetOptions {
  int producers = 1;
  int shards = 1;
  size_t ring_capacity = 8192;  // messages per (producer, shard) ring
};

// What travels through a ring: a flow or a control marker.
struct ShardMessage {
  enum class Kind : uint8_t { kFlow, kProgress, kFinish };
  FlowRecord flow;  // kFlow; kProgress carries its event time in flow.time_ms
  Kind kind = Kind::kFlow;
};

// Maps a routing hash to a shard; stable for a given shard count.
inline int ShardFor(uint64_t route_hash, int shards) {
  return static_cast<int>(((route_hash >> 32) * static_cast<uint64_t>(shards)) >> 32);
}

class ShardSet;

class Producer {
 public:
  // Routes flow to the shard of route_hash, waiting while that ring is full.
  void Send(const FlowRecord& flow, uint64_t route_hash);
  // Same, but returns false instead of waiting.
  bool TrySend(const FlowRecord& flow, uint64_t route_hash);
  // Declares that this producer has sent everything up to event time t.
  void Progress(int64_t event_time_ms);
  // Ends this producer's stream. No call may follow.
  void Finish();
  // Wakes shard workers that went to sleep; call after a batch of Send()s.
  void Flush();
  // How many messages this producer has put in a shard's ring (producer thread).
  // Once ShardSet::consumed(producer, shard) reaches this value, the shard has
  // applied everything sent before: how the daemon knows a Kafka message is done.
  uint64_t sent(int shard) const;
  // Nanoseconds spent waiting on full rings (read from any thread).
  uint64_t backpressure_ns() const { return backpressure_ns_.load(std::memory_order_relaxed); }

 private:
  friend class ShardSet;
  Producer(ShardSet* set, int index) : set_(set), index_(index) {}
  void Broadcast(const ShardMessage& m);
  void PushBlocking(int shard, const ShardMessage& m);

  ShardSet* set_;
  int index_;
  std::atomic<uint64_t> backpressure_ns_{0};
};

class ShardSet {
 public:
  using ProcessorFactory = std::function<std::unique_ptr<ShardProcessor>(int shard)>;

  ShardSet(const ShardSetOptions& options, const ProcessorFactory& factory);
  ~ShardSet();
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  void Start();
  void Join();

  int producer_count() const { return options_.producers; }
  int shard_count() const { return options_.shards; }
  Producer& producer(int index) { return *producers_[index]; }
  // The processor of a shard. Only safe to use from other threads after Join(),
  // or inside WithAllPaused().
  ShardProcessor& processor(int shard) { return *workers_[shard]->processor; }
  // Pauses every running worker between two batches (waiting at most
  // `timeout` for them to get there), calls fn, then resumes them. Returns
  // false, without calling fn, if some worker did not pause in time. Before
  // Start() or after Join() fn runs at once.
  bool WithAllPaused(std::chrono::milliseconds timeout, const std::function<void()>& fn);
  // Messages waiting in the rings feeding a shard (approximate, any thread).
  size_t queued(int shard) const;
  // Messages of a producer a shard has finished applying (any thread).
  uint64_t consumed(int producer, int shard) const { return workers_[shard]->rings[producer]->consumed(); }

 private:
  friend class Producer;
  using Ring = SpscRing<ShardMessage>;

  struct Worker {
    std::unique_ptr<ShardProcessor> processor;
    std::vector<std::unique_ptr<Ring>> rings;  // one per producer
    std::vector<int64_t> progress;             // per producer, worker-thread only
    std::vector<bool> finished;                // per producer, worker-thread only
    int64_t reported_progress = INT64_MIN;
    std::thread thread;
    std::mutex mu;  // only for sleeping and waking
    std::condition_variable cv;
    std::atomic<bool> sleeping{false};
  };

  void Run(int shard);
  void Handle(Worker* w, int producer, const ShardMessage& m, int* finished_count);
  void Wake(Worker* w);
  void Park();  // a worker thread, when a pause is requested

  const ShardSetOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Producer>> producers_;
  bool started_ = false;

  std::mutex visit_mu_;                  // one WithAllPaused() at a time
  std::mutex pause_mu_;                  // guards the two counts below
  std::condition_variable pause_cv_;
  std::atomic<bool> pause_requested_{false};  // written under pause_mu_
  int running_workers_ = 0;
  int parked_workers_ = 0;
};

}  // namespace flowwatch::shard
