// Shared by the benchmarks: a workload folder (generated once, reused), files
// loaded into padded memory, and a wall clock.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "lib/gen/generator.h"

namespace flowwatch::bench {

struct LoadedFile {
  std::vector<char> data;  // size + padding
  size_t size = 0;
};

// Generates the workload into dir unless dir already holds it (a marker file
// records the options). Prints what it does on stderr.
void EnsureWorkload(const gen::GenOptions& options);

// Every input file under dir, read into memory.
std::vector<LoadedFile> LoadAll(const std::string& dir, size_t padding, uint64_t* total_bytes);

inline double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace flowwatch::bench
