// KafkaSource: flowwatch's consumer of an Event Hub (or any Kafka topic), with
// at-least-once processing and manual offsets.
//
// One thread (Run) polls librdkafka and offers each message to the
// MessageHandler in partition order. Offsets are committed every
// commit_interval, and only up to what the handler reports fully processed
// (the contiguous prefix per partition). When the handler has no room, the
// partition is paused and its messages are held, in order, until it does: the
// backlog stays in Kafka, memory stays bounded. On a rebalance (cooperative-
// sticky) revoked partitions are drained within drain_budget (at most half the
// session timeout) and committed before they are given up. On stop: fetching
// stops, in-flight work drains, offsets are committed, the consumer closes.
// Undecodable messages may be copied to a dead-letter topic (DeadLetter, any
// thread). Consumer lag: each partition's end offset minus its position, every
// 500 ms, logged every 15 s.
//
// With Entra ID (ClientConfig::oauth_scope), both handles get their tokens
// from options.tokens in the OAUTHBEARER refresh callback; a failure is
// reported to librdkafka (oauthbearer_set_token_failure), which asks again 10 s
// later, and logged without the token.
//
// Threads: Run on one thread; DeadLetter and the counters from any. The
// connection string and tokens never reach a log line (ClientConfig::Redacted).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "lib/azure/credential.h"
#include "lib/common/counter.h"
#include "lib/common/logging.h"
#include "lib/common/status.h"
#include "lib/source/source.h"
#include "lib/source/kafka/client_config.h"
#include "lib/source/message_handler.h"

namespace RdKafka {
class KafkaConsumer;
class Producer;
class TopicPartition;
}  // namespace RdKafka

namespace flowwatch::source::kafka {

struct KafkaSourceOptions {
  ClientConfig client;
  std::string dead_letter_topic;  // "" = none
  // Entra ID tokens for SASL OAUTHBEARER (client.oauth_scope set): the consumer
  // and the dead-letter producer each fetch theirs through it, on librdkafka's
  // background thread, so that the first exists before the first fetch.
  std::shared_ptr<azure::TokenCache> tokens;
  std::chrono::milliseconds commit_interval{5000};
  std::chrono::milliseconds drain_budget{10000};  // on stop; on revoke at most half of session.timeout.ms
  // On stop, after the final commit: a consumer not closed by then is left
  // behind (librdkafka #4527) and Run returns.
  std::chrono::milliseconds close_timeout{15000};

  // Checkpointing (the daemon's exactly-once state). When `checkpoint` is set,
  // every checkpoint_interval (and at stop) the consumer thread stops
  // offering messages, drains what is in flight, and calls checkpoint(offsets)
  // with the next offset of every partition processed so far: the shards then
  // hold exactly the messages below those offsets. Kafka commits then follow
  // the checkpoints: only offsets passed to SetDurable() are committed. On
  // assignment a partition resumes at its offset in resume_offsets (the
  // restored checkpoint), or where this process left it, rather than at the
  // group's committed offset.
  // final: the last one, at stop (it must be durable before checkpoint returns).
  std::function<void(const std::map<int32_t, int64_t>& offsets, bool final)> checkpoint;
  std::chrono::milliseconds checkpoint_interval{30000};
  std::map<int32_t, int64_t> resume_offsets;
};

using KafkaSourceCounters = SourceCounters;

class KafkaSource : public Source {
 public:
  static Result<std::unique_ptr<KafkaSource>> Create(const KafkaSourceOptions& options, MessageHandler* handler);
  ~KafkaSource() override;

  // Consumes until stop is set, then drains, commits and closes. before_commit
  // runs on this thread just before each commit (the daemon writes its summary
  // there, so that the summary always covers what was committed). Returns an
  // error on a fatal consumer error.
  Status Run(const std::atomic<bool>& stop, const std::function<void()>& before_commit) override;

  // Copies a message to the dead-letter topic, if one is configured.
  void DeadLetter(int32_t partition, int64_t offset, const char* data, size_t size) override;

