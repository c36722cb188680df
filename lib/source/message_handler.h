// The interface between a message source (Kafka, a folder of blobs) and the
// pipeline that processes the messages, so that the source knows nothing of
// decoders or shards and the pipeline nothing of Kafka.
//
// At-least-once: the source commits a partition's offset only up to where the
// handler says every message has been fully processed (CollectCompleted): the
// contiguous processed prefix, never past a message still in flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace flowwatch::source {

struct SourceMessage {
  int32_t partition = 0;
  int64_t offset = 0;
  const char* data = nullptr;
  size_t size = 0;
  std::shared_ptr<void> owner;  // keeps data alive (the source's message object)
};

// Implemented by the pipeline. Offer() and the notifications are called on the
// source's thread; the rest of the pipeline runs on its own threads.
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;

  // Takes a message for processing. False when there is no room now: the
  // source waits (WaitForRoom) and, under sustained back-pressure, pauses the
  // partition and offers the message again later (in order).
  virtual bool Offer(SourceMessage& message) = 0;

  // Waits at most `timeout` until a message of this partition might be taken.
  // A pause is expensive (the client drops what it prefetched and fetches it
  // again on resume), so the source waits a little before it pauses.
  virtual void WaitForRoom(int32_t partition, std::chrono::milliseconds timeout) = 0;

  // Appends (partition, next offset) for each partition whose messages below
  // next offset have all been fully processed (since the last call).
  virtual void CollectCompleted(std::vector<std::pair<int32_t, int64_t>>* out) = 0;

  // Waits, at most `budget`, until every message offered for these partitions
  // has been processed. Returns whether it finished in time.
  virtual bool Drain(const std::vector<int32_t>& partitions, std::chrono::milliseconds budget) = 0;

  // How many messages of a partition wait in the broker (and in the source)
  // beyond what was offered; -1 when unknown. A partition with a backlog is
  // not idle, however long it has been silent (a broker outage, a rebalance).
  virtual void OnBacklog(int32_t partition, int64_t backlog) = 0;

  // Every message of this partition still to come carries event times from
  // `ms` on (a followed file's hour folder): until it delivers, the partition
  // holds event time back at `ms`, not from moving at all. Optional.
  virtual void OnProgressFloor(int32_t /*partition*/, int64_t /*ms*/) {}

  // A source whose partitions are objects it follows (files, blobs) says so
  // once everything it lists has been read to its end once since it started:
  // from then on, with no partition assigned, nothing older than what was
  // read is coming, and event time may move to the newest seen. Not before:
  // a restarted daemon knows the newest event time of its checkpoint before it
  // has listed the objects that were behind it. Optional (Kafka never is).
  virtual void OnCaughtUp() {}

  // The group gave or took partitions. Messages of a revoked partition that
  // are still in flight may finish, but must no longer be reported complete.
  virtual void OnAssigned(const std::vector<int32_t>& partitions) = 0;
  virtual void OnRevoked(const std::vector<int32_t>& partitions) = 0;
};

}  // namespace flowwatch::source
