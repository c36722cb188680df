#include "lib/detect/pooled_tail.h"

#include <algorithm>
#include <cmath>

namespace flowwatch::detect {
namespace {

constexpr uint32_t kRefitEvery = 256;  // new excesses between two fits

}  // namespace

PooledTail::PooledTail(double base, size_t capacity, double horizon)
    : base_(base), capacity_(capacity), decay_(1 - 1 / std::max(horizon, 1.0)) {
  ring_.reserve(capacity);
}

void PooledTail::AddObservations(uint64_t n) {
  const double d = n == 1 ? decay_ : std::pow(decay_, static_cast<double>(n));
  observations_ = observations_ * d + static_cast<double>(n);
  above_ *= d;
}

void PooledTail::AddValue(double x) {
  if (!(x > base_)) return;
  above_ += 1;
  const float excess = static_cast<float>(std::min(x - base_, 1e6));
  if (ring_.size() < capacity_) {
    ring_.push_back(excess);
  } else {
    ring_[next_] = excess;
    next_ = (next_ + 1) % capacity_;
  }
  ++since_refit_;
}

void PooledTail::Refresh() {
  if (since_refit_ >= kRefitEvery || (since_refit_ > 0 && ring_.size() < kMinExcesses)) Refit();
}

void PooledTail::Refit() {
  since_refit_ = 0;
  if (ring_.size() < 2) return;
  // Oldest first, so that a restored ring sums in the same order.
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < ring_.size(); ++i) {
    const double e = ring_[(next_ + i) % ring_.size()];
    sum += e;
    sum_sq += e * e;
  }
  const double n = static_cast<double>(ring_.size());
  const double m = sum / n;
  const double v = std::max(sum_sq / n - m * m, 1e-12);
  xi_ = std::clamp(0.5 * (1 - m * m / v), 0.0, 0.5);
  // The mean excess of a GPD is sigma / (1 - xi): with xi clamped, sigma
  // follows it (unclamped this is the moment estimate m (1 + m^2/v) / 2).
  sigma_ = std::max(m * (1 - xi_), 1e-6);
}

double PooledTail::Threshold(double p, double prior) const {
  if (ring_.empty() || above_ <= 0) return prior;
  const double r = rate();
  double t = base_;
  if (p < r) {
    const double q = p / r;
    t = xi_ > 1e-6 ? base_ + sigma_ / xi_ * (std::pow(q, -xi_) - 1) : base_ - sigma_ * std::log(q);
  }
  const double w = std::min(1.0, static_cast<double>(ring_.size()) / kMinExcesses);
  return w * t + (1 - w) * prior;
}

double PooledTail::Probability(double x) const {
  const double r = rate();
  if (ring_.empty() || x <= base_) return r;
  const double y = (x - base_) / sigma_;
  return xi_ > 1e-6 ? r * std::pow(1 + xi_ * y, -1 / xi_) : r * std::exp(-y);
}

void PooledTail::Save(state::Writer* w) const {
  w->Put<double>(base_);
  w->Put<double>(observations_);
  w->Put<double>(above_);
  w->Put<uint64_t>(ring_.size());
  // Oldest first, so that a restored ring overwrites in the same order.
  for (size_t i = 0; i < ring_.size(); ++i) w->Put<float>(ring_[(next_ + i) % ring_.size()]);
  // The fit in use (refits are every kRefitEvery excesses, not on load).
  w->Put<double>(sigma_);
  w->Put<double>(xi_);
  w->Put<uint32_t>(since_refit_);
}

bool PooledTail::Load(state::Reader* r) {
  const double base = r->Get<double>();
  if (r->ok() && !(base > 0 && std::isfinite(base))) r->Fail("a pooled tail over " + std::to_string(base));
  observations_ = r->Get<double>();
  above_ = r->Get<double>();
  const uint64_t n = r->Count(4);
  if (r->ok() && n > capacity_) r->Fail("a pooled tail of " + std::to_string(n) + " excesses");
  if (r->ok() && !(observations_ >= 0 && above_ >= 0 && above_ <= observations_ + 1)) r->Fail("pooled tail counts");
  ring_.clear();
  next_ = 0;
  for (uint64_t i = 0; i < n && r->ok(); ++i) {
    const float e = r->Get<float>();
    if (!(e >= 0) || !std::isfinite(e)) r->Fail("a negative or unfinite excess");
    ring_.push_back(e);
  }
  sigma_ = r->Get<double>();
  xi_ = r->Get<double>();
  since_refit_ = r->Get<uint32_t>();
  if (r->ok() && !(sigma_ > 0 && std::isfinite(sigma_) && xi_ >= 0 && xi_ <= 0.5 && since_refit_ < kRefitEvery)) {
    r->Fail("a pooled tail's fit");
  }
  if (r->ok() && base != base_) {
    // Kept over another base (an earlier flowwatch's): not this tail's
    // excesses. It starts afresh, its threshold at the prior until it refills.
    observations_ = above_ = 0;
    ring_.clear();
    next_ = 0;
    sigma_ = 1;
    xi_ = 0;
    since_refit_ = 0;
  }
  return r->ok();
}

}  // namespace flowwatch::detect
