// Dispatcher: delivers alert events to every configured sink, each from its
// own thread, so that a slow or failing receiver delays nobody else.
//
// Per sink: a bounded queue (beyond it the oldest event is dropped and
// counted: an alert storm must not exhaust memory); calls retried with
// exponential backoff and full jitter (backoff_base doubling up to backoff_max)
// while the receiver answers 408, 429, 5xx or not at all; an event the
// receiver rejects (other 4xx) is dropped and counted. Each event has a key
// (fingerprint and status): a key already delivered or queued is not sent
// again, so an incident's firing and its resolution each arrive once.
// Not yet: a disk spool (undelivered events are lost on restart), the global
// rate limit, Alertmanager and PagerDuty formats.
//
// Threads: Enqueue and the stats from any thread; Stop() joins.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "lib/alert/webhook_sink.h"

namespace flowwatch::alert {

struct DispatcherOptions {
  size_t max_queued = 10000;  // per sink
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{60000};
  size_t remembered_keys = 100000;  // per sink, for de-duplication
};

struct SinkStats {
  uint64_t delivered = 0, retries = 0, rejected = 0, dropped = 0, duplicates = 0;
  size_t queued = 0;
  double oldest_undelivered_seconds = 0;  // age of the oldest queued event; 0 when none
};

class Dispatcher {
 public:
  Dispatcher(const DispatcherOptions& options, std::vector<WebhookSinkOptions> sinks);
  ~Dispatcher();

  void Start();
  // Tries to deliver what is queued for at most `budget`, then stops.
  void Stop(std::chrono::milliseconds budget);

  void Enqueue(const std::string& key, const std::string& body);
  std::vector<SinkStats> stats() const;

 private:
  struct Event {
    std::string key;
    std::string body;
    std::chrono::steady_clock::time_point queued_at;
  };
  struct Sink {
    explicit Sink(WebhookSinkOptions o) : webhook(std::move(o)) {}
    WebhookSink webhook;
    std::thread thread;
    mutable std::mutex mu;  // guards everything below
    std::condition_variable cv;
    std::deque<Event> queue;
    std::unordered_set<std::string> keys;  // delivered or queued
    std::deque<std::string> key_order;     // to forget the oldest keys
    SinkStats stats;
  };

  void Run(Sink* sink);
  bool Remember(Sink* sink, const std::string& key);  // false if already known; mu held

  const DispatcherOptions options_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::atomic<bool> stopping_{false};
  std::chrono::steady_clock::time_point stop_deadline_;
};

}  // namespace flowwatch::alert
