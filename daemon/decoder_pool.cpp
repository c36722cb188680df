#include "daemon/decoder_pool.h"

#include <algorithm>

#include "lib/common/logging.h"

namespace flowwatch::app {

using Clock = std::chrono::steady_clock;

DecoderPool::DecoderPool(const DecoderPoolOptions& options, NameTables* names, const enrich::VmResolver* resolver,
                         shard::ShardSet* shards, DeadLetterFn dead_letter)
    : options_(options), shards_(shards), dead_letter_(std::move(dead_letter)),
      live_progress_(std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(options.decoders))) {
  for (int i = 0; i < options_.decoders; ++i) {
    live_progress_[i].store(INT64_MAX, std::memory_order_relaxed);
    auto d = std::make_unique<Decoder>();
    d->worker = std::make_unique<DecodeWorker>(options_.decode, names, resolver, &shards_->producer(i), nullptr);
    decoders_.push_back(std::move(d));
  }
}

DecoderPool::~DecoderPool() { Stop(); }

void DecoderPool::Start() {
  for (size_t i = 0; i < decoders_.size(); ++i) {
    decoders_[i]->thread = std::thread([this, i] { Run(static_cast<int>(i)); });
  }
}

void DecoderPool::Stop() {
  for (auto& d : decoders_) {
    {
      std::lock_guard<std::mutex> lock(d->mu);
      d->stop = true;
    }
    d->cv.notify_all();
  }
  for (auto& d : decoders_) {
    if (d->thread.joinable()) d->thread.join();
  }
}

bool DecoderPool::Offer(source::SourceMessage& message) {
  Decoder& d = For(message.partition);
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (!HasRoomLocked(d, message.size)) return false;
    ++d.partitions[message.partition].in_flight;
    d.queue_bytes += message.size;
    d.queue.push_back(std::move(message));
  }
  d.cv.notify_one();
  return true;
}

bool DecoderPool::HasRoomLocked(const Decoder& d, size_t size) const {
  if (d.queue.empty()) return true;
  return d.queue.size() < options_.queue_messages && d.queue_bytes + size <= options_.queue_bytes;
}

void DecoderPool::WaitForRoom(int32_t partition, std::chrono::milliseconds timeout) {
  Decoder& d = For(partition);
  std::unique_lock<std::mutex> lock(d.mu);
  d.room.wait_for(lock, timeout, [&] { return d.queue.size() < options_.queue_messages; });
}

void DecoderPool::Run(int index) {
  Decoder& d = *decoders_[index];
  shard::Producer& producer = shards_->producer(index);
  std::deque<source::SourceMessage> batch;
  while (true) {
    int64_t progress = INT64_MIN;
    {
      std::unique_lock<std::mutex> lock(d.mu);
      // Wake at least once a second so that idle partitions let time move on.
      d.cv.wait_for(lock, std::chrono::seconds(1), [&] { return d.stop || !d.queue.empty(); });
      if (d.queue.empty()) {
        if (d.stop) break;
        progress = LiveProgressLocked(index, Clock::now());
        if (spdlog::should_log(spdlog::level::debug)) LogStateLocked(index, progress);
      } else {
        // Take everything queued: the shards are woken and event time reported
        // once per batch, not once per message.
        batch.swap(d.queue);
        d.queue_bytes = 0;
      }
    }
    if (batch.empty()) {
      if ((progress = Progress()) != INT64_MIN) producer.Progress(progress);
      continue;
    }
    d.room.notify_one();
    for (source::SourceMessage& m : batch) Process(index, m);
    batch.clear();
    d.worker->Flush();
    {
      std::lock_guard<std::mutex> lock(d.mu);
      LiveProgressLocked(index, Clock::now());  // published for Progress()
    }
    if ((progress = Progress()) != INT64_MIN) producer.Progress(progress);
  }
  producer.Finish();
}

