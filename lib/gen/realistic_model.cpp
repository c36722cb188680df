#include "lib/gen/realistic_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "lib/gen/steady_model.h"

namespace flowwatch::gen {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr double kMiB = 1024.0 * 1024.0;
// Stream ids of the NICs' logging faults, apart from the traffic streams.
constexpr uint64_t kGapStream = 0x9A90'0000'0000'0000ull;
constexpr uint64_t kLateStream = 0x1A7E'0000'0000'0000ull;
constexpr uint64_t kJitterStream = 0x717E'0000'0000'0000ull;

struct Service {
  uint16_t port;
  uint8_t protocol;
  const char* rule;
  bool reply_dominates;
};

constexpr Service kServices[] = {
    {443, kProtoTcp, "UserRule_AllowHttpsInbound", true}, {80, kProtoTcp, "UserRule_AllowHttp", true},
    {1433, kProtoTcp, "UserRule_AllowSql", true},         {5432, kProtoTcp, "UserRule_AllowPostgres", true},
    {6379, kProtoTcp, "UserRule_AllowRedis", true},       {8080, kProtoTcp, "UserRule_AllowHttpAlt", true},
    {22, kProtoTcp, "UserRule_AllowSsh", false},          {9092, kProtoTcp, "UserRule_AllowKafka", false},
    {53, kProtoUdp, "UserRule_AllowDns", true},           {3306, kProtoTcp, "UserRule_AllowMySql", true},
    {27017, kProtoTcp, "UserRule_AllowMongo", true},      {9200, kProtoTcp, "UserRule_AllowElastic", true},
    {5672, kProtoTcp, "UserRule_AllowAmqp", false},       {8443, kProtoTcp, "UserRule_AllowHttpsAlt", true},
};
constexpr uint32_t kExternalFirstOctets[] = {45, 62, 81, 91, 151, 185, 193, 212};

// Attack kinds, as ground truth names them; and how many of each a run of 80
// VMs over 8 days after the first two carries.
constexpr std::string_view kAttackKinds[] = {"loud_exfil", "slow_exfil", "backup_exfil", "short_burst"};
constexpr double kAttacksPer80VmWeek[] = {8, 6, 4, 6};
constexpr std::string_view kJobKinds[] = {"", "job_hourly", "job_6h", "job_daily", "backup"};

constexpr uint32_t V4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

int DayOfWeek(int64_t t_ms) {  // 0 = Sunday; 1970-01-01 was a Thursday
  const int64_t day = t_ms >= 0 ? t_ms / kDayMs : (t_ms - kDayMs + 1) / kDayMs;
  return static_cast<int>(((day + 4) % 7 + 7) % 7);
}

}  // namespace

