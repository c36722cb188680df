// Detection of one shard: buckets close on the watermark, each key's bucket is
// judged against its seasonal baseline (lib/detect/seasonal_baseline.h), and
// incidents fire once, resolve, and carry what the alert JSON promises.
// Traffic here follows a daily cycle (e^(0.5 cos), peak at noon) with 5%
// noise, so that a key's first day is learning and what follows is judged.
#include "lib/detect/detection.h"
#include "lib/detect/detectors/volume_detector.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace flowwatch::detect {
namespace {

constexpr int64_t kBucket = 5 * 60 * 1000;
constexpr int64_t kDay = 288;                                    // buckets
constexpr int64_t kT0 = 1620000000000 / 86'400'000 * 86'400'000;  // a midnight in 2021 (UTC)

struct Sink : AlertSink {
  std::vector<Alert> alerts;
  void Emit(Alert a) override { alerts.push_back(std::move(a)); }
  int Count(AlertStatus s) const {
    int n = 0;
    for (const Alert& a : alerts) n += a.status == s;
    return n;
  }
};

DetectionOptions Options() {
  DetectionOptions o;
  o.bucket_ms = kBucket;
  o.allowed_lateness_ms = 60 * 1000;
  o.half_life_ms = 6 * 3600 * 1000;
  o.relearn_after_ms = 4 * 3600 * 1000;
  o.volume.min_ratio = 1.5;
  o.volume.min_zscore = 3;
  o.volume.min_bytes = 1 << 20;
  o.volume.warmup_buckets = 24;
  o.resolve_after_buckets = 3;
  return o;
}

FlowRecord Flow(int64_t time_ms, uint64_t bytes, uint32_t vm = 1, uint16_t port = 1433, uint32_t peer = 0x0A000106) {
  FlowRecord f;
  f.time_ms = time_ms;
  f.vm_id = vm;
  f.dst_port = port;
  f.protocol = kProtoTcp;
  f.direction = Direction::kOutbound;
  f.src = IpAddress::FromV4(0x0A000104);
  f.dst = IpAddress::FromV4(peer);
  f.bytes_sd = bytes;
  f.state = FlowState::kEnd;
  return f;
}

// The usual bytes of bucket b: `base` at the daily mean, 1.65x at noon, 0.6x at midnight.
double Usual(int64_t b, double base) {
  const double tod = static_cast<double>(b % kDay) / kDay;
  return base * std::exp(0.5 * std::cos(2 * M_PI * (tod - 0.5)));
}

// Feeds one flow per bucket for buckets [from, to) of usual traffic times
// `factor` (with 5% noise), each followed by progress that closes the bucket
// before it.
void Feed(Detection* d, int64_t from, int64_t to, double factor = 1, double base = 5e6, uint32_t vm = 1) {
  std::mt19937_64 rng(static_cast<uint64_t>(from) * 7919 + vm);
  std::normal_distribution<double> noise(0, 0.05);
  for (int64_t b = from; b < to; ++b) {
    const double bytes = Usual(b, base) * factor * std::exp(noise(rng));
    d->OnFlow(Flow(kT0 + b * kBucket + 1000, static_cast<uint64_t>(bytes), vm));
    d->OnProgress(kT0 + b * kBucket + 2 * 60 * 1000);  // watermark = start of b + 1 min
  }
}

TEST_CASE("A jump well above a warm baseline fires once, in its first bucket, and resolves after normal buckets") {
  Sink sink;
  Detection d(Options(), &sink);
  Feed(&d, 0, 2 * kDay);
  REQUIRE(sink.alerts.empty());  // two days of the key's own cycle: silent
  const int64_t at = 2 * kDay + 100;
  Feed(&d, 2 * kDay, at);
  Feed(&d, at, at + 3, 7);  // 7x for three buckets
  Feed(&d, at + 3, at + 12);
  d.Finish();
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  REQUIRE(sink.Count(AlertStatus::kResolved) == 1);
  const Alert& fire = sink.alerts[0];
  REQUIRE(fire.window_start_ms == kT0 + at * kBucket);  // caught in the first anomalous bucket
  REQUIRE(fire.window_end_ms == kT0 + (at + 1) * kBucket);
  REQUIRE(fire.ratio == Approx(7.0).epsilon(0.15));
  // What the baseline expected at this time of day, not the daily mean.
  REQUIRE(fire.expected_bytes == Approx(Usual(at, 5e6)).epsilon(0.1));
  REQUIRE(fire.baseline_bytes == fire.expected_bytes);
  REQUIRE(fire.severity == Severity::kCritical);
  REQUIRE(fire.duration_ms == kBucket);
  // The shard's pooled tails hold this one key's scores above their base:
  // the jump is rare among them.
  REQUIRE(fire.once_in_key_days > 100);
  REQUIRE(fire.top_peers.size() == 1);
  REQUIRE(fire.top_peers[0].ip == IpAddress::FromV4(0x0A000106));
  const Alert& resolved = sink.alerts[1];
  REQUIRE(resolved.status == AlertStatus::kResolved);
  REQUIRE(resolved.incident_start_ms == fire.incident_start_ms);
  REQUIRE(resolved.window_start_ms == kT0 + (at + 5) * kBucket);  // the third normal bucket
  REQUIRE(resolved.duration_ms == 3 * kBucket);  // the deviation lasted three buckets
  REQUIRE(d.firing() == 0);
}

TEST_CASE("An hour of 10x is one incident and the baseline does not learn it") {
  Sink sink;
  Detection d(Options(), &sink);
  const int64_t at = 2 * kDay + 100;
  Feed(&d, 0, at);
  Feed(&d, at, at + 12, 10);
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  REQUIRE(d.firing() == 1);
  Feed(&d, at + 12, at + 16);  // back to normal: resolves
  REQUIRE(sink.Count(AlertStatus::kResolved) == 1);
}

TEST_CASE("A slow rise (2x for hours) pages on sustained evidence") {
  Sink sink;
  Detection d(Options(), &sink);
  const int64_t at = 2 * kDay + 60;
  Feed(&d, 0, at);
  Feed(&d, at, at + 36, 2);  // three hours at 2x: no one bucket stands out
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  const Alert& fire = sink.alerts[0];
  REQUIRE(fire.window_start_ms > kT0 + at * kBucket);  // it took evidence to build
  REQUIRE(fire.ratio == Approx(2.0).epsilon(0.2));
  REQUIRE(fire.duration_ms >= 2 * kBucket);  // dated from where the rise began
}

TEST_CASE("A key first seen on a quiet weekend does not page on its first working day, and pages later") {
  Sink sink;
  Detection d(Options(), &sink);
  // kT0 is a Monday: the key starts on Saturday, at half its weekday traffic.
  const int64_t saturday = 5 * kDay, monday = 7 * kDay;
  Feed(&d, saturday, monday, 0.5);
  Feed(&d, monday, monday + 2 * kDay);  // twice the weekend: its level, not news
  REQUIRE(sink.alerts.empty());
  Feed(&d, monday + 2 * kDay, monday + 2 * kDay + 120);
  Feed(&d, monday + 2 * kDay + 120, monday + 2 * kDay + 156, 2);  // Wednesday, three hours at 2x
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
}

TEST_CASE("Evidence left over from an earlier run does not page on one burst, a run that adds to it does") {
  const DetectionOptions o = Options();
  const VolumeModel model(kBucket, o.half_life_ms);
  SeasonalBaseline b;
  const VolumeThresholds t{10, 6, 30};
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.05);
  int64_t bucket = kT0 / kBucket;
  auto observe = [&](double factor) {
    const double bytes = Usual(bucket, 5e6) * factor * std::exp(noise(rng));
    return model.Observe(&b, 1, bucket++, static_cast<uint64_t>(bytes), t, o.volume, nullptr, nullptr, nullptr);
  };
  for (int i = 0; i < 2 * kDay; ++i) REQUIRE(!observe(1).anomalous);
  // Evidence past the threshold, as a run that did not page (the threshold
  // was higher then) leaves it, decaying a unit a bucket.
  b.evidence = static_cast<uint8_t>(40 / SeasonalBaseline::kEvidenceUnit);
  b.run = 20;
  b.set_added_evidence(false);
  REQUIRE(!observe(1).anomalous);
  const VolumeVerdict lone = observe(2.5);  // one bucket past the floors adds to it
  REQUIRE(lone.evidence > t.sustained);
  REQUIRE(!lone.sustained);
  REQUIRE(observe(2.5).sustained);  // the next one too: a run is building
}

