#include "lib/detect/pooled_tail.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>

#include "lib/state/codec.h"

namespace flowwatch::detect {
namespace {

// As detection's own tails: the last 4096 excesses, counts fading over 2e6.
constexpr double kBase = 3.0;
constexpr size_t kCapacity = 4096;
constexpr double kHorizon = 2e6;

PooledTail MakeTail() { return PooledTail(kBase, kCapacity, kHorizon); }

// One opportunity with the score x.
void Observe(PooledTail* tail, double x) {
  tail->AddObservations(1);
  tail->AddValue(x);
  tail->Refresh();
}

// GPD(sigma, xi) by its inverse CDF (xi = 0: exponential).
double DrawGpd(std::mt19937_64* rng, double sigma, double xi) {
  const double u = std::uniform_real_distribution<double>(0, 1)(*rng);
  return xi == 0 ? -sigma * std::log1p(-u) : sigma / xi * (std::pow(1 - u, -xi) - 1);
}

// A score that is above kBase with probability `above` and then kBase plus a
// GPD(sigma, xi) excess, else uniform below kBase: P(score > x) for x > kBase
// is above * (1 + xi (x - kBase) / sigma)^(-1/xi).
double DrawScore(std::mt19937_64* rng, double above, double sigma, double xi) {
  const double u = std::uniform_real_distribution<double>(0, 1)(*rng);
  if (u >= above) return kBase * u;  // in [0, kBase): never an excess
  return kBase + DrawGpd(rng, sigma, xi);
}

double TrueQuantile(double p, double above, double sigma, double xi) {
  const double q = p / above;
  return xi == 0 ? kBase - sigma * std::log(q) : kBase + sigma / xi * (std::pow(q, -xi) - 1);
}

std::string Saved(const PooledTail& tail) {
  std::string bytes;
  state::Writer w(&bytes);
  tail.Save(&w);
  return bytes;
}

// The tolerances below are a little wider than the worst error over 200
// seeds (4096 excesses in the ring); the median error is under 2%.
TEST_CASE("PooledTail threshold matches the true quantile of an exponential tail") {
  // Score = Exp(1): P(score > 3) = e^-3 and excesses are GPD(1, 0) exactly.
  for (uint64_t seed : {1, 2, 3}) {
    PooledTail tail = MakeTail();
    std::mt19937_64 rng(seed);
    std::exponential_distribution<double> exp1(1.0);
    for (int i = 0; i < 200000; ++i) Observe(&tail, exp1(rng));
    INFO("seed " << seed << " xi " << tail.xi() << " sigma " << tail.sigma() << " rate " << tail.rate());
    REQUIRE(tail.excesses() == kCapacity);
    REQUIRE(tail.rate() == Approx(std::exp(-3.0)).epsilon(0.05));
    REQUIRE(tail.xi() >= 0);
    REQUIRE(tail.xi() < 0.07);
    REQUIRE(tail.sigma() == Approx(1.0).epsilon(0.1));
    for (auto [p, tolerance] : {std::pair{1e-3, 0.06}, {1e-4, 0.1}, {1e-5, 0.15}}) {
      const double truth = -std::log(p);
      INFO("p " << p << " true quantile " << truth);
      REQUIRE(tail.Threshold(p, 100.0) == Approx(truth).epsilon(tolerance));
    }
  }
}

TEST_CASE("PooledTail threshold matches the true quantile of a GPD tail") {
  constexpr double kAbove = 0.05, kSigma = 1.5, kXi = 0.1;
  for (uint64_t seed : {1, 2, 3}) {
    PooledTail tail = MakeTail();
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 200000; ++i) Observe(&tail, DrawScore(&rng, kAbove, kSigma, kXi));
    INFO("seed " << seed << " xi " << tail.xi() << " sigma " << tail.sigma() << " rate " << tail.rate());
    REQUIRE(tail.rate() == Approx(kAbove).epsilon(0.05));
    REQUIRE(tail.xi() == Approx(kXi).margin(0.07));
    REQUIRE(tail.sigma() == Approx(kSigma).epsilon(0.1));
    for (auto [p, tolerance] : {std::pair{1e-2, 0.04}, {1e-3, 0.08}, {1e-4, 0.2}}) {
      const double truth = TrueQuantile(p, kAbove, kSigma, kXi);
      INFO("p " << p << " true quantile " << truth);
      REQUIRE(tail.Threshold(p, 100.0) == Approx(truth).epsilon(tolerance));
      // Probability inverts Threshold.
      REQUIRE(tail.Probability(tail.Threshold(p, 100.0)) == Approx(p).epsilon(1e-9));
    }
  }
}

TEST_CASE("PooledTail clamps xi to [0, 0.5]") {
  SECTION("a bounded tail (uniform excesses, xi = -1) fits as exponential") {
    PooledTail tail = MakeTail();
    std::mt19937_64 rng(21);
    std::uniform_real_distribution<double> excess(0, 1);
    for (int i = 0; i < 10000; ++i) Observe(&tail, kBase + excess(rng));
    REQUIRE(tail.xi() == 0);
    // m = 1/2: the exponential of the same mean excess, sigma = m (1 - 0).
    REQUIRE(tail.sigma() == Approx(0.5).epsilon(0.05));
    REQUIRE(std::isfinite(tail.Threshold(1e-6, 10.0)));
  }
  SECTION("a tail heavier than xi = 0.5 fits at most 0.5") {
    PooledTail tail = MakeTail();
    std::mt19937_64 rng(22);
    for (int i = 0; i < 10000; ++i) Observe(&tail, kBase + DrawGpd(&rng, 1.0, 0.8));
    REQUIRE(tail.xi() <= 0.5);
    REQUIRE(tail.xi() > 0.3);
    REQUIRE(std::isfinite(tail.Threshold(1e-6, 10.0)));
  }
}

// When xi is clamped, sigma follows the clamped xi (sigma = m (1 - xi)), not
// the unclamped moment estimate m (1 + m^2/v) / 2, which for a narrow bounded
// tail (v << m^2) grows like m^3 / v: excesses uniform on [0.9, 1.1] once fit
// sigma ~ 150 and a 1e-4 threshold near 940; an exponential fit of the same
// mean (sigma = m = 1) gives 9.2.
TEST_CASE("PooledTail threshold of a narrow bounded tail stays near the data") {
  PooledTail tail = MakeTail();
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> excess(0.9, 1.1);
  for (int i = 0; i < 100000; ++i) Observe(&tail, rng() % 20 == 0 ? kBase + excess(rng) : 0.0);
  INFO("xi " << tail.xi() << " sigma " << tail.sigma() << " rate " << tail.rate());
  REQUIRE(tail.xi() == 0);
  REQUIRE(tail.sigma() < 2);
  REQUIRE(tail.Threshold(1e-4, 10.0) < kBase + 1.1 * 10);
}

TEST_CASE("PooledTail blends the threshold towards the prior until 200 excesses") {
  PooledTail tail = MakeTail();
  REQUIRE(tail.Threshold(1e-4, 7.5) == 7.5);  // nothing seen
  tail.AddObservations(1000);
  REQUIRE(tail.Threshold(1e-4, 7.5) == 7.5);  // no excess yet
  REQUIRE(tail.Probability(10) == 0);

  // Exponential excesses at quasi-random quantiles: well spread even when few.
  for (size_t k = 1; k < PooledTail::kMinExcesses; ++k) {
    const double u = std::fmod(static_cast<double>(k) * 0.6180339887498949, 1.0);
    tail.AddObservations(20);
    tail.AddValue(kBase - std::log1p(-u));
    tail.Refresh();
    REQUIRE(tail.excesses() == k);
    // The threshold is w * fit + (1 - w) * prior with w = k / 200: its slope
    // in the prior is exactly 1 - w, whatever the fit.
    const double w = static_cast<double>(k) / PooledTail::kMinExcesses;
    const double a = tail.Threshold(1e-4, 5.0), b = tail.Threshold(1e-4, 25.0);
    REQUIRE((b - a) / 20 == Approx(1 - w).epsilon(1e-9));
    if (k <= 10) {  // few excesses: near the prior
      REQUIRE(std::abs(tail.Threshold(1e-4, 25.0) - 25.0) <= 0.05 * 25.0);
    }
  }
  // From 200 excesses on the prior no longer matters.
  tail.AddObservations(20);
  tail.AddValue(kBase + 1);
  tail.Refresh();
  REQUIRE(tail.excesses() == PooledTail::kMinExcesses);
  REQUIRE(tail.Threshold(1e-4, 5.0) == tail.Threshold(1e-4, 25.0));
}

TEST_CASE("PooledTail threshold is the base for probabilities at or above the rate") {
  PooledTail tail = MakeTail();
  std::mt19937_64 rng(41);
  for (int i = 0; i < 20000; ++i) Observe(&tail, DrawScore(&rng, 0.1, 1.0, 0.1));
  REQUIRE(tail.excesses() > PooledTail::kMinExcesses);
  REQUIRE(tail.Threshold(tail.rate(), 50.0) == kBase);
  REQUIRE(tail.Threshold(0.5, 50.0) == kBase);
  REQUIRE(tail.Threshold(tail.rate() / 2, 50.0) > kBase);
  // Below the base, Probability is the share above it; it falls with x above.
  REQUIRE(tail.Probability(1.0) == tail.rate());
  REQUIRE(tail.Probability(kBase) == tail.rate());
  REQUIRE(tail.Probability(kBase + 1) < tail.rate());
  REQUIRE(tail.Probability(kBase + 10) < tail.Probability(kBase + 1));
}

TEST_CASE("PooledTail ignores values at or below the base and NaN") {
  PooledTail tail = MakeTail();
  tail.AddObservations(10);
  tail.AddValue(kBase);
  tail.AddValue(kBase - 1);
  tail.AddValue(std::numeric_limits<double>::quiet_NaN());
  REQUIRE(tail.excesses() == 0);
  REQUIRE(tail.rate() == 0);
  tail.AddValue(std::numeric_limits<double>::infinity());  // kept, capped
  tail.Refresh();
  REQUIRE(tail.excesses() == 1);
  REQUIRE(std::isfinite(tail.Threshold(1e-3, 10.0)));
}

TEST_CASE("PooledTail keeps the most recent excesses and fades old counts") {
  PooledTail tail(kBase, kCapacity, 10000);
  std::mt19937_64 rng(51);
  // 10% above the base with excesses of scale 1, then 1% with scale 3.
  for (int i = 0; i < 100000; ++i) Observe(&tail, rng() % 10 == 0 ? kBase + DrawGpd(&rng, 1.0, 0.0) : 0.0);
  REQUIRE(tail.rate() == Approx(0.1).epsilon(0.1));
  REQUIRE(tail.sigma() == Approx(1.0).epsilon(0.15));
  for (int i = 0; i < 600000; ++i) Observe(&tail, rng() % 100 == 0 ? kBase + DrawGpd(&rng, 3.0, 0.0) : 0.0);
  REQUIRE(tail.excesses() == kCapacity);
  REQUIRE(tail.rate() == Approx(0.01).epsilon(0.2));
  REQUIRE(tail.sigma() == Approx(3.0).epsilon(0.15));

  // n opportunities at once count as n single ones, up to the decay within
  // the batch (AddObservations(n) adds n undecayed: relative n / (2 horizon)).
  PooledTail bulk = MakeTail(), single = MakeTail();
  for (PooledTail* t : {&bulk, &single}) {
    for (int i = 0; i < 50; ++i) {
      t->AddValue(kBase + 1);
      t->Refresh();
    }
  }
  for (int i = 0; i < 100; ++i) bulk.AddObservations(1000);
  for (int i = 0; i < 100000; ++i) single.AddObservations(1);
  REQUIRE(bulk.rate() == Approx(single.rate()).epsilon(1e-3));
}

// Feeds `n` GPD scores to tail.
void Feed(PooledTail* tail, std::mt19937_64* rng, int n) {
  for (int i = 0; i < n; ++i) Observe(tail, DrawScore(rng, 0.05, 1.5, 0.15));
}

// Feeds exactly `n` excesses, each after 20 opportunities.
void FeedExcesses(PooledTail* tail, std::mt19937_64* rng, int n) {
  for (int i = 0; i < n; ++i) {
    tail->AddObservations(20);
    tail->AddValue(kBase + DrawGpd(rng, 1.5, 0.15));
    tail->Refresh();
  }
}

void RequireSameTail(const PooledTail& a, const PooledTail& b) {
  REQUIRE(a.excesses() == b.excesses());
  REQUIRE(a.rate() == b.rate());
  REQUIRE(a.sigma() == b.sigma());
  REQUIRE(a.xi() == b.xi());
  for (double p : {1e-2, 1e-4, 1e-6}) REQUIRE(a.Threshold(p, 9.0) == b.Threshold(p, 9.0));
  for (double x : {1.0, 4.0, 10.0, 30.0}) REQUIRE(a.Probability(x) == b.Probability(x));
  REQUIRE(Saved(a) == Saved(b));
}

// Saves a tail after `n` excesses, loads it into a fresh tail, and checks
// that the copy is the same now and after both see the same 3000 more.
void CheckRoundTrip(int n) {
  PooledTail tail = MakeTail();
  std::mt19937_64 rng(61);
  FeedExcesses(&tail, &rng, n);
  const std::string bytes = Saved(tail);
  PooledTail copy = MakeTail();
  state::Reader r(bytes, "pooled tail");
  REQUIRE(copy.Load(&r));
  REQUIRE(r.ok());
  REQUIRE(r.done());
  INFO("after " << n << " excesses");
  RequireSameTail(tail, copy);
  std::mt19937_64 rng_copy = rng;
  FeedExcesses(&tail, &rng, 3000);
  FeedExcesses(&copy, &rng_copy, 3000);
  RequireSameTail(tail, copy);
}

// PooledTail refits on every excess up to 199, then on every 256th: at 199 +
// 256 k excesses its fit covers the whole ring.
TEST_CASE("PooledTail Save then Load round-trips while the fit is current and the ring unwrapped") {
  SECTION("empty") { CheckRoundTrip(0); }
  SECTION("one excess") { CheckRoundTrip(1); }
  SECTION("fewer than 200 excesses") { CheckRoundTrip(150); }
  SECTION("just refitted") { CheckRoundTrip(199 + 256 * 3); }
}

// A restored tail continues exactly as the original (docs/reliability.md:
// "A restored pipeline continues exactly as the original would"), including
// while its fit lags the ring (refits come every 256 excesses: the fit and the
// countdown are saved) and once the ring has wrapped (the fit sums oldest
// first, the order a restored ring has).
TEST_CASE("PooledTail Save then Load round-trips while the fit lags the ring") {
  CheckRoundTrip(1000);  // fitted at 967 excesses
}
TEST_CASE("PooledTail Save then Load round-trips a wrapped ring") {
  CheckRoundTrip(199 + 256 * 20);  // 5319 excesses: wrapped, and just refitted
}

TEST_CASE("PooledTail Load refuses every truncation of a saved tail") {
  PooledTail tail = MakeTail();
  std::mt19937_64 rng(71);
  Feed(&tail, &rng, 3000);  // ~150 excesses: a blob of ~630 bytes
  const std::string bytes = Saved(tail);
  REQUIRE(bytes.size() == 8 * 3 + 8 + 4 * tail.excesses() + 8 * 2 + 4);
  for (size_t len = 0; len < bytes.size(); ++len) {
    PooledTail copy = MakeTail();
    state::Reader r(std::string_view(bytes).substr(0, len), "pooled tail");
    INFO("length " << len);
    REQUIRE_FALSE(copy.Load(&r));
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().find("pooled tail") == 0);
  }
}

