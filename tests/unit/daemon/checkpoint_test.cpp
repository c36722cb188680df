// Checkpoints of the shards' state: a pipeline restored from one (through the
// file format, into a process whose name ids differ) continues exactly as the
// original: the same alerts, the same port inventory, the same counts, and
// the de-duplication window still drops repeats. Damaged, foreign or newer
// checkpoints are refused with a clear message, and the store falls back to
// the previous file.
#include "daemon/checkpoint.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "lib/ports/port_report.h"

namespace flowwatch::app {
namespace {

constexpr int64_t kT0 = 1620000000000;  // 2021-05-03
constexpr int64_t kBucket = 5 * 60 * 1000;

struct Collect : detect::AlertSink {
  std::vector<Alert> alerts;
  void Emit(Alert a) override { alerts.push_back(std::move(a)); }
};

config::Config Config() {
  config::Config c;
  c.detection.warmup_buckets = 6;
  return c;
}

// The flows of one bucket: two VMs, two ports, a few peers; `spike` multiplies vm-a's 1433.
std::vector<FlowRecord> Bucket(NameTables* names, int64_t b, uint64_t spike = 1) {
  std::vector<FlowRecord> out;
  const uint32_t rule = names->rules.Intern("allow-sql");
  int n = 0;
  for (const char* vm : {"vm-a", "vm-b"}) {
    for (uint16_t port : {1433, 443}) {
      for (uint32_t peer = 1; peer <= 3; ++peer) {
        FlowRecord f;
        f.time_ms = kT0 + b * kBucket + 1000 * ++n;
        f.vm_id = names->vms.Intern(vm);
        f.rule_id = rule;
        f.dst_port = port;
        f.protocol = kProtoTcp;
        f.direction = Direction::kOutbound;
        f.src = IpAddress::FromV4(0x0A000100 + (vm[3] - 'a'));
        f.dst = IpAddress::FromV4(0x0A000200 + peer);
        f.bytes_sd = (port == 1433 && vm[3] == 'a' ? spike : 1) * (1u << 20) * peer;
        f.packets_sd = 100;
        f.state = FlowState::kEnd;
        f.dedup_hash = HashU64(static_cast<uint64_t>(f.time_ms) * 31 + port + peer * 7 + (vm[3] - 'a'));
        out.push_back(f);
      }
    }
  }
  return out;
}

void Feed(ShardPipeline* p, NameTables* names, int64_t from, int64_t to, int64_t spike_bucket = -1) {
  for (int64_t b = from; b < to; ++b) {
    for (const FlowRecord& f : Bucket(names, b, b == spike_bucket ? 8 : 1)) p->OnFlow(f);
    p->OnProgress(kT0 + b * kBucket + 4 * 60 * 1000);
  }
}

std::string PortsJson(const ShardPipeline& p, const NameTables& names) {
  enrich::PeerClassifier classifier;
  ports::PortReport report(names, classifier, nullptr, ports::PortReportFilter{});
  report.Add(p.ports());
  return report.Json();
}

// An alert as text with names, so that two processes' alerts compare.
std::string Describe(const Alert& a, const NameTables& names) {
  return std::string(AlertStatusName(a.status)) + " " + std::string(names.vms.Get(a.key.vm_id)) + " " +
         std::to_string(a.key.port) + " " + std::to_string(a.window_start_ms) + " " + std::to_string(a.observed_bytes);
}

struct Restored {
  NameTables names;
  Collect sink;
  std::unique_ptr<ShardPipeline> pipeline;
  std::unique_ptr<AlertWriter> alerts;
  CheckpointMeta meta;
};

// A checkpoint file of the test corpus (tests/fuzz/corpus/checkpoint/), decoded.
state::Checkpoint CorpusCheckpoint(const std::string& name) {
  std::ifstream in(std::string(FW_SOURCE_DIR) + "/tests/fuzz/corpus/checkpoint/" + name, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!bytes.empty());
  state::Checkpoint c;
  REQUIRE(state::DecodeCheckpoint(bytes, name, &c).ok());
  return c;
}

// Restores c into fresh stages of r, configured by Config().
Status RestoreInto(const state::Checkpoint& c, Restored* r) {
  r->pipeline = std::make_unique<ShardPipeline>(Config(), &r->sink);
  r->alerts = std::make_unique<AlertWriter>(&r->names);
  return RestoreCheckpoint(c, "c.fwc", "flowlogs", &r->names, {r->pipeline.get()}, r->alerts.get(), &r->meta);
}

// r's state checkpointed again (in the current format), through the file encoding.
state::Checkpoint SavedAgain(const Restored& r, uint64_t sequence) {
  state::Checkpoint out;
  REQUIRE(state::DecodeCheckpoint(
              state::EncodeCheckpoint(BuildCheckpoint(sequence, r.meta, r.names, {r.pipeline.get()}, *r.alerts)),
              "c.fwc", &out)
              .ok());
  return out;
}

TEST_CASE("A pipeline restored from a checkpoint continues exactly as the original") {
  const config::Config cfg = Config();
  NameTables names;
  Collect sink;
  ShardPipeline original(cfg, &sink);
  AlertWriter writer(&names);
  // A day and an hour: the keys' first day (learning) is over, their baselines warm.
  Feed(&original, &names, 0, 300);
  // Half of bucket 300 arrives before the checkpoint: an open bucket is saved too.
  const std::vector<FlowRecord> half = Bucket(&names, 300);
  for (size_t i = 0; i < half.size() / 2; ++i) original.OnFlow(half[i]);

  CheckpointMeta meta{1, "flowlogs", {{0, 1234}, {3, 77}}, {{"/mnt/a/PT1H.json", {4096, 0x1234567890abcdefull}}},
                      1620086400000};
  const std::string bytes = state::EncodeCheckpoint(BuildCheckpoint(7, meta, names, {&original}, writer));
  state::Checkpoint decoded;
  REQUIRE(state::DecodeCheckpoint(bytes, "c.fwc", &decoded).ok());
  REQUIRE(decoded.sequence == 7);

  // Another process: its name tables hold other names first, so every id differs.
  Restored r;
  r.names.vms.Intern("vm-zzz");
  r.names.vms.Intern("vm-b");
  r.names.rules.Intern("deny-all");
  r.pipeline = std::make_unique<ShardPipeline>(cfg, &r.sink);
  r.alerts = std::make_unique<AlertWriter>(&r.names);
  const Status st = RestoreCheckpoint(decoded, "c.fwc", "flowlogs", &r.names, {r.pipeline.get()}, r.alerts.get(), &r.meta);
  INFO(st.message());
  REQUIRE(st.ok());
  REQUIRE(r.meta.offsets == meta.offsets);
  REQUIRE(r.meta.files == meta.files);  // a followed file's position and fingerprint
  REQUIRE(r.meta.max_event_ms == meta.max_event_ms);
  CHECK(PortsJson(*r.pipeline, r.names) == PortsJson(original, names));
  CHECK(r.pipeline->counters().tuples() == original.counters().tuples());

  // Both go on with the rest of bucket 300, then a spike (fires) and quiet buckets (resolves).
  const size_t before = sink.alerts.size();
  for (size_t i = half.size() / 2; i < half.size(); ++i) original.OnFlow(half[i]);
  const std::vector<FlowRecord> rest = Bucket(&r.names, 300);
  for (size_t i = rest.size() / 2; i < rest.size(); ++i) r.pipeline->OnFlow(rest[i]);
  // A repeat of a flow from before the checkpoint is still a duplicate.
  r.pipeline->OnFlow(Bucket(&r.names, 300)[0]);
  original.OnFlow(half[0]);
  Feed(&original, &names, 301, 312, /*spike_bucket=*/304);
  Feed(r.pipeline.get(), &r.names, 301, 312, /*spike_bucket=*/304);

  std::vector<std::string> expected, got;
  for (size_t i = before; i < sink.alerts.size(); ++i) expected.push_back(Describe(sink.alerts[i], names));
  for (const Alert& a : r.sink.alerts) got.push_back(Describe(a, r.names));
  REQUIRE(expected.size() >= 2);  // the spike fired and resolved
  CHECK(got == expected);
  CHECK(PortsJson(*r.pipeline, r.names) == PortsJson(original, names));
  CHECK(r.pipeline->counters().tuples() == original.counters().tuples());
  CHECK(r.pipeline->counters().duplicates.value() == original.counters().duplicates.value());
  CHECK(r.pipeline->counters().duplicates.value() == 1);
  CHECK(r.pipeline->detection().keys() == original.detection().keys());
}

// A checkpoint of format 1 (EWMA baselines, before the seasonal model) is
// migrated, not refused: each key's mean and spread become its level and
// scale, and it re-learns its daily profile. Saved again it is the current
// format and restores to the same state.
TEST_CASE("A checkpoint of format 1 is migrated to the seasonal baselines") {
  const state::Checkpoint decoded = CorpusCheckpoint("one-shard.fwc");
  REQUIRE(decoded.version == 1);
  Restored migrated;
  const Status st = RestoreInto(decoded, &migrated);
  INFO(st.message());
  REQUIRE(st.ok());
  REQUIRE(migrated.pipeline->detection().keys() > 0);

  const state::Checkpoint again = SavedAgain(migrated, decoded.sequence + 1);
  REQUIRE(again.version == state::kCheckpointVersion);
  Restored restored;
  REQUIRE(RestoreInto(again, &restored).ok());
  CHECK(restored.pipeline->detection().keys() == migrated.pipeline->detection().keys());
  const state::Checkpoint third = SavedAgain(restored, decoded.sequence + 1);
  CHECK(third.sections == again.sections);
}

// A checkpoint of format 2 (written by flowwatch before the sustained
// evidence moved to quarters) is migrated: format2-evidence.fwc was written
// after a day of Bucket()'s traffic and three buckets of vm-a's 1433 at twice
// that, so that its sustained evidence stood at about 7 (three buckets of
// about +2.8, less one for the normal bucket after), stored as 56 eighths.
TEST_CASE("A checkpoint of format 2 is migrated: the evidence it was building carries over") {
  const state::Checkpoint decoded = CorpusCheckpoint("format2-evidence.fwc");
  REQUIRE(decoded.version == 2);
  Restored r;
  const Status st = RestoreInto(decoded, &r);
  INFO(st.message());
  REQUIRE(st.ok());
  REQUIRE(r.pipeline->detection().keys() == 4);
  REQUIRE(r.pipeline->detection().firing() == 0);
  FlowKey key;
  key.vm_id = r.names.vms.Intern("vm-a");  // restored: already there
  key.port = 1433;
  key.protocol = kProtoTcp;
  key.direction = Direction::kOutbound;
  const detect::SeasonalBaseline* b = r.pipeline->detection().baseline(key);
  REQUIRE(b != nullptr);
  // Read as quarters without the migration it would be twice that.
  CHECK(b->evidence_value() > 5);
  CHECK(b->evidence_value() < 9);
  CHECK(b->raised == 0);
  CHECK(b->normal_raised() == 0);
}

// A checkpoint of format 3 (before peers had a first sighting) is migrated:
// format3-peers.fwc was written after 12 buckets of Bucket()'s traffic (peers
// 10.0.2.1-3 on each key). Each peer takes its key's first sighting, so none
// is new to its key later on; a peer that comes after the restore is.
TEST_CASE("A checkpoint of format 3 is migrated: its peers are known, later ones new") {
  const state::Checkpoint decoded = CorpusCheckpoint("format3-peers.fwc");
  REQUIRE(decoded.version == 3);
  Restored r;
  const Status st = RestoreInto(decoded, &r);
  INFO(st.message());
  REQUIRE(st.ok());
  const FlowKey key{r.names.vms.Intern("vm-a"), 1433, kProtoTcp, Direction::kOutbound};
  const std::vector<IpAddress> old_peers = {IpAddress::FromV4(0x0A000201), IpAddress::FromV4(0x0A000202),
                                            IpAddress::FromV4(0x0A000203)};
  CHECK(r.pipeline->ports().NewPeers(key, old_peers, kT0 + kBucket, 0).empty());
  CHECK(r.pipeline->ports().NewPeers(key, old_peers, kT0, 0).size() == 3);  // the key itself was new then

  std::vector<FlowRecord> later = Bucket(&r.names, 12);
  FlowRecord fresh = later.front();  // vm-a's 1433
  fresh.dst = IpAddress::FromV4(0x0A000209);
  fresh.dedup_hash ^= 0x5555;
  later.push_back(fresh);
  for (const FlowRecord& f : later) r.pipeline->OnFlow(f);
  CHECK(r.pipeline->ports().NewPeers(key, {fresh.dst, old_peers[0]}, kT0 + 12 * kBucket, kBucket) ==
        std::vector<IpAddress>{fresh.dst});

  const state::Checkpoint again = SavedAgain(r, decoded.sequence + 1);
  CHECK(again.version == state::kCheckpointVersion);
  Restored twice;
  REQUIRE(RestoreInto(again, &twice).ok());
  const FlowKey key2{twice.names.vms.Intern("vm-a"), 1433, kProtoTcp, Direction::kOutbound};
  CHECK(twice.pipeline->ports().NewPeers(key2, {fresh.dst, old_peers[0]}, kT0 + 12 * kBucket, kBucket) ==
        std::vector<IpAddress>{fresh.dst});
}

TEST_CASE("A checkpoint that does not fit, is damaged or is newer is refused with the reason") {
  const config::Config cfg = Config();
  NameTables names;
  Collect sink;
  ShardPipeline p(cfg, &sink);
  AlertWriter writer(&names);
  Feed(&p, &names, 0, 3);
  const state::Checkpoint c = BuildCheckpoint(1, CheckpointMeta{1, "flowlogs", {}}, names, {&p}, writer);
  std::string bytes = state::EncodeCheckpoint(c);

  auto restore = [&](const state::Checkpoint& ck, const config::Config& into_cfg, int shards, const std::string& topic) {
    NameTables n;
    Collect s;
    std::vector<std::unique_ptr<ShardPipeline>> owned;
    std::vector<ShardPipeline*> ps;
    for (int i = 0; i < shards; ++i) {
      owned.push_back(std::make_unique<ShardPipeline>(into_cfg, &s));
      ps.push_back(owned.back().get());
    }
    AlertWriter w(&n);
    CheckpointMeta m;
    return RestoreCheckpoint(ck, "c.fwc", topic, &n, ps, &w, &m);
  };
  CHECK(restore(c, cfg, 1, "flowlogs").ok());
  CHECK(restore(c, cfg, 2, "flowlogs").message() ==
        "c.fwc: written by 1 shards, this run has 2; set pipeline.shards to 1 to restore it");
  CHECK(restore(c, cfg, 1, "other").message() == "c.fwc: written for topic flowlogs, not other");
  config::Config longer = cfg;
  longer.detection.bucket = config::Millis(10 * 60 * 1000);
  CHECK(restore(c, longer, 1, "flowlogs").message().find("baselines of 300 s buckets; detection.bucket is now 600 s") !=
        std::string::npos);

  state::Checkpoint out;
  std::string damaged = bytes;
  damaged[bytes.size() / 2] ^= 0x40;
  CHECK(state::DecodeCheckpoint(damaged, "c.fwc", &out).message() == "c.fwc: checksum mismatch (the file is damaged)");
  std::string newer = bytes;
  newer[8] = 9;  // the version field
  CHECK(state::DecodeCheckpoint(newer, "c.fwc", &out).message() ==
        "c.fwc: format version 9 is newer than this flowwatch reads (4); written by a later release");
  CHECK(state::DecodeCheckpoint("hello", "c.fwc", &out).message() == "c.fwc: not a flowwatch checkpoint");
  CHECK_FALSE(state::DecodeCheckpoint(bytes.substr(0, bytes.size() - 1), "c.fwc", &out).ok());

  // The store keeps two, and falls back to the older when the newer is damaged.
  const std::string dir = std::filesystem::temp_directory_path() / ("fw-ckpt-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  state::CheckpointStore store(dir);
  size_t size = 0;
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    state::Checkpoint k = c;
    k.sequence = seq;
    REQUIRE(store.Write(k, &size).ok());
  }
  CHECK(size == bytes.size());
  CHECK_FALSE(std::filesystem::exists(dir + "/checkpoint-000000000001.fwc"));
  {
    std::fstream f(dir + "/checkpoint-000000000003.fwc", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  bool found = false;
  std::vector<std::string> rejected;
  REQUIRE(store.LoadNewest(&out, &found, &rejected).ok());
  REQUIRE(found);
  CHECK(out.sequence == 2);
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].find("checkpoint-000000000003.fwc: checksum mismatch") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flowwatch::app