TEST_CASE("A lasting level shift pages at most once, then is the new normal") {
  Sink sink;
  Detection d(Options(), &sink);
  const int64_t at = 2 * kDay + 60;
  Feed(&d, 0, at);
  Feed(&d, at, at + 3 * kDay, 3);  // a deployment triples the key's traffic for good
  REQUIRE(sink.Count(AlertStatus::kFiring) <= 1);
  REQUIRE(d.firing() == 0);  // relearnt (relearn_after) and resolved
  const size_t before = sink.alerts.size();
  Feed(&d, at + 3 * kDay, at + 4 * kDay, 3);
  REQUIRE(sink.alerts.size() == before);
}

TEST_CASE("A recurring burst is learnt within three occurrences and then never pages") {
  Sink sink;
  Detection d(Options(), &sink);
  // A nightly job: 30x for 20 minutes at 02:00, every day for ten days.
  int pages_after_third = 0, occurrence = 0;
  for (int64_t day = 0; day < 10; ++day) {
    const int64_t at = day * kDay + 24;
    Feed(&d, day * kDay, at);
    const int before = sink.Count(AlertStatus::kFiring);
    Feed(&d, at, at + 4, 30);
    Feed(&d, at + 4, (day + 1) * kDay);
    if (++occurrence > 3) pages_after_third += sink.Count(AlertStatus::kFiring) - before;
  }
  REQUIRE(pages_after_third == 0);
  REQUIRE(sink.Count(AlertStatus::kFiring) <= 2);
}