TEST_CASE("PooledTail Load takes a tail kept over another base as an empty one") {
  PooledTail tail = MakeTail();
  std::mt19937_64 rng(91);
  Feed(&tail, &rng, 3000);
  REQUIRE(tail.excesses() > 0);
  std::string bytes = Saved(tail);
  const double other = 3.25;  // the layout's first double: the base
  std::memcpy(bytes.data(), &other, 8);
  PooledTail copy = MakeTail();
  state::Reader r(bytes, "pooled tail");
  REQUIRE(copy.Load(&r));
  REQUIRE(r.ok());
  CHECK(copy.excesses() == 0);
  CHECK(copy.rate() == 0);
  CHECK(copy.Threshold(1e-6, 7.5) == 7.5);  // the prior, until it refills
}

TEST_CASE("PooledTail Load refuses corrupt bytes with a reason") {
  PooledTail tail = MakeTail();
  std::mt19937_64 rng(81);
  Feed(&tail, &rng, 3000);  // ~150 excesses: the fit is current, so a copy is exact
  const std::string good = Saved(tail);
  // Layout: base, observations, above (doubles), count (u64), excesses (floats),
  // sigma, xi (doubles), refit countdown (u32).
  auto put_double = [](std::string* s, size_t at, double v) { std::memcpy(s->data() + at, &v, 8); };
  auto put_u64 = [](std::string* s, size_t at, uint64_t v) { std::memcpy(s->data() + at, &v, 8); };
  auto put_float = [](std::string* s, size_t at, float v) { std::memcpy(s->data() + at, &v, 4); };
  auto refused = [](const std::string& bytes, const std::string& why) {
    PooledTail copy = MakeTail();
    state::Reader r(bytes, "pooled tail");
    const bool loaded = copy.Load(&r);
    INFO(r.error());
    REQUIRE_FALSE(loaded);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().find(why) != std::string::npos);
  };

  std::string bad = good;
  put_double(&bad, 0, -0.7);
  refused(bad, "a pooled tail over -0.7");

  bad = good;
  put_double(&bad, 8, -1);
  refused(bad, "pooled tail counts");

  bad = good;
  put_double(&bad, 16, 1e300);  // more above the base than observations
  refused(bad, "pooled tail counts");

  bad = good;
  put_double(&bad, 8, std::numeric_limits<double>::quiet_NaN());
  refused(bad, "pooled tail counts");

  bad = good;
  put_u64(&bad, 24, ~0ull);  // a count the input cannot hold
  refused(bad, "a count of");

  std::string big;  // a well-formed tail larger than this one's capacity
  {
    PooledTail large(kBase, 2 * kCapacity, kHorizon);
    std::mt19937_64 rng2(82);
    for (int i = 0; i < 5000; ++i) Observe(&large, kBase + DrawGpd(&rng2, 1.0, 0.0));
    big = Saved(large);
  }
  refused(big, "a pooled tail of 5000 excesses");

  bad = good;
  put_float(&bad, 32 + 4 * 7, -0.5f);
  refused(bad, "a negative or unfinite excess");

  bad = good;
  put_float(&bad, bad.size() - 24, std::numeric_limits<float>::infinity());  // the last excess
  refused(bad, "a negative or unfinite excess");

  bad = good;
  put_double(&bad, bad.size() - 20, -1);  // sigma
  refused(bad, "a pooled tail's fit");

  bad = good;
  put_double(&bad, bad.size() - 12, 0.9);  // xi past its clamp
  refused(bad, "a pooled tail's fit");

  bad = good;
  const uint32_t countdown = 1000;
  std::memcpy(bad.data() + bad.size() - 4, &countdown, 4);
  refused(bad, "a pooled tail's fit");

  bad = good;
  put_float(&bad, 32, std::numeric_limits<float>::quiet_NaN());
  refused(bad, "a negative or unfinite excess");

  // A tail that refused bad bytes still loads good ones, and is then exact.
  PooledTail copy = MakeTail();
  state::Reader r1(bad, "pooled tail");
  REQUIRE_FALSE(copy.Load(&r1));
  state::Reader r2(good, "pooled tail");
  REQUIRE(copy.Load(&r2));
  REQUIRE(r2.done());
  RequireSameTail(tail, copy);
}

}  // namespace
}  // namespace flowwatch::detect
