// Detector lab: a candidate volume detector run offline over the per-key
// series that detection_quality wrote (--series FILE), scored against each
// seed's ground truth with the benchmark's own rules (bench/quality/score.h)
// over a grid of thresholds: seconds per try instead of a replay. For
// exploring a model before it is built into lib/detect; not a test, not the
// product. Findings and figures: docs/benchmarks.md, "Detector lab".
//
//   build/rel/bench/detection_quality --seeds 1,2,3,4,5 --dir build/bench-data --nab none --series /tmp/series.txt
//   build/rel/bench/detector_lab --series /tmp/series.txt [--only 45] [--budget 1] [--show h1,h2,h3] [--key K --seed N]
//   build/rel/bench/detector_lab --nab ../shared/nab [--show h1,h2,h3]   (default 10,8,40)
//
// The candidate ("surprisal CUSUM"), per key, on x = ln(bytes) of each bucket
// with traffic:
//  - e = x - mu, mu = level + a daily profile of 12 nodes two hours apart,
//    both learnt from workdays with steps clipped to the spread (near a
//    median: bursts barely move it);
//  - d = e - local: a local offset, one for workdays and one for weekends
//    (a quieter weekend is no rise on Monday), following d slowly with steps
//    clipped to the bucket noise; a class's first visit learns its offset
//    first (class_warm buckets, no paging);
//  - recurring jobs: the peak d per slot of the day (slot_min minutes) of the
//    days before (decaying slot_decay nats a day, in slot_unit steps) is taken
//    off d for the slot and the 20 minutes after it (--slots 0: the exact
//    history instead, unbounded, with hourly and 6-hourly periods too);
//  - the surprisal S of what is left: -ln P(exceeding it) under a Gaussian
//    body (sigma from the noise) or, past u_mult sigma, the key's exponential
//    tail in nats (a Pareto tail in bytes), its weight and mean excess shrunk
//    towards a prior (p0, m0) by decayed counts (kb buckets, ke excesses);
//  - pages when S >= h1 (one bucket), a CUSUM of S less `drift` >= h2 (a few
//    loud buckets), or a CUSUM of min(S, 8) less `drift2` >= h3 (hours of a
//    small rise; armed after g2_warm buckets).
// The model learns from every bucket (clipped), so what it pages does not
// change what it learns, and thresholds can be swept after the fact. The grid
// picks the best recall within the budget (an oracle: use --only to choose on
// some seeds and --show to judge on the others).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bench/quality/nab.h"
#include "bench/quality/score.h"
#include "lib/common/hash.h"
#include "lib/detect/detectors/surprisal_model.h"

using namespace flowwatch::bench;

