// Source: the contract every source of flow-log messages keeps (Kafka / Event
// Hubs, followed folders; Blob Storage next), so that `run` wires one pipeline
// whatever the source.
//
// A source delivers messages, each with a position (partition, offset), to a
// MessageHandler (message_handler.h): the pipeline. Per unit of work (a Kafka
// partition, a file) it reports event-time progress and idleness through the
// handler (OnAssigned / OnRevoked / OnBacklog), takes back "applied up to
// here" (CollectCompleted), and only then commits or checkpoints a position.
// Checkpointable positions are handed to the daemon's checkpoint callback (set
// in each source's options) with the pipeline drained, so that the shards then
// hold exactly the messages below them; SetDurable() tells the source which
// positions a durable checkpoint covers.
//
// Threads: Run on one thread (the source's); everything else from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lib/common/counter.h"
#include "lib/common/status.h"

namespace flowwatch::source {

// What every source counts (a source leaves the counters that do not apply to
// it at zero: a folder has no rebalances).
struct SourceCounters {
  Counter messages;
  Counter bytes;
  Counter errors;  // read errors (transient ones included)
  Counter commits;
  Counter commit_failures;
  SharedCounter dead_lettered;  // DeadLetter runs on decoder threads
  Counter rebalances;
  Counter pauses;
  std::atomic<int64_t> last_poll_ms{0};  // steady-clock ms of the source loop's last turn (0: not started)
};

// A followed file's position: the bytes applied, and a fingerprint of them
// (their length and their first and last 4 KiB, hashed), so that a file
// replaced by the same bytes goes on from there.
struct FilePosition {
  int64_t bytes = 0;
  uint64_t hash = 0;
  bool operator==(const FilePosition&) const = default;
};

// Where a checkpoint says each unit of work was applied up to: Kafka
// partitions (next offset), and files by path.
struct SourcePositions {
  std::map<int32_t, int64_t> offsets;
  std::map<std::string, FilePosition> files;
};

class Source {
 public:
  virtual ~Source() = default;

  // Delivers messages until stop is set, then drains and takes its final
  // checkpoint. on_turn runs on this thread regularly, and before each commit
  // (the daemon writes its summary there). An error on a fatal failure.
  virtual Status Run(const std::atomic<bool>& stop, const std::function<void()>& on_turn) = 0;

  // The positions a durable checkpoint covers. Any thread.
  virtual void SetDurable(const SourcePositions& positions) = 0;
  // Copies an undecodable message aside, where the source has such a place.
  virtual void DeadLetter(int32_t partition, int64_t offset, const char* data, size_t size) = 0;

  virtual const SourceCounters& counters() const = 0;
  // The units of work being read (partitions assigned, files followed).
  virtual size_t assigned_count() const = 0;
  // For readiness: "" when ready, else why not ("no partitions assigned").
  virtual std::string not_ready() const = 0;
  // Messages waiting: in the broker (Kafka), or read and not yet applied
  // (files, whose unread records are not counted); -1 unknown.
  virtual int64_t lag() const = 0;
};

}  // namespace flowwatch::source
