// Event Grid's BlobCreated events as the work queue (`source.kafka` with
// `follow_blob_events: true`): an Event Grid system topic on the storage
// account delivers Microsoft.Storage.BlobCreated to an Event Hub (no code),
// and each event names a PT1H.json that has just grown. BlobEventReader sits
// between the Kafka source and the pipeline (a MessageHandler in front of a
// MessageHandler): a message holding such events is offered on with the
// named blobs' new whole records added to it, under the message's own
// partition and offset, so that the offset is committed (and checkpointed)
// only once those flows are applied.
//
// Events, in the Event Grid schema (`eventType`, a JSON array of events or
// one) or the CloudEvents schema (`type`): only BlobCreated events whose
// `data.url` names a *.json blob of the configured account, one of the
// configured containers and under the prefix are followed; any other event
// is left to the decoder (counted as a notification) and costs no request,
// so that a forged event cannot send flowwatch to another host.
//
// Reading: each blob's position (the bytes applied, and a hash of the 4 KiB
// before it) is kept per blob URL. An event reads the blob from its position
// up to the size the event names (data.contentLength: the records of its
// commit, so that a backlog of events - after a restart, an outage - is read
// commit by commit, in the order the blobs grew, and a NIC's records do not
// run an hour ahead of another's in one partition; without it, to the
// blob's end), in one ranged Get Blob from 4 KiB before the position, and
// keeps only whole records (WholeRecords, as the followed sources do). An
// event for no more than was read (Event Grid delivers at least once, and
// out of order) costs no request. A blob shorter than its position, or
// whose 4 KiB before it changed, was rewritten: it is read again from its
// start (de-duplication keeps the counts right); one rewritten shorter is
// noticed only once an event names a size past the position. A record longer
// than max_message_bytes is stepped over (counted, logged). At most
// max_message_bytes of records join one message; more waits for the blob's
// next event.
//
// The message offered is `[` its own events `,` the records `]`, so the
// decoder counts the events as notifications and decodes the records. A
// position moves only when the pipeline takes the message: a message it
// refuses (back-pressure) is kept, with its records, and offered again as it
// was; no other message of the same blob goes ahead of it. Storage
// unavailable (after BlobClient's retries) or refusing the credentials: the
// message is refused and tried again retry_interval later (the Kafka source
// pauses the partition meanwhile), and failing() holds until a read
// succeeds (the daemon is then not ready); a blob or container gone: the
// event is skipped.
//
// Several replicas in one consumer group share the partitions. A blob's
// events must all reach one partition (the Event Grid subscription's
// PartitionKey delivery property set to the event's subject, see
// docs/deploy.md), or two replicas would each read it from their own
// position. Positions of blobs whose hour is 6 hours older than the newest
// hour every assigned partition has read are forgotten.
//
// Threads: every MessageHandler call and positions() on the source's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/azure/blob_client.h"
#include "lib/common/counter.h"
#include "lib/common/logging.h"
#include "lib/source/message_handler.h"
#include "lib/source/source.h"

namespace flowwatch::source {

// A BlobCreated event's blob: its URL (no query), as the event names it.
struct BlobCreatedEvent {
  std::string url;
  int64_t content_length = -1;  // the event's data.contentLength; -1 when absent
};

// Appends the BlobCreated events of a message (Event Grid or CloudEvents
// schema; one event or an array of them) that name a url; false if it has
// none (records pushed by a forwarder, other events, not JSON): then it is
// none of this reader's business. Pure; exposed for tests and fuzzing.
bool ParseBlobCreatedEvents(std::string_view message, std::vector<BlobCreatedEvent>* out);

struct BlobEventOptions {
  std::vector<std::string> containers;
  std::string prefix;
  size_t max_message_bytes = 4u << 20;  // records added to one message, at most
  std::chrono::milliseconds retry_interval{5000};
  std::map<std::string, FilePosition> resume;  // blob URL -> position (the restored checkpoint)
};

struct BlobEventCounters {
  Counter followed;     // BlobCreated events of the configured containers read
  Counter ignored;      // BlobCreated events of other accounts, containers or names: not read
  Counter missing;      // events whose blob (or container) was gone
  Counter retried;      // reads refused or failed, tried again later
  Counter rewritten;    // blobs read again from their start
  Counter too_large;    // records longer than max_message_bytes, stepped over
  Counter records;      // records read
};

class BlobEventReader : public MessageHandler {
 public:
  BlobEventReader(const BlobEventOptions& options, std::shared_ptr<azure::BlobClient> client, MessageHandler* next);

  bool Offer(SourceMessage& message) override;
  void WaitForRoom(int32_t partition, std::chrono::milliseconds timeout) override;
  void CollectCompleted(std::vector<std::pair<int32_t, int64_t>>* out) override { next_->CollectCompleted(out); }
  bool Drain(const std::vector<int32_t>& partitions, std::chrono::milliseconds budget) override {
    return next_->Drain(partitions, budget);
  }
  void OnBacklog(int32_t partition, int64_t backlog) override { next_->OnBacklog(partition, backlog); }
  void OnProgressFloor(int32_t partition, int64_t ms) override { next_->OnProgressFloor(partition, ms); }
  void OnAssigned(const std::vector<int32_t>& partitions) override;
  void OnRevoked(const std::vector<int32_t>& partitions) override;

  // Every blob's position applied (with the pipeline drained: what the shards
  // hold), for a checkpoint.
  const std::map<std::string, FilePosition>& positions() const { return positions_; }
  const BlobEventCounters& counters() const { return counters_; }
  // The last read of a blob failed (Storage down, credentials refused) and
  // none has succeeded since: for readiness. Any thread.
  bool failing() const { return failing_.load(std::memory_order_relaxed); }

 private:
  // A message built and refused: offered again as it is.
  struct Pending {
    int64_t offset = 0;
    std::shared_ptr<std::string> body;
    std::map<std::string, FilePosition> moves;  // blob URL -> its position once the message is taken
  };
  enum class Read { kOk, kRetry };
  // Appends the blob's new whole records (`,` before each run) to *records,
  // at most `budget` bytes of them, up to content_length (-1: its end), and
  // its position after them to *moves; from its position in *moves if it is
  // there already (a message naming a blob twice), else in positions_.
  Read ReadBlob(const std::string& container, const std::string& name, const std::string& url, int64_t content_length,
                size_t budget, std::string* records, std::map<std::string, FilePosition>* moves);
  // Forgets the positions of blobs 6 hours older than the newest hour every
  // assigned partition has read.
  void Forget();

  const BlobEventOptions options_;
  std::shared_ptr<azure::BlobClient> client_;
  MessageHandler* next_;
  std::map<std::string, FilePosition> positions_;
  std::map<int32_t, Pending> pending_;  // by partition: its front message, refused
  std::map<int32_t, std::chrono::steady_clock::time_point> retry_at_;
  std::set<int32_t> assigned_;
  std::map<int32_t, int64_t> partition_hint_;  // partition -> the newest hour a blob it named names
  int64_t forgot_at_ = INT64_MIN;              // the oldest of those when positions were last forgotten
  BlobEventCounters counters_;
  std::atomic<bool> failing_{false};
  LogLimiter log_limiter_;
};

}  // namespace flowwatch::source
