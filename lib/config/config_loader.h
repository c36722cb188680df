// LoadConfig: reads flowwatch's YAML configuration strictly.
//
// Every problem is reported, not just the first, each naming the file, line and
// key ("flowwatch.yaml:12: detection.min_ratio: expected a number, got 'high'").
// Unknown keys are errors (a typo must not silently fall back to a default).
// Strings may use ${VAR} to take a value from the environment (for secrets such
// as the Event Hubs connection string); an unset variable is an error.
// Durations are written "90s", "5m", "6h", "7d" (or a number of seconds); sizes
// "1048576", "512KiB", "1MiB", "2GiB". Thread-safe (no shared state).
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/common/status.h"
#include "lib/config/config.h"

namespace flowwatch::config {

struct LoadResult {
  Config config;
  std::vector<std::string> errors;  // empty when the config is valid
  // Dotted paths of the keys the loader accepts in the sections the file has,
  // and of the keys the file sets (tests keep the example file complete).
  std::set<std::string> known_keys;
  std::set<std::string> present_keys;
  bool ok() const { return errors.empty(); }
};

LoadResult LoadConfigFile(const std::string& path);
LoadResult LoadConfigText(std::string_view yaml, std::string_view source_name);

// Helpers shared with the command line.
bool ParseDuration(std::string_view text, Millis* out);
bool ParseSize(std::string_view text, uint64_t* out);

}  // namespace flowwatch::config