  const SourceCounters& counters() const override { return counters_; }
  // partition -> committed offset, for the summary.
  std::map<int32_t, int64_t> committed() const;
  std::vector<int32_t> assigned() const;
  // partition -> messages waiting in the broker (and held), as of the last
  // check (every 500 ms); partitions whose backlog is not known yet are absent.
  std::map<int32_t, int64_t> backlog() const;
  // Their sum: the consumer lag; -1 while none is known.
  int64_t lag() const override;
  size_t assigned_count() const override { return assigned().size(); }
  std::string not_ready() const override { return assigned_count() == 0 ? "no partitions assigned" : ""; }
  // Offsets covered by a durable checkpoint: the next commits go up to them.
  // Any thread.
  void SetDurable(const SourcePositions& positions) override;
  // partition -> messages and bytes consumed from it since start (as of the
  // last backlog check), partitions held earlier included.
  struct PartitionConsumed {
    uint64_t messages = 0, bytes = 0;
  };
  std::map<int32_t, PartitionConsumed> consumed() const;
  // Entra ID tokens handed to librdkafka (consumer and dead-letter producer).
  uint64_t tokens_set() const;
  // Run left the consumer behind, still closing (close_timeout): the process
  // should exit without running static destructors (its threads may log).
  bool close_abandoned() const { return close_abandoned_.load(); }

 private:
  class Callbacks;
  friend class Callbacks;
  KafkaSource(const KafkaSourceOptions& options, MessageHandler* handler);
  Status Init();
  void OnRebalance(RdKafka::KafkaConsumer* consumer, bool assign, const std::vector<int32_t>& partitions,
                   bool cooperative, bool lost);
  void Commit(bool sync, const std::vector<int32_t>* only);
  void OnCommitted(int err, const std::vector<RdKafka::TopicPartition*>& offsets);  // err: an RdKafka::ErrorCode
  void Checkpoint(bool final);  // drain, then options_.checkpoint(processed offsets, final)
  void CollectDone();
  // Where an assigned partition resumes: this process's processed offset, the
  // restored checkpoint's, or -1001 (RdKafka's OFFSET_INVALID: the group's).
  int64_t ResumeAt(int32_t partition) const;
  std::chrono::milliseconds RebalanceDrainBudget() const;
  void AwaitFirstAssignment();
  bool CloseConsumer();  // close(), bounded by close_timeout; false: left behind
  static void LeaveBehind(std::unique_ptr<RdKafka::KafkaConsumer> consumer, std::unique_ptr<Callbacks> callbacks);
  void Pause(int32_t partition);
  void OfferHeld();
  void Hold(SourceMessage message);
  void UpdateBacklog();

  const KafkaSourceOptions options_;
  MessageHandler* handler_;
  std::unique_ptr<Callbacks> callbacks_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::unique_ptr<RdKafka::Producer> dead_letters_;
  std::function<void()> before_commit_;
  bool ever_assigned_ = false;  // the first assignment has come (rebalance callbacks run on Run's thread)
  std::map<int32_t, std::deque<SourceMessage>> held_;  // paused partitions' messages, in order
  std::map<int32_t, int64_t> done_;                    // partition -> next offset processed, not yet committed
  std::map<int32_t, int64_t> start_;                   // partition -> the group's committed offset at assignment
  std::map<int32_t, int64_t> processed_;  // checkpointing: partition -> next offset applied (kept across revokes)
  std::map<int32_t, int64_t> durable_;    // checkpointing: offsets a durable checkpoint covers; guarded by mu_
  mutable std::mutex mu_;                              // guards committed_, backlog_, consumed_ and assigned_
  std::map<int32_t, int64_t> committed_;
  std::map<int32_t, int64_t> backlog_;  // known backlogs of assigned partitions
  std::map<int32_t, PartitionConsumed> consumed_;        // published copy of consumed_now_
  std::map<int32_t, PartitionConsumed> consumed_now_;    // the consumer thread's own
  std::set<int32_t> assigned_;
  std::atomic<bool> fatal_{false};
  std::string fatal_reason_;
  KafkaSourceCounters counters_;
  std::atomic<bool> close_abandoned_{false};
  LogLimiter log_limiter_;
};

}  // namespace flowwatch::source::kafka