RealisticModel::RealisticModel(uint64_t seed, int64_t start_ms, int hours, int vms)
    : TrafficModel(seed), start_ms_(start_ms), end_ms_(start_ms + hours * kHourMs) {
  names_.resource_group = "prod-rg";
  names_.nsg = "prod-nsg";
  names_.vnet = "prod-vnet";
  names_.flow_log = "prod-vnet-flowlog";
  const uint16_t rule_out = Rule(kRuleAllowVnetOutbound);
  const uint16_t storage_rule = Rule("UserRule_AllowStorageOutbound");
  char name[32];
  for (int i = 0; i < vms; ++i) {
    std::snprintf(name, sizeof name, "vm%04d", i + 1);
    vms_.push_back(VmSpec{name, SteadyModel::VmAddress(static_cast<uint32_t>(i)),
                          0x000D3A100001ull + static_cast<uint64_t>(i)});
  }

  std::mt19937_64 engine(seed ^ 0x7ea1157c0ffeeull);
  const int64_t day1 = start_ms + kDayMs;
  auto draw_time = [&](int64_t lo, int64_t hi) {
    return hi <= lo ? lo : lo + static_cast<int64_t>(DrawBelow(engine, static_cast<uint64_t>(hi - lo))) / kMinuteMs * kMinuteMs;
  };
  auto new_stream = [&](int32_t src, int32_t dst) -> Stream& {
    AddStream(src, dst);
    Stream s;
    s.base_bytes = DrawLogUniform(engine, 30e3, 3e6);
    s.daily_amplitude = static_cast<float>(DrawUniform(engine, 0, 1.2));
    const bool business = DrawUnit(engine) < 0.7;
    s.peak_ms = static_cast<float>(business ? DrawUniform(engine, 8, 20) * kHourMs : DrawUniform(engine, 0, 24) * kHourMs);
    if (DrawUnit(engine) < 0.5) s.weekend_factor = static_cast<float>(DrawUniform(engine, 0.25, 0.8));
    s.noise_sigma = static_cast<float>(DrawUniform(engine, 0.05, 0.4));
    s.drift_per_day = static_cast<float>(DrawUniform(engine, -0.08, 0.08));
    if (DrawUnit(engine) < 0.15) s.active_share = static_cast<float>(DrawUniform(engine, 0.02, 0.2));
    s.first_ms = start_ms;
    if (DrawUnit(engine) < 0.10 && hours > 72) s.first_ms = draw_time(day1, end_ms_ - 2 * kDayMs);
    if (DrawUnit(engine) < 0.08 && hours > 72) s.last_ms = draw_time(std::max(s.first_ms, start_ms) + 2 * kDayMs, end_ms_ - kDayMs);
    if (DrawUnit(engine) < 0.04 && hours > 96) {
      s.shift_ms = draw_time(start_ms + 2 * kDayMs, end_ms_ - kDayMs);
      const double u = DrawUnit(engine);
      s.shift_factor = u < 0.4 ? 2.0f : u < 0.7 ? 3.0f : 0.5f;
    }
    s.flows_per_minute = static_cast<uint8_t>(DrawRange(engine, 1, 3));
    s.rule_out = rule_out;
    streams_info_.push_back(s);
    return streams_info_.back();
  };

  for (int v = 0; v < vms; ++v) {
    const int services = static_cast<int>(DrawRange(engine, 2, 4));
    size_t order[std::size(kServices)];
    for (size_t i = 0; i < std::size(kServices); ++i) order[i] = i;
    for (size_t i = std::size(kServices) - 1; i > 0; --i) std::swap(order[i], order[DrawBelow(engine, i + 1)]);
    for (int k = 0; k < services; ++k) {
      const Service& svc = kServices[order[k]];
      int32_t client = StreamEnds::kExternal;
      uint32_t prefix = 0;
      if (vms > 1 && DrawUnit(engine) < 0.6) {
        client = static_cast<int32_t>(DrawBelow(engine, static_cast<uint64_t>(vms - 1)));
        if (client >= v) ++client;
      } else {
        prefix = V4(kExternalFirstOctets[DrawBelow(engine, std::size(kExternalFirstOctets))],
                    static_cast<uint32_t>(DrawBelow(engine, 256)), static_cast<uint32_t>(DrawBelow(engine, 256)), 0);
      }
      Stream& s = new_stream(client, v);
      s.external_prefix = prefix;
      s.port = svc.port;
      s.protocol = svc.protocol;
      s.rule_in = Rule(svc.rule);
      s.reply_dominates = svc.reply_dominates;
      const double u = DrawUnit(engine);
      if (u < 0.10) {
        s.job = {JobKind::kHourly, kHourMs, static_cast<int64_t>(DrawBelow(engine, 60)) * kMinuteMs,
                 DrawRange(engine, 2, 5) * kMinuteMs, static_cast<float>(DrawUniform(engine, 3, 8))};
      } else if (u < 0.18) {
        s.job = {JobKind::kSixHourly, 6 * kHourMs, static_cast<int64_t>(DrawBelow(engine, 360)) * kMinuteMs,
                 DrawRange(engine, 10, 30) * kMinuteMs, static_cast<float>(DrawUniform(engine, 4, 15))};
      } else if (u < 0.26) {
        s.job = {JobKind::kDaily, kDayMs, static_cast<int64_t>(DrawBelow(engine, 1440)) * kMinuteMs,
                 DrawRange(engine, 15, 45) * kMinuteMs, static_cast<float>(DrawUniform(engine, 5, 20))};
      }
    }
    if (DrawUnit(engine) < 1.0 / 3) {  // copies to Azure Storage, and backs up there every night
      Stream& s = new_stream(v, StreamEnds::kExternal);
      s.port = 443;
      s.rule_in = storage_rule;
      s.rule_out = storage_rule;
      s.active_share = 1;
      s.base_bytes = DrawLogUniform(engine, 200e3, 1.5e6);
      s.storage_ip = IpAddress::FromV4(V4(20, 150, static_cast<uint32_t>(DrawBelow(engine, 256)),
                                          static_cast<uint32_t>(DrawRange(engine, 1, 254))));
      s.job = {JobKind::kBackup, kDayMs, static_cast<int64_t>(DrawBelow(engine, 240)) * kMinuteMs,
               DrawRange(engine, 20, 90) * kMinuteMs, static_cast<float>(DrawUniform(engine, 20, 60))};
    }
  }

  // Benign bursts, clustered in episodes.
  for (uint32_t i = 0; i < streams_info_.size(); ++i) {
    Stream& s = streams_info_[i];
    s.bursts_begin = static_cast<uint32_t>(bursts_.size());
    const double per_day = DrawLogUniform(engine, 0.2, 4);
    double t = static_cast<double>(start_ms) + DrawExponential(engine, kDayMs / per_day);
    while (t < static_cast<double>(end_ms_)) {
      double b = t;
      do {
        Burst burst;
        burst.start_ms = static_cast<int64_t>(b) / kMinuteMs * kMinuteMs;
        burst.end_ms = burst.start_ms + DrawRange(engine, 1, 3) * kMinuteMs;
        burst.factor = static_cast<float>(std::min(12.0, 1.5 * std::pow(1 - DrawUnit(engine), -1 / 2.5)));
        bursts_.push_back(burst);
        b += DrawExponential(engine, 8 * kMinuteMs) + kMinuteMs;
      } while (DrawUnit(engine) < 0.5);
      t += DrawExponential(engine, kDayMs / per_day);
    }
    s.bursts_end = static_cast<uint32_t>(bursts_.size());
    std::sort(bursts_.begin() + s.bursts_begin, bursts_.end(),
              [](const Burst& a, const Burst& b) { return a.start_ms < b.start_ms; });
  }
  if (hours >= 72) AddAttacks(&engine, start_ms + 2 * kDayMs, end_ms_ - 6 * kHourMs);
}