namespace {

constexpr int64_t kBucketS = 300;
constexpr int64_t kStoryAnomaly = 1620084600;  // 2021-05-03T23:30:00Z, when the demo's anomaly begins
constexpr int kPerDay = 288;

struct KeySeries {
  std::string key;
  std::vector<std::pair<int64_t, uint64_t>> points;  // seconds, bytes
};

// The defaults are the best compact variant found (docs/benchmarks.md).
struct Params {
  double drift = 4.0, drift2 = 1.5;                                 // the two CUSUMs' allowances (nats)
  double level_rate = 0.005, day_rate = 0.01, clip = 1.0;           // seasonal steps, clipped to clip x spread
  double local_rate = 0.1, scale_rate = 0.02;                       // local offset and noise
  int relearn = 48;                                                 // buckets of S > 6 in a row: learnt
  int class_warm = 24;                                              // a day class's first buckets learn its offset
  bool jobs = true;
  int slot_min = 60, job_back = 4;                                  // job memory slots; window 20 min back
  double slot_decay = 0.5, slot_unit = 0.5;
  int periods = 7;                                                  // --slots 0: 1 = hourly, 2 = 6-hourly, 4 = daily
  double tail_rate = 0.001, u_mult = 3.0, p0 = 0.002, m0 = 0.45, kb = 300, ke = 20;
  double smax = 20;
  int warm_buckets = kPerDay, g2_warm = 2 * kPerDay;
};

double Interp(const std::array<double, 12>& d, int64_t tod_s, std::array<double, 12>* w) {
  const double p = static_cast<double>(tod_s) / 7200.0;
  const int j = static_cast<int>(p) % 12;
  const double f = p - std::floor(p);
  if (w != nullptr) {
    w->fill(0);
    (*w)[static_cast<size_t>(j)] = 1 - f;
    (*w)[static_cast<size_t>((j + 1) % 12)] = f;
  }
  return (1 - f) * d[static_cast<size_t>(j)] + f * d[static_cast<size_t>((j + 1) % 12)];
}

// Per bucket: one-bucket surprisal and the CUSUM, both in nats.
struct Scored {
  int64_t t = 0;
  double s = 0, g = 0, g2 = 0;
  bool warm = false;
  float e = 0, ej = 0, scale = 0, tail_p = 0, tail_m = 0;
};

// A key's tail at the end of its series: decayed counts of buckets and of
// excesses past u, and the excesses' sum (for --pooled).
struct TailCounts {
  double buckets = 0, excesses = 0, excess_sum = 0;
};

std::vector<Scored> Run(const KeySeries& ks, const Params& p, TailCounts* tail_out = nullptr) {
  std::vector<Scored> out;
  out.reserve(ks.points.size());
  double level = 0, scale = 0.3;  // seasonal: level and spread about mu (learnt on workdays)
  std::array<double, 12> day{};
  // The local offset of e, one for workdays and one for weekends (so that a
  // quieter weekend is not a rise on Monday), and the bucket-scale noise about it.
  std::array<double, 2> local{};
  std::array<bool, 2> class_seen{};
  double noise = 0.2;
  double tail_p = p.p0, tail_m = p.m0;  // share of buckets past u, their mean excess
  double n_b = 0, n_e = 0, s_e = 0;      // decayed counts of buckets, excesses, and their sum
  double g = 0, g2 = 0;
  int run_anomalous = 0;
  int64_t class_warm_until = 0;
  int64_t prev_b = 0;
  std::array<double, 288> prev_slot{}, today_slot{};
  int64_t slot_day = -100;
  std::unordered_map<int64_t, double> hist;  // bucket -> d (offline: unbounded)
  int n = 0;
  const int64_t first = ks.points.front().first / kBucketS;
  for (const auto& [t, bytes] : ks.points) {
    const int64_t b = t / kBucketS;
    const double x = std::log(static_cast<double>(bytes) + 1);
    const int64_t tod = t % 86400;
    const int dow = static_cast<int>((t / 86400 + 4) % 7);
    const int cls = dow == 0 || dow == 6 ? 1 : 0;
    std::array<double, 12> w;
    if (n == 0) level = x;
    if (!class_seen[cls]) {
      class_seen[cls] = true;
      local[static_cast<size_t>(cls)] = local[static_cast<size_t>(1 - cls)];
      if (n > 0) class_warm_until = b + p.class_warm;  // its offset is learnt first
    }
    const bool class_warming = b < class_warm_until;
    double& loc = local[static_cast<size_t>(cls)];
    const double mu = level + Interp(day, tod, &w);
    const double e = x - mu;
    const double d = e - loc;
    hist[b] = d;
    // What the same phase held one and two periods ago: a recurring job.
    double job = 0;
    // Compact job memory: per slot of the day, the peak d of the day before
    // (`prev`, 0.5-nat steps) and of today so far.
    const int slot_n = p.slot_min > 0 ? 1440 / p.slot_min : 0;
    if (slot_n > 0) {
      const int64_t day_index = t / 86400;
      if (day_index != slot_day) {
        for (int i = 0; i < slot_n; ++i) {
          prev_slot[i] = day_index == slot_day + 1 ? std::max(today_slot[i], prev_slot[i] - p.slot_decay)
                                                   : std::max(0.0, prev_slot[i] - p.slot_decay * (day_index - slot_day));
          today_slot[i] = 0;
        }
        slot_day = day_index;
      }
      const int s_now = static_cast<int>(tod / 60 / p.slot_min);
      const int s_back = static_cast<int>(((tod - 60 * p.job_back * 5 + 86400) % 86400) / 60 / p.slot_min);
      const int s_fwd = static_cast<int>(((tod + 300) % 86400) / 60 / p.slot_min);
      job = std::max({prev_slot[s_now], prev_slot[s_back], prev_slot[s_fwd]});
      for (int64_t back = 300; back < 60 * p.job_back * 5; back += 300) {  // the slots between
        job = std::max(job, prev_slot[static_cast<size_t>(((tod - back + 86400) % 86400) / 60 / p.slot_min)]);
      }
      today_slot[s_now] = std::max(today_slot[s_now], std::ceil(std::clamp(d, 0.0, 7.0) / p.slot_unit) * p.slot_unit);
    }
    if (p.jobs && slot_n == 0) {
      // The highest d in a window about a bucket (jobs start +-2 min and last +-25%), or -inf.
      auto peak = [&](int64_t at) -> double {
        double hi = -INFINITY;
        int missing = 0;
        for (int64_t dd = -p.job_back; dd <= 1; ++dd) {
          auto it = hist.find(at + dd);
          if (it == hist.end()) {
            missing += dd >= -1 ? 1 : 0;
          } else {
            hi = std::max(hi, it->second);
          }
        }
        return missing >= 2 || !std::isfinite(hi) ? NAN : hi;  // a gap in the logs at that phase: unknown, not low
      };
      for (int64_t period : {int64_t{12}, int64_t{72}, int64_t{kPerDay}}) {
        if (!(p.periods & (period == 12 ? 1 : period == 72 ? 2 : 4))) continue;
        const double p1 = peak(b - period), p2 = peak(b - 2 * period);
        // Daily: one occurrence teaches; shorter periods need two. A level held
        // half a period earlier too is no job (a slow rise masks itself otherwise).
        double past = std::isnan(p1) ? p2 : std::isnan(p2) ? p1 : period == kPerDay ? std::max(p1, p2) : std::min(p1, p2);
        if (std::isnan(past)) continue;
        const double half = peak(b - period / 2);
        if (!std::isnan(half)) past -= std::max(0.0, half);
        job = std::max(job, past);
      }
    }
    const double sigma = 1.25 * noise;
    const double dj = d - std::max(0.0, job - sigma);
    const double u = p.u_mult * sigma;
    double surprisal = 0;
    if (dj > 0) {
      const double z = dj / sigma;
      const double body = z < 30 ? -std::log(0.5 * std::erfc(z / std::sqrt(2.0))) : z * z / 2;
      double tail = INFINITY;
      if (dj > u) tail = -std::log(tail_p) + (dj - u) / tail_m;
      surprisal = std::max(0.0, std::min(std::min(body, tail) - std::log(2.0), p.smax));
    }
    const bool warm = b - first >= p.warm_buckets && !class_warming;
    const double idle = n > 0 ? static_cast<double>(b - prev_b - 1) : 0;  // empty buckets since the last
    prev_b = b;
    g = std::max(0.0, g - idle * p.drift);
    g2 = std::max(0.0, g2 - idle * p.drift2);
    g = std::max(0.0, g + surprisal - p.drift);
    g2 = std::max(0.0, g2 + std::min(surprisal, 8.0) - p.drift2);
    if (!warm) g = g2 = 0;
    if (b - first < p.g2_warm) g2 = 0;
    out.push_back({t, surprisal, g, g2, warm, static_cast<float>(e), static_cast<float>(dj), static_cast<float>(noise),
                   static_cast<float>(tail_p), static_cast<float>(tail_m)});
    // Learn from every bucket, steps clipped (near a median); the tail from what the jobs leave.
    const bool young = n < kPerDay;
    const double boost = young ? 4.0 : 1.0;
    if (n > 0) {
      if (cls == 0 || !class_seen[0]) {
        const double ec = std::clamp(e, -p.clip * scale, p.clip * scale);
        level += p.level_rate * boost * ec;
        for (int j = 0; j < 12; ++j) {
          day[static_cast<size_t>(j)] += (young ? 0.2 : p.day_rate) * w[static_cast<size_t>(j)] * ec;
        }
        scale += 0.02 * (std::min(std::abs(e), 2.5 * scale) - scale);
        scale = std::max(scale, 0.02);
      }
      // The local offset follows d slowly, clipped to the noise: a burst or an attack barely moves it.
      run_anomalous = surprisal > 6 ? run_anomalous + 1 : 0;
      if (class_warming) {
        loc += 0.2 * d;
      } else if (run_anomalous > p.relearn) {
        loc += 0.2 * d;  // a lasting change: learnt
      } else if (!young) {
        loc += p.local_rate * std::clamp(d, -p.clip * noise, p.clip * noise);
      }
      noise += p.scale_rate * boost * (std::min(std::abs(d), 2.0 * noise) - noise);
      noise = std::max(noise, 0.01);
      // Decayed counts, shrunk towards a prior: few excesses say little.
      const double keep = 1 - p.tail_rate;
      n_b = n_b * keep + 1;
      n_e *= keep;
      s_e *= keep;
      if (dj > u) {
        n_e += 1;
        s_e += std::min(dj - u, 3 * tail_m);
      }
      tail_p = (n_e + p.p0 * p.kb) / (n_b + p.kb);
      tail_m = (s_e + p.m0 * p.ke) / (n_e + p.ke);
    }
    ++n;
  }
  if (tail_out != nullptr) *tail_out = {n_b, n_e, s_e};
  return out;
}

// --pooled 1: the tail's prior from the population (empirical Bayes): the
// rate and mean size of excesses over every key of the seed, from a first
// pass (offline: an online pool would learn it over the first days; `until`
// keeps it to the points before a time, as an online pool would have them), in
// place of the fixed p0 and m0.
Params PooledPrior(const std::vector<KeySeries>& keys, const Params& p, int64_t until = INT64_MAX) {
  TailCounts all;
  for (const KeySeries& ks : keys) {
    KeySeries before{ks.key, {}};
    for (const auto& point : ks.points) {
      if (point.first < until) before.points.push_back(point);
    }
    if (before.points.empty()) continue;
    TailCounts t;
    Run(before, p, &t);
    all.buckets += t.buckets;
    all.excesses += t.excesses;
    all.excess_sum += t.excess_sum;
  }
  Params q = p;
  if (all.buckets > 0) q.p0 = std::clamp(all.excesses / all.buckets, 1e-5, 0.05);
  if (all.excesses > 0) q.m0 = std::clamp(all.excess_sum / all.excesses, 0.05, 2.0);
  std::fprintf(stderr, "pooled over %zu keys: %.0f buckets, %.1f excesses: p0 %.5f m0 %.3f\n", keys.size(), all.buckets,
               all.excesses, q.p0, q.m0);
  return q;
}

// The same model as lib/detect builds it (detectors/surprisal_model.h: 48
// bytes a key, fixed point, the defaults of Params), for --compact 1.
std::vector<Scored> RunCompact(const KeySeries& ks, const Params& p) {
  const flowwatch::detect::TailPrior prior{p.p0, p.m0};
  const flowwatch::detect::SurprisalModel model(kBucketS * 1000);
  flowwatch::detect::SurprisalState state;
  const uint64_t key_seed = flowwatch::HashString(ks.key);
  std::vector<Scored> out;
  out.reserve(ks.points.size());
  for (const auto& [t, bytes] : ks.points) {
    const int64_t b = t / kBucketS;
    const auto sc = model.Observe(&state, flowwatch::HashCombine(key_seed, static_cast<uint64_t>(b)), b, bytes, prior);
    out.push_back({t, sc.surprisal, sc.cusum, sc.cusum2, sc.warm, static_cast<float>(sc.residual),
                   static_cast<float>(sc.excess), static_cast<float>(sc.sigma / 1.25), static_cast<float>(sc.tail_weight),
                   static_cast<float>(sc.tail_mean)});
  }
  return out;
}

}  // namespace

