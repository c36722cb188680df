// The surprisal model: the volume model that bench/detector_lab found best
// (docs/benchmarks.md, "Detector lab"), in the 48 bytes per key that the
// 64-byte budget of an idle key leaves once the key and the hash table are
// paid for (an estimated 64 in all: to be measured by replay_bench). It scores each bucket with traffic; what to page is the caller's
// (three thresholds on its three scores). Not yet the daemon's detector:
// detection.cpp still runs VolumeModel (issue 12 says what wiring it in takes).
//
// Per key, on x = ln(bytes + 1) of each bucket with traffic (t: its start):
//  - e = x - mu(t), mu = level + a daily profile of 12 nodes two hours apart,
//    learnt from working days with steps clipped to the spread (near a
//    median: bursts barely move it); four times faster over the first day;
//  - d = e - local: a local offset, one for working days and one for
//    weekends (a quieter weekend is no rise on Monday), following d slowly,
//    steps clipped to the bucket noise; a day class seen for the first time
//    learns its offset for kClassWarmMs without paging;
//  - job memory: per hour of the day, the peak d of the days before in
//    half-nat steps, less half a nat a day; the largest over [t - 20 min,
//    t + 5 min] less sigma is taken off d (a daily job, backup, or 6-hourly
//    or hourly job recurs at the same time every day); a burst seen once is
//    forgotten within days, so it does not hide an attack at that hour for
//    long;
//  - the surprisal S = -ln P(an excess this large) - ln 2 under a Gaussian
//    body (sigma = 1.25 x noise) or, past 3 sigma, the key's own exponential
//    tail in nats (a Pareto tail in bytes), its weight and mean excess shrunk
//    towards a prior by decayed counts, so that a key with few bursts is not
//    scored on two samples. The prior is the caller's (TailPrior): the
//    population's rate and mean size of excesses (empirical Bayes, pooled
//    over the shard's keys), so that a quiet estate (the demo) finds a jump
//    rare and a bursty one does not;
//  - two CUSUMs: G of S less 4 nats (a few loud buckets) and G2 of min(S, 8)
//    less 1.5 (hours of a small rise; armed after two days); empty buckets
//    take their allowance off both.
// The model learns from every bucket, steps clipped, so what pages does not
// change what it learns, and a run of 48 buckets with S > 6 (four hours of a
// lasting change) moves the local offset quickly: a level shift is learnt.
// Warm (scores that may page) 23 hours after the key's first bucket (its
// daily profile has seen nearly every hour), and outside a day class's first
// kClassWarmMs.
//
// Stored in fixed point and updated with stochastic rounding
// (stochastic_rounding.h); the quantization's cost on the benchmark is in
// docs/benchmarks.md. Pure functions of their arguments; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace flowwatch::detect {

// What the model remembers of one key between buckets.
struct SurprisalState {
  static constexpr int kDayNodes = 12;  // two hours apart
  static constexpr int kSlots = 24;     // job memory: one per hour of the day
  static constexpr int kNoSlot = 31;
  static constexpr double kLevelUnit = 1.0 / 1024, kProfileUnit = 1.0 / 32, kLocalUnit = 1.0 / 1024, kCusumUnit = 0.25;
  static constexpr double kExcessesUnit = 1.0 / 64, kExcessSumUnit = 1.0 / 16, kJobUnit = 0.5;
  static constexpr double kSpreadFloor = 0.01, kSpreadSteps = 40;  // log-coded: 0.01 x e^(code / 40) nats
  static constexpr int kMaxSeen = 4095, kMaxAge = 255, kMaxRun = 63, kMaxClassWarm = 31, kMaxJob = 15;

