#include "lib/alert/dispatcher.h"

#include <algorithm>
#include <cstdio>

#include "lib/common/hash.h"
#include "lib/common/json_writer.h"
#include "lib/common/logging.h"
#include "lib/common/time_util.h"

namespace flowwatch::alert {

using Clock = std::chrono::steady_clock;

namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Seconds(std::chrono::milliseconds d) { return std::to_string(d.count() / 1000) + " s"; }

}  // namespace

std::string SinkId(const SinkOptions& sink) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(HashBytes(sink.http.url.data(), sink.http.url.size())));
  return sink.format + "-" + hex;
}

AlertEvent StormEvent(bool resolved, int64_t started_ms, int64_t now_ms, uint64_t suppressed,
                      const RateLimitOptions& limit) {
  AlertEvent e;
  e.fingerprint = "alert-storm-" + std::to_string(started_ms);
  e.resolved = resolved;
  const std::string rule = std::to_string(limit.max) + " per " + Seconds(limit.per);
  e.text = resolved ? "alert storm over: " + std::to_string(suppressed) +
                          " firing alerts were held back by the rate limit (" + rule +
                          "); all of them are in the alert file and /api/v1/alerts"
                    : "ALERT STORM: more firing alerts than the rate limit (" + rule +
                          ") allows; further alerts are held back until it calms down";
  JsonWriter w(&e.json);
  w.BeginObject();
  w.Field("status", resolved ? "resolved" : "firing");
  w.Field("detector", "alert_storm");
  w.Field("vm", "");
  w.Field("protocol", "");
  w.Field("port", 0);
  w.Field("direction", "");
  w.Field("window_start", FormatIso8601(started_ms));
  w.Field("window_end", FormatIso8601(now_ms));
  w.Field("observed_bytes", uint64_t{0});
  w.Field("baseline_bytes", uint64_t{0});
  w.FieldDouble("ratio", 0);
  w.FieldDouble("zscore", 0);
  w.Field("severity", "critical");
  w.Key("top_peers");
  w.BeginArray();
  w.EndArray();
  w.Field("incident_start", FormatIso8601(started_ms));
  w.Field("suppressed", suppressed);
  w.Field("fingerprint", e.fingerprint);
  w.EndObject();
  return e;
}

Dispatcher::Dispatcher(const DispatcherOptions& options, std::vector<SinkOptions> sinks)
    : options_(options), tokens_(options.rate_limit.max), refilled_at_(Clock::now()) {
  for (SinkOptions& o : sinks) {
    const std::string id = SinkId(o);
    auto sink = std::make_unique<Sink>(std::move(o), options_.spool_dir.empty() ? "" : options_.spool_dir + "/" + id);
    sink->stats.name = sink->options.format + " " + sink->webhook.origin();
    sinks_.push_back(std::move(sink));
  }
}

Dispatcher::~Dispatcher() { Stop(std::chrono::milliseconds(0)); }

void Dispatcher::Start() {
  for (auto& s : sinks_) {
    Restore(s.get());
    s->thread = std::thread([this, sink = s.get()] { Run(sink); });
  }
}

void Dispatcher::Restore(Sink* sink) {
  std::vector<Spool::Entry> entries;
  std::vector<std::string> errors;
  std::lock_guard<std::mutex> lock(sink->mu);
  if (Status st = sink->spool.Load(&entries, &errors); !st.ok()) {
    SpoolError(sink, st);
    return;
  }
  for (const std::string& e : errors) spdlog::error("alert spool: {}", e);
  const auto now = Clock::now();
  for (Spool::Entry& entry : entries) {
    ++sink->stats.restored;
    if (entry.active) {
      AlertmanagerAlert am;
      if (sink->options.format == "alertmanager" && ToAlertmanager(entry.event, &am)) {
        Remember(sink, entry.event.key());
        sink->active[entry.event.fingerprint] = Active{std::move(am), entry.id};
        sink->next_reminder = now;  // reminders may be overdue after a restart
      } else if (Status st = sink->spool.Remove(entry.id, true); !st.ok()) {
        SpoolError(sink, st);
      }
      continue;
    }
    Remember(sink, entry.event.key());
    sink->queue.push_back(Event{std::move(entry.event), entry.id, now});
  }
  if (!entries.empty()) {
    spdlog::info("alert delivery to {}: {} events restored from the spool {}", sink->stats.name, entries.size(),
                 sink->spool.dir());
  }
}