void DecoderPool::Process(int index, source::SourceMessage& m) {
  Decoder& d = *decoders_[index];
  DecodeWorker& worker = *d.worker;
  const decode::DecodeStats before = worker.stats();
  worker.BeginInput(INT64_MIN);
  worker.Decode(std::string_view(m.data, m.size), /*flush=*/false);
  const decode::DecodeStats& after = worker.stats();
  messages_.Add();
  // Poison: nothing at all could be read from it.
  if (after.records == before.records && after.notifications == before.notifications &&
      after.error_total() > before.error_total()) {
    poison_.Add();
    if (dead_letter_) dead_letter_(m.partition, m.offset, m.data, m.size);
  }
  Ack ack{m.partition, m.offset + 1, {}};
  for (int s = 0; s < shards_->shard_count(); ++s) ack.sent.push_back(shards_->producer(index).sent(s));
  const int64_t message_max = worker.input_max_ms();
  if (message_max != INT64_MIN) {
    int64_t g = global_max_ms_.load(std::memory_order_relaxed);
    while (message_max > g && !global_max_ms_.compare_exchange_weak(g, message_max, std::memory_order_relaxed)) {
    }
  }
  std::lock_guard<std::mutex> lock(d.mu);
  Partition& p = d.partitions[m.partition];
  p.max_time_ms = std::max(p.max_time_ms, message_max);
  p.last_activity = Clock::now();
  p.delivered = true;
  if (p.in_flight > 0) --p.in_flight;
  if (p.assigned) {
    d.acks.push_back(std::move(ack));
  } else if (p.in_flight == 0) {
    d.partitions.erase(m.partition);  // revoked meanwhile: see OnRevoked
  }
  d.stats = after;
}

int64_t DecoderPool::LiveProgressLocked(int index, Clock::time_point now) const {
  const Decoder* d = decoders_[index].get();
  int64_t progress = INT64_MAX;
  for (const auto& [id, p] : d->partitions) {
    const auto quiet = now - p.last_activity;
    const bool silent = quiet > options_.idle_timeout && p.in_flight == 0;
    // Unknown backlog: only a partition that has delivered nothing for a long
    // while counts as empty (its first fetch may be slow after a rebalance).
    const bool nothing_waiting = p.backlog == 0 || (p.backlog < 0 && !p.delivered && quiet > 5 * options_.idle_timeout);
    if (!p.assigned || (silent && nothing_waiting)) continue;
    progress = std::min(progress, p.max_time_ms);  // INT64_MIN until the partition's first message
  }
  live_progress_[index].store(progress, std::memory_order_relaxed);
  return progress;
}

void DecoderPool::LogStateLocked(int index, int64_t live) const {
  std::string state;
  for (const auto& [id, p] : decoders_[index]->partitions) {
    state += " p" + std::to_string(id) + (p.assigned ? "" : " (revoked)") + " max=" +
             (p.max_time_ms == INT64_MIN ? std::string("none") : std::to_string(p.max_time_ms / 1000)) +
             " backlog=" + std::to_string(p.backlog);
  }
  spdlog::debug("decoder {}: live progress {}:{}", index,
                live == INT64_MAX ? std::string("none live") : live == INT64_MIN ? std::string("waiting") : std::to_string(live / 1000),
                state);
}

int64_t DecoderPool::Progress() const {
  // The slowest live partition of all, not this decoder's own slowest: a unit
  // of work can hand its hold on event time over to another decoder's
  // partition (a followed NIC's next hour is assigned, then its last hour
  // retires), and a decoder's own minimum, computed before that assignment
  // and reported after it, would let the others' reports close the buckets
  // the new partition is about to fill. Every change of partitions publishes
  // the changed decoder's figure (Rebalance) under rebalance_mu_, so this
  // snapshot never misses a hold. A decoder with none follows the others,
  // holding no one back and pushing no one ahead.
  std::lock_guard<std::mutex> lock(rebalance_mu_);
  int64_t slowest = INT64_MAX;
  for (int i = 0; i < options_.decoders; ++i) slowest = std::min(slowest, live_progress_[i].load(std::memory_order_relaxed));
  if (slowest != INT64_MAX) return slowest;
  // None has one. With partitions assigned, they are all idle (caught up):
  // event time may move to the largest seen, so the last buckets close. With
  // none (between a revocation and an assignment), nothing moves, unless the
  // source has said that none means caught up (followed files, once each was
  // read: see OnCaughtUp).
  return assigned_ > 0 || caught_up_.load() ? global_max_ms_.load(std::memory_order_relaxed) : INT64_MIN;
}

