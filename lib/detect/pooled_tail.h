// PooledTail: the upper tail of a score, pooled over all the keys of a shard,
// turning a false-alert budget into a threshold and a score into a rarity.
//
// Peaks over threshold (SPOT, Siffer et al., KDD 2017): the values above a fixed
// `base` are kept (the most recent `capacity` of them, as DSPOT keeps a moving
// window) and their excesses fitted with a generalized Pareto distribution
// GPD(sigma, xi) by the method of moments:
//   m = mean excess, v = variance:  xi = (1 - m^2/v) / 2,  sigma = m (1 - xi)
// with xi clamped to [0, 0.5] (never a bounded tail: a safe extrapolation) and
// sigma following the clamped xi (the GPD's mean excess is sigma / (1 - xi);
// unclamped, m (1 - xi) is the moment estimate m (1 + m^2/v) / 2).
// With rate = P(score > base) counted over every observation (decayed, so old
// traffic fades after ~`horizon` observations), the threshold that a score
// exceeds with probability p is
//   base + sigma / xi * ((p / rate)^-xi - 1)     (xi > 0)
//   base - sigma * ln(p / rate)                  (xi = 0)
// and the probability of exceeding x inverts it. One key alone has far too few
// excesses for a tail at p ~ 1e-6; a shard's keys together have plenty, once
// each key's score is scaled by its own spread. Until `min_excesses` are in,
// Threshold blends towards the caller's prior.
//
// Owned by one shard's Detection; not thread-safe. Memory: 4 bytes a kept excess.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/state/codec.h"

namespace flowwatch::detect {

class PooledTail {
 public:
  PooledTail(double base, size_t capacity, double horizon);

  // Counts n opportunities (e.g. key-buckets judged).
  void AddObservations(uint64_t n);
  // A value of the score; kept when above base. Counts no opportunity.
  void AddValue(double x);
  // Refits the tail when it is due (every 256 new excesses, or each new one
  // while fewer than min_excesses are in). Detection calls it once per closed
  // bucket, so that the fit does not depend on the order keys are judged in.
  void Refresh();

  // The score exceeded with probability p (per opportunity); `prior` while no
  // excess is in, blended towards the fit until min_excesses are.
  double Threshold(double p, double prior) const;
  // The probability of a score above x (>= base; below it, the share above base).
  double Probability(double x) const;

  size_t excesses() const { return ring_.size(); }
  double rate() const { return observations_ > 0 ? above_ / observations_ : 0; }
  double sigma() const { return sigma_; }
  double xi() const { return xi_; }

  void Save(state::Writer* w) const;
  // A tail kept over another base (an earlier flowwatch's) loads empty.
  bool Load(state::Reader* r);

  static constexpr size_t kMinExcesses = 200;

 private:
  void Refit();

  double base_;
  size_t capacity_;
  double decay_;  // per observation
  double observations_ = 0, above_ = 0;
  std::vector<float> ring_;  // excesses over base, oldest overwritten first
  size_t next_ = 0;
  double sigma_ = 1, xi_ = 0;
  uint32_t since_refit_ = 0;
};

}  // namespace flowwatch::detect