// The buckets (seconds) that open an incident at thresholds h1/h2/h3: an
// anomalous bucket more than three buckets after the last one.
std::vector<int64_t> IncidentStarts(const std::vector<Scored>& scored, double h1, double h2, double h3) {
  std::vector<int64_t> starts;
  int64_t last_anomalous = INT64_MIN / 2;
  bool open = false;
  for (const Scored& s : scored) {
    const bool anomalous = s.warm && (s.s >= h1 || s.g >= h2 || s.g2 >= h3);
    if (open && s.t - last_anomalous > 3 * kBucketS) open = false;
    if (anomalous) {
      if (!open) starts.push_back(s.t);
      open = true;
      last_anomalous = s.t;
    }
  }
  return starts;
}

// --online 1: lib/detect's SurprisalModel over every key of an estate at
// once, in event time, its tail's prior from a TailPool of them all, as a
// detection shard would keep it (what --pooled approximates offline).
std::vector<std::vector<Scored>> RunOnline(const std::vector<KeySeries>& keys) {
  const flowwatch::detect::SurprisalModel model(kBucketS * 1000);
  flowwatch::detect::TailPool pool;
  std::vector<flowwatch::detect::SurprisalState> states(keys.size());
  std::vector<std::vector<Scored>> out(keys.size());
  std::vector<uint64_t> seeds(keys.size());
  std::vector<std::tuple<int64_t, size_t, uint64_t>> events;  // (seconds, key, bytes)
  for (size_t k = 0; k < keys.size(); ++k) {
    seeds[k] = flowwatch::HashString(keys[k].key);
    for (const auto& [t, bytes] : keys[k].points) events.emplace_back(t, k, bytes);
  }
  std::sort(events.begin(), events.end());
  // A bucket's keys are judged against the pool as it was before it (a
  // shard closes a bucket at once), and join it after.
  std::vector<flowwatch::detect::SurprisalScores> closing;
  flowwatch::detect::TailPrior prior = pool.prior();
  int64_t bucket = INT64_MIN;
  for (const auto& [t, k, bytes] : events) {
    const int64_t b = t / kBucketS;
    if (b != bucket) {
      for (const auto& c : closing) pool.Add(c);
      closing.clear();
      prior = pool.prior();
      bucket = b;
    }
    const auto sc = model.Observe(&states[k], flowwatch::HashCombine(seeds[k], static_cast<uint64_t>(b)), b, bytes, prior);
    closing.push_back(sc);
    out[k].push_back({t, sc.surprisal, sc.cusum, sc.cusum2, sc.warm, static_cast<float>(sc.residual),
                      static_cast<float>(sc.excess), static_cast<float>(sc.sigma / 1.25),
                      static_cast<float>(sc.tail_weight), static_cast<float>(sc.tail_mean)});
  }
  std::fprintf(stderr, "online pool over %zu keys: %.0f buckets, %.1f excesses: p0 %.5f m0 %.3f\n", keys.size(),
               pool.buckets(), pool.excesses(), pool.prior().weight, pool.prior().mean);
  return out;
}

