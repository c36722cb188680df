// DedupWindow: remembers recent tuple fingerprints (FlowRecord::dedup_hash) so
// that a record delivered twice (a forwarder's retry, a blob read again) is
// applied once. Bounded in event time and in memory.
//
// Two generations of fingerprints: a tuple is a duplicate if either holds it; new
// fingerprints go into the current one. When event time passes the current
// generation's start plus half the window, or it holds max_entries, the previous
// generation is dropped and the current one takes its place. So a duplicate is
// caught if it arrives within window/2 of the original (and up to a full window),
// in event time; beyond that it is counted again (documented). Each shard owns
// one; not thread-safe.
#pragma once

#include <cstdint>

#include "lib/common/flat_hash_map.h"

namespace flowwatch::shard {

class DedupWindow {
 public:
  struct Options {
    int64_t window_ms = 30 * 60 * 1000;
    size_t max_entries = 1u << 20;  // per generation (about 20 MB at most)
  };

  explicit DedupWindow(const Options& options) : options_(options) {}

  // Returns true if fingerprint was seen within the window (a duplicate);
  // otherwise records it and returns false. time_ms is the tuple's event time.
  bool CheckAndInsert(uint64_t fingerprint, int64_t time_ms) {
    if (time_ms > max_time_) max_time_ = time_ms;
    if (generation_start_ == INT64_MIN) generation_start_ = time_ms;
    if (max_time_ - generation_start_ >= options_.window_ms / 2 || current_.size() >= options_.max_entries) {
      Rotate();
    }
    if (previous_.Find(fingerprint) != nullptr) return true;
    return !current_.TryEmplace(fingerprint).second;
  }

  size_t size() const { return current_.size() + previous_.size(); }
  size_t memory_bytes() const { return current_.memory_bytes() + previous_.memory_bytes(); }
  // Rotations forced by max_entries before the time window elapsed: the window
  // was effectively shorter than configured.
  uint64_t early_rotations() const { return early_rotations_; }

 private:
  struct Empty {};
  struct IdentityHash {  // fingerprints are already well mixed
    uint64_t operator()(uint64_t v) const { return v; }
  };
  using Set = FlatHashMap<uint64_t, Empty, IdentityHash>;

  void Rotate() {
    if (max_time_ - generation_start_ < options_.window_ms / 2) ++early_rotations_;
    previous_ = std::move(current_);
    current_ = Set();
    current_.Reserve(previous_.size());
    generation_start_ = max_time_;
  }

  const Options options_;
  Set current_;
  Set previous_;
  int64_t generation_start_ = INT64_MIN;
  int64_t max_time_ = INT64_MIN;
  uint64_t early_rotations_ = 0;
};

}  // namespace flowwatch::shard
