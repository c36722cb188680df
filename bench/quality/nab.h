// The Numenta Anomaly Benchmark's real labelled series (../shared/nab, its
// SOURCE.md), for bench/detection_quality.cpp and bench/detector_lab.cpp:
// loading them and scoring flags NAB's way (windows hit; flags outside every
// window after the first 15% of a file, its probation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flowwatch::bench {

struct NabFile {
  std::string name;                                 // e.g. "realKnownCause/machine_temperature_system_failure.csv"
  std::vector<std::pair<int64_t, double>> samples;  // epoch ms, value
  std::vector<std::pair<int64_t, int64_t>> windows;  // labelled anomaly windows, epoch ms
};

struct NabCounts {
  int windows = 0, hits = 0, outside = 0;
};

// Every file of combined_windows.json under root with more than 10 samples,
// by name; exits with a message naming the file on bad input.
std::vector<NabFile> LoadNab(const std::string& root);

// The factor that makes a file's median positive value 10 MiB, so that its
// values read as a key's bytes; 0 if it has no positive value (skipped).
double BytesScale(const NabFile& f);

// flags: the start of each flagged bucket (bucket_ms long).
NabCounts ScoreNab(const NabFile& f, const std::vector<int64_t>& flags, int64_t bucket_ms);

}  // namespace flowwatch::bench
