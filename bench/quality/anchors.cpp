#include "bench/quality/anchors.h"

#include <algorithm>
#include <cmath>

namespace flowwatch::bench {
namespace {

constexpr uint32_t kWarmupBuckets = 24;
constexpr double kMinBytes = 1 << 20;
constexpr uint32_t kResolveAfter = 3;
constexpr double kHalfLifeBuckets = 72;  // 6 h of 5-minute buckets

// The seed article: mean over buckets with data.
struct Article {
  double sum = 0;
  uint32_t n = 0;
  void Gap(int64_t) {}
  bool Judge(double x) {
    const double avg = n ? sum / n : 0;
    const bool anomalous = n >= kWarmupBuckets && x >= kMinBytes && avg > 0 && std::fabs(x - avg) / avg > 3;
    sum += x;
    ++n;
    return anomalous;
  }
};

// flowwatch's former detector (lib/detect before the seasonal model).
struct Ewma {
  double alpha = 1 - std::pow(0.5, 1 / kHalfLifeBuckets);
  double mean = 0, var = 0;
  uint32_t age = 0;
  void Fold(double x) {
    const double a = std::max(alpha, 1.0 / (age + 1));
    const double d = x - mean;
    mean += a * d;
    var = (1 - a) * (var + a * d * d);
    ++age;
  }
  void Gap(int64_t zeros) {  // buckets without traffic are zeros
    for (; zeros > 0 && age < 1 / alpha; --zeros) Fold(0);
    if (zeros <= 0) return;
    const double bn = std::pow(1 - alpha, static_cast<double>(zeros));
    var = bn * (var + mean * mean * (1 - bn));
    mean *= bn;
    age += static_cast<uint32_t>(std::min<int64_t>(zeros, 1 << 30));
  }
  bool Judge(double x) {
    const double sd = std::max({std::sqrt(std::max(var, 0.0)), 0.01 * mean, 1.0});
    const double ratio = x / std::max(mean, 1.0), z = (x - mean) / sd;
    const bool anomalous = age >= kWarmupBuckets && x >= kMinBytes && ratio >= 3 && z >= 4;
    Fold(anomalous ? std::min(x, mean + 4 * sd) : x);
    return anomalous;
  }
};

template <typename Model>
std::vector<int64_t> Run(const Series& series, int64_t bucket_ms) {
  Model model;
  std::vector<int64_t> fired;
  bool firing = false;
  uint32_t normal = 0;
  int64_t last = INT64_MIN;
  for (const auto& [start, bytes] : series) {
    const int64_t bucket = start / bucket_ms;
    if (last != INT64_MIN) {
      const int64_t gap = bucket - last - 1;
      if (firing && gap > 0) {  // empty buckets are normal ones
        normal += static_cast<uint32_t>(std::min<int64_t>(gap, kResolveAfter));
        if (normal >= kResolveAfter) firing = false;
      }
      model.Gap(gap);
    }
    last = bucket;
    const bool anomalous = model.Judge(static_cast<double>(bytes));
    if (anomalous) {
      normal = 0;
      if (!firing) fired.push_back(start);
      firing = true;
    } else if (firing && ++normal >= kResolveAfter) {
      firing = false;
    }
  }
  return fired;
}

}  // namespace

std::vector<int64_t> RunAnchor(Anchor anchor, const Series& series, int64_t bucket_ms) {
  return anchor == Anchor::kArticle ? Run<Article>(series, bucket_ms) : Run<Ewma>(series, bucket_ms);
}

}  // namespace flowwatch::bench
