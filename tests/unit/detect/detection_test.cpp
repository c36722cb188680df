#include "lib/detect/detection.h"

#include <catch2/catch.hpp>

#include <vector>

namespace flowwatch::detect {
namespace {

constexpr int64_t kBucket = 5 * 60 * 1000;
constexpr int64_t kT0 = 1620000000000 / kBucket * kBucket;  // a bucket boundary in 2021

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
  o.volume.min_ratio = 3;
  o.volume.min_zscore = 4;
  o.volume.min_bytes = 1 << 20;
  o.volume.warmup_buckets = 12;
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

// Feeds one flow per bucket for buckets [from, to), each followed by progress
// that closes the bucket before it.
void Feed(Detection* d, int64_t from, int64_t to, uint64_t bytes) {
  for (int64_t b = from; b < to; ++b) {
    d->OnFlow(Flow(kT0 + b * kBucket + 1000, bytes));
    d->OnProgress(kT0 + b * kBucket + 2 * 60 * 1000);  // watermark = start of b + 1 min
  }
}

TEST_CASE("A jump well above a warm baseline fires once and resolves after normal buckets") {
  Sink sink;
  Detection d(Options(), &sink);
  Feed(&d, 0, 48, 5'000'000);
  REQUIRE(sink.alerts.empty());
  Feed(&d, 48, 51, 35'000'000);  // 7x for three buckets
  Feed(&d, 51, 60, 5'000'000);
  d.Finish();
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  REQUIRE(sink.Count(AlertStatus::kResolved) == 1);
  const Alert& fire = sink.alerts[0];
  REQUIRE(fire.window_start_ms == kT0 + 48 * kBucket);  // caught in the first anomalous bucket
  REQUIRE(fire.window_end_ms == kT0 + 49 * kBucket);
  REQUIRE(fire.observed_bytes == 35'000'000);
  REQUIRE(fire.ratio == Approx(7.0).epsilon(0.01));
  REQUIRE(fire.baseline_bytes == Approx(5'000'000).epsilon(0.01));
  REQUIRE(fire.severity == Severity::kCritical);
  REQUIRE(fire.top_peers.size() == 1);
  REQUIRE(fire.top_peers[0].ip == IpAddress::FromV4(0x0A000106));
  const Alert& resolved = sink.alerts[1];
  REQUIRE(resolved.status == AlertStatus::kResolved);
  REQUIRE(resolved.incident_start_ms == fire.incident_start_ms);
  REQUIRE(resolved.window_start_ms == kT0 + 53 * kBucket);  // the third normal bucket (51, 52, 53)
  REQUIRE(d.firing() == 0);
}

TEST_CASE("Anomalous buckets move the baseline only boundedly") {
  Sink sink;
  Detection d(Options(), &sink);
  Feed(&d, 0, 48, 5'000'000);
  Feed(&d, 48, 60, 50'000'000);  // an hour of 10x: still one incident, still firing
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  REQUIRE(d.firing() == 1);
  // The baseline did not learn 10x as normal: a return to 5 MB resolves.
  Feed(&d, 60, 64, 5'000'000);
  REQUIRE(sink.Count(AlertStatus::kResolved) == 1);
}

TEST_CASE("Nothing fires during warm-up, below the absolute floor, or on ratio alone") {
  SECTION("warm-up") {
    Sink sink;
    Detection d(Options(), &sink);
    Feed(&d, 0, 5, 5'000'000);
    Feed(&d, 5, 6, 50'000'000);
    REQUIRE(sink.alerts.empty());
  }
  SECTION("tiny key: 10x of 10 KB") {
    Sink sink;
    Detection d(Options(), &sink);
    Feed(&d, 0, 48, 10'000);
    Feed(&d, 48, 50, 100'000);
    REQUIRE(sink.alerts.empty());
  }
  SECTION("noisy key: 3x within its normal spread") {
    Sink sink;
    Detection d(Options(), &sink);
    for (int64_t b = 0; b < 96; ++b) Feed(&d, b, b + 1, b % 2 ? 1'000'000 : 9'000'000);  // mean 5M, sd 4M
    Feed(&d, 96, 97, 15'500'000);  // ratio 3.1 but z ~ 2.6
    REQUIRE(sink.alerts.empty());
  }
}

TEST_CASE("A key that falls silent while firing still resolves") {
  Sink sink;
  Detection d(Options(), &sink);
  Feed(&d, 0, 48, 5'000'000);
  Feed(&d, 48, 49, 40'000'000);
  // No more flows for this key; another key keeps event time moving.
  for (int64_t b = 49; b < 56; ++b) {
    d.OnFlow(Flow(kT0 + b * kBucket + 1000, 1000, /*vm=*/2));
    d.OnProgress(kT0 + b * kBucket + 2 * 60 * 1000);
  }
  REQUIRE(sink.Count(AlertStatus::kFiring) == 1);
  REQUIRE(sink.Count(AlertStatus::kResolved) == 1);
  REQUIRE(sink.alerts.back().observed_bytes == 0);
  REQUIRE(sink.alerts.back().window_start_ms == kT0 + 51 * kBucket);  // silent 49, 50, 51
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

TEST_CASE("Idle buckets are applied as zeros: a key seen once a day is not a 1x baseline") {
  Sink sink;
  Detection d(Options(), &sink);
  const int64_t day = 288;
  for (int i = 0; i < 4; ++i) Feed(&d, i * day, i * day + 1, 5'000'000);
  // After days of zeros in between, the baseline mean is far below 5 MB and a
  // 5 MB bucket stands out... but as 12 buckets of warm-up have long passed, it fires.
  REQUIRE(sink.Count(AlertStatus::kFiring) >= 1);
  REQUIRE(sink.alerts[0].baseline_bytes < 1'000'000);
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

}  // namespace
}  // namespace flowwatch::detect