// The demo story (PRODUCT.md): its five incidents in the first anomalous
// bucket (2021-05-03T23:30Z) and nothing else, as the product must.
void StoryCheck(const std::vector<KeySeries>& story, const Params& p, bool compact, bool online, double h1, double h2,
                double h3) {
  const std::vector<std::vector<Scored>> scored = online ? RunOnline(story) : std::vector<std::vector<Scored>>{};
  static const std::set<std::string> kKeys = {"vm01|tcp|1433|outbound", "vm01|tcp|80|outbound", "vm02|tcp|80|inbound",
                                              "vm03|tcp|1433|inbound", "vm04|tcp|1433|inbound"};
  constexpr int64_t kAnomaly = kStoryAnomaly;
  int first = 0, late = 0, other = 0;
  std::string detail;
  for (size_t i = 0; i < story.size(); ++i) {
    const KeySeries& ks = story[i];
    const std::vector<int64_t> starts =
        IncidentStarts(online ? scored[i] : compact ? RunCompact(ks, p) : Run(ks, p), h1, h2, h3);
    const bool story_key = kKeys.count(ks.key) != 0;
    for (const int64_t t : starts) {
      if (story_key && t == kAnomaly) {
        ++first;
      } else if (story_key && t > kAnomaly && t < kAnomaly + 900) {
        ++late;
        detail += " " + ks.key + " +" + std::to_string((t - kAnomaly) / 60) + "min";
      } else {
        ++other;
        detail += " " + ks.key + "@" + std::to_string(t);
      }
    }
  }
  std::printf("demo story at %.0f/%.0f/%.0f: %d of 5 incidents in their first bucket, %d later, %d other%s%s\n", h1, h2, h3,
              first, late, other, detail.empty() ? "" : ":", detail.c_str());
}