TEST_CASE("Exfiltration that outlasts a nightly backup pages, inside the hours the backup covers") {
  Sink sink;
  Detection d(Options(), &sink);
  // A backup: 30x for 40 minutes at 02:00, every night; learnt by the fourth.
  auto night = [&](int64_t day, int64_t extra_buckets) {
    const int64_t at = day * kDay + 24;
    Feed(&d, day * kDay, at);
    Feed(&d, at, at + 8, 30);
    // 8x after it, until 03:55 at most: the hours 02 and 03, both under the backup's ceiling.
    Feed(&d, at + 8, at + 8 + extra_buckets, 8);
    Feed(&d, at + 8 + extra_buckets, (day + 1) * kDay);
  };
  for (int64_t day = 0; day < 6; ++day) night(day, 0);
  const int before = sink.Count(AlertStatus::kFiring);
  night(6, 0);
  REQUIRE(sink.Count(AlertStatus::kFiring) == before);  // the backup alone: silent
  night(7, 15);  // and one night 75 minutes more, at a quarter of the backup's rate
  REQUIRE(sink.Count(AlertStatus::kFiring) == before + 1);
  const Alert* fire = nullptr;
  for (const Alert& a : sink.alerts) fire = a.status == AlertStatus::kFiring ? &a : fire;
  REQUIRE(fire->window_start_ms > kT0 + (7 * kDay + 32) * kBucket);  // after the backup's own length
  REQUIRE(fire->window_start_ms < kT0 + (7 * kDay + 48) * kBucket);  // while still in the hours it covers
}

