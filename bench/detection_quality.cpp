// Detection quality: flowwatch's detector beside two anchors on the same series.
//
// 1. For each seed, the realistic scenario (`flowwatch gen --scenario realistic`,
//    generated once under --dir and reused) is replayed through the whole
//    pipeline with the default configuration. The detector's incidents are
//    scored against ground_truth.jsonl (bench/quality/score.h); every key's
//    closed buckets, exactly as detection judged them, are also run through the
//    seed article's method and a plain EWMA (bench/quality/anchors.h).
//    Printed per seed and in total: hits per attack kind, recall, false
//    incidents per 1,000 key-days, median delay, level shifts paged, and false
//    pages on recurring bursts by occurrence.
// 2. Each series of the Numenta Anomaly Benchmark (--nab, default ../shared/nab)
//    is mapped onto one key (each sample becomes that bucket's bytes, scaled so
//    that the median sample is 10 MiB) and run through the same three; printed
//    per file: labelled windows hit, and flags outside windows after NAB's
//    probation (the first 15% of the file).
//
//   detection_quality [--seeds 1,2,3,4,5] [--vms 80] [--hours 240] [--dir DIR] [--nab DIR|none] [--budget N]
//                     [--dump FILE | --dump-all FILE] [--false FILE] [--trace KEY|*]
//   --budget: detection.false_alerts_per_1k_key_days, for the trade-off between recall and false pages;
//   --dump: every warm bucket with a high score, as judged (--dump-all: every bucket), and the key names;
//   --false: each of flowwatch's false incidents (key, time, the benign label it overlaps);
//   --series: every key's closed buckets (seconds, bytes), for bench/detector_lab (the demo story's and
//   a steady workload's too);
//   --trace: one key's (vm|protocol|port|direction) series through a fresh model, bucket by bucket
//   (*: every key's high buckets).
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_util.h"
#include "bench/quality/anchors.h"
#include "bench/quality/nab.h"
#include "bench/quality/score.h"
#include "daemon/replay.h"
#include "daemon/shard_pipeline.h"
#include "lib/common/time_util.h"
#include "lib/detect/detection.h"

using namespace flowwatch;
using namespace flowwatch::bench;

namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr const char* kDetectors[] = {"flowwatch", "article", "ewma"};
constexpr Anchor kAnchors[] = {Anchor::kArticle, Anchor::kEwma};
constexpr const char* kAttackKinds[] = {"loud_exfil", "slow_exfil", "backup_exfil", "short_burst"};

// Collects one shard's series.
class SeriesCollector : public detect::BucketObserver {
 public:
  void OnBucket(const FlowKey& key, int64_t window_start_ms, uint64_t bytes, const detect::VolumeVerdict& v) override {
    if (dump_ != nullptr && (dump_all_ || (v.warm && (v.score >= 3 || v.anomalous || v.evidence >= 5)))) {
      std::fprintf(dump_, "%u|%u|%u|%u %lld %llu score %.1f z %.1f G %.1f ratio %.2f pair %.1f r %.2f%s%s%s\n", key.vm_id, key.protocol,
                   key.port, static_cast<unsigned>(key.direction), static_cast<long long>(window_start_ms / 1000),
                   static_cast<unsigned long long>(bytes), v.score, v.zscore, v.evidence, v.ratio, v.pair_score, v.residual,
                   v.single ? " SINGLE" : "", v.sustained ? " SUSTAINED" : "", v.warm ? "" : " COLD");
    }
    auto [it, inserted] = series_.try_emplace(key.Packed());
    if (inserted) keys_.emplace(key.Packed(), key);
    it->second.emplace_back(window_start_ms, bytes);
  }
  std::unordered_map<uint64_t, Series> series_;
  std::unordered_map<uint64_t, FlowKey> keys_;
  FILE* dump_ = nullptr;  // --dump FILE: the high scores, as judged
  bool dump_all_ = false;  // --dump-all FILE: every bucket
};

FILE* g_dump = nullptr;
bool g_dump_all = false;
FILE* g_false = nullptr;  // --false FILE: flowwatch's false incidents
FILE* g_misses = nullptr;  // --misses FILE: the attack labels flowwatch missed
FILE* g_series = nullptr;  // --series FILE: every key's series, for bench/detector_lab

std::string KeyName(const FlowKey& k, const NameTables& names) {
  return std::string(names.vms.Get(k.vm_id)) + "|" + KeyProtocolText(k.protocol) + "|" + std::to_string(k.port) + "|" +
         std::string(DirectionName(k.direction));
}

struct SeedResult {
  Score score[3];
  size_t keys = 0;
  double seconds = 0;
  std::string thresholds;  // flowwatch's at the end, per shard
};

