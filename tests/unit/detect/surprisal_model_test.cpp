// The surprisal model (lib/detect/detectors/surprisal_model.h) on its own:
// its scores against their closed forms, its tail against known rates, its
// job memory, and what it learns. "Pages" below is the detector lab's choice
// of thresholds (S >= 10, G >= 8, G2 >= 40; docs/benchmarks.md).
// Traffic follows a daily cycle (e^(0.5 cos), peak at noon) with 5% noise.
#include "lib/detect/detectors/surprisal_model.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "lib/common/hash.h"

namespace flowwatch::detect {
namespace {

constexpr int64_t kBucketMs = 5 * 60 * 1000;
constexpr int64_t kDay = 288;                            // buckets
constexpr int64_t kB0 = 1620000000000 / 86'400'000 * kDay;  // a midnight in 2021 (UTC): a Monday, 2021-05-03
constexpr double kH1 = 10, kH2 = 8, kH3 = 40;

bool Pages(const SurprisalScores& s) { return s.warm && (s.surprisal >= kH1 || s.cusum >= kH2 || s.cusum2 >= kH3); }

double Usual(int64_t b, double base = 5e6) {
  const double tod = static_cast<double>(b % kDay) / kDay;
  return base * std::exp(0.5 * std::cos(2 * M_PI * (tod - 0.5)));
}

struct Key {
  SurprisalModel model{kBucketMs};
  SurprisalState state;
  std::mt19937_64 rng{42};
  std::normal_distribution<double> noise{0, 0.05};