TEST_CASE("Nothing fires on a key's first day, below the absolute floor, or on ratio alone") {
  SECTION("the first day is learning") {
    Sink sink;
    Detection d(Options(), &sink);
    Feed(&d, 0, 100);
    Feed(&d, 100, 103, 10);
    Feed(&d, 103, kDay);
    REQUIRE(sink.alerts.empty());
  }
  SECTION("tiny key: 10x of 10 KB") {
    Sink sink;
    Detection d(Options(), &sink);
    Feed(&d, 0, 2 * kDay, 1, 10'000);
    Feed(&d, 2 * kDay, 2 * kDay + 2, 10, 10'000);
    REQUIRE(sink.alerts.empty());
  }
  SECTION("noisy key: 3x within its normal spread") {
    Sink sink;
    Detection d(Options(), &sink);
    for (int64_t b = 0; b < 3 * kDay; ++b) Feed(&d, b, b + 1, b % 2 ? 0.3 : 2.5);  // swings of 8x every bucket
    Feed(&d, 3 * kDay, 3 * kDay + 1, 3);
    REQUIRE(sink.alerts.empty());
  }
}

TEST_CASE("A key that falls silent while firing still resolves") {
  Sink sink;
  Detection d(Options(), &sink);
  const int64_t at = 2 * kDay + 100;
  Feed(&d, 0, at);
  Feed(&d, at, at + 1, 10);
  // No more flows for this key; another key keeps event time moving.
  for (int64_t b = at + 1; b < at + 8; ++b) {
    d.OnFlow(Flow(kT0 + b * kBucket + 1000, 1000, /*vm=*/2));
    d.OnProgress(kT0 + b * kBucket + 2 * 60 * 1000);
  }
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  REQUIRE(sink.Count(AlertStatus::kResolved) == 1);
  REQUIRE(sink.alerts.back().observed_bytes == 0);
  REQUIRE(sink.alerts.back().window_start_ms == kT0 + (at + 3) * kBucket);  // silent at+1, +2, +3
}

TEST_CASE("Another key of the same VM deviating in the same bucket is named as related") {
  Sink sink;
  Detection d(Options(), &sink);
  const int64_t at = 2 * kDay + 100;
  for (int64_t b = 0; b < at + 1; ++b) {
    const double f = b == at ? 8 : 1;
    d.OnFlow(Flow(kT0 + b * kBucket + 1000, static_cast<uint64_t>(Usual(b, 5e6) * f), 1, 1433));
    d.OnFlow(Flow(kT0 + b * kBucket + 1000, static_cast<uint64_t>(Usual(b, 3e6) * f), 1, 443));
    d.OnProgress(kT0 + b * kBucket + 2 * 60 * 1000);
  }
  d.Finish();
  REQUIRE(sink.Count(AlertStatus::kFiring) == 2);
  for (const Alert& a : sink.alerts) {
    if (a.status != AlertStatus::kFiring) continue;
    REQUIRE(a.related.size() == 1);
    REQUIRE(a.related[0].key.port == (a.key.port == 1433 ? 443 : 1433));
    REQUIRE(a.related[0].observed_bytes > 4 * a.related[0].expected_bytes);
  }
}

TEST_CASE("Windows close on the watermark - late flows are counted, not applied") {
  Sink sink;
  Detection d(Options(), &sink);
  d.OnFlow(Flow(kT0 + 1000, 2'000'000));
  d.OnFlow(Flow(kT0 + kBucket + 1000, 2'000'000));
  REQUIRE(d.open_buckets() == 2);
  d.OnProgress(kT0 + kBucket + 30 * 1000);  // watermark = kT0 + 4.5 min: nothing closes yet
  REQUIRE(d.open_buckets() == 2);
  CHECK(d.closed_until_ms() == kT0);  // nothing before bucket 0 is left to judge
  d.OnProgress(kT0 + kBucket + 60 * 1000);  // watermark = kT0 + 5 min: bucket 0 closes
  REQUIRE(d.open_buckets() == 1);
  CHECK(d.closed_until_ms() == kT0 + kBucket);  // judged up to bucket 0's end
  d.OnFlow(Flow(kT0 + 2000, 2'000'000));  // for the closed bucket: late
  REQUIRE(d.late_flows() == 1);
  d.OnFlow(Flow(kT0 + kBucket + 2000, 2'000'000));  // the open bucket still takes flows
  REQUIRE(d.late_flows() == 1);
  d.Finish();
  REQUIRE(d.open_buckets() == 0);
}

TEST_CASE("A key seen once a day finishes learning and is judged against its own days, not the gaps") {
  Sink sink;
  Detection d(Options(), &sink);
  // 5 MB at 03:00 every day: the quiet hours between count as seen, so the
  // first day ends; the key is judged once it has its warm-up of buckets.
  for (int64_t day = 0; day < 40; ++day) Feed(&d, day * kDay + 36, day * kDay + 37, 1 / Usual(36, 1));
  REQUIRE(sink.alerts.empty());
  Feed(&d, 40 * kDay + 36, 40 * kDay + 37, 10 / Usual(36, 1));
  d.Finish();
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  REQUIRE(sink.alerts[0].ratio == Approx(10).epsilon(0.2));
}

TEST_CASE("Zero-byte flows create no keys - keys are capped per VM and evicted when idle") {
  Sink sink;
  DetectionOptions o = Options();
  o.max_keys_per_vm = 10;
  o.idle_ttl_ms = 24 * 3600 * 1000;
  Detection d(o, &sink);
  for (uint16_t port = 1; port <= 1000; ++port) d.OnFlow(Flow(kT0 + 1000, 0, 1, port));  // a scan of denied SYNs
  REQUIRE(d.keys() == 0);
  for (uint16_t port = 1; port <= 1000; ++port) d.OnFlow(Flow(kT0 + 1000, 500, 1, port));
  REQUIRE(d.keys() == 11);  // 10 + the VM's overflow key
  REQUIRE(d.folded_flows() == 990);
  // Two days later, with other traffic moving time on, the idle keys are gone.
  for (int64_t b = 1; b < 600; ++b) {
    d.OnFlow(Flow(kT0 + b * kBucket + 1000, 1000, 2, 443));
    d.OnProgress(kT0 + b * kBucket + 2 * 60 * 1000);
  }
  REQUIRE(d.keys() == 1);
  REQUIRE(d.evicted_keys() == 11);
}

TEST_CASE("Total key cap folds new VMs into the (other) VM") {
  Sink sink;
  DetectionOptions o = Options();
  o.max_keys = 5;
  Detection d(o, &sink);
  for (uint32_t vm = 10; vm < 20; ++vm) d.OnFlow(Flow(kT0 + 1000, 500, vm, 443));
  REQUIRE(d.keys() == 6);  // 5 + (other)'s overflow key
}

// A peer is new when the test says so (the daemon asks its port inventory).
struct NewPeer : PeerNovelty {
  IpAddress fresh = IpAddress::FromV4(0x0A000163);
  bool IsNew(const FlowKey&, const IpAddress& peer, int64_t) const override { return peer == fresh; }
};

// One bucket of usual traffic to the key's peer, plus `extra` times it to `to`.
void FeedExtra(Detection* d, int64_t b, double extra, const IpAddress& to) {
  const double usual = Usual(b, 5e6);
  d->OnFlow(Flow(kT0 + b * kBucket + 1000, static_cast<uint64_t>(usual)));
  FlowRecord f = Flow(kT0 + b * kBucket + 2000, static_cast<uint64_t>(usual * extra));
  f.dst = to;
  d->OnFlow(f);
  d->OnProgress(kT0 + b * kBucket + 2 * 60 * 1000);
}

TEST_CASE("A bucket whose excess goes to a new peer pages past the floors, the same to a known peer does not") {
  const NewPeer novelty;
  const IpAddress known = IpAddress::FromV4(0x0A000106);
  const int64_t at = 2 * kDay + 100;
  auto run = [&](double extra, const IpAddress& to) {
    Sink sink;
    Detection d(Options(), &sink, nullptr, &novelty);
    Feed(&d, 0, at);
    FeedExtra(&d, at, extra, to);
    Feed(&d, at + 1, at + 12);
    d.Finish();
    return sink.alerts;
  };
  // 2.5x for one bucket: under the volume tests' priors on a key this quiet.
  REQUIRE(run(1.5, known).empty());
  const std::vector<Alert> fresh = run(1.5, novelty.fresh);
  REQUIRE(fresh.size() == 2);
  REQUIRE(fresh[0].status == AlertStatus::kFiring);
  REQUIRE(fresh[0].window_start_ms == kT0 + at * kBucket);
  REQUIRE(fresh[0].top_peers[0].ip == novelty.fresh);
  // Under twice the expected bytes a new peer is no news.
  REQUIRE(run(0.7, novelty.fresh).empty());
  // Nor when the new peer carries under half the excess (here a fifth of it).
  Sink sink;
  Detection d(Options(), &sink, nullptr, &novelty);
  Feed(&d, 0, at);
  const double usual = Usual(at, 5e6);
  d.OnFlow(Flow(kT0 + at * kBucket + 1000, static_cast<uint64_t>(usual * 2.2)));
  FlowRecord f = Flow(kT0 + at * kBucket + 2000, static_cast<uint64_t>(usual * 0.3));
  f.dst = novelty.fresh;
  d.OnFlow(f);
  d.OnProgress(kT0 + at * kBucket + 2 * 60 * 1000);
  Feed(&d, at + 1, at + 12);
  d.Finish();
  REQUIRE(sink.alerts.empty());
}

}  // namespace
}  // namespace flowwatch::detect
