#include "lib/detect/detectors/volume_detector.h"

#include <algorithm>

namespace flowwatch::detect {
namespace {

// A baseline with almost no variance (perfectly steady traffic) must not turn
// every small wobble into an infinite z-score: floor the deviation at 1% of the
// mean (and at one byte).
double EffectiveStddev(const Ewma& b) {
  return std::max({b.stddev(), 0.01 * static_cast<double>(b.mean), 1.0});
}

}  // namespace

VolumeVerdict EvaluateVolume(const Ewma& baseline, uint32_t age_buckets, uint64_t observed,
                             const VolumeOptions& options) {
  VolumeVerdict v;
  const double mean = std::max(0.0, static_cast<double>(baseline.mean));
  const double x = static_cast<double>(observed);
  v.baseline = mean;
  v.ratio = x / std::max(mean, 1.0);
  v.zscore = (x - mean) / EffectiveStddev(baseline);
  v.anomalous = age_buckets >= options.warmup_buckets && observed >= options.min_bytes &&
                v.ratio >= options.min_ratio && v.zscore >= options.min_zscore;
  v.severity = v.ratio >= options.critical_ratio ? Severity::kCritical : Severity::kWarning;
  return v;
}

double BaselineInput(const Ewma& baseline, uint64_t observed, const VolumeVerdict& verdict,
                     const VolumeOptions& options) {
  const double x = static_cast<double>(observed);
  if (!verdict.anomalous) return x;
  return std::min(x, static_cast<double>(baseline.mean) + options.min_zscore * EffectiveStddev(baseline));
}

}  // namespace flowwatch::detect