void RealisticModel::AddAttacks(std::mt19937_64* engine, int64_t from_ms, int64_t to_ms) {
  const double scale = static_cast<double>(vms_.size()) / 80 * static_cast<double>(to_ms - from_ms) / (8.0 * kDayMs);
  for (uint8_t kind = 0; kind < std::size(kAttackKinds); ++kind) {
    const int count = std::max(1, static_cast<int>(std::lround(kAttacksPer80VmWeek[kind] * scale)));
    for (int placed = 0, tries = 0; placed < count && tries < 10000; ++tries) {
      const uint32_t si = static_cast<uint32_t>(DrawBelow(*engine, streams_info_.size()));
      Stream& s = streams_info_[si];
      const bool backup = s.job.kind == JobKind::kBackup;
      if ((kind == 2) != backup) continue;  // backup exfiltration on backup streams only, the rest elsewhere
      Attack a;
      a.kind = kind;
      int64_t length = 0;
      switch (kind) {
        case 0:
          a.factor = static_cast<float>(DrawUniform(*engine, 3, 10));
          length = DrawRange(*engine, 10, 60) * kMinuteMs;
          break;
        case 1:
          a.factor = static_cast<float>(DrawUniform(*engine, 1.5, 3));
          length = DrawRange(*engine, 120, 360) * kMinuteMs;
          break;
        case 2:
          a.factor = static_cast<float>(DrawUniform(*engine, 3, 10));
          length = DrawRange(*engine, 60, 180) * kMinuteMs;
          break;
        default:
          a.factor = static_cast<float>(DrawUniform(*engine, 20, 60));
          length = DrawRange(*engine, 5, 15) * kMinuteMs;
          break;
      }
      const int64_t t = from_ms + static_cast<int64_t>(DrawBelow(*engine, static_cast<uint64_t>(to_ms - from_ms - length)));
      a.start_ms = t / kMinuteMs * kMinuteMs;
      if (kind == 2) {  // starts inside that night's backup and outlasts it
        int64_t b_start = 0, b_end = 0;
        Occurrence(si, s.job, (a.start_ms - s.job.offset_ms) / s.job.period_ms, &b_start, &b_end);
        a.start_ms = (b_start + static_cast<int64_t>(DrawUniform(*engine, 0.2, 0.8) * static_cast<double>(b_end - b_start))) /
                     kMinuteMs * kMinuteMs;
        length = std::max(length, b_end - a.start_ms + 30 * kMinuteMs);
        if (a.start_ms < from_ms) continue;
      }
      a.end_ms = a.start_ms + length;
      if (a.start_ms < s.first_ms + 2 * kDayMs || a.end_ms > s.last_ms || a.end_ms > end_ms_) continue;
      if (std::llabs(a.start_ms - s.shift_ms) < kDayMs) continue;
      bool clash = false;
      for (const Attack& o : s.attacks) clash |= a.start_ms < o.end_ms + kDayMs && o.start_ms < a.end_ms + kDayMs;
      if (clash) continue;
      // The attacked buckets must carry enough to be worth a page whatever the floor.
      double least = INFINITY;
      for (int64_t m = a.start_ms; m < a.end_ms; m += 10 * kMinuteMs) least = std::min(least, UsualBytes(s, m));
      if (least * a.factor * 5 < 3 * kMiB) continue;
      // Half of the attacks on a stream with an outside end come from (or go
      // to) an address never seen on the key; an internal stream's extra
      // volume stays between its two VMs, so that both NICs log it.
      const StreamEnds& ends = streams()[si];
      if ((ends.src_vm == StreamEnds::kExternal || ends.dst_vm == StreamEnds::kExternal) && DrawUnit(*engine) < 0.5) {
        a.new_peer = true;
        a.peer = IpAddress::FromV4(V4(kExternalFirstOctets[DrawBelow(*engine, std::size(kExternalFirstOctets))],
                                      static_cast<uint32_t>(DrawBelow(*engine, 256)),
                                      static_cast<uint32_t>(DrawBelow(*engine, 256)),
                                      static_cast<uint32_t>(DrawRange(*engine, 1, 254))));
      }
      s.attacks.push_back(a);
      ++placed;
    }
  }
}