  // The last bucket with traffic (bucket index since the epoch), in two
  // halves so that the struct packs to 2-byte alignment.
  std::array<uint16_t, 2> last{};
  uint16_t level = 0;           // kLevelUnit nats
  uint16_t excesses = 0;        // the tail's decayed count of excesses, kExcessesUnit
  uint16_t excess_sum = 0;      // and of their size (nats), kExcessSumUnit
  uint8_t spread = 0;           // log-coded: the seasonal fit's spread (clips its steps)
  uint8_t noise = 0;            // log-coded: the bucket noise about the local offset (sigma / 1.25)
  uint8_t cusum = 0, cusum2 = 0;  // G and G2, kCusumUnit nats
  std::array<int8_t, kDayNodes> day{};  // kProfileUnit nats
  std::array<int16_t, 2> local{};       // working days, weekends; kLocalUnit nats
  std::array<uint8_t, kSlots / 2> jobs{};  // nibbles, slot i in jobs[i / 2] >> (4 * (i % 2)); kJobUnit steps
  // seen (12 bits: buckets with traffic, saturating) | age (8: since the
  // first bucket, in age units) | run (6: buckets in a row with S > 6) |
  // class warm-up left (5: buckets) | working days seen (1)
  std::array<uint16_t, 2> counts{};
  // weekends seen (1) | open slot (5: the hour whose peak today is being
  // kept, or kNoSlot) | slot before pending (1) | its peak (4) | the open
  // slot's peak (4) | firing (1: the caller's)
  uint16_t flags = 0;

  uint32_t last_bucket() const { return last[0] | (static_cast<uint32_t>(last[1]) << 16); }
  void set_last_bucket(uint32_t b) { last = {static_cast<uint16_t>(b), static_cast<uint16_t>(b >> 16)}; }
  int seen() const { return Bits(0, 12); }
  void set_seen(int n) { SetBits(0, 12, n); }
  int age() const { return Bits(12, 8); }
  void set_age(int n) { SetBits(12, 8, n); }
  int run() const { return Bits(20, 6); }
  void set_run(int n) { SetBits(20, 6, n); }
  int class_warm() const { return Bits(26, 5); }
  void set_class_warm(int n) { SetBits(26, 5, n); }
  bool class_seen(int c) const { return c == 0 ? Bits(31, 1) : flags & 1; }
  void set_class_seen(int c) {
    if (c == 0) SetBits(31, 1, 1);
    else flags |= 1;
  }
  int open_slot() const { return (flags >> 1) & 0x1F; }
  bool pending() const { return (flags >> 6) & 1; }
  int pending_peak() const { return (flags >> 7) & 0x0F; }
  int open_peak() const { return (flags >> 11) & 0x0F; }
  void set_slots(int open, bool pending, int pending_peak, int open_peak) {
    flags = static_cast<uint16_t>((flags & 0x8001) | (open << 1) | (pending ? 1 << 6 : 0) | (pending_peak << 7) |
                                  (open_peak << 11));
  }
  bool firing() const { return flags >> 15; }
  void set_firing(bool on) { flags = static_cast<uint16_t>((flags & 0x7FFF) | (on ? 0x8000 : 0)); }
  int job(int slot) const { return (jobs[static_cast<size_t>(slot / 2)] >> (4 * (slot % 2))) & 0x0F; }
  void set_job(int slot, int steps) {
    uint8_t& b = jobs[static_cast<size_t>(slot / 2)];
    const int shift = 4 * (slot % 2);
    b = static_cast<uint8_t>((b & ~(0x0F << shift)) | ((steps & 0x0F) << shift));
  }

 private:
  int Bits(int at, int width) const {
    const uint32_t all = counts[0] | (static_cast<uint32_t>(counts[1]) << 16);
    return static_cast<int>((all >> at) & ((1u << width) - 1));
  }
  void SetBits(int at, int width, int v) {
    uint32_t all = counts[0] | (static_cast<uint32_t>(counts[1]) << 16);
    const uint32_t mask = ((1u << width) - 1) << at;
    all = (all & ~mask) | ((static_cast<uint32_t>(v) << at) & mask);
    counts = {static_cast<uint16_t>(all), static_cast<uint16_t>(all >> 16)};
  }
};
static_assert(sizeof(SurprisalState) == 48);

// The prior a key's tail is shrunk towards: P(an excess past 3 sigma) and
// the excesses' mean size (nats). The defaults are what the realistic
// scenario's keys pool to (docs/benchmarks.md); a caller pools its own
// (Pool).
struct TailPrior {
  double weight = 0.0033;
  double mean = 0.47;
};

