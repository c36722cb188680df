// FlatHashMap: an open-addressing hash map with linear probing and backward-shift
// deletion, for the per-shard tables that hold millions of keys (baselines, port
// statistics, de-duplication fingerprints).
//
// Why not std::unordered_map: one heap node per key costs ~40 bytes of overhead and
// a cache miss per lookup; the per-key state budget is 128 bytes. Here a key costs
// sizeof(K) + sizeof(V) + 1 control byte, divided by the load factor (<= 7/8).
//
// Layout: a control byte per slot (0 = empty, else 0x80 | 7 hash bits, so most
// mismatches are rejected without touching the slot) and a parallel slot array.
// Deletion shifts later members of the probe run back, so there are no tombstones
// and lookups never slow down after churn (idle-key eviction).
//
// Pointers returned by Find/TryEmplace stay valid until the next insertion or
// erase. Not thread-safe: each table has exactly one owning thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

namespace flowwatch {

template <typename K, typename V, typename Hash>
class FlatHashMap {
 public:
  FlatHashMap() = default;
  explicit FlatHashMap(size_t expected) { Reserve(expected); }
  ~FlatHashMap() { Destroy(); }
  FlatHashMap(const FlatHashMap&) = delete;
  FlatHashMap& operator=(const FlatHashMap&) = delete;
  FlatHashMap(FlatHashMap&& o) noexcept { Swap(o); }
  FlatHashMap& operator=(FlatHashMap&& o) noexcept {
    if (this != &o) {
      Destroy();
      Swap(o);
    }
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  // Bytes held by the table itself (not by heap memory the values own).
  size_t memory_bytes() const { return capacity_ * (sizeof(Slot) + 1); }

  V* Find(const K& key) {
    if (size_ == 0) return nullptr;
    const uint64_t h = Hash{}(key);
    const uint8_t tag = Tag(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      if (ctrl_[i] == 0) return nullptr;
      if (ctrl_[i] == tag && slots_[i].key == key) return &slots_[i].value;
    }
  }
  const V* Find(const K& key) const { return const_cast<FlatHashMap*>(this)->Find(key); }

  // Returns the value for key, default-constructing it if absent; second is true
  // when it was inserted.
  std::pair<V*, bool> TryEmplace(const K& key) {
    if ((size_ + 1) * 8 > capacity_ * 7) Grow();
    const uint64_t h = Hash{}(key);
    const uint8_t tag = Tag(h);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      if (ctrl_[i] == 0) break;
      if (ctrl_[i] == tag && slots_[i].key == key) return {&slots_[i].value, false};
    }
    ctrl_[i] = tag;
    new (&slots_[i]) Slot{key, V{}};
    ++size_;
    return {&slots_[i].value, true};
  }

  bool Erase(const K& key) {
    if (size_ == 0) return false;
    const uint64_t h = Hash{}(key);
    const uint8_t tag = Tag(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      if (ctrl_[i] == 0) return false;
      if (ctrl_[i] == tag && slots_[i].key == key) {
        EraseAt(i);
        return true;
      }
    }
  }

  // Calls f(const K&, V&) for every entry, in table order.
  template <typename F>
  void ForEach(F&& f) {
    for (size_t i = 0; i < capacity_; ++i) {
      if (ctrl_[i] != 0) f(static_cast<const K&>(slots_[i].key), slots_[i].value);
    }
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < capacity_; ++i) {
      if (ctrl_[i] != 0) f(static_cast<const K&>(slots_[i].key), static_cast<const V&>(slots_[i].value));
    }
  }

  // Erases every entry for which pred(const K&, V&) is true; returns how many.
  // pred may be called more than once for an entry that stays.
  template <typename P>
  size_t EraseIf(P&& pred) {
    size_t erased = 0;
    for (size_t i = 0; i < capacity_;) {
      if (ctrl_[i] != 0 && pred(static_cast<const K&>(slots_[i].key), slots_[i].value)) {
        EraseAt(i);  // a later entry may now sit at i: look at it again
        ++erased;
      } else {
        ++i;
      }
    }
    return erased;
  }

  void Clear() {
    for (size_t i = 0; i < capacity_; ++i) {
      if (ctrl_[i] != 0) {
        slots_[i].~Slot();
        ctrl_[i] = 0;
      }
    }
    size_ = 0;
  }

  void Reserve(size_t n) {
    size_t want = 16;
    while (want * 7 < n * 8) want *= 2;
    if (want > capacity_) Rehash(want);
  }

 private:
  struct Slot {
    K key;
    [[no_unique_address]] V value;  // an empty V (a set) costs nothing
  };

  static uint8_t Tag(uint64_t h) { return static_cast<uint8_t>(0x80 | (h >> 57)); }

  void EraseAt(size_t i) {
    slots_[i].~Slot();
    ctrl_[i] = 0;
    --size_;
    // Backward shift: move each following member of the run whose home position
    // does not lie in (hole, j] into the hole.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; ctrl_[j] != 0; j = (j + 1) & mask_) {
      const size_t home = Hash{}(slots_[j].key) & mask_;
      const bool stays = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      new (&slots_[hole]) Slot(std::move(slots_[j]));
      ctrl_[hole] = ctrl_[j];
      slots_[j].~Slot();
      ctrl_[j] = 0;
      hole = j;
    }
  }

  void Grow() { Rehash(capacity_ == 0 ? 16 : capacity_ * 2); }

  void Rehash(size_t new_capacity) {
    auto* old_ctrl = ctrl_;
    auto* old_slots = slots_;
    const size_t old_capacity = capacity_;
    ctrl_ = static_cast<uint8_t*>(std::calloc(new_capacity, 1));
    slots_ = static_cast<Slot*>(::operator new(new_capacity * sizeof(Slot), std::align_val_t(alignof(Slot))));
    if (ctrl_ == nullptr) throw std::bad_alloc();
    capacity_ = new_capacity;
    mask_ = new_capacity - 1;
    for (size_t i = 0; i < old_capacity; ++i) {
      if (old_ctrl[i] == 0) continue;
      const uint64_t h = Hash{}(old_slots[i].key);
      size_t j = h & mask_;
      while (ctrl_[j] != 0) j = (j + 1) & mask_;
      ctrl_[j] = old_ctrl[i];
      new (&slots_[j]) Slot(std::move(old_slots[i]));
      old_slots[i].~Slot();
    }
    std::free(old_ctrl);
    if (old_slots) ::operator delete(old_slots, std::align_val_t(alignof(Slot)));
  }

  void Destroy() {
    if (ctrl_ == nullptr) return;
    Clear();
    std::free(ctrl_);
    ::operator delete(slots_, std::align_val_t(alignof(Slot)));
    ctrl_ = nullptr;
    slots_ = nullptr;
    capacity_ = mask_ = 0;
  }

  void Swap(FlatHashMap& o) noexcept {
    std::swap(ctrl_, o.ctrl_);
    std::swap(slots_, o.slots_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    std::swap(mask_, o.mask_);
  }

  uint8_t* ctrl_ = nullptr;
  Slot* slots_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t mask_ = 0;
};

}  // namespace flowwatch