// Steady traffic (no anomaly): every incident is false.
void SteadyCheck(const std::vector<KeySeries>& keys, const Params& p, bool compact, bool online, double h1, double h2,
                 double h3) {
  const std::vector<std::vector<Scored>> scored = online ? RunOnline(keys) : std::vector<std::vector<Scored>>{};
  size_t incidents = 0;
  double key_days = 0;
  std::string detail;
  for (size_t i = 0; i < keys.size(); ++i) {
    const KeySeries& ks = keys[i];
    const std::vector<int64_t> starts =
        IncidentStarts(online ? scored[i] : compact ? RunCompact(ks, p) : Run(ks, p), h1, h2, h3);
    for (const int64_t t : starts) {
      if (incidents++ < 10) detail += " " + ks.key + "@" + std::to_string(t);
    }
    key_days += static_cast<double>(ks.points.back().first - ks.points.front().first + kBucketS) / 86400;
  }
  std::printf("steady at %.0f/%.0f/%.0f: %zu incidents over %zu keys, %.0f key-days (%.2f per 1k key-days)%s%s\n", h1, h2,
              h3, incidents, keys.size(), key_days, key_days > 0 ? 1000.0 * static_cast<double>(incidents) / key_days : 0.0,
              detail.empty() ? "" : ":", detail.c_str());
}

