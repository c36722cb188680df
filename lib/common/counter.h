// Counter: a statistic written by exactly one thread (its owner, e.g. a shard
// worker) and read by any (progress reports, /metrics). A relaxed atomic: on
// x86-64 Add() is a plain load and store, no locked instruction, yet readers
// never race. Readers see a recent, not necessarily the latest, value.
#pragma once

#include <atomic>
#include <cstdint>

namespace flowwatch {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void Set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// SharedCounter: the same, for a statistic that several threads add to (e.g.
// the daemon's decoders): Add() is an atomic fetch_add.
class SharedCounter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace flowwatch