void Dispatcher::SpoolError(Sink* sink, const Status& status) {
  ++sink->stats.spool_errors;
  static LogLimiter limiter(std::chrono::seconds(60), 3);
  uint64_t suppressed = 0;
  if (limiter.Allow(sink->stats.name, &suppressed)) {
    spdlog::error("alert spool of {}: {}; the event is kept in memory only{}", sink->stats.name, status.message(),
                  suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
  }
}

void Dispatcher::Stop(std::chrono::milliseconds budget) {
  if (stopping_.load()) return;
  stop_deadline_.store((Clock::now() + budget).time_since_epoch().count());
  if (stopping_.exchange(true)) return;
  for (auto& s : sinks_) {
    { std::lock_guard<std::mutex> lock(s->mu); }
    s->cv.notify_all();
  }
  for (auto& s : sinks_) {
    if (s->thread.joinable()) s->thread.join();
  }
}

bool Dispatcher::Remember(Sink* sink, const std::string& key) {
  if (!sink->keys.insert(key).second) return false;
  sink->key_order.push_back(key);
  if (sink->key_order.size() > options_.remembered_keys) {
    sink->keys.erase(sink->key_order.front());
    sink->key_order.pop_front();
  }
  return true;
}

void Dispatcher::Enqueue(const AlertEvent& event) {
  AlertEvent storm;
  bool send_storm = false;
  if (options_.rate_limit.max > 0) {
    std::lock_guard<std::mutex> lock(limit_mu_);
    if (event.resolved) {
      if (suppressed_fingerprints_.erase(event.fingerprint) > 0) return;  // its firing was held back
    } else {
      const auto now = Clock::now();
      const double per = std::chrono::duration<double>(options_.rate_limit.per).count();
      tokens_ = std::min<double>(options_.rate_limit.max,
                                 tokens_ + std::chrono::duration<double>(now - refilled_at_).count() *
                                               options_.rate_limit.max / per);
      refilled_at_ = now;
      if (tokens_ >= 1) {
        tokens_ -= 1;
      } else {
        ++limit_stats_.suppressed;
        ++storm_suppressed_;
        last_suppressed_ = now;
        if (suppressed_fingerprints_.size() >= options_.remembered_keys) suppressed_fingerprints_.clear();
        suppressed_fingerprints_.insert(event.fingerprint);
        if (limit_stats_.storm_active) return;
        limit_stats_.storm_active = true;
        ++limit_stats_.storms;
        storm_started_ms_ = WallMs();
        storm = StormEvent(false, storm_started_ms_, storm_started_ms_, 0, options_.rate_limit);
        send_storm = true;
        spdlog::warn("alert storm: more than {} firing alerts per {}; holding further ones back",
                     options_.rate_limit.max, Seconds(options_.rate_limit.per));
      }
    }
  }
  FanOut(send_storm ? storm : event);
}

void Dispatcher::Poll() {
  AlertEvent resolved;
  {
    std::lock_guard<std::mutex> lock(limit_mu_);
    if (!limit_stats_.storm_active || Clock::now() - last_suppressed_ < options_.rate_limit.per) return;
    limit_stats_.storm_active = false;
    resolved = StormEvent(true, storm_started_ms_, WallMs(), storm_suppressed_, options_.rate_limit);
    spdlog::info("alert storm over: {} firing alerts were held back", storm_suppressed_);
    storm_suppressed_ = 0;
  }
  FanOut(resolved);
}

void Dispatcher::FanOut(const AlertEvent& event) {
  for (auto& s : sinks_) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (!Remember(s.get(), event.key())) {
        ++s->stats.duplicates;
        continue;
      }
      if (s->queue.size() >= options_.max_queued) {
        if (Status st = s->spool.Remove(s->queue.front().spool_id, false); !st.ok()) SpoolError(s.get(), st);
        s->queue.pop_front();
        ++s->stats.dropped;
      }
      uint64_t id = 0;
      if (Status st = s->spool.Put(event, &id); !st.ok()) SpoolError(s.get(), st);
      s->queue.push_back(Event{event, id, Clock::now()});
    }
    s->cv.notify_one();
  }
}

