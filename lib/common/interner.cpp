#include "lib/common/interner.h"

#include "lib/common/hash.h"

namespace flowwatch {

StringInterner::StringInterner(uint32_t max_entries)
    : max_entries_(std::max<uint32_t>(2, std::min(max_entries, kChunkSize * kMaxChunks))) {
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked("");
  AddLocked("(other)");
}

StringInterner::~StringInterner() {
  for (auto& c : chunks_) delete[] c.load(std::memory_order_relaxed);
}

uint32_t StringInterner::AddLocked(std::string_view s) {
  const uint32_t id = size_.load(std::memory_order_relaxed);
  const uint32_t chunk = id >> kChunkBits;
  std::string* entries = chunks_[chunk].load(std::memory_order_relaxed);
  if (entries == nullptr) {
    entries = new std::string[kChunkSize];
    chunks_[chunk].store(entries, std::memory_order_release);
  }
  std::string& slot = entries[id & (kChunkSize - 1)];
  slot.assign(s);
  index_.emplace(std::string_view(slot), id);
  size_.store(id + 1, std::memory_order_release);
  return id;
}

uint32_t StringInterner::Intern(std::string_view s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(s);
  if (it != index_.end()) return it->second;
  if (size_.load(std::memory_order_relaxed) >= max_entries_) {
    overflows_.fetch_add(1, std::memory_order_relaxed);
    return kOverflowId;
  }
  return AddLocked(s);
}

bool StringInterner::Find(std::string_view s, uint32_t* id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(s);
  if (it == index_.end()) return false;
  *id = it->second;
  return true;
}

std::string_view StringInterner::Get(uint32_t id) const {
  if (id >= size_.load(std::memory_order_acquire)) return {};
  const std::string* entries = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
  return entries[id & (kChunkSize - 1)];
}

uint32_t InternCache::Intern(std::string_view s) {
  const uint64_t h = HashString(s);
  Slot& slot = slots_[h & (kSlots - 1)];
  if (slot.hash == h && slot.id != StringInterner::kEmptyId && interner_->Get(slot.id) == s) {
    return slot.id;
  }
  if (s.empty()) return StringInterner::kEmptyId;
  const uint32_t id = interner_->Intern(s);
  if (id != StringInterner::kOverflowId) {
    slot.hash = h;
    slot.id = id;
  }
  return id;
}

}  // namespace flowwatch