  SurprisalScores Observe(int64_t b, double bytes) {
    return model.Observe(&state, HashCombine(7, static_cast<uint64_t>(b)), kB0 + b, static_cast<uint64_t>(bytes));
  }
  // Buckets [from, to) of usual traffic times factor(b), with 5% noise; the scores of each.
  std::vector<SurprisalScores> Feed(int64_t from, int64_t to, const std::function<double(int64_t)>& factor = {}) {
    std::vector<SurprisalScores> out;
    for (int64_t b = from; b < to; ++b) out.push_back(Observe(b, Usual(kB0 + b) * (factor ? factor(b) : 1) * std::exp(noise(rng))));
    return out;
  }
};

int CountPages(const std::vector<SurprisalScores>& scores) {
  int n = 0;
  for (const auto& s : scores) n += Pages(s);
  return n;
}

}  // namespace

TEST_CASE("Surprisal is -ln P(excess) - ln 2 under the Gaussian body, the exponential tail past 3 sigma") {
  // Below 3 sigma: the Gaussian's upper tail, Q(2) = 0.02275.
  CHECK(SurprisalModel::Surprisal(0.4, 0.2, 0.01, 0.5) == Approx(-std::log(0.02275) - std::log(2.0)).epsilon(1e-3));
  // Past u = 0.6: -ln 0.01 + (1.0 - 0.6) / 0.5 = 5.405, lower than the body's 15.1 at 5 sigma.
  CHECK(SurprisalModel::Surprisal(1.0, 0.2, 0.01, 0.5) == Approx(std::log(100.0) + 0.8 - std::log(2.0)).epsilon(1e-9));
  // A heavier tail than the body's never scores higher than the body.
  CHECK(SurprisalModel::Surprisal(0.7, 0.2, 0.5, 5) == Approx(-std::log(0.5) + 0.1 / 5 - std::log(2.0)).epsilon(1e-9));
  CHECK(SurprisalModel::Surprisal(0.65, 0.2, 1e-9, 0.01) ==
        Approx(-std::log(0.5 * std::erfc(3.25 / std::sqrt(2.0))) - std::log(2.0)).epsilon(1e-9));
  CHECK(SurprisalModel::Surprisal(0, 0.2, 0.01, 0.5) == 0);
  CHECK(SurprisalModel::Surprisal(-1, 0.2, 0.01, 0.5) == 0);
  CHECK(SurprisalModel::Surprisal(NAN, 0.2, 0.01, 0.5) == 0);
  CHECK(SurprisalModel::Surprisal(50, 0.2, 1e-6, 0.1) == SurprisalModel::kMaxSurprisal);
}

TEST_CASE("The CUSUMs step by step: G adds S less 4, G2 min(S, 8) less 1.5, empty buckets take their allowance") {
  Key k;
  k.Feed(0, 3 * kDay);
  double g = 0, g2 = 0, peak = 0;
  // A rise of 3x for two hours, every third bucket missing.
  for (int64_t b = 3 * kDay; b < 3 * kDay + 24; ++b) {
    if (b % 3 == 2) continue;
    const int64_t idle = b % 3 == 0 && b > 3 * kDay ? 1 : 0;
    const SurprisalScores s = k.Observe(b, Usual(kB0 + b) * 3);
    REQUIRE(s.warm);
    // Each is kept in quarter nats up to 63.75, rounded stochastically.
    const double want_g = std::min(63.75, std::max(0.0, std::max(0.0, g - 4.0 * idle) + s.surprisal - 4));
    const double want_g2 =
        std::min(63.75, std::max(0.0, std::max(0.0, g2 - 1.5 * idle) + std::min(s.surprisal, 8.0) - 1.5));
    CHECK(std::abs(s.cusum - want_g) < 0.25);
    CHECK(std::abs(s.cusum2 - want_g2) < 0.25);
    g = s.cusum;
    g2 = s.cusum2;
    peak = std::max(peak, g2);
  }
  CHECK(peak >= kH3);  // the rise built evidence enough to page
}

TEST_CASE("Nothing pages in a key's first 23 hours, steady traffic never, a jump of 10x at once") {
  Key k;
  const auto first = k.Feed(0, kDay);
  for (size_t b = 0; b < first.size(); ++b) CHECK(first[b].warm == (b >= 23 * 12));
  const auto steady = k.Feed(kDay, 8 * kDay);  // Tuesday to the next Tuesday, a weekend on the way
  CHECK(CountPages(steady) == 0);
  const SurprisalScores jump = k.Observe(8 * kDay, Usual(kB0 + 8 * kDay) * 10);
  CHECK(jump.warm);
  CHECK(jump.surprisal >= kH1);
  CHECK(jump.expected == Approx(Usual(kB0 + 8 * kDay)).epsilon(0.15));
  CHECK(jump.residual == Approx(std::log(10.0)).margin(0.15));
}

TEST_CASE("On a quiet estate's first day, a jump of 4x at 23:30 pages in its first bucket when the prior is the estate's own") {
  // The demo story's shape: flat traffic (5 minutes of +-15% a minute), 4x
  // from 23:30. The prior a population of such keys pools to (the demo's:
  // excesses past 3 sigma are noise, 0.06 nat on average) makes the jump
  // rare; the default, a bursty estate's, does not.
  const auto run = [](const TailPrior& prior) {
    SurprisalModel model(kBucketMs);
    SurprisalState state;
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> minute(0.85, 1.15);
    SurprisalScores jump;
    for (int64_t b = 0; b <= 282; ++b) {
      double bytes = 0;
      for (int m = 0; m < 5; ++m) bytes += 1e6 * minute(rng);
      if (b == 282) bytes *= 4;
      const SurprisalScores s = model.Observe(&state, HashCombine(11, static_cast<uint64_t>(b)), kB0 + b,
                                              static_cast<uint64_t>(bytes), prior);
      if (b < 282) CHECK_FALSE(Pages(s));
      jump = s;
    }
    return jump;
  };
  const SurprisalScores own = run(TailPrior{0.0045, 0.06});
  CHECK(own.warm);
  CHECK(own.surprisal >= kH1);
  const SurprisalScores bursty = run(TailPrior{});
  CHECK(bursty.surprisal < kH1);
}

TEST_CASE("A key's tail weight follows its rate of bursts, shrunk towards the prior") {
  // A quiet key: its weight is the prior's, 0.0033 x 300 buckets, over the
  // ~1,000 buckets its decayed count holds (20 days: 1 - 0.999^5759 of 1,000)
  // and those 300: 0.99 / 1,296.9.
  Key quiet;
  const auto q = quiet.Feed(0, 20 * kDay);
  const double prior_only = TailPrior{}.weight * 300 / ((1 - std::pow(0.999, 20 * kDay - 1)) / 0.001 + 300);
  CHECK(q.back().tail_weight >= prior_only * 0.999);
  CHECK(q.back().tail_weight < 1.5 * prior_only);
  // Bursts of 4-8x in 5% of buckets at random times: at most 50 excesses in
  // that count, fewer where the job memory of the day before covers one, so
  // the weight lies well above the prior's and below (50 + 0.99) / 1,296.9.
  Key bursty;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  const auto scores = bursty.Feed(0, 20 * kDay, [&](int64_t) { return u(rng) < 0.05 ? 4 + 4 * u(rng) : 1.0; });
  const double weight = scores.back().tail_weight;
  CHECK(weight > 10 * prior_only);
  CHECK(weight < 51 / 1296.9);
  CHECK(scores.back().tail_mean > TailPrior{}.mean);  // bursts of 1.4-2.1 nats: past the prior's mean excess
  // So the same 20x burst pages on the quiet key and not on the bursty one.
  const SurprisalScores on_quiet = quiet.Observe(20 * kDay, Usual(kB0 + 20 * kDay) * 20);
  const SurprisalScores on_bursty = bursty.Observe(20 * kDay, Usual(kB0 + 20 * kDay) * 20);
  CHECK(on_quiet.surprisal >= kH1);
  CHECK(on_bursty.surprisal < kH1);
}

TEST_CASE("A daily job is learnt within three occurrences and then never pages") {
  Key k;
  // 02:00 to 02:30 at 10x, every day from the second on.
  const auto job = [](int64_t b) { return b >= kDay && b % kDay >= 24 && b % kDay < 30 ? 10.0 : 1.0; };
  std::vector<int> pages_by_day;
  for (int day = 0; day < 10; ++day) pages_by_day.push_back(CountPages(k.Feed(day * kDay, (day + 1) * kDay, job)));
  CHECK(pages_by_day[0] == 0);  // learning
  for (int day = 3; day < 10; ++day) CHECK(pages_by_day[static_cast<size_t>(day)] == 0);
  // The memory of the 02:00 slot holds the job's size (ln 10 = 2.3 nats, in
  // half-nat steps); 14:00's only the noise's step (any rise counts as half a
  // nat: an allowance that keeps quiet keys quiet), one more while today's
  // peak is folded in.
  CHECK(k.state.job(2) * SurprisalState::kJobUnit >= 2.0);
  CHECK(k.state.job(14) <= 2);
}

TEST_CASE("A burst seen once is forgotten within days: it hides the same burst at that hour only for a while") {
  Key k;
  k.Feed(0, kDay + 14 * 12);
  const SurprisalScores burst = k.Observe(kDay + 14 * 12, Usual(kB0 + kDay + 14 * 12) * 20);  // Tuesday 14:00
  CHECK(burst.surprisal >= kH1);
  k.Feed(kDay + 14 * 12 + 1, 2 * kDay);
  const int after_a_day = k.state.job(14);
  CHECK(after_a_day * SurprisalState::kJobUnit >= 2.0);  // the peak, undecayed, the next day
  std::vector<int> memory;
  for (int day = 2; day < 9; ++day) {
    k.Feed(day * kDay, (day + 1) * kDay);
    memory.push_back(k.state.job(14));
  }
  // One step a day less, down to the noise's (at most two: see above).
  for (size_t i = 0; i < memory.size(); ++i) {
    CHECK(memory[i] >= after_a_day - 1 - static_cast<int>(i));
    CHECK(memory[i] <= std::max(2, after_a_day - 1 - static_cast<int>(i)));
  }
  CHECK(memory.back() <= 2);
  const int64_t later = 9 * kDay + 14 * 12;
  k.Feed(9 * kDay, later);
  CHECK(k.Observe(later, Usual(kB0 + later) * 20).surprisal >= kH1);
}

TEST_CASE("A lasting level shift pages at its start and is learnt within a day") {
  Key k;
  k.Feed(0, 3 * kDay);
  const int64_t shift = 3 * kDay + 10 * 12;  // Thursday 10:00, 3x for good
  const auto first_hours = k.Feed(3 * kDay, shift + 12, [&](int64_t b) { return b >= shift ? 3.0 : 1.0; });
  CHECK(CountPages(first_hours) > 0);
  k.Feed(shift + 12, shift + kDay, [](int64_t) { return 3.0; });
  const auto after = k.Feed(shift + kDay, shift + 4 * kDay, [](int64_t) { return 3.0; });
  CHECK(CountPages(after) == 0);
}

TEST_CASE("A quieter weekend is learnt as the weekend's: Monday does not page") {
  Key k;
  const auto weekend = [](int64_t b) {
    const int64_t weekday = ((kB0 + b) / kDay + 4) % 7;
    return weekday == 0 || weekday == 6 ? 0.3 : 1.0;
  };
  std::vector<SurprisalScores> all = k.Feed(0, 21 * kDay, weekend);  // three weeks from a Monday
  CHECK(CountPages(all) == 0);
  CHECK(k.state.local[1] * SurprisalState::kLocalUnit == Approx(std::log(0.3)).margin(0.3));
  CHECK(k.state.local[0] * SurprisalState::kLocalUnit == Approx(0).margin(0.2));
}

TEST_CASE("The same seeds and inputs give the same state, byte for byte") {
  Key a, b;
  a.Feed(0, 3 * kDay);
  b.Feed(0, 3 * kDay);
  CHECK(std::memcmp(&a.state, &b.state, sizeof(SurprisalState)) == 0);
}

TEST_CASE("SurprisalState's packed fields do not overlap") {
  SurprisalState s;
  s.set_last_bucket(0xDEADBEEF);
  s.set_seen(SurprisalState::kMaxSeen);
  s.set_age(0);
  s.set_run(SurprisalState::kMaxRun);
  s.set_class_warm(0);
  s.set_class_seen(0);
  s.set_slots(SurprisalState::kNoSlot, false, 15, 0);
  s.set_firing(true);
  s.set_job(23, 15);
  CHECK(s.last_bucket() == 0xDEADBEEF);
  CHECK(s.seen() == SurprisalState::kMaxSeen);
  CHECK(s.age() == 0);
  CHECK(s.run() == SurprisalState::kMaxRun);
  CHECK(s.class_warm() == 0);
  CHECK(s.class_seen(0));
  CHECK_FALSE(s.class_seen(1));
  CHECK(s.open_slot() == SurprisalState::kNoSlot);
  CHECK_FALSE(s.pending());
  CHECK(s.pending_peak() == 15);
  CHECK(s.open_peak() == 0);
  CHECK(s.firing());
  CHECK(s.job(23) == 15);
  CHECK(s.job(22) == 0);
  s.set_age(SurprisalState::kMaxAge);
  s.set_class_warm(SurprisalState::kMaxClassWarm);
  s.set_class_seen(1);
  s.set_slots(3, true, 0, 15);
  CHECK(s.seen() == SurprisalState::kMaxSeen);
  CHECK(s.run() == SurprisalState::kMaxRun);
  CHECK(s.age() == SurprisalState::kMaxAge);
  CHECK(s.class_warm() == SurprisalState::kMaxClassWarm);
  CHECK(s.class_seen(0));
  CHECK(s.class_seen(1));
  CHECK(s.open_slot() == 3);
  CHECK(s.pending());
  CHECK(s.open_peak() == 15);
  CHECK(s.firing());
}

TEST_CASE("TailPool: the default prior at first, then the population's rate and mean excess, each excess clipped") {
  TailPool pool(1e9);  // (no fading here)
  CHECK(pool.prior().weight == Approx(TailPrior{}.weight));
  CHECK(pool.prior().mean == Approx(TailPrior{}.mean));
  SurprisalScores first;  // a key's first bucket is not learnt from: it does not count
  first.tail_excess = 5;
  pool.Add(first);
  CHECK(pool.buckets() == 0);
  // 100,000 buckets, 1% of them past 3 sigma by 0.2 nat, and one by 50 nats.
  for (int i = 0; i < 100000; ++i) {
    SurprisalScores s;
    s.learnt = true;
    s.tail_excess = i % 100 == 0 ? (i == 0 ? 50.0 : 0.2) : 0.0;
    pool.Add(s);
  }
  // (1000 + 0.0033 x 300) / (100,000 + 300); (999 x 0.2 + 1.41 + 0.47 x 2) / (1000 + 2).
  CHECK(pool.prior().weight == Approx((1000 + TailPrior{}.weight * 300) / 100300.0).epsilon(1e-6));
  CHECK(pool.prior().mean == Approx((999 * 0.2 + TailPool::kClip + TailPrior{}.mean * 2) / 1002.0).epsilon(1e-6));
}

}  // namespace flowwatch::detect