// Prints how the volume model sees one key's series, bucket by bucket (with
// the prior thresholds, not the shard's pooled ones): for looking into a miss
// or a false incident.
void Trace(const Series& series, int64_t bucket_ms, const std::string& key, bool only_high) {
  const detect::DetectionOptions o = app::DetectionOptionsFrom(config::Config{});
  const detect::VolumeModel model(bucket_ms, o.half_life_ms);
  detect::SeasonalBaseline b;
  const detect::VolumeThresholds t;
  for (const auto& [start, bytes] : series) {
    const int64_t bucket = start / bucket_ms;
    const detect::VolumeVerdict v = model.Observe(&b, 1, bucket, bytes, t, o.volume, nullptr, nullptr, nullptr);
    const int hour = static_cast<int>(start % kDayMs / 3600000);
    if (only_high && v.score < 3) continue;
    if (only_high) std::printf("%s ", key.c_str());
    const int weekday = static_cast<int>((start / kDayMs + 4) % 7);
    std::printf("%s %12llu exp %12.0f r %6.2f s %5.3f z %6.1f score %6.1f G %5.1f c %4.1f L %5.2f W %5.2f pair %.1f%s%s%s\n",
                FormatIso8601(start).c_str(), static_cast<unsigned long long>(bytes), v.expected, v.residual,
                b.scale_nats(), v.zscore, v.score, v.evidence, b.hour_seen(hour) ? b.ceiling(hour) * 0.5 : -1.0,
                b.level_nats(), b.WeekOffset(weekday), v.pair_score,
                v.warm ? "" : " cold", v.single ? " SINGLE" : "", v.sustained ? " SUSTAINED" : "");
  }
}

std::string g_trace;  // --trace KEY
double g_budget = 0;  // --budget N: detection.false_alerts_per_1k_key_days (0: the default)

SeedResult RunSeed(const std::string& dir, int64_t bucket_ms) {
  SeedResult out;
  const std::vector<Label> labels = ReadLabels(dir + "/ground_truth.jsonl");
  app::ReplayOptions ro;
  ro.paths = {dir};
  ro.progress = false;
  ro.config.inventory.file = dir + "/inventory.csv";
  ro.config.pipeline.shards = 2;
  ro.config.pipeline.decoders = 2;
  if (g_budget > 0) ro.config.detection.false_alerts_per_1k_key_days = g_budget;
  std::vector<std::unique_ptr<SeriesCollector>> collectors;
  for (int i = 0; i < 64; ++i) {
    collectors.push_back(std::make_unique<SeriesCollector>());
    collectors.back()->dump_ = g_dump;
    collectors.back()->dump_all_ = g_dump_all;
  }
  ro.observer = [&](int shard) { return collectors[static_cast<size_t>(shard)].get(); };
  std::vector<Incident> incidents[3];
  double key_days = 0;
  const int rc = app::RunReplay(ro, [&](const app::ReplayResult& r) {
    out.seconds = r.seconds;
    for (const app::ShardPipeline* p : r.shards) {
      const detect::Detection& d = p->detection();
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "%sone bucket %.1f (rate %.4f sigma %.2f xi %.2f, %zu excesses), pair %.1f (rate %.4f sigma %.2f xi "
                    "%.2f, %zu), sustained %.1f (rate %.5f sigma %.2f xi %.2f, %zu)",
                    out.thresholds.empty() ? "" : "; ", d.thresholds().bucket, d.bucket_pool().rate(),
                    d.bucket_pool().sigma(), d.bucket_pool().xi(), d.bucket_pool().excesses(), d.thresholds().pair,
                    d.pair_pool().rate(), d.pair_pool().sigma(), d.pair_pool().xi(), d.pair_pool().excesses(),
                    d.thresholds().sustained, d.sustained_pool().rate(), d.sustained_pool().sigma(),
                    d.sustained_pool().xi(), d.sustained_pool().excesses());
      out.thresholds += buf;
    }
    if (g_dump != nullptr) {
      for (const auto& c : collectors) {
        for (const auto& [packed, k] : c->keys_) {
          std::fprintf(g_dump, "KEY %u|%u|%u|%u %s\n", k.vm_id, k.protocol, k.port, static_cast<unsigned>(k.direction),
                       KeyName(k, *r.names).c_str());
        }
      }
    }
    for (const Alert& a : r.alerts) {
      if (a.status != AlertStatus::kFiring) continue;
      Incident inc{KeyName(a.key, *r.names), a.window_start_ms, {}};
      for (const IpAddress& ip : a.new_peers) inc.new_peers.push_back(ip.ToString());
      incidents[0].push_back(std::move(inc));
    }
    for (const auto& c : collectors) {
      for (const auto& [packed, series] : c->series_) {
        const std::string key = KeyName(c->keys_.at(packed), *r.names);
        if (key == g_trace || g_trace == "*") Trace(series, bucket_ms, key, g_trace == "*");
        if (g_series != nullptr) {
          std::fprintf(g_series, "K %s %s %zu\n", dir.c_str(), key.c_str(), series.size());
          for (const auto& [start, bytes] : series) {
            std::fprintf(g_series, "%lld %llu\n", static_cast<long long>(start / 1000), static_cast<unsigned long long>(bytes));
          }
        }
        ++out.keys;
        key_days += static_cast<double>(series.back().first - series.front().first + bucket_ms) / kDayMs;
        for (int a = 0; a < 2; ++a) {
          for (int64_t t : RunAnchor(kAnchors[a], series, bucket_ms)) incidents[a + 1].push_back({key, t, {}});
        }
      }
    }
  });
  if (rc != 0) {
    std::fprintf(stderr, "detection_quality: replay of %s failed (exit %d)\n", dir.c_str(), rc);
    std::exit(1);
  }
  for (int d = 0; d < 3; ++d) out.score[d] = ScoreIncidents(incidents[d], labels, key_days, bucket_ms);
  if (g_false != nullptr) {
    for (const std::string& f : out.score[0].false_list) std::fprintf(g_false, "%s\n", f.c_str());
    std::fflush(g_false);
  }
  if (g_misses != nullptr) {
    for (const std::string& m : out.score[0].miss_list) std::fprintf(g_misses, "%s\n", m.c_str());
    std::fflush(g_misses);
  }
  return out;
}