std::string Dispatcher::Body(Sink* sink, const AlertEvent& event, AlertmanagerAlert* am) {
  const std::string& format = sink->options.format;
  if (format == "pagerduty") return PagerDutyBody(event, sink->options.routing_key);
  if (format != "alertmanager") return event.json;
  if (!ToAlertmanager(event, am)) return "";
  const int64_t now = WallMs();
  if (!event.resolved) {
    am->ends_at = FormatIso8601(now + 4 * sink->options.resend_interval.count());
  } else {
    // The labels the firing alert was sent with (its severity may have grown
    // since), so that Alertmanager resolves that very alert.
    std::lock_guard<std::mutex> lock(sink->mu);
    if (auto it = sink->active.find(event.fingerprint); it != sink->active.end()) {
      std::string ends_at = am->ends_at;
      *am = it->second.alert;
      am->ends_at = ends_at;
    }
    // Flow logs arrive minutes late, but a clock ahead of ours must not keep it firing.
    am->ends_at = std::min(am->ends_at, FormatIso8601(now));
  }
  return AlertmanagerBody({*am});
}

void Dispatcher::Delivered(Sink* sink, const Event& event, AlertmanagerAlert am) {
  std::lock_guard<std::mutex> lock(sink->mu);
  if (!sink->queue.empty() && sink->queue.front().spool_id == event.spool_id) sink->queue.pop_front();
  ++sink->stats.delivered;
  if (sink->options.format == "alertmanager" && !event.event.resolved) {
    if (sink->active.empty()) sink->next_reminder = Clock::now() + sink->options.resend_interval;
    sink->active[event.event.fingerprint] = Active{std::move(am), event.spool_id};
    if (Status st = sink->spool.MarkActive(event.spool_id); !st.ok()) SpoolError(sink, st);
    return;
  }
  if (auto it = sink->active.find(event.event.fingerprint); it != sink->active.end()) {
    if (Status st = sink->spool.Remove(it->second.spool_id, true); !st.ok()) SpoolError(sink, st);
    sink->active.erase(it);
  }
  if (Status st = sink->spool.Remove(event.spool_id, false); !st.ok()) SpoolError(sink, st);
}

void Dispatcher::SendReminders(Sink* sink) {
  std::vector<AlertmanagerAlert> alerts;
  {
    std::lock_guard<std::mutex> lock(sink->mu);
    const std::string ends_at = FormatIso8601(WallMs() + 4 * sink->options.resend_interval.count());
    for (const auto& [fingerprint, a] : sink->active) {
      alerts.push_back(a.alert);
      alerts.back().ends_at = ends_at;
    }
  }
  std::string detail;
  const Delivery d = sink->webhook.Post(AlertmanagerBody(alerts), &detail);
  std::lock_guard<std::mutex> lock(sink->mu);
  if (d == Delivery::kDelivered) {
    sink->stats.reminders += alerts.size();
    sink->next_reminder = Clock::now() + sink->options.resend_interval;
  } else {
    ++sink->stats.retries;
    // Try again soon: the alerts expire four intervals after the last success.
    sink->next_reminder = Clock::now() + std::min<std::chrono::milliseconds>(sink->options.resend_interval,
                                                                              std::chrono::seconds(10));
    spdlog::warn("alert reminders to {} failed ({})", sink->stats.name, detail);
  }
}

