// SeasonalBaseline: what detection remembers of one key between buckets, in 44
// bytes - a seasonal model of the log of its bytes per bucket with traffic,
// the evidence of a sustained deviation, and its incident flags.
//
// Model (log domain: traffic is multiplicative), for a bucket at time t:
//   expected log bytes  mu(t) = level + day(t) + week(t)
//   level    the key's deseasonalized level (EWMA of residuals, half-life
//            detection.half_life in buckets with traffic)
//   day(t)   the daily profile: 12 nodes two hours apart, linearly interpolated
//   week(t)  one offset per day of the week (UTC), 0 or below (quieter days), in
//            eighth-nat steps down to -1.75; unset until that day is seen
//   scale    robust spread of residuals: a running quantile of |log bytes - mu|
//   ceiling  per hour of the day, the largest normal burst seen then (nats
//            above mu, in half-nat steps), or "never seen at this hour"
//   normal run  the longest run of buckets past the floors that did not page
//            (a backup's length), in 3-bucket steps
// Empty buckets change nothing (a quiet key costs nothing per bucket); how the
// fields learn and what is judged from them is VolumeModel's (detectors/).
//
// Stored in fixed point (level 1/1024 nat, scale in 2.5% steps, profile 1/32
// nat, weekdays 1/8 nat, ceilings half a nat, evidence 1/4, run peak 1/16
// nat) and updated with stochastic rounding, so that steps smaller than one
// unit still move the value on average. Plain value; thread-safe as a value.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "lib/detect/stochastic_rounding.h"

namespace flowwatch::detect {

struct SeasonalBaseline {
  static constexpr int kDayNodes = 12;           // two hours apart
  static constexpr uint8_t kWeekUnset = 15;      // weekday nibble: this day of the week not seen yet
  static constexpr uint8_t kMaxWeekSteps = 14;   // eighth-nat steps below the level: down to -1.75 nats
  static constexpr uint8_t kHourUnseen = 15;     // ceiling nibble: this hour of the day not seen yet
  static constexpr uint8_t kMaxCeiling = 14;     // half-nat steps: up to 7 nats (1100x)
  static constexpr double kLevelUnit = 1.0 / 1024, kProfileUnit = 1.0 / 32, kScoreUnit = 0.25;
  static constexpr double kScaleFloor = 0.01, kScaleSteps = 40;  // 0.01 .. 5.9 nats, 2.5% a step
  static constexpr double kCeilingUnit = 0.5, kEvidenceUnit = 1.0 / 4, kWeekUnit = 1.0 / 8, kRunPeakUnit = 1.0 / 16;

  uint32_t last_bucket = 0;   // the last bucket with traffic (bucket index since the epoch)
  uint16_t level = 0;
  uint8_t scale = 0;          // log-coded: kScaleFloor * e^(scale / kScaleSteps) nats; 0 = none yet
  uint8_t last_score = 0;     // the last bucket's one-bucket score (positive part, 1/4 units)
  uint16_t flags = 0;         // seen (6 bits), normal streak (4), firing (1), weekday on its first visit + 1 (3),
                              // every hour of the day seen (1), last score above the one before (1)
  uint8_t evidence = 0;       // CUSUM of robust z-scores
  uint8_t evidence_peak = 0;  // its peak in the current run (for the pooled tail)
  uint8_t run = 0;            // buckets in a row with positive evidence (saturating)
  uint8_t run_peak = 0;       // the largest residual in the current run (1/16 nat)
  uint8_t run_high = 0;       // buckets of the current run that were bursts (7 bits, saturating), the last
                              // bucket added evidence (1)
  uint8_t raised = 0;         // buckets in a row past the floors (7 bits, saturating), learnt on a weekend (1)
  std::array<int8_t, kDayNodes> day{};
  std::array<uint8_t, 4> weeks;      // 7 nibbles, weekday d in weeks[d / 2] >> (4 * (d % 2)): steps below 0;
                                     // the eighth: the normal run
  std::array<uint8_t, 12> ceilings;  // 24 nibbles, hour h in ceilings[h / 2] >> (4 * (h % 2))

  SeasonalBaseline() {
    weeks.fill(0xFF);
    ceilings.fill(0xFF);
  }