double RealisticModel::UsualBytes(const Stream& s, int64_t t) const {
  if (t < s.first_ms || t >= s.last_ms) return 0;
  const double tod = static_cast<double>(((t % kDayMs) + kDayMs) % kDayMs);
  const double daily = std::exp(s.daily_amplitude * std::cos(2 * std::numbers::pi * (tod - s.peak_ms) / kDayMs));
  const int dow = DayOfWeek(t);
  const double weekly = dow == 0 || dow == 6 ? s.weekend_factor : 1.0;
  const double drift = std::exp(s.drift_per_day * static_cast<double>(t - start_ms_) / kDayMs);
  const double shift = t >= s.shift_ms ? s.shift_factor : 1.0;
  return s.base_bytes * daily * weekly * drift * shift;
}

void RealisticModel::Occurrence(uint32_t stream, const Job& job, int64_t k, int64_t* start_ms, int64_t* end_ms) const {
  FlowRng rng(seed_, kJitterStream ^ stream, static_cast<uint64_t>(k));
  *start_ms = job.offset_ms + k * job.period_ms + DrawRange(rng, -2, 2) * kMinuteMs;
  *end_ms = *start_ms + static_cast<int64_t>(static_cast<double>(job.duration_ms) * DrawUniform(rng, 0.75, 1.25)) /
                            kMinuteMs * kMinuteMs;
}