void Dispatcher::Run(Sink* sink) {
  std::mt19937_64 rng(std::random_device{}());
  int attempt = 0;
  uint64_t suppressed = 0;
  LogLimiter limiter(std::chrono::seconds(60), 3);
  while (true) {
    Event event;
    bool remind = false;
    {
      std::unique_lock<std::mutex> lock(sink->mu);
      auto reminder_due = [&] { return !sink->active.empty() && Clock::now() >= sink->next_reminder; };
      auto wake = [&] { return stopping_.load() || !sink->queue.empty() || reminder_due(); };
      if (sink->active.empty()) {
        sink->cv.wait(lock, wake);
      } else {
        sink->cv.wait_until(lock, sink->next_reminder, wake);
      }
      if (stopping_.load() && (sink->queue.empty() || Clock::now() >= StopDeadline())) break;
      if (!sink->queue.empty()) {
        event = sink->queue.front();
      } else if (reminder_due()) {
        remind = true;
      } else {
        continue;
      }
    }
    if (remind) {
      SendReminders(sink);
      continue;
    }
    AlertmanagerAlert am;
    std::string detail;
    const std::string body = Body(sink, event.event, &am);
    const Delivery d = body.empty() ? Delivery::kRejected : sink->webhook.Post(body, &detail);
    if (body.empty()) detail = "not an alert object";
    if (d == Delivery::kRetry) {
      {
        std::lock_guard<std::mutex> lock(sink->mu);
        ++sink->stats.retries;
      }
      if (limiter.Allow("retry", &suppressed)) {
        spdlog::warn("alert delivery to {} failed ({}); retrying{}", sink->stats.name, detail,
                     suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
      }
      // Full jitter: a random wait up to base * 2^attempt, at most backoff_max.
      const auto cap = std::min<int64_t>(options_.backoff_max.count(),
                                         options_.backoff_base.count() << std::min(attempt, 20));
      ++attempt;
      const auto wait = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng));
      std::unique_lock<std::mutex> lock(sink->mu);
      const auto until = stopping_.load() ? std::min(Clock::now() + wait, StopDeadline()) : Clock::now() + wait;
      sink->cv.wait_until(lock, until, [&] { return stopping_.load() && Clock::now() >= StopDeadline(); });
      continue;
    }
    attempt = 0;
    if (d == Delivery::kDelivered) {
      Delivered(sink, event, std::move(am));
      continue;
    }
    std::lock_guard<std::mutex> lock(sink->mu);
    if (!sink->queue.empty() && sink->queue.front().spool_id == event.spool_id) sink->queue.pop_front();
    ++sink->stats.rejected;
    if (Status st = sink->spool.Remove(event.spool_id, false); !st.ok()) SpoolError(sink, st);
    spdlog::error("alert delivery to {} rejected ({}): event dropped", sink->stats.name, detail);
  }
  std::lock_guard<std::mutex> lock(sink->mu);
  if (!sink->queue.empty()) {
    spdlog::warn("alert delivery to {}: {} events undelivered at stop{}", sink->stats.name, sink->queue.size(),
                 sink->spool.enabled() ? "; they stay in the spool for the next run" : " and lost (no spool)");
  }
}

std::vector<SinkStats> Dispatcher::stats() const {
  std::vector<SinkStats> out;
  const auto now = Clock::now();
  for (const auto& s : sinks_) {
    std::lock_guard<std::mutex> lock(s->mu);
    SinkStats st = s->stats;
    st.queued = s->queue.size();
    st.active = s->active.size();
    st.oldest_undelivered_seconds =
        s->queue.empty() ? 0 : std::chrono::duration<double>(now - s->queue.front().queued_at).count();
    out.push_back(st);
  }
  return out;
}

RateLimitStats Dispatcher::rate_limit_stats() const {
  std::lock_guard<std::mutex> lock(limit_mu_);
  return limit_stats_;
}

}  // namespace flowwatch::alert
