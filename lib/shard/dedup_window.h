// DedupWindow: remembers recent tuple fingerprints (FlowRecord::dedup_hash) so
// that a record delivered twice (a forwarder's retry, a blob read again) is
// applied once. Bounded in event time and in memory.
//
// Fingerprints live in two generations: a tuple is a duplicate if either holds
// it; new fingerprints join the current one. When event time passes the current
// generation's start plus half the window, or it holds max_entries, the previous
// generation is dropped and the current one takes its place. So a duplicate is
// caught if it arrives within window/2 of the original (and up to a full window),
// in event time; beyond that it is counted again (documented).
//
// Layout: one open-addressing table of 64-bit slots (linear probing) for both
// generations; each slot keeps 62 bits of the fingerprint, the generation's
// parity and an occupied bit. One probe per tuple (the table is far larger than
// the caches, so a probe is a cache miss: two sets would cost two). Rotation
// rebuilds the table with the surviving generation only.
//
// Each shard owns one; not thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "lib/state/codec.h"

namespace flowwatch::shard {

class DedupWindow {
 public:
  struct Options {
    int64_t window_ms = 30 * 60 * 1000;
    size_t max_entries = 1u << 20;  // per generation (the table holds two: 32 MB at most)
  };

  explicit DedupWindow(const Options& options) : options_(options) { Allocate(kInitialCapacity); }

  // Returns true if fingerprint was seen within the window (a duplicate);
  // otherwise records it and returns false. time_ms is the tuple's event time.
  bool CheckAndInsert(uint64_t fingerprint, int64_t time_ms) {
    if (time_ms > max_time_) max_time_ = time_ms;
    if (generation_start_ == INT64_MIN) generation_start_ = time_ms;
    if (max_time_ - generation_start_ >= options_.window_ms / 2 || current_count_ >= options_.max_entries) Rotate();
    const uint64_t body = fingerprint << 2;  // the fingerprint's low 62 bits
    for (size_t i = Home(body);; i = (i + 1) & mask_) {
      const uint64_t slot = slots_[i];
      if (slot == 0) {
        slots_[i] = body | (parity_ << 1) | 1;
        ++current_count_;
        if ((current_count_ + previous_count_) * 4 > capacity_ * 3) Rehash(capacity_ * 2, /*drop_parity=*/2);
        return false;
      }
      if ((slot & kBodyMask) == body) return true;
    }
  }

  size_t size() const { return current_count_ + previous_count_; }
  size_t memory_bytes() const { return capacity_ * sizeof(uint64_t); }
  // Rotations forced by max_entries before the time window elapsed: the window
  // was effectively shorter than configured.
  uint64_t early_rotations() const { return early_rotations_; }

  // The whole window, for a checkpoint (the table as it is: 8 bytes a slot).
  void Save(state::Writer* w) const {
    w->Put<uint64_t>(capacity_);
    w->Put<uint64_t>(current_count_);
    w->Put<uint64_t>(previous_count_);
    w->Put<uint64_t>(parity_);
    w->Put<int64_t>(generation_start_);
    w->Put<int64_t>(max_time_);
    w->Put<uint64_t>(early_rotations_);
    w->out()->append(reinterpret_cast<const char*>(slots_.get()), capacity_ * sizeof(uint64_t));
  }
  // Replaces the window with a saved one; false (and r failed) if it is not one.
  bool Load(state::Reader* r) {
    const uint64_t capacity = r->Get<uint64_t>();
    const uint64_t current = r->Get<uint64_t>(), previous = r->Get<uint64_t>(), parity = r->Get<uint64_t>();
    const int64_t generation_start = r->Get<int64_t>(), max_time = r->Get<int64_t>();
    const uint64_t early = r->Get<uint64_t>();
    if (!r->ok()) return false;
    if (capacity < kInitialCapacity || (capacity & (capacity - 1)) != 0 || capacity > (uint64_t{1} << 34) ||
        current + previous > capacity || parity > 1) {
      r->Fail("not a de-duplication window");
      return false;
    }
    const std::string_view raw = r->Raw(capacity * sizeof(uint64_t));
    if (!r->ok()) return false;
    // The counts must match the slots in use, and leave the table room: a full
    // table would make lookups probe forever.
    uint64_t used = 0;
    for (size_t i = 0; i < capacity; ++i) {
      uint64_t slot;
      std::memcpy(&slot, raw.data() + i * sizeof(uint64_t), sizeof slot);
      used += slot != 0;
    }
    if (used != current + previous || used * 4 > capacity * 3) {
      r->Fail("a de-duplication window whose slots do not match its counts");
      return false;
    }
    Allocate(capacity);
    std::memcpy(slots_.get(), raw.data(), raw.size());
    current_count_ = current;
    previous_count_ = previous;
    parity_ = parity;
    generation_start_ = generation_start;
    max_time_ = max_time;
    early_rotations_ = early;
    return true;
  }

 private:
  static constexpr uint64_t kBodyMask = ~uint64_t{3};
  static constexpr size_t kInitialCapacity = 1u << 12;

  // Home slot of a stored body (fingerprint << 2) or of a slot holding it.
  size_t Home(uint64_t body_or_slot) const { return static_cast<size_t>(body_or_slot >> 2) & mask_; }

  void Allocate(size_t capacity) {
    slots_ = std::make_unique<uint64_t[]>(capacity);  // zeroed: all empty
    capacity_ = capacity;
    mask_ = capacity - 1;
  }

  // Moves every entry into a table of new_capacity, leaving out those whose
  // parity is drop_parity (2: keep all).
  void Rehash(size_t new_capacity, uint64_t drop_parity) {
    std::unique_ptr<uint64_t[]> old = std::move(slots_);
    const size_t old_capacity = capacity_;
    Allocate(new_capacity);
    for (size_t j = 0; j < old_capacity; ++j) {
      const uint64_t slot = old[j];
      if (slot == 0 || ((slot >> 1) & 1) == drop_parity) continue;
      size_t i = Home(slot);
      while (slots_[i] != 0) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }

  void Rotate() {
    if (max_time_ - generation_start_ < options_.window_ms / 2) ++early_rotations_;
    // The previous generation expires; the current one becomes the previous.
    const uint64_t expired = parity_ ^ 1;
    size_t capacity = kInitialCapacity;
    while (current_count_ * 4 > capacity * 3 / 2) capacity *= 2;  // room to grow into
    Rehash(capacity, expired);
    previous_count_ = current_count_;
    current_count_ = 0;
    parity_ = expired;
    generation_start_ = max_time_;
  }

  const Options options_;
  std::unique_ptr<uint64_t[]> slots_;
  size_t capacity_ = 0;
  size_t mask_ = 0;
  size_t current_count_ = 0;
  size_t previous_count_ = 0;
  uint64_t parity_ = 0;  // the current generation's parity bit
  int64_t generation_start_ = INT64_MIN;
  int64_t max_time_ = INT64_MIN;
  uint64_t early_rotations_ = 0;
};

}  // namespace flowwatch::shard
