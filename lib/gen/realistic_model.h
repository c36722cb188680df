// RealisticModel: an estate whose normal traffic has the shapes real flow logs
// have, with labelled attacks in it - the workload that detection quality is
// judged on (bench/detection_quality, docs/benchmarks.md).
//
// `vms` VMs (addresses as SteadyModel's) each serve 2-4 service keys drawn from
// the steady mix, each with one client: another VM (60%, so both NICs log it)
// or a public /24 (several client addresses); a third of the VMs also copy to
// Azure Storage (outbound TCP 443 to 20.150.x.x) and run a nightly backup there.
// Per stream, drawn once from the seed:
//  - volume: log-uniform 30 KB..3 MB a minute, 1-3 flows a minute;
//  - daily cycle x exp(a cos(2 pi (t - peak) / 24 h)), a in [0, 1.2] (up to 11x
//    between peak and trough), peak mostly in business hours (UTC 8-20), some anywhere;
//  - weekly: half the streams drop to 0.25-0.8x on Saturday and Sunday (UTC);
//  - per-minute lognormal noise, sigma 0.05-0.4; slow drift, -8%..+8% a day;
//  - heavy-tailed benign bursts: episodes (0.2-4 a day) of 1 + geometric(1/2)
//    bursts a few minutes apart, each 1-3 minutes at a Pareto(1.5, alpha 2.5)
//    factor capped at 12x;
//  - periodic jobs on some streams: hourly (2-5 min at 3-8x), every 6 hours
//    (10-30 min at 4-15x), daily at a fixed time (15-45 min at 5-20x); the
//    backup streams: nightly at a fixed time between 00:00 and 04:00 UTC,
//    20-90 minutes at 20-60x; each occurrence's start jitters +-2 min and its
//    length +-25%;
//  - sparse streams (15%): active in only 2-20% of minutes;
//  - streams appearing (10%, after the first day) and going quiet (8%);
//  - lasting level shifts (4% of streams, after day 2): x2 or x3 for good, or x0.5;
//  - the NIC's logging: 2% of NIC-hours lose 5-30 minutes of records, 0.5% of
//    records are written 1-10 minutes late (in the next hour's blob if need be).
// Attacks, from day 2 on, each on a stream whose attacked bucket carries at
// least 3 MiB (so that min_bytes is not what decides): loud exfiltration (3-10x
// for 10-60 min), slow exfiltration (1.5-3x for 2-6 h), exfiltration that starts
// inside a backup window and outlasts it (3-10x the stream's usual level for
// 1-3 h), a short huge burst (20-60x for 5-15 min). An attack adds (f - 1) x the
// stream's usual volume (without noise, bursts or jobs), half of the time from
// a peer never seen on the key. Ground truth (GroundTruth()) lists each attack
// once per key that logs it (both VMs of an internal stream), each level shift
// (a stream's own, or a new stream joining a key that others carry) and each
// occurrence of a job or backup, with its kind and whether it is an attack.
//
// Immutable after construction; thread-safe const methods. Memory: ~200 bytes a
// stream plus its bursts (a few per day).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "lib/gen/traffic_model.h"

namespace flowwatch::gen {

class RealisticModel : public TrafficModel {
 public:
  RealisticModel(uint64_t seed, int64_t start_ms, int hours, int vms);

  void EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const override;
  std::vector<GroundTruthEntry> GroundTruth() const override;
  int RecordDelayMinutes(size_t vm, int64_t minute_ms) const override;

 private:
  enum class JobKind : uint8_t { kNone, kHourly, kSixHourly, kDaily, kBackup };
  struct Job {
    JobKind kind = JobKind::kNone;
    int64_t period_ms = 0;
    int64_t offset_ms = 0;  // first start after the epoch, modulo period
    int64_t duration_ms = 0;
    float factor = 1;
  };
  struct Burst {
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    float factor = 1;
  };
  struct Attack {
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    float factor = 1;
    uint8_t kind = 0;  // index into kAttackKinds
    bool new_peer = false;
    IpAddress peer;    // when new_peer
  };
  struct Stream {
    double base_bytes = 0;      // per minute
    float daily_amplitude = 0;  // a, log domain
    float peak_ms = 0;          // time of day of the daily peak
    float weekend_factor = 1;
    float noise_sigma = 0;
    float drift_per_day = 0;    // log domain
    float active_share = 1;     // < 1: sparse
    int64_t first_ms = 0;       // streams appear and go quiet
    int64_t last_ms = INT64_MAX;
    int64_t shift_ms = INT64_MAX;
    float shift_factor = 1;
    Job job;
    uint32_t bursts_begin = 0, bursts_end = 0;  // into bursts_
    std::vector<Attack> attacks;
    uint32_t external_prefix = 0;  // host-order /24 of external clients; 0: a VM
    IpAddress storage_ip;          // backup streams: the storage account's address
    uint16_t port = 0;
    uint16_t rule_in = 0, rule_out = 0;
    uint8_t protocol = kProtoTcp;
    uint8_t flows_per_minute = 1;
    bool reply_dominates = false;
  };

  // The stream's volume per minute without noise, bursts, jobs or attacks.
  double UsualBytes(const Stream& s, int64_t minute_ms) const;
  // Start and length of occurrence k of a job (jittered); false if k is before the stream.
  void Occurrence(uint32_t stream, const Job& job, int64_t k, int64_t* start_ms, int64_t* end_ms) const;
  float JobFactor(uint32_t stream, const Stream& s, int64_t minute_ms) const;
  void AddAttacks(std::mt19937_64* engine, int64_t start_ms, int64_t end_ms);

  std::vector<Stream> streams_info_;  // parallel to streams()
  std::vector<Burst> bursts_;
  int64_t start_ms_ = 0;
  int64_t end_ms_ = 0;
};

}  // namespace flowwatch::gen