bool DecoderPool::Applied(int index, const Ack& ack) const {
  for (int s = 0; s < shards_->shard_count(); ++s) {
    if (shards_->consumed(index, s) < ack.sent[static_cast<size_t>(s)]) return false;
  }
  return true;
}

void DecoderPool::CollectCompleted(std::vector<std::pair<int32_t, int64_t>>* out) {
  for (size_t i = 0; i < decoders_.size(); ++i) {
    Decoder& d = *decoders_[i];
    std::lock_guard<std::mutex> lock(d.mu);
    while (!d.acks.empty() && Applied(static_cast<int>(i), d.acks.front())) {
      out->emplace_back(d.acks.front().partition, d.acks.front().next_offset);
      d.acks.pop_front();
    }
  }
}

bool DecoderPool::Drain(const std::vector<int32_t>& partitions, std::chrono::milliseconds budget) {
  const auto deadline = Clock::now() + budget;
  while (true) {
    bool pending = false;
    for (size_t i = 0; i < decoders_.size() && !pending; ++i) {
      Decoder& d = *decoders_[i];
      std::lock_guard<std::mutex> lock(d.mu);
      for (int32_t p : partitions) {
        auto it = d.partitions.find(p);
        if (it != d.partitions.end() && it->second.in_flight > 0) pending = true;
      }
      for (const Ack& a : d.acks) {
        if (std::find(partitions.begin(), partitions.end(), a.partition) != partitions.end() &&
            !Applied(static_cast<int>(i), a)) {
          pending = true;
        }
      }
    }
    if (!pending) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void DecoderPool::OnBacklog(int32_t partition, int64_t backlog) {
  Decoder& d = For(partition);
  std::lock_guard<std::mutex> lock(d.mu);
  d.partitions[partition].backlog = backlog;
}

void DecoderPool::OnProgressFloor(int32_t partition, int64_t ms) {
  Decoder& d = For(partition);
  std::lock_guard<std::mutex> lock(d.mu);
  Partition& p = d.partitions[partition];
  p.max_time_ms = std::max(p.max_time_ms, ms);
}

void DecoderPool::Rebalance(const std::vector<int32_t>& partitions, const std::function<void(Decoder&, int32_t)>& change) {
  const auto now = Clock::now();
  std::lock_guard<std::mutex> rebalance(rebalance_mu_);
  for (int32_t id : partitions) {
    Decoder& d = For(id);
    std::lock_guard<std::mutex> lock(d.mu);
    change(d, id);
    LiveProgressLocked(static_cast<int>(static_cast<size_t>(id) % decoders_.size()), now);
  }
}

void DecoderPool::OnAssigned(const std::vector<int32_t>& partitions) {
  Rebalance(partitions, [&](Decoder& d, int32_t id) {
    Partition& p = d.partitions[id];
    if (!p.assigned) ++assigned_;
    p.assigned = true;
    p.delivered = false;
    p.backlog = -1;
    p.last_activity = Clock::now();  // a partition that never delivers goes idle after idle_timeout
  });
}

void DecoderPool::OnRevoked(const std::vector<int32_t>& partitions) {
  Rebalance(partitions, [&](Decoder& d, int32_t id) {
    Partition& p = d.partitions[id];
    if (p.assigned) --assigned_;
    p.assigned = false;
    // Its completions are no longer ours to report (its new owner commits).
    std::erase_if(d.acks, [&](const Ack& a) { return a.partition == id; });
    // Forgotten unless a message of it is still being decoded (a followed
    // folder retires a file an hour: the map must not grow with them).
    if (p.in_flight == 0) d.partitions.erase(id);
  });
}

void DecoderPool::SeedEventTime(int64_t ms) {
  int64_t g = global_max_ms_.load(std::memory_order_relaxed);
  while (ms > g && !global_max_ms_.compare_exchange_weak(g, ms, std::memory_order_relaxed)) {
  }
}

decode::DecodeStats DecoderPool::stats() const {
  decode::DecodeStats total;
  for (const auto& d : decoders_) {
    std::lock_guard<std::mutex> lock(d->mu);
    total.Add(d->stats);
  }
  return total;
}

}  // namespace flowwatch::app
