#include "lib/shard/shard_set.h"

#include <chrono>

namespace flowwatch::shard {
namespace {

constexpr size_t kConsumeBatch = 256;
constexpr int kSpinRounds = 64;
constexpr int kYieldRounds = 64;
constexpr auto kSleepSlice = std::chrono::milliseconds(1);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ShardSet::ShardSet(const ShardSetOptions& options, const ProcessorFactory& factory) : options_(options) {
  for (int s = 0; s < options_.shards; ++s) {
    auto w = std::make_unique<Worker>();
    w->processor = factory(s);
    for (int p = 0; p < options_.producers; ++p) w->rings.push_back(std::make_unique<Ring>(options_.ring_capacity));
    w->progress.assign(options_.producers, INT64_MIN);
    w->finished.assign(options_.producers, false);
    workers_.push_back(std::move(w));
  }
  for (int p = 0; p < options_.producers; ++p) producers_.push_back(std::unique_ptr<Producer>(new Producer(this, p)));
}

ShardSet::~ShardSet() {
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void ShardSet::Start() {
  started_ = true;
  {
    std::lock_guard<std::mutex> lock(pause_mu_);
    running_workers_ = options_.shards;
  }
  for (int s = 0; s < options_.shards; ++s) workers_[s]->thread = std::thread([this, s] { Run(s); });
}

void ShardSet::Join() {
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

bool ShardSet::WithAllPaused(std::chrono::milliseconds timeout, const std::function<void()>& fn) {
  std::lock_guard<std::mutex> visit(visit_mu_);
  std::unique_lock<std::mutex> lock(pause_mu_);
  pause_requested_.store(true, std::memory_order_relaxed);
  lock.unlock();
  for (auto& w : workers_) Wake(w.get());
  lock.lock();
  const bool paused = pause_cv_.wait_for(lock, timeout, [&] { return parked_workers_ == running_workers_; });
  if (paused) fn();
  pause_requested_.store(false, std::memory_order_relaxed);
  lock.unlock();
  pause_cv_.notify_all();
  return paused;
}

void ShardSet::Park() {
  std::unique_lock<std::mutex> lock(pause_mu_);
  if (!pause_requested_.load(std::memory_order_relaxed)) return;
  ++parked_workers_;
  pause_cv_.notify_all();
  pause_cv_.wait(lock, [&] { return !pause_requested_.load(std::memory_order_relaxed); });
  --parked_workers_;
}

size_t ShardSet::queued(int shard) const {
  size_t n = 0;
  for (const auto& r : workers_[shard]->rings) n += r->size_approx();
  return n;
}

void ShardSet::Wake(Worker* w) {
  // Pairs with the fence in Run(): either we see sleeping, or the worker sees
  // what we published before it sleeps. A missed wake-up costs one sleep slice.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (w->sleeping.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> lock(w->mu);
    w->cv.notify_one();
  }
}

void ShardSet::Handle(Worker* w, int producer, const ShardMessage& m, int* finished_count) {
  switch (m.kind) {
    case ShardMessage::Kind::kFlow:
      w->processor->OnFlow(m.flow);
      return;
    case ShardMessage::Kind::kProgress:
      if (m.flow.time_ms > w->progress[producer]) w->progress[producer] = m.flow.time_ms;
      break;
    case ShardMessage::Kind::kFinish:
      w->finished[producer] = true;
      ++*finished_count;
      break;
  }
  int64_t frontier = INT64_MAX;
  for (int p = 0; p < options_.producers; ++p) {
    if (!w->finished[p] && w->progress[p] < frontier) frontier = w->progress[p];
  }
  if (frontier != INT64_MAX && frontier > w->reported_progress) {
    w->reported_progress = frontier;
    w->processor->OnProgress(frontier);
  }
}

void ShardSet::Run(int shard) {
  Worker* w = workers_[shard].get();
  int finished = 0;
  int idle = 0;
  while (true) {
    if (pause_requested_.load(std::memory_order_relaxed)) Park();
    size_t got = 0;
    for (int p = 0; p < options_.producers; ++p) {
      got += w->rings[p]->Consume(kConsumeBatch,
                                  [&](const ShardMessage& m) { Handle(w, p, m, &finished); });
    }
    if (finished == options_.producers) break;  // each Finish is its ring's last message
    if (got > 0) {
      idle = 0;
      continue;
    }
    ++idle;
    if (idle < kSpinRounds) {
      CpuRelax();
    } else if (idle < kSpinRounds + kYieldRounds) {
      std::this_thread::yield();
    } else {
      std::unique_lock<std::mutex> lock(w->mu);
      w->sleeping.store(true, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      bool any = false;
      for (auto& r : w->rings) any = any || !r->empty();
      if (!any) w->cv.wait_for(lock, kSleepSlice);
      w->sleeping.store(false, std::memory_order_relaxed);
    }
  }
  w->processor->OnEndOfInput();
  std::lock_guard<std::mutex> lock(pause_mu_);
  --running_workers_;
  pause_cv_.notify_all();
}

bool Producer::TrySend(const FlowRecord& flow, uint64_t route_hash) {
  const int shard = ShardFor(route_hash, set_->options_.shards);
  ShardMessage m;
  m.flow = flow;
  m.kind = ShardMessage::Kind::kFlow;
  return set_->workers_[shard]->rings[index_]->TryPush(m);
}

void Producer::Send(const FlowRecord& flow, uint64_t route_hash) {
  const int shard = ShardFor(route_hash, set_->options_.shards);
  ShardMessage m;
  m.flow = flow;
  m.kind = ShardMessage::Kind::kFlow;
  if (!set_->workers_[shard]->rings[index_]->TryPush(m)) PushBlocking(shard, m);
}

void Producer::PushBlocking(int shard, const ShardMessage& m) {
  ShardSet::Worker* w = set_->workers_[shard].get();
  set_->Wake(w);  // it has work: make sure it is not asleep
  const auto start = std::chrono::steady_clock::now();
  int rounds = 0;
  while (!w->rings[index_]->TryPush(m)) {
    if (++rounds < kSpinRounds) {
      CpuRelax();
    } else if (rounds < kSpinRounds + kYieldRounds) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  backpressure_ns_.fetch_add(static_cast<uint64_t>(std::chrono::nanoseconds(waited).count()),
                             std::memory_order_relaxed);
}

void Producer::Broadcast(const ShardMessage& m) {
  for (int s = 0; s < set_->options_.shards; ++s) {
    if (!set_->workers_[s]->rings[index_]->TryPush(m)) PushBlocking(s, m);
  }
  Flush();
}

void Producer::Progress(int64_t event_time_ms) {
  ShardMessage m;
  m.kind = ShardMessage::Kind::kProgress;
  m.flow.time_ms = event_time_ms;
  Broadcast(m);
}

void Producer::Finish() {
  ShardMessage m;
  m.kind = ShardMessage::Kind::kFinish;
  Broadcast(m);
}

uint64_t Producer::sent(int shard) const { return set_->workers_[shard]->rings[index_]->produced(); }

void Producer::Flush() {
  for (auto& w : set_->workers_) set_->Wake(w.get());
}

}  // namespace flowwatch::shard
