// FlowRng: the random numbers behind every synthetic flow.
//
// The generator writes one NIC-hour at a time, so a flow between two VMs is
// produced twice: once for the sender's blob and once for the receiver's. Both
// must be identical, without keeping the hour in memory. FlowRng therefore is a
// counter-based generator (SplitMix64) whose state is a hash of (seed, stream,
// minute): any (stream, minute) can be replayed on demand and always yields the
// same draws. Setup-time draws (topology, base volumes, phases) come from a
// std::mt19937_64 seeded with the options' seed; the Draw* helpers below serve
// both engines and avoid std::*_distribution, whose output differs between
// standard libraries, so output is byte-identical on every platform.
//
// A value type; not thread-safe to share, cheap to create (no heap, no tables).
#pragma once

#include <cmath>
#include <cstdint>

#include "lib/common/hash.h"

namespace flowwatch::gen {

class FlowRng {
 public:
  using result_type = uint64_t;
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }

  FlowRng(uint64_t seed, uint64_t stream, uint64_t minute)
      : state_(HashCombine(HashCombine(HashU64(seed), stream), minute)) {}

  uint64_t operator()() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// Uniform in [0, 1), 53 bits.
template <typename Engine>
double DrawUnit(Engine& e) {
  return static_cast<double>(e() >> 11) * 0x1.0p-53;
}

// Uniform in [lo, hi).
template <typename Engine>
double DrawUniform(Engine& e, double lo, double hi) {
  return lo + (hi - lo) * DrawUnit(e);
}

// Uniform integer in [0, n), n > 0 (multiply-shift; the bias is below 2^-40 for
// the ranges used here).
template <typename Engine>
uint64_t DrawBelow(Engine& e, uint64_t n) {
  return static_cast<uint64_t>((static_cast<__uint128_t>(e()) * n) >> 64);
}

// Uniform integer in [lo, hi], lo <= hi.
template <typename Engine>
int64_t DrawRange(Engine& e, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(DrawBelow(e, static_cast<uint64_t>(hi - lo) + 1));
}

// Log-uniform in [lo, hi), lo > 0.
template <typename Engine>
double DrawLogUniform(Engine& e, double lo, double hi) {
  return std::exp(DrawUniform(e, std::log(lo), std::log(hi)));
}

// Standard normal (Box-Muller on two draws).
template <typename Engine>
double DrawNormal(Engine& e) {
  const double u1 = 1 - DrawUnit(e);  // (0, 1]
  const double u2 = DrawUnit(e);
  return std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Exponential with the given mean.
template <typename Engine>
double DrawExponential(Engine& e, double mean) {
  return -mean * std::log(1 - DrawUnit(e));
}

}  // namespace flowwatch::gen
