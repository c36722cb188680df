#include "lib/common/interner.h"

#include <cstring>

#include "lib/common/hash.h"

namespace flowwatch {

StringInterner::StringInterner(uint32_t max_entries)
    : max_entries_(std::max<uint32_t>(2, std::min(max_entries, kChunkSize * kMaxChunks))),
      chunks_(new std::atomic<Entry*>[(max_entries_ + kChunkSize - 1) / kChunkSize]{}) {
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked("");
  AddLocked("(other)");
}

StringInterner::~StringInterner() {
  const uint32_t used = (size_.load(std::memory_order_relaxed) + kChunkSize - 1) / kChunkSize;
  for (uint32_t c = 0; c < used; ++c) delete[] chunks_[c].load(std::memory_order_relaxed);
}

const char* StringInterner::CopyLocked(std::string_view s) {
  if (s.empty()) return "";
  char* out;
  if (s.size() > kBlockSize / 4) {
    auto block = std::make_unique_for_overwrite<char[]>(s.size());
    out = block.get();
    // Kept before the block being filled, which stays last.
    blocks_.insert(blocks_.empty() ? blocks_.end() : blocks_.end() - 1, std::move(block));
  } else {
    if (block_left_ < s.size()) {
      blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBlockSize));
      block_left_ = kBlockSize;
    }
    out = blocks_.back().get() + (kBlockSize - block_left_);
    block_left_ -= s.size();
  }
  std::memcpy(out, s.data(), s.size());
  return out;
}

uint32_t StringInterner::AddLocked(std::string_view s) {
  const uint32_t id = size_.load(std::memory_order_relaxed);
  const uint32_t chunk = id >> kChunkBits;
  Entry* entries = chunks_[chunk].load(std::memory_order_relaxed);
  if (entries == nullptr) {
    entries = new Entry[kChunkSize];  // not initialized: written before size_ passes them
    chunks_[chunk].store(entries, std::memory_order_release);
  }
  const char* data = CopyLocked(s);
  entries[id & (kChunkSize - 1)] = Entry{data, static_cast<uint32_t>(s.size())};
  index_.emplace(std::string_view(data, s.size()), id);
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
  const Entry& e = chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & (kChunkSize - 1)];
  return {e.data, e.size};
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
