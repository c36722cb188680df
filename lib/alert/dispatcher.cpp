#include "lib/alert/dispatcher.h"

#include <algorithm>

#include "lib/common/logging.h"

namespace flowwatch::alert {

using Clock = std::chrono::steady_clock;

Dispatcher::Dispatcher(const DispatcherOptions& options, std::vector<WebhookSinkOptions> sinks) : options_(options) {
  for (WebhookSinkOptions& o : sinks) {
    sinks_.push_back(std::make_unique<Sink>(std::move(o)));
  }
}

Dispatcher::~Dispatcher() { Stop(std::chrono::milliseconds(0)); }

void Dispatcher::Start() {
  for (auto& s : sinks_) s->thread = std::thread([this, sink = s.get()] { Run(sink); });
}

void Dispatcher::Stop(std::chrono::milliseconds budget) {
  if (stopping_.exchange(true)) return;
  stop_deadline_ = Clock::now() + budget;
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

void Dispatcher::Enqueue(const std::string& key, const std::string& body) {
  for (auto& s : sinks_) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (!Remember(s.get(), key)) {
        ++s->stats.duplicates;
        continue;
      }
      if (s->queue.size() >= options_.max_queued) {
        s->queue.pop_front();
        ++s->stats.dropped;
      }
      s->queue.push_back(Event{key, body, Clock::now()});
    }
    s->cv.notify_one();
  }
}

void Dispatcher::Run(Sink* sink) {
  std::mt19937_64 rng(std::random_device{}());
  int attempt = 0;
  uint64_t suppressed = 0;
  LogLimiter limiter(std::chrono::seconds(60), 3);
  while (true) {
    Event event;
    {
      std::unique_lock<std::mutex> lock(sink->mu);
      sink->cv.wait(lock, [&] { return stopping_.load() || !sink->queue.empty(); });
      if (sink->queue.empty() || (stopping_.load() && Clock::now() >= stop_deadline_)) break;
      event = sink->queue.front();
    }
    std::string detail;
    const Delivery d = sink->webhook.Post(event.body, &detail);
    if (d == Delivery::kRetry) {
      {
        std::lock_guard<std::mutex> lock(sink->mu);
        ++sink->stats.retries;
      }
      if (limiter.Allow("retry", &suppressed)) {
        spdlog::warn("alert delivery to {} failed ({}); retrying{}", sink->webhook.origin(), detail,
                     suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
      }
      // Full jitter: a random wait up to base * 2^attempt, at most backoff_max.
      const auto cap = std::min<int64_t>(options_.backoff_max.count(),
                                         options_.backoff_base.count() << std::min(attempt, 20));
      ++attempt;
      const auto wait = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng));
      std::unique_lock<std::mutex> lock(sink->mu);
      const auto until = stopping_.load() ? std::min(Clock::now() + wait, stop_deadline_) : Clock::now() + wait;
      sink->cv.wait_until(lock, until, [&] { return stopping_.load() && Clock::now() >= stop_deadline_; });
      continue;
    }
    attempt = 0;
    std::lock_guard<std::mutex> lock(sink->mu);
    if (!sink->queue.empty() && sink->queue.front().key == event.key) sink->queue.pop_front();
    if (d == Delivery::kDelivered) {
      ++sink->stats.delivered;
    } else {
      ++sink->stats.rejected;
      spdlog::error("alert delivery to {} rejected ({}): event dropped", sink->webhook.origin(), detail);
    }
  }
  std::lock_guard<std::mutex> lock(sink->mu);
  if (!sink->queue.empty()) {
    spdlog::error("alert delivery to {}: {} events undelivered at stop", sink->webhook.origin(), sink->queue.size());
  }
}

std::vector<SinkStats> Dispatcher::stats() const {
  std::vector<SinkStats> out;
  const auto now = Clock::now();
  for (const auto& s : sinks_) {
    std::lock_guard<std::mutex> lock(s->mu);
    SinkStats st = s->stats;
    st.queued = s->queue.size();
    st.oldest_undelivered_seconds =
        s->queue.empty() ? 0 : std::chrono::duration<double>(now - s->queue.front().queued_at).count();
    out.push_back(st);
  }
  return out;
}

}  // namespace flowwatch::alert