float RealisticModel::JobFactor(uint32_t stream, const Stream& s, int64_t minute_ms) const {
  if (s.job.kind == JobKind::kNone) return 1;
  const int64_t k = (minute_ms - s.job.offset_ms) / s.job.period_ms;
  for (int64_t j : {k, k - 1}) {
    int64_t b = 0, e = 0;
    Occurrence(stream, s.job, j, &b, &e);
    if (minute_ms >= b && minute_ms < e) return s.job.factor;
  }
  return 1;
}

void RealisticModel::EmitFlows(uint32_t stream, int64_t minute_ms, std::vector<SyntheticFlow>* out) const {
  const Stream& s = streams_info_[stream];
  const double usual = UsualBytes(s, minute_ms);
  if (usual <= 0) return;
  const StreamEnds& ends = streams_[stream];
  FlowRng rng(seed_, stream, static_cast<uint64_t>(minute_ms / kMinuteMs));
  float burst = 1;
  for (uint32_t i = s.bursts_begin; i < s.bursts_end && bursts_[i].start_ms <= minute_ms; ++i) {
    if (minute_ms < bursts_[i].end_ms) burst = std::max(burst, bursts_[i].factor);
  }
  const float job = JobFactor(stream, s, minute_ms);
  const bool active = burst > 1 || job > 1 || DrawUnit(rng) < s.active_share;
  const double noise = std::exp(s.noise_sigma * DrawNormal(rng));
  const double bytes = active ? usual * noise * std::max(burst, job) : 0;

  const IpAddress dst = ends.dst_vm != StreamEnds::kExternal ? vms_[static_cast<size_t>(ends.dst_vm)].ip : s.storage_ip;
  auto client = [&]() {
    if (ends.src_vm != StreamEnds::kExternal) return vms_[static_cast<size_t>(ends.src_vm)].ip;
    return IpAddress::FromV4(s.external_prefix | static_cast<uint32_t>(DrawRange(rng, 1, 254)));
  };
  TransferSpec t;
  t.dst = dst;
  t.dst_port = s.port;
  t.protocol = s.protocol;
  t.reply_dominates = s.reply_dominates;
  t.rule_in = s.rule_in;
  t.rule_out = s.rule_out;
  if (bytes > 0) {
    t.bytes = bytes / s.flows_per_minute;
    for (int f = 0; f < s.flows_per_minute; ++f) {
      t.src = client();
      out->push_back(MakeTransfer(t, minute_ms, &rng));
    }
  }
  for (const Attack& a : s.attacks) {
    if (minute_ms < a.start_ms || minute_ms >= a.end_ms) continue;
    t.bytes = usual * (a.factor - 1);
    t.src = a.new_peer ? a.peer : client();
    if (a.new_peer && ends.src_vm != StreamEnds::kExternal) {  // the VM itself sends to the new peer
      t.src = vms_[static_cast<size_t>(ends.src_vm)].ip;
      t.dst = a.peer;
    }
    out->push_back(MakeTransfer(t, minute_ms, &rng));
    t.dst = dst;
  }
}

int RealisticModel::RecordDelayMinutes(size_t vm, int64_t minute_ms) const {
  const uint64_t mac = vms_[vm].mac;
  const int64_t hour_ms = minute_ms / kHourMs * kHourMs;
  FlowRng gap(seed_, kGapStream ^ mac, static_cast<uint64_t>(hour_ms / kHourMs));
  if (DrawUnit(gap) < 0.02) {
    const int64_t begin = hour_ms + static_cast<int64_t>(DrawBelow(gap, 60)) * kMinuteMs;
    if (minute_ms >= begin && minute_ms < begin + DrawRange(gap, 5, 30) * kMinuteMs) return -1;
  }
  FlowRng late(seed_, kLateStream ^ mac, static_cast<uint64_t>(minute_ms / kMinuteMs));
  return DrawUnit(late) < 0.005 ? static_cast<int>(DrawRange(late, 1, 10)) : 0;
}

