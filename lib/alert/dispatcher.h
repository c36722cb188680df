// Dispatcher: delivers alert events to every configured sink, each from its
// own thread, so that a slow or failing receiver delays nobody else.
//
// Per sink:
//  - a bounded queue: beyond it the oldest event is dropped and counted, so an
//    alert storm cannot exhaust memory;
//  - calls retried with exponential backoff and full jitter (backoff_base
//    doubling up to backoff_max) while the receiver answers 408, 429, 5xx or
//    not at all; an event the receiver rejects (other 4xx) is dropped, counted;
//  - de-duplication: each event has a key (fingerprint and status), and a key
//    already delivered or queued is not sent again, so an incident's firing and
//    its resolution each arrive once;
//  - a spool under spool_dir (see spool.h): every event is on disk before it is
//    queued and leaves it when delivered, so undelivered events survive a
//    restart and are sent by the next run;
//  - the format: generic (the alert JSON, optionally signed), alertmanager
//    (API v2; firing alerts are re-sent every resend_interval with endsAt four
//    intervals ahead, as Alertmanager expects from its clients, until they
//    resolve) or pagerduty (Events API v2).
//
// Shared by all sinks: a global rate limit on firing events (a token bucket of
// `max` per `per`). Beyond it firing events are not sent (their resolutions
// neither); instead one "alert storm" event fires, and resolves once a whole
// `per` passes without suppression, carrying the number held back. Alerts held
// back still reach the alert file and /api/v1/alerts.
//
// Threads: Enqueue, Poll and the stats from any thread; Start and Stop from one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "lib/alert/alert_event.h"
#include "lib/alert/payloads.h"
#include "lib/alert/spool.h"
#include "lib/alert/webhook_sink.h"

namespace flowwatch::alert {

struct SinkOptions {
  std::string format = "generic";  // generic | alertmanager | pagerduty
  WebhookSinkOptions http;
  std::string routing_key;                           // pagerduty
  std::chrono::milliseconds resend_interval{60000};  // alertmanager reminders
};

struct RateLimitOptions {
  uint32_t max = 0;  // firing events per `per`, across all sinks; 0: no limit
  std::chrono::milliseconds per{600000};
};

struct DispatcherOptions {
  size_t max_queued = 10000;  // per sink
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{60000};
  size_t remembered_keys = 100000;  // per sink, for de-duplication
  std::string spool_dir;            // "" keeps undelivered events in memory only
  RateLimitOptions rate_limit;
};

struct SinkStats {
  std::string name;  // format and origin (scheme://host:port), never the path
  uint64_t delivered = 0, retries = 0, rejected = 0, dropped = 0, duplicates = 0;
  uint64_t reminders = 0;     // Alertmanager re-sends of firing alerts
  uint64_t spool_errors = 0;  // events that could not be written to (or removed from) the spool
  uint64_t restored = 0;      // events read back from the spool at start
  size_t queued = 0;
  size_t active = 0;                      // firing alerts being re-sent (Alertmanager)
  double oldest_undelivered_seconds = 0;  // age of the oldest queued event; 0 when none
};

struct RateLimitStats {
  uint64_t suppressed = 0;  // firing events held back
  uint64_t storms = 0;      // storm alerts fired
  bool storm_active = false;
};

class Dispatcher {
 public:
  Dispatcher(const DispatcherOptions& options, std::vector<SinkOptions> sinks);
  ~Dispatcher();

  // Reads each sink's spool (what an earlier run left undelivered), then
  // starts the sink threads.
  void Start();
  // Tries to deliver what is queued for at most `budget`, then stops. What is
  // left stays in the spool for the next run.
  void Stop(std::chrono::milliseconds budget);

  void Enqueue(const AlertEvent& event);
  // Ends an alert storm once it has been quiet for a whole period; call every
  // few seconds.
  void Poll();

  std::vector<SinkStats> stats() const;
  RateLimitStats rate_limit_stats() const;

 private:
  struct Event {
    AlertEvent event;
    uint64_t spool_id = 0;
    std::chrono::steady_clock::time_point queued_at;
  };
  struct Active {  // a delivered firing alert Alertmanager must be reminded of
    AlertmanagerAlert alert;
    uint64_t spool_id = 0;
  };
  struct Sink {
    Sink(SinkOptions o, std::string spool_dir) : options(o), webhook(std::move(o.http)), spool(std::move(spool_dir)) {}
    const SinkOptions options;
    WebhookSink webhook;
    std::thread thread;
    mutable std::mutex mu;  // guards everything below
    std::condition_variable cv;
    Spool spool;
    std::deque<Event> queue;
    std::unordered_set<std::string> keys;  // delivered or queued
    std::deque<std::string> key_order;     // to forget the oldest keys
    std::map<std::string, Active> active;  // by fingerprint
    std::chrono::steady_clock::time_point next_reminder;
    SinkStats stats;
  };

  void Restore(Sink* sink);
  void FanOut(const AlertEvent& event);
  void Run(Sink* sink);
  // The request body for an event, or "" if it cannot be expressed (dropped).
  std::string Body(Sink* sink, const AlertEvent& event, AlertmanagerAlert* am);
  void Delivered(Sink* sink, const Event& event, AlertmanagerAlert am);
  void SendReminders(Sink* sink);
  bool Remember(Sink* sink, const std::string& key);  // false if already known; mu held
  void SpoolError(Sink* sink, const Status& status);  // mu held

  const DispatcherOptions options_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::atomic<bool> stopping_{false};
  // Set before stopping_, so that a sink thread that sees stopping_ sees it too.
  std::atomic<std::chrono::steady_clock::rep> stop_deadline_{std::chrono::steady_clock::duration::max().count()};
  std::chrono::steady_clock::time_point StopDeadline() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(stop_deadline_.load()));
  }

  // The rate limit.
  mutable std::mutex limit_mu_;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_at_;
  std::unordered_set<std::string> suppressed_fingerprints_;  // their resolutions are held back too
  RateLimitStats limit_stats_;
  int64_t storm_started_ms_ = 0;  // wall clock
  uint64_t storm_suppressed_ = 0;
  std::chrono::steady_clock::time_point last_suppressed_;
};

// The identity of a sink, stable across restarts: its spool folder's name.
std::string SinkId(const SinkOptions& sink);

// The summary event of an alert storm (an alert JSON object with
// detector "alert_storm" and the number held back in "suppressed").
AlertEvent StormEvent(bool resolved, int64_t started_ms, int64_t now_ms, uint64_t suppressed,
                      const RateLimitOptions& limit);

}  // namespace flowwatch::alert