// --nab DIR: each NAB series as one key (its values as bytes, scaled so that
// the median is 10 MiB, summed into 5-minute buckets, as detection_quality
// maps them), scored NAB's way at thresholds h1/h2/h3.
int RunNab(const std::string& root, const Params& p, bool compact, double h1, double h2, double h3) {
  const std::vector<NabFile> files = LoadNab(root);
  std::printf("| NAB file | windows | lab hits | outside |\n|---|---|---|---|\n");
  NabCounts total;
  for (const NabFile& f : files) {
    const double scale = BytesScale(f);
    if (scale == 0) continue;
    std::map<int64_t, double> buckets;  // bucket start (s) -> bytes
    for (const auto& [t, v] : f.samples) {
      if (v > 0) buckets[t / 1000 / kBucketS * kBucketS] += v * scale;
    }
    KeySeries ks;
    ks.key = f.name;
    for (const auto& [t, bytes] : buckets) ks.points.emplace_back(t, static_cast<uint64_t>(std::llround(bytes)));
    std::vector<int64_t> flags;
    for (const int64_t t : IncidentStarts(compact ? RunCompact(ks, p) : Run(ks, p), h1, h2, h3)) flags.push_back(t * 1000);
    const NabCounts c = ScoreNab(f, flags, kBucketS * 1000);
    std::printf("| %s | %d | %d | %d |\n", f.name.c_str(), c.windows, c.hits, c.outside);
    total.windows += c.windows;
    total.hits += c.hits;
    total.outside += c.outside;
  }
  std::printf("| **all %zu files** | %d | **%d** | **%d** |\n", files.size(), total.windows, total.hits, total.outside);
  return 0;
}

