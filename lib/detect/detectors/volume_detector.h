// The volume detector: is this bucket's byte count a deviation from the key's
// baseline? It must pass three tests at once, so that neither a tiny key ("7x
// of 10 bytes") nor a noisy one pages anyone:
//   ratio  = observed / baseline mean      >= min_ratio
//   zscore = (observed - mean) / stddev    >= min_zscore
//   observed                               >= min_bytes
// and the key must have been seen for warmup_buckets buckets. The baseline is
// updated with the observation clamped to mean + min_zscore * stddev when the
// bucket is anomalous, so an attack does not teach the baseline that it is
// normal. Pure functions; thread-safe.
#pragma once

#include <cstdint>

#include "lib/detect/ewma.h"
#include "lib/model/alert.h"

namespace flowwatch::detect {

struct VolumeOptions {
  double min_ratio = 3.0;
  double min_zscore = 4.0;
  uint64_t min_bytes = 1u << 20;
  double critical_ratio = 5.0;
  uint32_t warmup_buckets = 24;
};

struct VolumeVerdict {
  bool anomalous = false;
  double ratio = 0;
  double zscore = 0;
  double baseline = 0;
  Severity severity = Severity::kWarning;
};

VolumeVerdict EvaluateVolume(const Ewma& baseline, uint32_t age_buckets, uint64_t observed,
                             const VolumeOptions& options);

// The value to feed the baseline for this bucket (bounded when anomalous).
double BaselineInput(const Ewma& baseline, uint64_t observed, const VolumeVerdict& verdict,
                     const VolumeOptions& options);

}  // namespace flowwatch::detect
