#include "lib/detect/detectors/volume_detector.h"

#include <algorithm>
#include <cmath>

#include "lib/common/hash.h"
#include "lib/detect/pooled_tail.h"

namespace flowwatch::detect {
namespace {

using B = SeasonalBaseline;

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kHourMs = 3'600'000;

// The sustained test: a CUSUM of z-scores clipped at kClip, less kDrift a bucket.
constexpr double kDrift = 1.0;
constexpr double kClip = 6;
constexpr double kModelError = 0.15;  // nats
// Bursts: a residual above max(kBurstFloor, kBurstScales * s) is one. Buckets
// within a ceiling of at least kGate add no sustained evidence, unless the
// run past the floors is kGateBuckets longer than any normal one.
constexpr double kBurstFloor = 0.7;
constexpr double kBurstScales = 3.0;
constexpr double kGate = 1.5;
constexpr int kGateBuckets = 6;
// One bucket is judged in units of at least kMinBurstScale (bursts are
// multiplicative events whose size does not shrink with a quiet key's noise),
// or, where the key has normal bursts, by its excess over the largest of them
// in kExcessUnit steps (that excess is what the bursts' own size does not explain).
constexpr double kMinBurstScale = 0.2;
constexpr double kExcessUnit = 0.15;
constexpr int64_t kLearntBurstMs = 2 * kHourMs;  // the longest run of bursts learnt as normal at its hours
constexpr double kCeilingDecay = 1.0 / (12 * 4);  // per visit of the hour below its ceiling: a step in ~4 days
// Learning rates per bucket with traffic.
constexpr double kDaySlow = 0.03;
constexpr double kWeekSlow = 0.002;
constexpr double kShareOnFirstWeekday = 0.05;  // the level's and the daily profile's share while a weekday is new
// The scale, once the key is past its first kMaxSeen buckets: the level |r|
// exceeds kScaleExceed of the time (for normal residuals 0.8 sigma, their mean
// absolute deviation), tracked in steps of kScaleQuantileRate (log units), so
// that bursts, however large or frequent up to that share, do not inflate it.
constexpr double kScaleExceed = 0.42;
constexpr double kScaleQuantileRate = 0.02;

struct When {
  int64_t time_of_day_ms;
  int hour;
  int weekday;  // 0 = Sunday
};

When At(int64_t bucket, int64_t bucket_ms) {
  const int64_t t = bucket * bucket_ms + bucket_ms / 2;  // the bucket's middle
  const int64_t day = t / kDayMs;
  When w;
  w.time_of_day_ms = t - day * kDayMs;
  w.hour = static_cast<int>(w.time_of_day_ms / kHourMs);
  w.weekday = static_cast<int>((day + 4) % 7);  // 1970-01-01 was a Thursday
  return w;
}

bool WorkingDay(int weekday) { return weekday >= 1 && weekday <= 5; }  // Monday to Friday (UTC)

bool AllHoursSeen(const B& b) {
  for (int h = 0; h < 24; ++h) {
    if (!b.hour_seen(h)) return false;
  }
  return true;
}

// The third-highest of the hours' ceilings (unseen hours count as none): how
// large the bursts are that the key has at three or more hours of the day, so
// at any hour (a 6-hourly job moves through four hours; a nightly backup stays
// at its one or two).
uint8_t KeyCeiling(const B& b) {
  int count[16] = {};
  for (int h = 0; h < 24; ++h) ++count[b.hour_seen(h) ? b.ceiling(h) : 0];
  for (int c = 15, n = 0; c > 0; --c) {
    if ((n += count[c]) >= 3) return static_cast<uint8_t>(c);
  }
  return 0;
}

uint8_t CeilingSteps(double nats) {
  return static_cast<uint8_t>(std::clamp(std::ceil(nats / B::kCeilingUnit), 0.0, double{B::kMaxCeiling}));
}

// Calls f(hour) once for each hour of the day that buckets [first, end) touch
// (at most a day of them).
template <typename F>
void ForEachHour(int64_t first, int64_t end, int64_t bucket_ms, F&& f) {
  int previous = -1;
  for (int64_t bucket = first; bucket < std::min(end, first + kDayMs / bucket_ms); ++bucket) {
    const int hour = At(bucket, bucket_ms).hour;
    if (hour != previous) f(hour);
    previous = hour;
  }
}

// A run of buckets past the floors ends: if it did not page, runs that long are normal.
void EndRaised(B* b) {
  if (!b->firing() && b->raised_run() > b->normal_raised()) b->set_normal_raised(b->raised_run());
  b->set_raised_run(0);
}

void SetLevel(B* b, double nats, Draws* d) {
  b->level = AddRounded<uint16_t>(0, nats / B::kLevelUnit, d->Next(), 0, 65535);
}

}  // namespace

VolumeModel::VolumeModel(int64_t bucket_ms, int64_t half_life_ms)
    : bucket_ms_(bucket_ms),
      alpha_level_(1 - std::pow(0.5, static_cast<double>(bucket_ms) / static_cast<double>(std::max<int64_t>(half_life_ms, 1)))) {}

double VolumeModel::Mu(const B& b, int64_t bucket) const {
  const When w = At(bucket, bucket_ms_);
  return b.level_nats() + b.DayOffset(w.time_of_day_ms) + b.WeekOffset(w.weekday);
}

double VolumeModel::Expected(const B& b, int64_t bucket) const { return std::exp(Mu(b, bucket)); }

void VolumeModel::EndRun(B* b, PooledTail* pool, double threshold) {
  const double peak = b->evidence_peak * B::kEvidenceUnit;
  if (peak > 0 && peak < threshold && pool != nullptr) pool->AddValue(peak);
  b->evidence = b->evidence_peak = b->run = b->run_peak = b->run_high = 0;
}

void VolumeModel::LearnRun(B* b, int64_t last_bucket, double s) const {
  // A run of evidence that ended without paging, its bursts within
  // kLearntBurst: a burst (a job, a backup, a user's download) that is normal
  // at the hours it spanned. Longer runs are drift or a level change, the
  // level's to learn. The bursts come first in a run, the evidence's decay
  // after them.
  if (b->run == 0 || b->run_bursts() == 0 || b->firing() || b->run_bursts() * bucket_ms_ > kLearntBurstMs) return;
  const double peak = b->run_peak_nats();
  if (peak <= std::max(kBurstFloor, kBurstScales * s)) return;
  const int64_t first = last_bucket - b->run + 1;
  ForEachHour(first, first + b->run_bursts(), bucket_ms_, [&](int hour) {
    if (b->hour_seen(hour)) b->set_ceiling(hour, std::max(b->ceiling(hour), CeilingSteps(peak)));
  });
}

void VolumeModel::LearnBurst(B* b, int64_t first_bucket, int64_t last_bucket, double residual) const {
  ForEachHour(first_bucket, last_bucket + 1, bucket_ms_, [&](int hour) {
    if (!b->hour_seen(hour)) return;
    const double c = b->ceiling(hour) * B::kCeilingUnit;
    b->set_ceiling(hour, std::max(b->ceiling(hour), CeilingSteps((c + residual) / 2)));
  });
}

void VolumeModel::Relearn(B* b, double shift) const {
  Draws d(HashCombine(b->last_bucket, b->level));
  SetLevel(b, b->level_nats() + shift, &d);
  EndRun(b, nullptr, 0);  // an alarmed run: not a sample of normal evidence
}

VolumeVerdict VolumeModel::Observe(B* b, uint64_t noise, int64_t bucket, uint64_t bytes, const VolumeThresholds& t,
                                   const VolumeOptions& o, PooledTail* bucket_pool, PooledTail* pair_pool,
                                   PooledTail* sustained_pool, bool new_peer_excess) const {
  VolumeVerdict v;
  Draws d(HashCombine(noise, static_cast<uint64_t>(bucket)));
  const double x = static_cast<double>(std::max<uint64_t>(bytes, 1));
  const double y = std::log(x);
  const When w = At(bucket, bucket_ms_);
  const int seen = b->seen();
  if (seen == 0) {  // the first bucket: the key is what it is
    SetLevel(b, y, &d);
    b->set_ceiling(w.hour, 0);
    b->set_seen(1);
    b->last_bucket = static_cast<uint32_t>(bucket);
    v.expected = x;
    v.ratio = 1;
    return v;
  }
  const double s = std::max(b->scale_nats(), kMinScale);
  if (bucket > static_cast<int64_t>(b->last_bucket) + 1) {
    LearnRun(b, b->last_bucket, s);
    EndRun(b, sustained_pool, t.sustained);  // empty buckets end a run
    // The hours the gap spanned were seen, quiet: a key with traffic only at
    // some hours (a nightly job, office hours) still finishes its first day.
    ForEachHour(static_cast<int64_t>(b->last_bucket) + 1, bucket, bucket_ms_, [&](int hour) {
      if (!b->hour_seen(hour)) b->set_ceiling(hour, 0);
    });
  }

  const double mu = Mu(*b, bucket);
  const double r = y - mu;
  const double burst = std::max(kBurstFloor, kBurstScales * s);  // a residual this large is a burst
  const bool hour_seen = b->hour_seen(w.hour);
  const bool learning = !b->profile_complete();  // the key's first day
  const double c = hour_seen ? b->ceiling(w.hour) * B::kCeilingUnit : 0;
  // A bucket stands out against the bursts normal at this hour or the hour
  // before (a recurring burst straddles the hour it starts in, a few minutes
  // early or late), or at any hour for a key that bursts at many.
  const int before = (w.hour + 23) % 24;
  const double c_near = std::max(c, b->hour_seen(before) ? b->ceiling(before) * B::kCeilingUnit : 0.0);
  const double c_any = std::max(c_near, KeyCeiling(*b) * B::kCeilingUnit);
  v.expected = std::exp(mu);
  v.ratio = x / v.expected;
  v.zscore = r / s;
  v.residual = r;
  v.score = c_any > 0 ? (r - c_any) / kExcessUnit : r / std::max(s, kMinBurstScale);
  // Two buckets in a row: the lower of the two scores (a lone burst is one bucket).
  const bool follows = bucket == static_cast<int64_t>(b->last_bucket) + 1;
  const double previous = b->last_score_value();
  v.pair_score = follows ? std::min(v.score, previous) : 0;
  // The one-bucket pool takes the peaks of runs of scores (runs declustering,
  // as extreme-value practice does): a bucket whose score rose and the next
  // fell, or had no next. A run of high buckets is one event, and the budget
  // counts incidents, not buckets.
  const bool scored = seen >= static_cast<int>(o.warmup_buckets) && bytes >= o.min_bytes;
  const bool peaked = b->rising() && (!follows || v.score < previous);
  if (peaked && bucket_pool != nullptr && previous < t.bucket) bucket_pool->AddValue(previous);
  b->set_rising(scored && v.score > (follows ? previous : 0));
  b->last_score = scored ? AddRounded<uint8_t>(0, std::max(0.0, v.score) / B::kScoreUnit, 0.5, 0, 255) : 0;

  // Sustained evidence, in units of the spread plus the model's own error
  // (the profile is never exact: a quiet key must not page on 20% of it).
  const double z_sustained = r / std::hypot(s, kModelError);
  // Only buckets past the ratio floor count for it, so that a model a little
  // off for hours never adds up to a page it could not send anyway.
  double e = std::min(z_sustained, kClip) - kDrift;
  const bool floors = bytes >= o.min_bytes && v.ratio >= o.min_ratio;
  // A ceiling covers a run only as long as the key's normal runs (a backup's
  // length): exfiltration that outlasts it is evidence whatever its size.
  if ((!floors || !follows) && b->raised_run() > 0) EndRaised(b);
  if (floors) b->set_raised_run(b->raised_run() + 1);
  const bool covered = c_near >= kGate && r <= c_near && b->raised_run() <= b->normal_raised() + kGateBuckets;
  // A key that learnt on a weekend sees its first working day: busier is its
  // level (learnt below), not a sustained rise.
  const bool first_working = b->learnt_on_weekend() && WorkingDay(w.weekday) &&
                             (!b->week_seen(w.weekday) || b->first_visit() == w.weekday + 1);
  if (!floors || covered || first_working) e = std::min(e, -kDrift);
  const bool isolated = b->evidence == 0;  // no run building before this bucket
  // Evidence pages while it is being added to, two buckets in a row: not a
  // lone burst on evidence left over from a run hours ago.
  const bool adding = e > 0 && b->added_evidence();
  const double g = std::max(0.0, b->evidence_value() + e);
  b->evidence = AddRounded<uint8_t>(0, g / B::kEvidenceUnit, 0.5, 0, 255);
  if (b->evidence == 0) {
    LearnRun(b, bucket - 1, s);
    EndRun(b, sustained_pool, t.sustained);
  } else {
    b->evidence_peak = std::max(b->evidence_peak, b->evidence);
    if (b->run < 255) ++b->run;
    b->run_peak = std::max(b->run_peak, AddRounded<uint8_t>(0, std::max(0.0, r) / B::kRunPeakUnit, 0.5, 0, 255));
    if (r > burst) b->set_run_bursts(b->run_bursts() + 1);
    b->set_added_evidence(e > 0);
  }
  v.evidence = b->evidence_value();
  v.run = b->run;

  v.warm = seen >= static_cast<int>(o.warmup_buckets) && !learning;
  if (v.warm) {
    v.single = floors && v.zscore >= o.min_zscore && (v.score >= t.bucket || v.pair_score >= t.pair);
    v.sustained = floors && v.evidence >= t.sustained && (adding || b->firing());
    v.new_peers = new_peer_excess && floors && v.zscore >= o.min_zscore;
    v.anomalous = v.single || v.sustained || v.new_peers;
  }
  // The pools learn from the first day on (the scores are rough then, which
  // errs towards higher thresholds), so that a new estate has tails by its
  // second day, and only from buckets big enough to page (a tiny key's
  // swings must not raise everyone's threshold). As in SPOT, a score past its
  // threshold is an alarm, not a sample of the normal tail (nor is a run that
  // reached it: see EndRun).
  if (scored) {
    if (bucket_pool != nullptr) bucket_pool->AddObservations(1);
    if (pair_pool != nullptr) {
      pair_pool->AddObservations(1);
      if (v.pair_score < t.pair) pair_pool->AddValue(v.pair_score);
    }
    if (sustained_pool != nullptr) sustained_pool->AddObservations(1);
  }
  v.severity = v.ratio >= o.critical_ratio ? Severity::kCritical : Severity::kWarning;

  // Ceilings of normal bursts at this hour.
  if (learning) {
    // (The scale is not yet known: any residual past the floor is a burst.)
    b->set_ceiling(w.hour, std::max<uint8_t>(hour_seen ? b->ceiling(w.hour) : 0, r > kBurstFloor ? CeilingSteps(r) : 0));
    if (AllHoursSeen(*b)) {
      // The first day is over: the level becomes the day's mean, the profile
      // the offsets around it (the first bucket may have been anything).
      b->set_profile_complete();
      const int learnt_on = At(bucket - kDayMs / 2 / bucket_ms_, bucket_ms_).weekday;  // the day's middle
      b->set_learnt_on_weekend(learnt_on == 0 || learnt_on == 6);
      int sum = 0;
      for (int8_t n : b->day) sum += n;
      const int mean = sum / B::kDayNodes;
      for (int8_t& n : b->day) n = static_cast<int8_t>(std::clamp(n - mean, -127, 127));
      SetLevel(b, b->level_nats() + mean * B::kProfileUnit, &d);
    }
  } else if (!v.anomalous && isolated && r > burst && r > c && b->evidence == 0) {
    // A burst below the floors (no evidence, it could not page) is normal
    // here at once; one past them is learnt when its run ends (LearnRun), so
    // that the first bucket of a rise does not hide the rest of it.
    b->set_ceiling(w.hour, CeilingSteps(r));
  } else if (!v.anomalous && c > 0 && r > c - B::kCeilingUnit && r <= c + B::kCeilingUnit &&
             b->raised_run() <= b->normal_raised()) {
    // The ceiling reached again by a burst no longer than normal (a recurring
    // job or backup): it stays, half a nat higher if need be, so that the
    // decay below does not wear away the ceiling of a burst that comes daily.
    b->set_ceiling(w.hour, std::max(b->ceiling(w.hour), CeilingSteps(r)));
  } else if (c > 0 && r < c - B::kCeilingUnit && d.Next() < kCeilingDecay) {
    b->set_ceiling(w.hour, static_cast<uint8_t>(b->ceiling(w.hour) - 1));
  }

  if (!v.anomalous && !b->firing()) {
    // Huber: a residual beyond 2s counts as 2s, so that a burst moves the
    // baseline little (symmetric, or the baseline would settle off the median);
    // nothing learns upwards while evidence of a sustained rise builds.
    double rc = std::clamp(r, -2 * s, 2 * s);
    if (v.evidence > t.sustained / 4) rc = std::min(rc, 0.0);
    // Weekdays: each new one learns its offset on its first visit, once the
    // daily profile is whole, while the level and the profile stay where the
    // other days put them; then slowly.
    double share = 1;
    const int previous_first = b->first_visit();
    if (!b->week_seen(w.weekday) && !learning) {
      b->set_week_steps(w.weekday, 0);
      b->set_first_visit(w.weekday + 1);
    } else if (previous_first != 0 && previous_first != w.weekday + 1) {
      b->set_first_visit(0);
    }
    // A first working day seen whole ends the weekend learner's catching up.
    if (previous_first != 0 && previous_first != w.weekday + 1 && WorkingDay(previous_first - 1)) {
      b->set_learnt_on_weekend(false);
    }
    if (b->week_seen(w.weekday)) {
      // On its first visit a weekday's offset is the running mean of the
      // day's residuals so far (damped over its first hour).
      const bool first = b->first_visit() == w.weekday + 1;
      const double k = static_cast<double>(w.time_of_day_ms / bucket_ms_);
      const double rate = first ? 1 / (k + 12) : kWeekSlow;
      // Only quieter days (weekends): a day busier than the others is the
      // level's to learn, or the first week's drift would pile up in them.
      b->set_week_steps(w.weekday, AddRounded<uint8_t>(b->week_steps(w.weekday), -rate * rc / B::kWeekUnit, d.Next(), 0,
                                                       B::kMaxWeekSteps));
      // A new day that is quieter is the weekday's to learn, not the level's
      // nor the profile's (or the next working day would look high).
      if (first && rc < 0) share = kShareOnFirstWeekday;
      // A key that learnt on a weekend, on its first working day: the day's
      // level is the running mean of its residuals, the profile stays.
      if (first && first_working) {
        SetLevel(b, b->level_nats() + std::clamp(r, -2.0, 2.0) / (k + 12), &d);
        share = 0;
      }
    }
    // The daily profile. On the first day each node is the running mean of
    // the buckets within an hour of it (the level stays at the first
    // bucket's), so that sweeping through the day does not bend the nodes
    // behind; after, the two nodes around this time learn by their weights.
    const double p = static_cast<double>(w.time_of_day_ms) / (2 * kHourMs);
    if (learning) {
      const size_t j = static_cast<size_t>(std::lround(p)) % B::kDayNodes;
      const double offset = y - b->level_nats() - b->WeekOffset(w.weekday) - b->day[j] * B::kProfileUnit;
      const double into = std::floor(std::fmod(p + 0.5, 1.0) * 2 * kHourMs / static_cast<double>(bucket_ms_));
      // The window's first bucket sets the node; the others average into it,
      // clipped upwards only (a burst must not lift the node, and a node a
      // burst set must come down).
      const double step = into == 0 ? offset : std::min(offset, std::max(2 * s, 0.5)) / (into + 1);
      b->day[j] = AddRounded<int8_t>(b->day[j], step / B::kProfileUnit, d.Next(), -127, 127);
    } else {
      const size_t j = static_cast<size_t>(p) % B::kDayNodes;
      const size_t next = (j + 1) % B::kDayNodes;
      const double f = p - std::floor(p);
      const double rate = kDaySlow * share;
      b->day[j] = AddRounded<int8_t>(b->day[j], rate * (1 - f) * rc / B::kProfileUnit, d.Next(), -127, 127);
      b->day[next] = AddRounded<int8_t>(b->day[next], rate * f * rc / B::kProfileUnit, d.Next(), -127, 127);
    }
    // The level; never up while evidence builds.
    if (!learning) {
      b->level = AddRounded<uint16_t>(b->level, alpha_level_ * share * rc / B::kLevelUnit, d.Next(), 0, 65535);
    }
    // The scale: a running mean of |r| (clipped at 4s) while young, then a
    // running quantile of |r| (log-coded).
    if (seen < B::kMaxSeen) {
      const double beta = 1.0 / (seen + 1);
      const double scale = std::max(B::kScaleFloor, b->scale_nats() + beta * (std::min(std::fabs(r), 4 * s) - b->scale_nats()));
      b->scale = AddRounded<uint8_t>(0, B::kScaleSteps * std::log(scale / B::kScaleFloor), d.Next(), 1, 255);
    } else {
      const double up = std::fabs(r) > b->scale_nats() ? 1 - kScaleExceed : -kScaleExceed;
      b->scale = AddRounded<uint8_t>(b->scale, B::kScaleSteps * kScaleQuantileRate * up, d.Next(), 1, 255);
    }
  }
  b->set_seen(seen + 1);
  b->last_bucket = static_cast<uint32_t>(bucket);
  return v;
}

}  // namespace flowwatch::detect
