// SpscRing<T>: a bounded, lock-free, single-producer/single-consumer ring: the
// only hand-off between a decoding thread and a shard worker.
//
// Ownership: exactly one producer thread calls the producer methods (TryPush,
// free_slots) and exactly one consumer thread calls the consumer methods
// (Consume, empty). Either may call size_approx(). Capacity is a power of two.
//
// Invariants:
//   - head_ and tail_ only grow (64-bit, never wrap in practice).
//   - 0 <= tail_ - head_ <= capacity: slots [head_, tail_) hold published items.
//   - Only the producer writes tail_ and the slots in [tail_, head_ + capacity);
//     only the consumer writes head_.
// Memory orders:
//   - The producer writes a slot, then stores tail_ with release; the consumer
//     loads tail_ with acquire before reading slots below it. So an item is
//     fully written before the consumer can see it.
//   - The consumer finishes reading slots, then stores head_ with release; the
//     producer loads head_ with acquire before overwriting slots below it. So a
//     slot is never overwritten while it is being read.
//   - The producer caches the consumer's index (cached_head_) and reloads it only
//     when the cache says full; the consumer reloads the producer's index once
//     per batch unless its cache already covers the batch. This keeps the shared
//     cache lines quiet on the fast path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace flowwatch::shard {

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring items are copied by value");

 public:
  explicit SpscRing(size_t capacity) {
    size_t c = 2;
    while (c < capacity) c *= 2;
    capacity_ = c;
    mask_ = c - 1;
    slots_ = std::make_unique<T[]>(c);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return capacity_; }

  // Producer: appends item unless the ring is full.
  bool TryPush(const T& item) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);  // only we write it
    if (tail - cached_head_ >= capacity_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail - cached_head_ >= capacity_) return false;
    }
    slots_[tail & mask_] = item;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer: calls f(const T&) for up to max published items, in order, then
  // releases their slots. Returns how many were consumed.
  template <typename F>
  size_t Consume(size_t max, F&& f) {
    const uint64_t head = head_.load(std::memory_order_relaxed);  // only we write it
    if (cached_tail_ - head < max) cached_tail_ = tail_.load(std::memory_order_acquire);
    if (cached_tail_ == head) return 0;
    uint64_t n = cached_tail_ - head;
    if (n > max) n = max;
    for (uint64_t i = 0; i < n; ++i) f(static_cast<const T&>(slots_[(head + i) & mask_]));
    head_.store(head + n, std::memory_order_release);
    return static_cast<size_t>(n);
  }

  // Consumer: whether nothing is published (reloads the producer's index).
  bool empty() {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    return cached_tail_ == head_.load(std::memory_order_relaxed);
  }

  // Producer: how many items it has pushed since the ring was made.
  uint64_t produced() const { return tail_.load(std::memory_order_relaxed); }
  // Any thread: how many items the consumer has finished with. Acquire: whatever
  // the consumer did with them (applying flows to shard state) happened before.
  uint64_t consumed() const { return head_.load(std::memory_order_acquire); }

  // Either side: an instantaneous, possibly stale, item count (for metrics).
  size_t size_approx() const {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    return tail >= head ? static_cast<size_t>(tail - head) : 0;
  }

 private:
  static constexpr size_t kLine = 64;
  alignas(kLine) std::atomic<uint64_t> head_{0};  // written by the consumer
  uint64_t cached_tail_ = 0;                      // consumer's copy of tail_
  alignas(kLine) std::atomic<uint64_t> tail_{0};  // written by the producer
  uint64_t cached_head_ = 0;                      // producer's copy of head_
  alignas(kLine) size_t capacity_ = 0;
  size_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
};

}  // namespace flowwatch::shard