std::string Hits(const KindScore& k) { return std::to_string(k.hits) + "/" + std::to_string(k.labels); }

void PrintHeader() {
  std::printf("| seed | detector | loud | slow | in backup | short huge | recall | false / 1k key-days | median delay (min) "
              "| level shifts paged | false on recurring bursts (1st/2nd/3rd+) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
}

void PrintRow(const std::string& seed, const char* detector, const Score& s) {
  std::printf("| %s | %s |", seed.c_str(), detector);
  for (const char* kind : kAttackKinds) {
    const auto it = s.by_kind.find(kind);
    std::printf(" %s |", it == s.by_kind.end() ? "0/0" : Hits(it->second).c_str());
  }
  auto occ = [&](int n) {
    const auto it = s.recurring_false_by_occurrence.find(n);
    return it == s.recurring_false_by_occurrence.end() ? 0 : it->second;
  };
  std::printf(" %.3f | %.2f (%d in %.0f) | %.0f | %d/%d (+%d) | %d/%d/%d |\n", s.attacks.Recall(), s.FalsePer1kKeyDays(),
              s.false_incidents, s.key_days, s.attacks.MedianDelay(), s.shifts_paged, s.shifts_up, s.shift_extra_pages,
              occ(1), occ(2), occ(3));
}

// --- NAB ---------------------------------------------------------------------

class FlagSink : public detect::AlertSink {
 public:
  void Emit(Alert a) override {
    if (a.status == AlertStatus::kFiring) flags.push_back(a.window_start_ms);
  }
  std::vector<int64_t> flags;
};

void RunNab(const std::string& root) {
  const std::vector<NabFile> files = LoadNab(root);
  config::Config config;
  if (g_budget > 0) config.detection.false_alerts_per_1k_key_days = g_budget;
  const detect::DetectionOptions options = app::DetectionOptionsFrom(config);
  std::printf("\n| NAB file | windows | flowwatch hits | outside | article hits | outside | ewma hits | outside |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  NabCounts total[3];
  for (const NabFile& f : files) {
    const double scale = BytesScale(f);
    if (scale == 0) continue;
    FlagSink sink;
    SeriesCollector series;
    detect::Detection d(options, &sink, &series);
    for (const auto& [t, v] : f.samples) {
      FlowRecord flow;
      flow.time_ms = t;
      flow.vm_id = 2;
      flow.dst_port = 443;
      flow.protocol = kProtoTcp;
      flow.direction = Direction::kOutbound;
      flow.src = IpAddress::FromV4(0x0A000004);
      flow.dst = IpAddress::FromV4(0x0A000005);
      flow.state = FlowState::kEnd;
      flow.bytes_sd = v > 0 ? static_cast<uint64_t>(std::llround(v * scale)) : 0;
      d.OnFlow(flow);
      d.OnProgress(t + 1);
    }
    d.Finish();
    std::vector<int64_t> flags[3] = {sink.flags, {}, {}};
    for (const auto& [packed, s] : series.series_) {
      for (int a = 0; a < 2; ++a) flags[a + 1] = RunAnchor(kAnchors[a], s, options.bucket_ms);
    }
    std::printf("| %s | %zu |", f.name.c_str(), f.windows.size());
    for (int i = 0; i < 3; ++i) {
      const NabCounts c = ScoreNab(f, flags[i], options.bucket_ms);
      total[i].windows += c.windows;
      total[i].hits += c.hits;
      total[i].outside += c.outside;
      std::printf(" %d | %d |", c.hits, c.outside);
    }
    std::printf("\n");
  }
  std::printf("| **all %zu files** | %d |", files.size(), total[0].windows);
  for (const NabCounts& c : total) std::printf(" **%d** | **%d** |", c.hits, c.outside);
  std::printf("\n");
}

std::vector<uint64_t> ParseList(const std::string& text) {
  std::vector<uint64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoull(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint64_t> seeds = {1, 2, 3, 4, 5};
  int vms = 80, hours = 240;
  std::string dir = "bench-data";
  std::string nab = std::string(FW_SOURCE_DIR) + "/../shared/nab";
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i], value = i + 1 < argc ? argv[i + 1] : "";
    if (i + 1 >= argc) {
      std::fprintf(stderr, "detection_quality: %s needs a value\n", flag.c_str());
      return 2;
    } else if (flag == "--seeds") {
      seeds = ParseList(value);
    } else if (flag == "--vms") {
      vms = std::stoi(value);
    } else if (flag == "--hours") {
      hours = std::stoi(value);
    } else if (flag == "--dir") {
      dir = value;
    } else if (flag == "--nab") {
      nab = value;
    } else if (flag == "--dump" || flag == "--dump-all") {
      g_dump = std::fopen(value.c_str(), "w");
      g_dump_all = flag == "--dump-all";
    } else if (flag == "--false") {
      g_false = std::fopen(value.c_str(), "w");
    } else if (flag == "--misses") {
      g_misses = std::fopen(value.c_str(), "w");
    } else if (flag == "--series") {
      g_series = std::fopen(value.c_str(), "w");
    } else if (flag == "--trace") {
      g_trace = value;
    } else if (flag == "--budget") {
      g_budget = std::stod(value);
    } else {
      std::fprintf(stderr, "usage: detection_quality [--seeds 1,2,3] [--vms N] [--hours N] [--dir DIR] [--nab DIR|none] [--budget N] [--dump FILE] [--dump-all FILE] [--false FILE] [--misses FILE] [--series FILE] [--trace KEY]\n");
      return 2;
    }
  }
  const int64_t bucket_ms = app::DetectionOptionsFrom(config::Config{}).bucket_ms;
  std::printf("Realistic scenario: %d VMs, %d hours, seeds", vms, hours);
  for (uint64_t s : seeds) std::printf(" %llu", static_cast<unsigned long long>(s));
  std::printf("; default settings; hits/labels per attack kind (one label per key that logs the attack)\n\n");
  PrintHeader();
  Score total[3];
  for (uint64_t seed : seeds) {
    gen::GenOptions g;
    g.scenario = gen::Scenario::kRealistic;
    g.seed = seed;
    g.vms = vms;
    g.hours = hours;
    g.out_dir = dir + "/realistic-" + std::to_string(vms) + "-" + std::to_string(hours) + "-" + std::to_string(seed);
    EnsureWorkload(g);
    const SeedResult r = RunSeed(g.out_dir, bucket_ms);
    for (int d = 0; d < 3; ++d) {
      PrintRow(std::to_string(seed), kDetectors[d], r.score[d]);
      total[d].Add(r.score[d]);
    }
    std::fprintf(stderr, "seed %llu: flowwatch's thresholds at the end, by shard: %s\n",
                 static_cast<unsigned long long>(seed), r.thresholds.c_str());
    std::fflush(stdout);
  }
  for (int d = 0; d < 3; ++d) PrintRow("**all**", kDetectors[d], total[d]);
  if (g_series != nullptr) {
    // The demo story's series too, for the lab's story check (its five
    // incidents in their first bucket, nothing else).
    gen::GenOptions g;
    g.scenario = gen::Scenario::kDemo;
    g.out_dir = dir + "/demo";
    EnsureWorkload(g);
    RunSeed(g.out_dir, bucket_ms);
    // And steady traffic (100 VMs x 5 ports, 3 days), which must stay silent.
    gen::GenOptions steady;
    steady.scenario = gen::Scenario::kSteady;
    steady.vms = 100;
    steady.hours = 72;
    steady.out_dir = dir + "/steady-100-72";
    EnsureWorkload(steady);
    RunSeed(steady.out_dir, bucket_ms);
  }
  std::printf("\nflowwatch's new_peers: of the %d caught attacks that use an address new to the key, %d alerts named it; "
              "%d of the %d false incidents named a new peer\n",
              total[0].new_peer_hits, total[0].new_peer_named, total[0].false_naming_new_peers, total[0].false_incidents);
  if (nab != "none") {
    if (std::filesystem::exists(nab + "/combined_windows.json")) {
      RunNab(nab);
    } else {
      std::printf("\n(NAB not found at %s: skipped)\n", nab.c_str());
    }
  }
  return 0;
}
