// LiveConfig: the configuration a running daemon may change on SIGHUP.
// The control thread Set()s a new one; shard threads poll generation() (a
// relaxed load, once per progress marker) and Get() when it moved. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "lib/config/config.h"

namespace flowwatch::app {

class LiveConfig {
 public:
  explicit LiveConfig(config::Config c) : current_(std::make_shared<const config::Config>(std::move(c))) {}

  void Set(config::Config c) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::make_shared<const config::Config>(std::move(c));
    generation_.fetch_add(1, std::memory_order_release);
  }
  std::shared_ptr<const config::Config> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const config::Config> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace flowwatch::app
