// ReadTextFile: reads a whole (small) configuration-style file into memory, for
// the loaders of this stage (inventory, service tags). Control-plane only: it
// blocks on disk I/O. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <string>

#include "lib/common/status.h"

namespace flowwatch::enrich {

// Largest file accepted; the real ServiceTags_Public file is about 4 MiB and a
// 100,000-VM inventory about 5 MiB, so this only stops a wrong path (a device,
// a multi-gigabyte log) from exhausting memory.
inline constexpr size_t kMaxTextFileBytes = 256u << 20;

// Returns the file's bytes, or IoError naming the path and the reason.
[[nodiscard]] Result<std::string> ReadTextFile(const std::string& path);

}  // namespace flowwatch::enrich
