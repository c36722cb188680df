// Stochastic rounding for fixed-point per-key state: a step smaller than one
// unit still moves a value by the right amount on average, so that state can
// be kept in a byte or a nibble and learn at slow rates.
//
// Plain functions and a value type; thread-safe as values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace flowwatch::detect {

// Uniform draws in [0, 1) for the stochastic rounding of one update
// (splitmix64 over the seed: the same seed, the same draws).
class Draws {
 public:
  explicit Draws(uint64_t seed) : state_(seed) {}
  double Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t state_;
};

// Adds delta_units to an integer field with stochastic rounding - the fraction
// rounds up with that probability, u being a uniform draw in [0, 1) - and
// clamps the result to [lo, hi].
template <typename T>
T AddRounded(T value, double delta_units, double u, double lo, double hi) {
  return static_cast<T>(std::clamp(std::floor(static_cast<double>(value) + delta_units + u), lo, hi));
}

}  // namespace flowwatch::detect