std::vector<GroundTruthEntry> RealisticModel::GroundTruth() const {
  std::vector<GroundTruthEntry> out;
  // One entry per key that logs the stream: the client VM's outbound side and
  // the server VM's inbound side (a backup stream: the VM's outbound side).
  auto add = [&](uint32_t si, GroundTruthEntry e) {
    const StreamEnds& ends = streams_[si];
    const Stream& s = streams_info_[si];
    e.protocol = s.protocol;
    e.port = s.port;
    if (ends.src_vm != StreamEnds::kExternal) {
      e.vm = vms_[static_cast<size_t>(ends.src_vm)].name;
      e.direction = Direction::kOutbound;
      out.push_back(e);
    }
    if (ends.dst_vm != StreamEnds::kExternal) {
      e.vm = vms_[static_cast<size_t>(ends.dst_vm)].name;
      e.direction = Direction::kInbound;
      out.push_back(e);
    }
  };
  for (uint32_t si = 0; si < streams_info_.size(); ++si) {
    const Stream& s = streams_info_[si];
    for (const Attack& a : s.attacks) {
      GroundTruthEntry e;
      e.start_ms = a.start_ms;
      e.end_ms = a.end_ms;
      e.factor = a.factor;
      e.kind = kAttackKinds[a.kind];
      e.has_new_peer = a.new_peer;
      e.new_peer = a.peer;
      add(si, e);
    }
    if (s.shift_ms < end_ms_ && s.shift_ms < s.last_ms) {
      GroundTruthEntry e;
      e.start_ms = s.shift_ms;
      e.end_ms = std::min(end_ms_, s.last_ms);
      e.factor = s.shift_factor;
      e.kind = "level_shift";
      e.attack = false;
      add(si, e);
    }
    if (s.job.kind != JobKind::kNone) {
      int occurrence = 0;
      for (int64_t k = (std::max(start_ms_, s.first_ms) - s.job.offset_ms) / s.job.period_ms - 1;; ++k) {
        int64_t b = 0, e_ms = 0;
        Occurrence(si, s.job, k, &b, &e_ms);
        if (b >= std::min(end_ms_, s.last_ms)) break;
        if (b < std::max(start_ms_, s.first_ms)) continue;
        GroundTruthEntry e;
        e.start_ms = b;
        e.end_ms = e_ms;
        e.factor = s.job.factor;
        e.kind = kJobKinds[static_cast<int>(s.job.kind)];
        e.attack = false;
        e.occurrence = ++occurrence;
        add(si, e);
      }
    }
  }
  // A stream that appears on a key other streams already carry raises that
  // key's level for good: a level shift of that key (not of the others).
  struct Side {
    int32_t vm;
    uint16_t port;
    uint8_t protocol;
    Direction direction;
    bool operator==(const Side&) const = default;
  };
  auto sides = [&](uint32_t si) {
    std::vector<Side> v;
    const StreamEnds& ends = streams_[si];
    const Stream& s = streams_info_[si];
    if (ends.src_vm != StreamEnds::kExternal) v.push_back({ends.src_vm, s.port, s.protocol, Direction::kOutbound});
    if (ends.dst_vm != StreamEnds::kExternal) v.push_back({ends.dst_vm, s.port, s.protocol, Direction::kInbound});
    return v;
  };
  for (uint32_t si = 0; si < streams_info_.size(); ++si) {
    const Stream& s = streams_info_[si];
    if (s.first_ms <= start_ms_) continue;
    for (const Side& side : sides(si)) {
      double before = 0;
      for (uint32_t o = 0; o < streams_info_.size(); ++o) {
        if (o == si) continue;
        for (const Side& other : sides(o)) {
          if (other == side) before += UsualBytes(streams_info_[o], s.first_ms);
        }
      }
      if (before <= 0) continue;  // a new key: learnt from scratch
      GroundTruthEntry e;
      e.vm = vms_[static_cast<size_t>(side.vm)].name;
      e.protocol = side.protocol;
      e.port = side.port;
      e.direction = side.direction;
      e.start_ms = s.first_ms;
      e.end_ms = std::min(end_ms_, s.last_ms);
      e.factor = 1 + UsualBytes(s, s.first_ms) / before;
      e.kind = "level_shift";
      e.attack = false;
      out.push_back(e);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const GroundTruthEntry& a, const GroundTruthEntry& b) {
    return a.start_ms < b.start_ms;
  });
  return out;
}

}  // namespace flowwatch::gen
