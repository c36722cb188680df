// Checkpoint cost at scale: one million keys (20,000 VMs x 50 ports, each
// with a baseline, a port-inventory entry with 3 peers, and de-duplication
// entries), split over the shards by VM as the daemon does. Prints, per shard
// count: how long the shards are paused to serialize their state (each shard
// on its own thread, as the daemon does), how long the file takes to write
// (fsync included, on the control thread in the daemon), its size, and how long
// a restore takes.
//
//   build-rel/bench/checkpoint_bench [keys] [folder]   (default 1000000, /tmp)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "bench/bench_util.h"
#include "daemon/checkpoint.h"
#include "lib/shard/shard_set.h"

namespace flowwatch {
namespace {

constexpr int64_t kT0 = 1620000000000;
constexpr int64_t kBucket = 5 * 60 * 1000;
constexpr int kPortsPerVm = 50;

struct NullSink : detect::AlertSink {
  void Emit(Alert) override {}
};

void Run(int shards, size_t keys, const std::string& folder) {
  config::Config cfg;
  NullSink sink;
  NameTables names;
  std::vector<std::unique_ptr<app::ShardPipeline>> owned;
  std::vector<const app::ShardPipeline*> pipelines;
  for (int s = 0; s < shards; ++s) {
    owned.push_back(std::make_unique<app::ShardPipeline>(cfg, &sink));
    pipelines.push_back(owned.back().get());
  }
  const size_t vms = keys / kPortsPerVm;
  const uint32_t rule = names.rules.Intern("allow-app");
  // Two buckets of traffic: the first closes (baselines), the second stays open.
  for (int64_t bucket = 0; bucket < 2; ++bucket) {
    for (size_t v = 0; v < vms; ++v) {
      const std::string name = "vm" + std::to_string(v);
      FlowRecord f;
      f.vm_id = names.vms.Intern(name);
      f.rule_id = rule;
      f.protocol = kProtoTcp;
      f.direction = Direction::kInbound;
      f.dst = IpAddress::FromV4(0x0A000000 + static_cast<uint32_t>(v));
      f.state = FlowState::kEnd;
      const int shard = shard::ShardFor(HashString(name), shards);
      for (int p = 0; p < kPortsPerVm; ++p) {
        f.dst_port = static_cast<uint16_t>(1000 + p);
        for (uint32_t peer = 0; peer < 3; ++peer) {
          f.src = IpAddress::FromV4(0xC0A80000 + peer);
          f.time_ms = kT0 + bucket * kBucket + p * 1000 + peer;
          f.bytes_sd = 1000 + peer;
          f.dedup_hash = HashU64((static_cast<uint64_t>(v) << 24) ^ (static_cast<uint64_t>(p) << 8) ^ peer ^
                                 (static_cast<uint64_t>(bucket) << 40));
          owned[shard]->OnFlow(f);
        }
      }
    }
    for (auto& p : owned) p->OnProgress(kT0 + bucket * kBucket + 4 * 60 * 1000);
  }
  size_t total_keys = 0;
  for (const auto* p : pipelines) total_keys += p->detection().keys();

  app::AlertWriter alerts(&names);
  const auto t0 = std::chrono::steady_clock::now();
  state::Checkpoint c = app::BuildCheckpoint(1, app::CheckpointMeta{static_cast<uint32_t>(shards), "flowlogs", {{0, 1}}},
                                             names, pipelines, alerts);
  const double pause = bench::Seconds(t0);
  const std::string dir = folder + "/fw-checkpoint-bench";
  std::filesystem::remove_all(dir);
  state::CheckpointStore store(dir);
  size_t bytes = 0;
  const auto t1 = std::chrono::steady_clock::now();
  if (Status s = store.Write(c, &bytes); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    std::exit(1);
  }
  const double write = bench::Seconds(t1);

  const auto t2 = std::chrono::steady_clock::now();
  state::Checkpoint loaded;
  bool found = false;
  std::vector<std::string> rejected;
  if (!store.LoadNewest(&loaded, &found, &rejected).ok() || !found) std::exit(1);
  NameTables names2;
  std::vector<std::unique_ptr<app::ShardPipeline>> owned2;
  std::vector<app::ShardPipeline*> into;
  for (int s = 0; s < shards; ++s) {
    owned2.push_back(std::make_unique<app::ShardPipeline>(cfg, &sink));
    into.push_back(owned2.back().get());
  }
  app::AlertWriter alerts2(&names2);
  app::CheckpointMeta meta;
  if (Status s = app::RestoreCheckpoint(loaded, "bench", "flowlogs", &names2, into, &alerts2, &meta); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    std::exit(1);
  }
  const double restore = bench::Seconds(t2);
  size_t restored_keys = 0;
  for (const auto* p : into) restored_keys += p->detection().keys();
  std::printf("%8d %10zu %12.3f %12.3f %10.1f %12.3f %14.1f\n", shards, total_keys, pause, write,
              static_cast<double>(bytes) / 1e6, restore, static_cast<double>(bytes) / static_cast<double>(total_keys));
  if (restored_keys != total_keys) {
    std::fprintf(stderr, "restored %zu keys of %zu\n", restored_keys, total_keys);
    std::exit(1);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flowwatch

int main(int argc, char** argv) {
  const size_t keys = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const std::string folder = argc > 2 ? argv[2] : "/tmp";
  std::printf("checkpoint of %zu keys (detection baselines + port inventory + de-duplication), written under %s\n",
              keys, folder.c_str());
  std::printf("%8s %10s %12s %12s %10s %12s %14s\n", "shards", "keys", "pause s", "write s", "MB", "restore s",
              "bytes/key");
  for (int shards : {1, 2}) flowwatch::Run(shards, keys, folder);
  return 0;
}
