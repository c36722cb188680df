#include "lib/detect/detectors/surprisal_model.h"

#include <algorithm>
#include <cmath>

#include "lib/detect/stochastic_rounding.h"

namespace flowwatch::detect {
namespace {

using S = SurprisalState;

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kSlotMs = kDayMs / S::kSlots;
constexpr int64_t kJobBackMs = 20 * 60'000;   // the job window: [t - 20 min, t + 5 min]
constexpr int64_t kJobAheadMs = 5 * 60'000;
constexpr int64_t kClassWarmMs = 2 * 3'600'000;  // a day class's first visit learns its offset
constexpr int64_t kRelearnMs = 4 * 3'600'000;    // S > kRelearnScore this long: a lasting change
constexpr double kRelearnScore = 6;
// The CUSUMs' allowances, nats a bucket; G2 takes S clipped at kClip2.
constexpr double kDrift = 4.0, kDrift2 = 1.5, kClip2 = 8;
// Learning rates per bucket (the first day's are kYoungBoost times faster).
constexpr double kLevelRate = 0.005, kDayRate = 0.01, kYoungDayRate = 0.2, kYoungBoost = 4;
constexpr double kLocalRate = 0.1, kLocalFast = 0.2, kSpreadRate = 0.02, kNoiseRate = 0.02;
constexpr double kSigmaPerNoise = 1.25;
constexpr double kMinSpread = 0.02, kMinNoise = 0.01;
constexpr double kInitialSpread = 0.3, kInitialNoise = 0.2;
// The tail: decayed counts (kTailKeep a bucket) shrunk towards the prior's
// weight over kPriorBuckets buckets and its mean over kPriorExcesses excesses.
constexpr double kTailKeep = 0.999, kPriorBuckets = 300, kPriorExcesses = 20;
constexpr int64_t kWarmMs = 23 * 3'600'000;
constexpr int kJobDecaySteps = 1;  // a day, in kJobUnit steps

double FromLogCode(uint8_t code) { return S::kSpreadFloor * std::exp(code / S::kSpreadSteps); }
uint8_t ToLogCode(double nats, double u) {
  return AddRounded<uint8_t>(0, S::kSpreadSteps * std::log(nats / S::kSpreadFloor), u, 0, 255);
}

// The daily profile at a time of day, and each node's weight in it.
double DayOffset(const S& s, int64_t time_of_day_ms, std::array<double, S::kDayNodes>* weights) {
  const double p = static_cast<double>(time_of_day_ms) / (kDayMs / S::kDayNodes);
  const int j = static_cast<int>(p) % S::kDayNodes;
  const int next = (j + 1) % S::kDayNodes;
  const double f = p - std::floor(p);
  weights->fill(0);
  (*weights)[static_cast<size_t>(j)] = 1 - f;
  (*weights)[static_cast<size_t>(next)] = f;
  return ((1 - f) * s.day[static_cast<size_t>(j)] + f * s.day[static_cast<size_t>(next)]) * S::kProfileUnit;
}

int SlotAt(int64_t time_of_day_ms) { return static_cast<int>(((time_of_day_ms % kDayMs + kDayMs) % kDayMs) / kSlotMs); }

// Today's peak of a slot joins the memory of the days before. One step more,
// since the decay at midnight takes it off: tomorrow sees today's peak whole.
void Fold(S* s, int slot, int peak) {
  s->set_job(slot, std::max(s->job(slot), std::min(peak + kJobDecaySteps, S::kMaxJob)));
}

// Moves the job memory to the bucket at time_ms (after last_ms): a new day
// folds today's open peaks and ages every slot; a new slot folds the one
// before it once the job window no longer reaches it.
void AdvanceJobs(S* s, int64_t last_ms, int64_t time_ms) {
  int open = s->open_slot(), pending_peak = s->pending_peak(), open_peak = s->open_peak();
  bool pending = s->pending();
  const int64_t days = time_ms / kDayMs - last_ms / kDayMs;
  if (days > 0) {
    if (pending) Fold(s, (open + S::kSlots - 1) % S::kSlots, pending_peak);
    if (open != S::kNoSlot) Fold(s, open, open_peak);
    const int64_t steps = std::min<int64_t>(days * kJobDecaySteps, S::kMaxJob);
    for (int i = 0; i < S::kSlots; ++i) s->set_job(i, std::max<int>(0, s->job(i) - static_cast<int>(steps)));
    open = S::kNoSlot;
    pending = false;
  }
  const int64_t tod = time_ms % kDayMs;
  const int now = SlotAt(tod);
  if (open != now) {
    if (pending) Fold(s, (open + S::kSlots - 1) % S::kSlots, pending_peak);
    pending = false;
    if (open != S::kNoSlot) {
      if (now == open + 1 && tod - now * kSlotMs < kJobBackMs) {
        pending = true;
        pending_peak = open_peak;
      } else {
        Fold(s, open, open_peak);
      }
    }
    open = now;
    open_peak = 0;
  }
  if (pending && tod - now * kSlotMs >= kJobBackMs) {
    Fold(s, (open + S::kSlots - 1) % S::kSlots, pending_peak);
    pending = false;
  }
  s->set_slots(open, pending, pending ? pending_peak : 0, open_peak);
}

// The job memory over the window about a time of day (slots still open
// today hold the days before's memory: today's peaks are folded later).
double JobAt(const S& s, int64_t tod) {
  int peak = 0;
  for (int64_t at = tod - kJobBackMs; at <= tod + kJobAheadMs; at += kJobAheadMs) {
    // Past midnight the window reads tomorrow's first hour, folded today
    // already: without the step its fold added for the decay to come.
    const int job = s.job(SlotAt(at));
    peak = std::max(peak, at >= kDayMs ? std::max(0, job - kJobDecaySteps) : job);
  }
  return peak * S::kJobUnit;
}

}  // namespace

SurprisalModel::SurprisalModel(int64_t bucket_ms)
    : bucket_ms_(bucket_ms),
      per_day_(static_cast<int>(kDayMs / bucket_ms)),
      age_unit_(std::max(1, per_day_ / 96)),
      warm_(static_cast<int>(kWarmMs / bucket_ms)),
      class_warm_(static_cast<int>(std::min<int64_t>(kClassWarmMs / bucket_ms, S::kMaxClassWarm))),
      relearn_(static_cast<int>(std::min<int64_t>(kRelearnMs / bucket_ms, S::kMaxRun - 1))) {}

double SurprisalModel::Surprisal(double excess, double sigma, double tail_weight, double tail_mean) {
  if (!(excess > 0)) return 0;
  const double z = excess / sigma;
  const double body = z < 30 ? -std::log(0.5 * std::erfc(z / std::sqrt(2.0))) : z * z / 2;
  const double u = kTailStart * sigma;
  const double tail = excess > u ? -std::log(tail_weight) + (excess - u) / tail_mean : body;
  return std::clamp(std::min(body, tail) - std::log(2.0), 0.0, kMaxSurprisal);
}

SurprisalScores SurprisalModel::Observe(S* s, uint64_t seed, int64_t bucket, uint64_t bytes, const TailPrior& prior) const {
  SurprisalScores out;
  Draws draws(seed);
  const double x = std::log(static_cast<double>(bytes) + 1);
  const int64_t time_ms = bucket * bucket_ms_;
  const int64_t tod = time_ms % kDayMs;
  const int weekday = static_cast<int>((time_ms / kDayMs + 4) % 7);  // 1970-01-01 was a Thursday
  const int cls = weekday == 0 || weekday == 6 ? 1 : 0;
  const int n = s->seen();
  const int64_t last = n == 0 ? bucket : static_cast<int64_t>(s->last_bucket());
  if (n == 0) {
    s->level = AddRounded<uint16_t>(0, x / S::kLevelUnit, draws.Next(), 0, 65535);
    s->spread = ToLogCode(kInitialSpread, 0.5);
    s->noise = ToLogCode(kInitialNoise, 0.5);
    s->set_slots(S::kNoSlot, false, 0, 0);
  }
  // Clocks: age since the first bucket, the class warm-up left.
  s->set_age(static_cast<int>(std::min<int64_t>(s->age() + bucket / age_unit_ - last / age_unit_, S::kMaxAge)));
  s->set_class_warm(static_cast<int>(std::max<int64_t>(0, s->class_warm() - (bucket - last))));
  if (!s->class_seen(cls)) {
    s->set_class_seen(cls);
    s->local[static_cast<size_t>(cls)] = s->local[static_cast<size_t>(1 - cls)];
    if (n > 0) s->set_class_warm(class_warm_);  // its offset is learnt first
  }
  const bool class_warming = s->class_warm() > 0;
  int16_t& local = s->local[static_cast<size_t>(cls)];

  std::array<double, S::kDayNodes> w;
  const double mu = s->level * S::kLevelUnit + DayOffset(*s, tod, &w);
  const double e = x - mu;
  const double d = e - local * S::kLocalUnit;
  AdvanceJobs(s, last * bucket_ms_, time_ms);
  const double job = JobAt(*s, tod);
  const int step = static_cast<int>(std::ceil(std::clamp(d, 0.0, 7.0) / S::kJobUnit));
  s->set_slots(s->open_slot(), s->pending(), s->pending_peak(), std::max(s->open_peak(), step));

  // Score against the noise and the key's tail (the counts as of the bucket
  // before: n - 1 buckets learnt from so far, each decayed).
  const double noise = FromLogCode(s->noise);
  const double sigma = kSigmaPerNoise * noise;
  const double learnt = (1 - std::pow(kTailKeep, std::max(n - 1, 0))) / (1 - kTailKeep);
  double excesses = s->excesses * S::kExcessesUnit, excess_sum = s->excess_sum * S::kExcessSumUnit;
  const double tail_weight = (excesses + prior.weight * kPriorBuckets) / (learnt + kPriorBuckets);
  const double tail_mean = (excess_sum + prior.mean * kPriorExcesses) / (excesses + kPriorExcesses);
  const double excess = d - std::max(0.0, job - sigma);
  const double surprisal = Surprisal(excess, sigma, tail_weight, tail_mean);

  const bool warm = s->age() * age_unit_ >= warm_ && !class_warming;
  const double idle = static_cast<double>(bucket - last - (n > 0 ? 1 : 0));  // empty buckets since the last
  double g = std::max(0.0, s->cusum * S::kCusumUnit - idle * kDrift);
  double g2 = std::max(0.0, s->cusum2 * S::kCusumUnit - idle * kDrift2);
  g = std::max(0.0, g + surprisal - kDrift);
  g2 = std::max(0.0, g2 + std::min(surprisal, kClip2) - kDrift2);
  if (!warm) g = g2 = 0;
  if (s->age() * age_unit_ < 2 * per_day_) g2 = 0;
  s->cusum = AddRounded<uint8_t>(0, g / S::kCusumUnit, draws.Next(), 0, 255);
  s->cusum2 = AddRounded<uint8_t>(0, g2 / S::kCusumUnit, draws.Next(), 0, 255);

  out.warm = warm;
  out.surprisal = surprisal;
  out.cusum = s->cusum * S::kCusumUnit;
  out.cusum2 = s->cusum2 * S::kCusumUnit;
  out.expected = std::exp(mu + local * S::kLocalUnit) - 1;
  out.residual = d;
  out.job = job;
  out.excess = excess;
  out.sigma = sigma;
  out.tail_weight = tail_weight;
  out.tail_mean = tail_mean;

  // Learn from every bucket, steps clipped (near a median).
  if (n > 0) {
    const bool young = n < per_day_;
    const double boost = young ? kYoungBoost : 1.0;
    if (cls == 0 || !s->class_seen(0)) {
      const double spread = FromLogCode(s->spread);
      const double ec = std::clamp(e, -spread, spread);
      s->level = AddRounded<uint16_t>(s->level, kLevelRate * boost * ec / S::kLevelUnit, draws.Next(), 0, 65535);
      const double day_rate = young ? kYoungDayRate : kDayRate;
      for (size_t j = 0; j < S::kDayNodes; ++j) {
        if (w[j] > 0) s->day[j] = AddRounded<int8_t>(s->day[j], day_rate * w[j] * ec / S::kProfileUnit, draws.Next(), -127, 127);
      }
      s->spread = ToLogCode(std::max(kMinSpread, spread + kSpreadRate * (std::min(std::abs(e), 2.5 * spread) - spread)),
                            draws.Next());
    }
    // The local offset follows d slowly, clipped to the noise (a burst or an
    // attack barely moves it), fast while its class is new or after a
    // lasting change.
    s->set_run(surprisal > kRelearnScore ? std::min(s->run() + 1, S::kMaxRun) : 0);
    double local_step = 0;
    if (class_warming || s->run() > relearn_) {
      local_step = kLocalFast * d;
    } else if (!young) {
      local_step = kLocalRate * std::clamp(d, -noise, noise);
    }
    local = AddRounded<int16_t>(local, local_step / S::kLocalUnit, draws.Next(), -32767, 32767);
    s->noise = ToLogCode(std::max(kMinNoise, noise + kNoiseRate * boost * (std::min(std::abs(d), 2.0 * noise) - noise)),
                         draws.Next());
    // The tail, from what the job memory leaves.
    excesses *= kTailKeep;
    excess_sum *= kTailKeep;
    out.learnt = true;
    if (excess > kTailStart * sigma) {
      out.tail_excess = excess - kTailStart * sigma;
      excesses += 1;
      excess_sum += std::min(out.tail_excess, 3 * tail_mean);
    }
    s->excesses = AddRounded<uint16_t>(0, excesses / S::kExcessesUnit, draws.Next(), 0, 65535);
    s->excess_sum = AddRounded<uint16_t>(0, excess_sum / S::kExcessSumUnit, draws.Next(), 0, 65535);
  }
  s->set_seen(std::min(n + 1, S::kMaxSeen));
  s->set_last_bucket(static_cast<uint32_t>(bucket));
  return out;
}

}  // namespace flowwatch::detect
