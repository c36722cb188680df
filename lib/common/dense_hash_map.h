// DenseHashMap: a hash map whose entries sit densely in fixed-size chunks, with
// a separate open-addressing index of 4-byte slots - for tables of many small
// values where FlatHashMap's empty slots would cost more than the values
// (detection's per-key baselines: 52-byte entries, where FlatHashMap at a load
// of 1/2 would spend over 100 bytes a key).
//
// A key costs sizeof(Entry) plus 4 bytes / load factor (load <= 7/8 of a
// power-of-two index) plus less than one chunk of slack in all: 56.5-62 bytes a
// key for a 52-byte entry. Index slot: 0 = empty, else (8 hash bits << 24) |
// (entry index + 1), so most probe mismatches never touch an entry; at most
// 2^24 - 1 entries. Linear probing with backward-shift deletion: no
// tombstones. Erase moves the last entry into the hole, so entry order is not
// insertion order.
//
// K and V must be trivially copyable. Pointers from Find/TryEmplace stay valid
// across insertions (chunks never move) until the next Erase/EraseIf/Clear.
// Not thread-safe: each table has exactly one owning thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace flowwatch {

template <typename K, typename V, typename Hash>
class DenseHashMap {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);

 public:
  static constexpr size_t kChunkEntries = 1024;
  static constexpr size_t kMaxEntries = (1u << 24) - 1;

  struct Entry {
    K key;
    V value;
  };

  DenseHashMap() = default;
  DenseHashMap(const DenseHashMap&) = delete;
  DenseHashMap& operator=(const DenseHashMap&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Bytes held: the index and the chunks.
  size_t memory_bytes() const { return index_.size() * sizeof(uint32_t) + chunks_.size() * sizeof(Chunk); }

  V* Find(const K& key) {
    if (size_ == 0) return nullptr;
    const size_t i = Probe(key, Hash{}(key));
    return index_[i] == 0 ? nullptr : &At(index_[i]).value;
  }
  const V* Find(const K& key) const { return const_cast<DenseHashMap*>(this)->Find(key); }

  // The value for key, value-initialized if absent; second is true when inserted.
  // Throws std::length_error beyond kMaxEntries.
  std::pair<V*, bool> TryEmplace(const K& key) {
    if ((size_ + 1) * 8 > index_.size() * 7) Rehash(index_.empty() ? 16 : index_.size() * 2);
    const uint64_t h = Hash{}(key);
    const size_t i = Probe(key, h);
    if (index_[i] != 0) return {&At(index_[i]).value, false};
    if (size_ >= kMaxEntries) throw std::length_error("DenseHashMap: too many entries");
    if (size_ == chunks_.size() * kChunkEntries) chunks_.push_back(std::make_unique<Chunk>());
    Entry& e = EntryAt(size_);
    e.key = key;
    e.value = V{};
    index_[i] = Tag(h) | static_cast<uint32_t>(size_ + 1);
    ++size_;
    return {&e.value, true};
  }

  bool Erase(const K& key) {
    if (size_ == 0) return false;
    const size_t i = Probe(key, Hash{}(key));
    if (index_[i] == 0) return false;
    EraseSlot(i);
    return true;
  }

  // Calls f(const K&, V&) for every entry, in entry order.
  template <typename F>
  void ForEach(F&& f) {
    for (size_t n = 0; n < size_; ++n) f(static_cast<const K&>(EntryAt(n).key), EntryAt(n).value);
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t n = 0; n < size_; ++n) f(static_cast<const K&>(EntryAt(n).key), static_cast<const V&>(EntryAt(n).value));
  }

  // Erases every entry for which pred(const K&, V&) is true; returns how many.
  template <typename P>
  size_t EraseIf(P&& pred) {
    size_t erased = 0;
    for (size_t n = 0; n < size_;) {
      Entry& e = EntryAt(n);
      if (pred(static_cast<const K&>(e.key), e.value)) {
        EraseSlot(SlotOf(n));  // the last entry moves to n: look at it next
        ++erased;
      } else {
        ++n;
      }
    }
    return erased;
  }

  void Clear() {
    index_.assign(index_.size(), 0);
    chunks_.clear();
    size_ = 0;
  }

 private:
  static constexpr uint32_t kTagMask = 0xFF000000u;
  static constexpr uint32_t kIndexMask = 0x00FFFFFFu;
  struct Chunk {
    Entry entries[kChunkEntries];
  };

  static uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h >> 56) << 24; }
  Entry& EntryAt(size_t n) { return chunks_[n / kChunkEntries]->entries[n % kChunkEntries]; }
  const Entry& EntryAt(size_t n) const { return chunks_[n / kChunkEntries]->entries[n % kChunkEntries]; }
  Entry& At(uint32_t slot) { return EntryAt((slot & kIndexMask) - 1); }

  // The slot of key (hash h) in the index, or the empty slot where its probe
  // ends. The index must not be empty.
  size_t Probe(const K& key, uint64_t h) const {
    const uint32_t tag = Tag(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const uint32_t s = index_[i];
      if (s == 0 || ((s & kTagMask) == tag && EntryAt((s & kIndexMask) - 1).key == key)) return i;
    }
  }

  // The index slot that points at entry n.
  size_t SlotOf(size_t n) const {
    const uint32_t want = static_cast<uint32_t>(n + 1);
    for (size_t i = Hash{}(EntryAt(n).key) & mask_;; i = (i + 1) & mask_) {
      if ((index_[i] & kIndexMask) == want) return i;
    }
  }

  void EraseSlot(size_t i) {
    const size_t n = (index_[i] & kIndexMask) - 1;
    const size_t last = size_ - 1;
    if (n != last) {  // the last entry fills the hole; its slot follows it
      const size_t last_slot = SlotOf(last);
      EntryAt(n) = EntryAt(last);
      index_[last_slot] = (index_[last_slot] & kTagMask) | static_cast<uint32_t>(n + 1);
    }
    --size_;
    if (size_ % kChunkEntries == 0 && chunks_.size() > size_ / kChunkEntries + 1) chunks_.pop_back();
    // Backward shift: move each following member of the run whose home does
    // not lie in (hole, j] into the hole.
    index_[i] = 0;
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; index_[j] != 0; j = (j + 1) & mask_) {
      const size_t home = Hash{}(At(index_[j]).key) & mask_;
      const bool stays = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      index_[hole] = index_[j];
      index_[j] = 0;
      hole = j;
    }
  }

  void Rehash(size_t capacity) {
    index_.assign(capacity, 0);
    mask_ = capacity - 1;
    for (size_t n = 0; n < size_; ++n) {
      const uint64_t h = Hash{}(EntryAt(n).key);
      size_t i = h & mask_;
      while (index_[i] != 0) i = (i + 1) & mask_;
      index_[i] = Tag(h) | static_cast<uint32_t>(n + 1);
    }
  }

  std::vector<uint32_t> index_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  size_t size_ = 0;
  size_t mask_ = 0;
};

}  // namespace flowwatch
