// DecoderPool: the daemon's decoding threads, fed by a message source (Kafka).
//
// Each partition goes to one decoder (partition % decoders), in order, through
// a small bounded queue: Offer() says "no room" instead of waiting, so the
// source pauses the partition and the backlog stays in Kafka. A decoder takes
// everything queued at once and wakes the shards and reports event time once
// per batch, so at most two queues' worth of messages are in its hands.
//
// A message is fully processed when every shard has applied its flows. After
// decoding one, a decoder notes how far it has filled each shard's ring (an
// Ack); the message is done once every shard has consumed its ring up to there
// (ShardSet::consumed). Acks complete in order, so CollectCompleted reports the
// contiguous processed prefix of each partition: what may be committed.
//
// Event time: a decoder's progress is the minimum, over its partitions, of the
// largest event time seen in each. A partition is idle, and no longer counts,
// when it has been silent for idle_timeout and nothing of it waits in the
// broker (OnBacklog; when the backlog is unknown, after 5 x idle_timeout
// without any message since it was assigned). A decoder with
// no live partition follows the slowest decoder that has one; when none has,
// all follow the largest event time seen if partitions are assigned (all of
// them idle: caught up), and nobody moves if none is (mid-rebalance). So one partition
// racing ahead cannot make another's data late, not even when a broker outage
// or a rebalance stalls that other one.
//
// Threads: Offer, CollectCompleted, Drain and the notifications on the source's
// thread; one thread per decoder; stats() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "daemon/decode_worker.h"
#include "lib/common/counter.h"
#include "lib/shard/shard_set.h"
#include "lib/source/message_handler.h"

namespace flowwatch::app {

struct DecoderPoolOptions {
  int decoders = 1;                      // = the shard set's producers
  size_t queue_messages = 64;            // per decoder
  size_t queue_bytes = 32u << 20;        // per decoder (a message over it is taken alone)
  std::chrono::milliseconds idle_timeout{30000};
  decode::DecoderOptions decode;
};

class DecoderPool : public source::MessageHandler {
 public:
  // dead_letter(partition, offset, data, size) is called (on a decoder thread)
  // for a message from which nothing could be decoded.
  using DeadLetterFn = std::function<void(int32_t, int64_t, const char*, size_t)>;

  DecoderPool(const DecoderPoolOptions& options, NameTables* names, const enrich::VmResolver* resolver,
              shard::ShardSet* shards, DeadLetterFn dead_letter);
  ~DecoderPool() override;

  void Start();
  // Processes what is queued, then ends each decoder's stream into the shards.
  void Stop();

  bool Offer(source::SourceMessage& message) override;
  void WaitForRoom(int32_t partition, std::chrono::milliseconds timeout) override;
  void CollectCompleted(std::vector<std::pair<int32_t, int64_t>>* out) override;
  bool Drain(const std::vector<int32_t>& partitions, std::chrono::milliseconds budget) override;
  void OnBacklog(int32_t partition, int64_t backlog) override;
  void OnProgressFloor(int32_t partition, int64_t ms) override;
  void OnAssigned(const std::vector<int32_t>& partitions) override;
  void OnRevoked(const std::vector<int32_t>& partitions) override;
  void OnCaughtUp() override { caught_up_.store(true); }

  // The largest event time of any message (INT64_MIN: none), and the restored
  // checkpoint's: once every unit of work is caught up, the buckets before it
  // close even if nothing new comes after a restart.
  int64_t max_event_ms() const { return global_max_ms_.load(std::memory_order_relaxed); }
  void SeedEventTime(int64_t ms);

  decode::DecodeStats stats() const;  // summed over decoders
  uint64_t poison_messages() const { return poison_.value(); }
  uint64_t messages() const { return messages_.value(); }

 private:
  struct Ack {
    int32_t partition;
    int64_t next_offset;
    std::vector<uint64_t> sent;  // per shard: the ring position after this message
  };
  struct Partition {
    bool assigned = false;
    bool delivered = false;  // a message arrived since the assignment
    int64_t backlog = -1;    // messages waiting in the broker; -1 unknown
    int64_t max_time_ms = INT64_MIN;
    std::chrono::steady_clock::time_point last_activity;  // last message, or assignment
    uint64_t in_flight = 0;                                // offered, not yet decoded
  };
  struct Decoder {
    std::thread thread;
    std::unique_ptr<DecodeWorker> worker;  // its thread only
    mutable std::mutex mu;                 // guards everything below
    std::condition_variable cv;
    std::deque<source::SourceMessage> queue;
    size_t queue_bytes = 0;
    std::condition_variable room;  // signalled when a message leaves the queue
    std::deque<Ack> acks;  // decoded, waiting for the shards
    std::map<int32_t, Partition> partitions;
    decode::DecodeStats stats;  // a snapshot of the worker's
    bool stop = false;
  };

  void Run(int index);
  void Process(int index, source::SourceMessage& m);
  // The minimum over the decoder's live partitions (INT64_MIN: one has not
  // delivered; INT64_MAX: none is live); also published in live_progress_.
  // Its mu must be held.
  int64_t LiveProgressLocked(int index, std::chrono::steady_clock::time_point now) const;
  // Once a second at debug level: each partition's event time and backlog. Its mu must be held.
  void LogStateLocked(int index, int64_t live) const;
  // What a decoder reports, once its own figure is published: the slowest
  // of every decoder's live partitions (INT64_MIN: nothing to report). No
  // decoder mu may be held (takes rebalance_mu_).
  int64_t Progress() const;
  // Applies change to each partition under rebalance_mu_ and its decoder's mu,
  // then refreshes that decoder's live progress.
  void Rebalance(const std::vector<int32_t>& partitions, const std::function<void(Decoder&, int32_t)>& change);
  bool Applied(int index, const Ack& ack) const;
  bool HasRoomLocked(const Decoder& d, size_t size) const;
  Decoder& For(int32_t partition) { return *decoders_[static_cast<size_t>(partition) % decoders_.size()]; }

  const DecoderPoolOptions options_;
  shard::ShardSet* shards_;
  DeadLetterFn dead_letter_;
  std::vector<std::unique_ptr<Decoder>> decoders_;
  // Per decoder: the minimum over its live partitions (INT64_MIN: one has not
  // delivered yet; INT64_MAX: it has none), published under its mu whenever
  // it computes it and whenever its partitions change (Rebalance).
  std::unique_ptr<std::atomic<int64_t>[]> live_progress_;
  // Held while a rebalance changes partitions (across all decoders) and while a
  // decoder reads the others' live_progress_, so it never sees a half-revoked
  // pool. Lock order: rebalance_mu_, then a decoder's mu.
  mutable std::mutex rebalance_mu_;
  int assigned_ = 0;  // partitions assigned, over all decoders; under rebalance_mu_
  std::atomic<int64_t> global_max_ms_{INT64_MIN};  // the largest event time any decoder has seen
  std::atomic<bool> caught_up_{false};              // OnCaughtUp: with none assigned, time moves to the largest
  SharedCounter poison_;    // added to by every decoder
  SharedCounter messages_;
};

}  // namespace flowwatch::app
