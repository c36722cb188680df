// The volume detector: is this bucket's byte count a deviation from what the
// key's seasonal baseline (seasonal_baseline.h) expects at this time of day and
// week, and what does the baseline learn from it?
//
// For a bucket with x bytes: y = ln x, mu = expected log bytes, r = y - mu,
// s = max(scale, 0.1 nat), z = r / s (a robust z-score of log bytes), c = the
// largest of this hour's ceiling of normal bursts, the hour before's and the
// key's third-highest (nats). Three tests, each with a threshold derived from
// the false-alert budget by the shard's pooled tails (detection.cpp):
//   one bucket  score = r / max(s, 0.2), or (r - c) / 0.15 when c > 0 (the
//               excess over the largest normal burst, in 0.15-nat steps)
//   pair        the lower of this bucket's and the previous bucket's scores
//   sustained   evidence G = max(0, G + min(r / hypot(s, 0.15), 6) - 1) (a
//               CUSUM: a run of moderately high buckets adds up; empty buckets
//               end a run; buckets below the floors add -1, and so do buckets
//               within a ceiling of at least 1.5 nats while the run past the
//               floors is at most 6 buckets longer than the key's longest
//               normal one, so that a backup is covered and exfiltration that
//               outlasts it is not); it fires on a bucket that adds to G
//               after one that did too (or while the key is firing)
// and all only if the key is warm (its first day over, warmup_buckets with
// traffic) and past the explainable floors: x >= min_bytes, x / e^mu >=
// min_ratio, and for the one-bucket and pair tests z >= min_zscore. A fourth,
// from outside the volume model: a bucket whose excess goes mostly to peers
// new to the key (the caller's to tell: `new_peer_excess`) pages past the
// same floors, whatever its score.
//
// Learning (never from an anomalous bucket or while the key is firing):
// residuals clipped to +-2s (Huber), and nothing upwards while the evidence is
// past a quarter of its threshold; the level by half_life; the daily profile's
// two nodes around this time slowly (on the first day, running means); each
// weekday on its first visit, while the level and profile barely move, slowly
// after (a key that learnt on a Saturday or Sunday takes its first working
// day's mean residual as its level, and that day builds no evidence); the scale as the running mean of |r| (clipped at 4s) over the first
// 63 buckets, then as the running 58th percentile of |r| (bursts do not
// inflate it). Ceilings: on the first
// day any residual past 0.7 nats; after, a run of evidence that ended without
// paging, its bursts (r above max(0.7 nat, 3s)) within 2 hours, raises the
// hours they spanned to its peak (LearnRun), a burst below the floors at
// once; a short incident, once over, raises its hours halfway (LearnBurst);
// a burst that reaches its hour's ceiling again, no longer than normal,
// keeps it (up to half a nat higher); each lowers a step about every four
// days of not being reached. The longest normal run past the floors: each
// run that ends without paging, in 3-bucket steps up to 42 buckets.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>

#include "lib/detect/seasonal_baseline.h"
#include "lib/model/alert.h"

namespace flowwatch::detect {

class PooledTail;

struct VolumeOptions {
  double false_alerts_per_1k_key_days = 1.0;
  double min_ratio = 1.5;
  double min_zscore = 3.0;
  uint64_t min_bytes = 1u << 20;
  double critical_ratio = 5.0;
  uint32_t warmup_buckets = 24;  // <= SeasonalBaseline::kMaxSeen
};

// The thresholds in force for a bucket (Detection derives them from the pools).
struct VolumeThresholds {
  double bucket = 10;     // the one-bucket score
  double pair = 6;        // the lower of two buckets' scores in a row
  double sustained = 16;  // CUSUM evidence
};

struct VolumeVerdict {
  bool warm = false;       // judged at all
  bool anomalous = false;
  bool single = false;     // the one-bucket test fired
  bool sustained = false;  // the sustained test fired
  bool new_peers = false;  // paged because its excess went to new peers
  double expected = 0;     // bytes, e^mu
  double ratio = 0;        // observed / expected
  double zscore = 0;       // z
  double score = 0;        // the one-bucket score
  double pair_score = 0;   // the lower of this and the previous bucket's scores (0 after a gap)
  double residual = 0;     // log bytes - expected log bytes
  double evidence = 0;     // G after this bucket
  uint32_t run = 0;        // buckets the evidence has been building
  Severity severity = Severity::kWarning;
};

class VolumeModel {
 public:
  // bucket_ms: detection.bucket; half_life_ms: the level's half-life.
  VolumeModel(int64_t bucket_ms, int64_t half_life_ms);

  // Judges a bucket with traffic and folds it into b. `noise` seeds the
  // stochastic rounding (detection.cpp: RoundingSeed). Each run of evidence that ends
  // goes into `sustained_pool`, the peaks of runs of one-bucket scores into
  // `bucket_pool`, pair scores into `pair_pool` (each may be null).
  // new_peer_excess: most of the bucket's excess over the baseline went to
  // peers new to the key (see Detection).
  VolumeVerdict Observe(SeasonalBaseline* b, uint64_t noise, int64_t bucket, uint64_t bytes,
                        const VolumeThresholds& thresholds, const VolumeOptions& options, PooledTail* bucket_pool,
                        PooledTail* pair_pool, PooledTail* sustained_pool, bool new_peer_excess = false) const;

  // Raises the ceilings of the hours a run of evidence ending at last_bucket
  // spanned to its peak, when it was short and did not page (s: the scale).
  void LearnRun(SeasonalBaseline* b, int64_t last_bucket, double s) const;

  // Ends b's run of evidence (a bucket without traffic), handing its peak to
  // the pool unless it reached `threshold` (then it was an alarm).
  static void EndRun(SeasonalBaseline* b, PooledTail* sustained_pool, double threshold);

  // A short incident over [first_bucket, last_bucket] whose largest residual
  // was `residual` (nats) has ended: the ceilings of its hours rise halfway
  // to it, so that a burst that recurs at that time is learnt within three
  // occurrences (and a one-off costs only half of its size there, for a while).
  void LearnBurst(SeasonalBaseline* b, int64_t first_bucket, int64_t last_bucket, double residual) const;

  // Takes an incident that lasted detection.relearn_after as the key's new
  // normal: the level moves by `shift` nats (the incident's recent mean
  // residual) and the evidence ends.
  void Relearn(SeasonalBaseline* b, double shift) const;

  // Expected bytes of b in bucket (e^mu).
  double Expected(const SeasonalBaseline& b, int64_t bucket) const;

  int64_t bucket_ms() const { return bucket_ms_; }

  static constexpr double kMinScale = 0.1;

 private:
  double Mu(const SeasonalBaseline& b, int64_t bucket) const;

  int64_t bucket_ms_;
  double alpha_level_;
};

}  // namespace flowwatch::detect
