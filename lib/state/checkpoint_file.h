// Checkpoint files: named sections of bytes in one file, with a version and a
// checksum, written durably and read back whole or not at all.
//
// Layout (docs/checkpoint_format.md has the details):
//   "FWCKPT\r\n"  u32 version  u32 sections  u64 sequence  i64 created_ms
//   per section:  u32 name length, name, u64 payload length, payload
//   u64 checksum of everything before it
// All integers little-endian. A file with another magic, a newer version, a
// bad checksum or a short section is refused with a message naming the file
// and what is wrong.
//
// CheckpointStore keeps them under one folder as checkpoint-<sequence>.fwc:
// Write() is a durable replace (temporary file, fsync, rename, fsync of the
// folder), so a crash never leaves a partial checkpoint under the final name,
// and keeps the newest `keep` files; LoadNewest() falls back to an older file
// when the newest is refused. Not thread-safe: one control thread uses it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/common/status.h"

namespace flowwatch::state {

// 4: each port peer's first sighting; 3: the baselines' sustained evidence in
// quarters and their run past the floors; 2: seasonal baselines and pooled
// tails in the detection state; 1: EWMA baselines. Older formats are migrated
// on load: see Detection::Load and PortTable::Load.
inline constexpr uint32_t kCheckpointVersion = 4;

struct Checkpoint {
  uint32_t version = kCheckpointVersion;  // of the file it was read from
  uint64_t sequence = 0;
  int64_t created_ms = 0;  // wall clock
  std::vector<std::pair<std::string, std::string>> sections;

  void Add(std::string name, std::string payload) { sections.emplace_back(std::move(name), std::move(payload)); }
  // The payload of a section, or null.
  const std::string* Find(std::string_view name) const;
};

std::string EncodeCheckpoint(const Checkpoint& c);
// source names the file in messages.
Status DecodeCheckpoint(std::string_view bytes, const std::string& source, Checkpoint* out);

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string dir, int keep = 2) : dir_(std::move(dir)), keep_(keep) {}

  // Writes c (its sequence picks the name); *bytes gets the file's size.
  Status Write(const Checkpoint& c, size_t* bytes);
  // The newest checkpoint that reads back whole. *found is false when there is
  // none; files refused on the way are listed in *rejected ("file: why").
  // *path gets the file it came from.
  Status LoadNewest(Checkpoint* out, bool* found, std::vector<std::string>* rejected, std::string* path = nullptr);
  // One more than the highest sequence on disk (refused files included), so
  // that a new checkpoint never takes an existing name.
  uint64_t NextSequence() const;

  const std::string& dir() const { return dir_; }

 private:
  std::vector<std::pair<uint64_t, std::string>> List() const;  // (sequence, path), oldest first

  std::string dir_;
  int keep_;
};

}  // namespace flowwatch::state