// One bucket's scores, and what they rest on (for alerts and traces).
struct SurprisalScores {
  bool warm = false;       // the scores may page
  double surprisal = 0;    // S, nats
  double cusum = 0;        // G after this bucket
  double cusum2 = 0;       // G2 after this bucket
  double expected = 0;     // the bytes expected at this time: e^(mu + local) - 1
  double residual = 0;     // d: log bytes over the expected, nats
  double job = 0;          // the job memory at this time, nats
  double excess = 0;       // what d keeps past the job memory, nats
  double sigma = 0;        // the bucket noise, nats
  double tail_weight = 0;  // P(an excess past 3 sigma), shrunk
  double tail_mean = 0;    // their mean size past it (nats), shrunk
  bool learnt = false;     // the bucket was learnt from (not the key's first)
  double tail_excess = 0;  // how far the excess went past 3 sigma (nats; 0 if not past)
};

// The population's tail, for TailPrior (empirical Bayes): decayed sums over
// every key's learnt buckets - how many, how many went past 3 sigma, and by
// how much - shrunk towards the default prior by kPriorBuckets buckets and
// kPriorExcesses excesses, so that a new estate leans on the default for its
// first hours and a quiet one soon finds its jumps rare. Owned by one
// detection shard; not thread-safe.
class TailPool {
 public:
  static constexpr double kPriorBuckets = 300, kPriorExcesses = 2;
  // An excess counts at most this much (nats): the default mean's three
  // times, fixed, so that what the pool says cannot raise what it takes in.
  static constexpr double kClip = 3 * 0.47;

  // horizon_buckets: key-buckets over which a sample's weight fades by 1/e.
  explicit TailPool(double horizon_buckets = 1e6) : keep_(1 - 1 / horizon_buckets) {}

  // A bucket of any key, as Observe scored it.
  void Add(const SurprisalScores& s) {
    if (!s.learnt) return;
    buckets_ = buckets_ * keep_ + 1;
    excesses_ *= keep_;
    excess_sum_ *= keep_;
    if (s.tail_excess > 0) {
      excesses_ += 1;
      excess_sum_ += std::min(s.tail_excess, kClip);
    }
  }
  TailPrior prior() const {
    const TailPrior d;
    return {(excesses_ + d.weight * kPriorBuckets) / (buckets_ + kPriorBuckets),
            (excess_sum_ + d.mean * kPriorExcesses) / (excesses_ + kPriorExcesses)};
  }
  double buckets() const { return buckets_; }
  double excesses() const { return excesses_; }

 private:
  double keep_;
  double buckets_ = 0, excesses_ = 0, excess_sum_ = 0;
};

class SurprisalModel {
 public:
  // bucket_ms: detection.bucket (the model's times are in ms and turned into
  // buckets; its constants were chosen at 5 minutes).
  explicit SurprisalModel(int64_t bucket_ms);

  // Scores a bucket with traffic (after the last one of s) and folds it into
  // s. `seed` seeds the stochastic rounding: the same seed and inputs, the
  // same state after.
  SurprisalScores Observe(SurprisalState* s, uint64_t seed, int64_t bucket, uint64_t bytes,
                          const TailPrior& prior = {}) const;

  // -ln P(X >= excess) - ln 2 (at most kMaxSurprisal, at least 0) for an
  // excess over the expected log bytes: Gaussian with sd sigma up to
  // u = 3 sigma, past it the smaller of that and an exponential tail of
  // weight tail_weight and mean tail_mean beyond u.
  static double Surprisal(double excess, double sigma, double tail_weight, double tail_mean);

  static constexpr double kMaxSurprisal = 20;
  static constexpr double kTailStart = 3;  // sigmas

 private:
  int64_t bucket_ms_;
  int per_day_;    // buckets a day
  int age_unit_;   // buckets per unit of SurprisalState::age
  int warm_;       // buckets from the first to the first that may page
  int class_warm_;  // buckets
  int relearn_;     // buckets
};

}  // namespace flowwatch::detect