int main(int argc, char** argv) {
  std::string series_path, nab;
  Params p;
  bool compact = false;  // --compact 1: lib/detect's SurprisalModel instead of Run (Params then unused)
  bool pooled = false;   // --pooled 1: the tail's prior from each seed's keys (PooledPrior)
  bool online = false;   // --online 1: SurprisalModel with a TailPool, every key of a seed in event time (RunOnline)
  double budget = 1.0;
  double show_h1 = 0, show_h2 = 0, show_h3 = 1e9;  // print the false incidents at these thresholds
  int trace = 0;
  std::string only;  // --only 123: the seeds (last digit of their folders) to use
  std::string trace_key;  // --key K --seed N --from T --to T: one key's buckets
  int trace_seed = 1;
  long long trace_from = 0, trace_to = INT64_MAX;  // print the first N attack labels' windows of the first seed
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--series") series_path = v;
    else if (f == "--nab") nab = v;
    else if (f == "--drift") p.drift = std::stod(v);
    else if (f == "--budget") budget = std::stod(v);
    else if (f == "--jobs") p.jobs = v == "1";
    else if (f == "--compact") compact = v == "1";
    else if (f == "--pooled") pooled = v == "1";
    else if (f == "--online") online = v == "1";
    else if (f == "--level-rate") p.level_rate = std::stod(v);
    else if (f == "--day-rate") p.day_rate = std::stod(v);
    else if (f == "--u") p.u_mult = std::stod(v);
    else if (f == "--clip") p.clip = std::stod(v);
    else if (f == "--drift2") p.drift2 = std::stod(v);
    else if (f == "--job-back") p.job_back = std::stoi(v);
    else if (f == "--class-warm") p.class_warm = std::stoi(v);
    else if (f == "--slots") p.slot_min = std::stoi(v);
    else if (f == "--slot-decay") p.slot_decay = std::stod(v);
    else if (f == "--slot-unit") p.slot_unit = std::stod(v);
    else if (f == "--periods") p.periods = std::stoi(v);
    else if (f == "--g2-warm") p.g2_warm = std::stoi(v);
    else if (f == "--p0") p.p0 = std::stod(v);
    else if (f == "--m0") p.m0 = std::stod(v);
    else if (f == "--kb") p.kb = std::stod(v);
    else if (f == "--ke") p.ke = std::stod(v);
    else if (f == "--local-rate") p.local_rate = std::stod(v);
    else if (f == "--relearn") p.relearn = std::stoi(v);
    else if (f == "--scale-rate") p.scale_rate = std::stod(v);
    else if (f == "--tail-rate") p.tail_rate = std::stod(v);
    else if (f == "--warm") p.warm_buckets = std::stoi(v);
    else if (f == "--trace") trace = std::stoi(v);
    else if (f == "--key") trace_key = v;
    else if (f == "--only") only = v;
    else if (f == "--seed") trace_seed = std::stoi(v);
    else if (f == "--from") trace_from = std::stoll(v);
    else if (f == "--to") trace_to = std::stoll(v);
    else if (f == "--show") std::sscanf(v.c_str(), "%lf,%lf,%lf", &show_h1, &show_h2, &show_h3);
    else {
      std::fprintf(stderr, "detector_lab: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  if (!nab.empty()) return RunNab(nab, p, compact, show_h1 > 0 ? show_h1 : 10, show_h1 > 0 ? show_h2 : 8, show_h1 > 0 ? show_h3 : 40);
  FILE* in = std::fopen(series_path.c_str(), "r");
  if (in == nullptr) {
    std::fprintf(stderr, "detector_lab: cannot read %s\n", series_path.c_str());
    return 2;
  }
  std::map<std::string, std::vector<KeySeries>> by_dir;
  char dir[4096], key[512];
  size_t count = 0;
  while (std::fscanf(in, " K %4095s %511s %zu", dir, key, &count) == 3) {
    KeySeries ks;
    ks.key = key;
    ks.points.resize(count);
    for (size_t i = 0; i < count; ++i) {
      long long t = 0;
      unsigned long long bytes = 0;
      if (std::fscanf(in, "%lld %llu", &t, &bytes) != 2) return 3;
      ks.points[i] = {t, bytes};
    }
    by_dir[dir].push_back(std::move(ks));
  }
  std::fclose(in);

  struct SeedData {
    std::string dir;
    std::vector<Label> labels;
    double key_days = 0;
    std::vector<std::pair<std::string, std::vector<Scored>>> scored;
  };
  std::vector<SeedData> seeds;
  std::vector<KeySeries> story;   // the demo's (detection_quality --series writes it under DIR/demo)
  std::vector<KeySeries> steady;  // and steady traffic's (DIR/steady-*), which must stay silent
  for (auto& [d, list] : by_dir) {
    if (d.size() >= 5 && d.compare(d.size() - 5, 5, "/demo") == 0) {
      story = list;
      continue;
    }
    if (d.find("/steady-") != std::string::npos) {
      steady = list;
      continue;
    }
    if (!only.empty() && d.find(only) == std::string::npos && only.find(d.substr(d.size() - 1)) == std::string::npos) continue;
    SeedData sd;
    sd.dir = d;
    sd.labels = ReadLabels(d + "/ground_truth.jsonl");
    const Params seed_params = pooled ? PooledPrior(list, p) : p;
    const std::vector<std::vector<Scored>> online_scored = online ? RunOnline(list) : std::vector<std::vector<Scored>>{};
    for (size_t i = 0; i < list.size(); ++i) {
      const KeySeries& ks = list[i];
      sd.key_days += static_cast<double>(ks.points.back().first - ks.points.front().first + kBucketS) / 86400;
      sd.scored.emplace_back(ks.key, online ? online_scored[i] : compact ? RunCompact(ks, seed_params) : Run(ks, seed_params));
    }
    seeds.push_back(std::move(sd));
  }

  if (!trace_key.empty()) {
    std::vector<std::pair<std::string, std::vector<Scored>>> steady_scored;  // --seed 0: the steady workload's keys
    for (const KeySeries& ks : steady) steady_scored.emplace_back(ks.key, compact ? RunCompact(ks, p) : Run(ks, p));
    for (const auto& [k, scored] : trace_seed == 0 ? steady_scored : seeds[static_cast<size_t>(trace_seed - 1)].scored) {
      if (k != trace_key) continue;
      for (const Scored& s : scored) {
        if (s.t < trace_from || s.t > trace_to) continue;
        std::printf("  %lld dow %lld %02lld:%02lld e %5.2f dj %5.2f noise %.2f tail %.3f/%.2f S %5.1f G %5.1f G2 %5.1f\n",
                    static_cast<long long>(s.t), static_cast<long long>((s.t / 86400 + 4) % 7),
                    static_cast<long long>(s.t % 86400 / 3600), static_cast<long long>(s.t % 3600 / 60), s.e, s.ej, s.scale,
                    s.tail_p, s.tail_m, s.s, s.g, s.g2);
      }
    }
    return 0;
  }
  if (trace > 0) {
    const SeedData& sd = seeds.front();
    int shown = 0;
    for (const Label& l : sd.labels) {
      if (!l.attack || shown >= trace) continue;
      for (const auto& [k, scored] : sd.scored) {
        if (k != l.key) continue;
        ++shown;
        std::printf("%s %s factor %.1f %lld..%lld\n", k.c_str(), l.kind.c_str(), l.factor,
                    static_cast<long long>(l.start_ms / 1000), static_cast<long long>(l.end_ms / 1000));
        for (const Scored& s : scored) {
          if (s.t * 1000 < l.start_ms - 3600000 || s.t * 1000 > l.end_ms + 1800000) continue;
          std::printf("  %lld%s e %5.2f ej %5.2f scale %.2f tail %.3f/%.2f S %5.1f G %5.1f\n",
                      static_cast<long long>(s.t), s.t * 1000 >= l.start_ms && s.t * 1000 < l.end_ms ? "*" : " ", s.e, s.ej,
                      s.scale, s.tail_p, s.tail_m, s.s, s.g);
        }
      }
    }
    return 0;
  }
  auto evaluate = [&](double h1, double h2, double h3, std::vector<Score>* per_seed) {
    Score total;
    per_seed->clear();
    for (const SeedData& sd : seeds) {
      std::vector<Incident> incidents;
      for (const auto& [k, scored] : sd.scored) {
        for (const int64_t t : IncidentStarts(scored, h1, h2, h3)) incidents.push_back({k, t * 1000, {}});
      }
      Score sc = ScoreIncidents(incidents, sd.labels, sd.key_days, kBucketS * 1000);
      total.Add(sc);
      per_seed->push_back(sc);
    }
    return total;
  };
  if (show_h1 > 0) {
    std::vector<Score> per_seed;
    Score t = evaluate(show_h1, show_h2, show_h3, &per_seed);
    std::printf("h1 %.1f h2 %.1f h3 %.1f: recall %.3f false %.2f (%d)", show_h1, show_h2, show_h3, t.attacks.Recall(),
                t.FalsePer1kKeyDays(), t.false_incidents);
    for (const auto& [kind, ks] : t.by_kind) std::printf(" %s %d/%d", kind.c_str(), ks.hits, ks.labels);
    std::printf(" delay %.0f\n", t.attacks.MedianDelay());
    if (!story.empty()) StoryCheck(story, pooled ? PooledPrior(story, p, kStoryAnomaly) : p, compact, online, show_h1, show_h2, show_h3);
    if (!steady.empty()) SteadyCheck(steady, pooled ? PooledPrior(steady, p) : p, compact, online, show_h1, show_h2, show_h3);
    for (const std::string& m : t.miss_list) std::printf("MISS %s\n", m.c_str());
    int shown = 0;
    for (size_t i = 0; i < seeds.size(); ++i) {
      for (const std::string& f : per_seed[i].false_list) {
        char k[512];
        long long ts = 0;
        if (std::sscanf(f.c_str(), "%511s %lld", k, &ts) != 2) continue;
        std::printf("FALSE seed#%zu %s\n", i + 1, f.c_str());
        for (const auto& [key, scored] : seeds[i].scored) {
          if (key != k || shown >= 40) continue;
          ++shown;
          for (const Scored& s : scored) {
            if (s.t < ts - 1800 || s.t > ts + 1800) continue;
            std::printf("  %lld e %5.2f dj %5.2f noise %.2f tail %.3f/%.2f S %5.1f G %5.1f\n", static_cast<long long>(s.t), s.e,
                        s.ej, s.scale, s.tail_p, s.tail_m, s.s, s.g);
          }
        }
      }
    }
    return 0;
  }
  struct Best {
    double recall = -1, h1 = 0, h2 = 0, h3 = 0;
    Score total;
    std::vector<Score> per_seed;
  } best;
  for (double h1 : {8.0, 9.0, 10.0, 12.0, 14.0, 99.0}) {
    for (double h2 : {6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0, 1e9}) {
      for (double h3 : {15.0, 20.0, 25.0, 30.0, 40.0, 60.0, 1e9}) {
        std::vector<Score> per_seed;
        Score t = evaluate(h1, h2, h3, &per_seed);
        if (t.FalsePer1kKeyDays() <= budget && t.attacks.Recall() > best.recall) {
          best = {t.attacks.Recall(), h1, h2, h3, t, per_seed};
        }
      }
    }
  }
  if (best.recall < 0) return 0;
  std::printf("drift %.1f drift2 %.1f best within %.2f: h1 %.0f h2 %.0f h3 %.0f recall %.3f false %.2f (%d) delay %.0f;", p.drift, p.drift2, budget, best.h1, best.h2, best.h3,
              best.recall, best.total.FalsePer1kKeyDays(), best.total.false_incidents, best.total.attacks.MedianDelay());
  for (const auto& [kind, ks] : best.total.by_kind) std::printf(" %s %d/%d", kind.c_str(), ks.hits, ks.labels);
  std::printf("; shifts paged %d/%d (+%d)\n  per seed:", best.total.shifts_paged, best.total.shifts_up,
              best.total.shift_extra_pages);
  for (const Score& s : best.per_seed) std::printf(" %.3f/%.2f", s.attacks.Recall(), s.FalsePer1kKeyDays());
  std::printf("\n");
  if (!story.empty()) StoryCheck(story, pooled ? PooledPrior(story, p, kStoryAnomaly) : p, compact, online, best.h1, best.h2, best.h3);
  if (!steady.empty()) SteadyCheck(steady, pooled ? PooledPrior(steady, p) : p, compact, online, best.h1, best.h2, best.h3);
  return 0;
}
