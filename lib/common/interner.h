// StringInterner: maps strings that repeat across millions of flows (NSG rule
// names, flow-log resource ids, VM names) to dense 32-bit ids, so that FlowRecord
// stays a small value type and shards compare integers, not strings.
//
// Thread-safety: Intern() may be called from any thread (it takes a mutex on a
// miss; decoders front it with an InternCache so the hot path rarely does).
// Get() is lock-free and may run concurrently with Intern(): an id handed to
// another thread through a release/acquire hand-off (the SPSC ring) is always
// readable there. Entries are never removed, so the table is capped: once full,
// Intern() returns kOverflowId and counts the overflow, bounding memory under
// hostile input (a flood of distinct rule names).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace flowwatch {

class StringInterner {
 public:
  static constexpr uint32_t kEmptyId = 0;     // ""
  static constexpr uint32_t kOverflowId = 1;  // "(other)": the table was full

  explicit StringInterner(uint32_t max_entries = 1u << 20);
  ~StringInterner();
  StringInterner(const StringInterner&) = delete;
  StringInterner& operator=(const StringInterner&) = delete;

  uint32_t Intern(std::string_view s);
  // Returns the id of s if it is already interned, without adding it.
  bool Find(std::string_view s, uint32_t* id) const;
  std::string_view Get(uint32_t id) const;
  uint32_t size() const { return size_.load(std::memory_order_acquire); }
  uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 1u << 12;  // 16.7 M entries at most

  static constexpr size_t kBlockSize = 64 * 1024;  // characters, allocated as needed

  // A view into blocks_, trivially constructed: a chunk of them costs
  // nothing until its entries are written.
  struct Entry {
    const char* data;
    uint32_t size;
  };

  uint32_t AddLocked(std::string_view s);
  const char* CopyLocked(std::string_view s);

  const uint32_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<std::string_view, uint32_t> index_;  // guarded by mu_; views into blocks_
  // The characters of every entry, never moved (guarded by mu_); a string
  // longer than a quarter block gets a block of its own.
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_left_ = 0;  // characters free at the end of blocks_.back()
  // As many chunk pointers as max_entries_ needs, published with release and
  // read with acquire; a chunk's entries are written before size_ is released
  // past them.
  std::unique_ptr<std::atomic<Entry*>[]> chunks_;
  std::atomic<uint32_t> size_{0};
  std::atomic<uint64_t> overflows_{0};
};

// A small direct-mapped cache in front of a StringInterner, owned by one thread.
// Hits need no lock and no allocation; a hit is verified by comparing the text.
class InternCache {
 public:
  explicit InternCache(StringInterner* interner) : interner_(interner) {}
  uint32_t Intern(std::string_view s);
  StringInterner* interner() const { return interner_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t id = StringInterner::kEmptyId;
  };
  static constexpr size_t kSlots = 1024;
  StringInterner* interner_;
  std::array<Slot, kSlots> slots_{};
};

}  // namespace flowwatch
