// Exponentially weighted mean and variance of a per-bucket series, with the
// closed form for a run of zero observations, so that a key with no traffic
// costs nothing per bucket: its missed buckets are applied in one step when it
// next sees data.
//
// Update (West 1979, exponentially weighted):
//   d = x - m;  m' = m + a*d;  v' = (1-a) * (v + a*d^2)
// n zero observations, b = 1-a (derivation in docs/detection.md):
//   m_n = b^n * m;  v_n = b^n * (v + m^2 * (1 - b^n))
// Pure functions on a small value; thread-safe.
#pragma once

#include <cmath>
#include <cstdint>

namespace flowwatch::detect {

template <typename T>
struct EwmaT {
  T mean = 0;
  T var = 0;

  void Update(double x, double alpha) {
    const double d = x - static_cast<double>(mean);
    const double m = static_cast<double>(mean) + alpha * d;
    const double v = (1 - alpha) * (static_cast<double>(var) + alpha * d * d);
    mean = static_cast<T>(m);
    var = static_cast<T>(v);
  }

  // Applies n zero observations at once.
  void DecayZeros(int64_t n, double alpha) {
    if (n <= 0) return;
    const double bn = std::pow(1 - alpha, static_cast<double>(n));
    const double m = static_cast<double>(mean);
    mean = static_cast<T>(bn * m);
    var = static_cast<T>(bn * (static_cast<double>(var) + m * m * (1 - bn)));
  }

  double stddev() const { return std::sqrt(std::max(0.0, static_cast<double>(var))); }
};

// float halves the per-key state; its 24-bit mantissa is ample for byte volumes.
using Ewma = EwmaT<float>;

// The weight of one bucket for a half-life measured in buckets.
inline double AlphaForHalfLife(double half_life_buckets) {
  return 1 - std::pow(0.5, 1 / std::max(half_life_buckets, 1e-9));
}

}  // namespace flowwatch::detect
