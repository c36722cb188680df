#include "lib/detect/ewma.h"

#include <catch2/catch.hpp>

#include <random>

namespace flowwatch::detect {
namespace {

TEST_CASE("Closed-form zero decay equals step-by-step zero updates") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> value(0, 1e9);
  for (double alpha : {0.5, 0.1, 0.0096, 0.001}) {
    for (int64_t n : {1, 2, 5, 37, 288, 2016}) {
      EwmaT<double> stepped, closed;
      for (int i = 0; i < 50; ++i) {
        const double x = value(rng);
        stepped.Update(x, alpha);
        closed.Update(x, alpha);
      }
      for (int64_t i = 0; i < n; ++i) stepped.Update(0, alpha);
      closed.DecayZeros(n, alpha);
      INFO("alpha " << alpha << " n " << n);
      REQUIRE(closed.mean == Approx(stepped.mean).epsilon(1e-9).margin(1e-6));
      REQUIRE(closed.var == Approx(stepped.var).epsilon(1e-9).margin(1e-6));
    }
  }
}

TEST_CASE("EWMA of a constant converges to it with zero variance") {
  EwmaT<double> e;
  e.Update(100, 1.0);  // first observation with alpha 1 (a running average starts there)
  for (int i = 0; i < 1000; ++i) e.Update(100, 0.05);
  REQUIRE(e.mean == Approx(100));
  REQUIRE(e.var == Approx(0).margin(1e-9));
}

TEST_CASE("AlphaForHalfLife halves the weight of an observation after the half-life") {
  const double alpha = AlphaForHalfLife(72);
  REQUIRE(std::pow(1 - alpha, 72) == Approx(0.5));
}

}  // namespace
}  // namespace flowwatch::detect