  static constexpr int kMaxSeen = 63, kMaxStreak = 15;
  int seen() const { return flags & 0x3F; }  // buckets with traffic folded in (saturating)
  int normal_streak() const { return (flags >> 6) & 0x0F; }
  bool firing() const { return (flags >> 10) & 1; }
  int first_visit() const { return (flags >> 11) & 0x07; }  // 0, or the weekday (0 = Sunday) + 1
  void set_seen(int n) { flags = static_cast<uint16_t>((flags & ~0x3F) | std::min(n, kMaxSeen)); }
  void set_normal_streak(int n) { flags = static_cast<uint16_t>((flags & ~(0x0F << 6)) | (std::min(n, kMaxStreak) << 6)); }
  void set_firing(bool on) { flags = static_cast<uint16_t>((flags & ~(1 << 10)) | (on ? 1 << 10 : 0)); }
  void set_first_visit(int v) { flags = static_cast<uint16_t>((flags & ~(0x07 << 11)) | ((v & 0x07) << 11)); }
  // Every hour of the day has been seen: the key's first day of learning is over.
  bool profile_complete() const { return (flags >> 14) & 1; }
  void set_profile_complete() { flags = static_cast<uint16_t>(flags | (1 << 14)); }
  // The last bucket's score rose above the one before it (a peak, if the next falls).
  bool rising() const { return (flags >> 15) & 1; }
  void set_rising(bool on) { flags = static_cast<uint16_t>((flags & 0x7FFF) | (on ? 1 << 15 : 0)); }

  double level_nats() const { return level * kLevelUnit; }
  double scale_nats() const { return scale == 0 ? 0 : kScaleFloor * std::exp(scale / kScaleSteps); }
  double last_score_value() const { return last_score * kScoreUnit; }
  double evidence_value() const { return evidence * kEvidenceUnit; }
  uint8_t ceiling(int hour) const { return Nibble(ceilings, hour); }
  void set_ceiling(int hour, uint8_t steps) { SetNibble(&ceilings, hour, steps); }
  bool hour_seen(int hour) const { return ceiling(hour) != kHourUnseen; }

  // The daily profile at a time of day (ms since midnight UTC), in nats.
  double DayOffset(int64_t time_of_day_ms) const {
    const double p = static_cast<double>(time_of_day_ms) / (2 * 3600 * 1000.0);
    const int j = static_cast<int>(p) % kDayNodes;
    const double f = p - std::floor(p);
    return ((1 - f) * day[static_cast<size_t>(j)] + f * day[static_cast<size_t>((j + 1) % kDayNodes)]) * kProfileUnit;
  }
  uint8_t week_steps(int weekday) const { return Nibble(weeks, weekday); }
  void set_week_steps(int weekday, uint8_t steps) { SetNibble(&weeks, weekday, steps); }
  bool week_seen(int weekday) const { return week_steps(weekday) != kWeekUnset; }
  double WeekOffset(int weekday) const { return week_seen(weekday) ? -week_steps(weekday) * kWeekUnit : 0; }
  double run_peak_nats() const { return run_peak * kRunPeakUnit; }
  int run_bursts() const { return run_high & 0x7F; }
  void set_run_bursts(int n) { run_high = static_cast<uint8_t>((run_high & 0x80) | std::min(n, 0x7F)); }
  bool added_evidence() const { return run_high >> 7; }
  void set_added_evidence(bool on) { run_high = static_cast<uint8_t>((run_high & 0x7F) | (on ? 0x80 : 0)); }
  int raised_run() const { return raised & 0x7F; }
  void set_raised_run(int n) { raised = static_cast<uint8_t>((raised & 0x80) | std::min(n, 0x7F)); }
  // The key's first day (learning) fell on a Saturday or Sunday (UTC), and it
  // has not yet seen a whole working day: a busier one is its level, not news.
  bool learnt_on_weekend() const { return raised >> 7; }
  void set_learnt_on_weekend(bool on) { raised = static_cast<uint8_t>((raised & 0x7F) | (on ? 0x80 : 0)); }
  // The longest run of buckets past the floors that was normal, in buckets
  // (stored in steps of kRaisedStep, rounded up; 15, as the nibbles start, is none yet).
  static constexpr int kRaisedStep = 3, kMaxRaisedSteps = 14;
  int normal_raised() const {
    const int n = Nibble(weeks, 7);
    return n == 15 ? 0 : n * kRaisedStep;
  }
  void set_normal_raised(int buckets) {
    SetNibble(&weeks, 7, static_cast<uint8_t>(std::min((buckets + kRaisedStep - 1) / kRaisedStep, kMaxRaisedSteps)));
  }

 private:
  // Nibble i of an array of them: bytes[i / 2] >> (4 * (i % 2)).
  template <size_t N>
  static uint8_t Nibble(const std::array<uint8_t, N>& bytes, int i) {
    return (bytes[static_cast<size_t>(i / 2)] >> (4 * (i % 2))) & 0x0F;
  }
  template <size_t N>
  static void SetNibble(std::array<uint8_t, N>* bytes, int i, uint8_t v) {
    uint8_t& b = (*bytes)[static_cast<size_t>(i / 2)];
    const int shift = 4 * (i % 2);
    b = static_cast<uint8_t>((b & ~(0x0F << shift)) | ((v & 0x0F) << shift));
  }
};
static_assert(sizeof(SeasonalBaseline) == 44);

}  // namespace flowwatch::detect
