// End-to-end replay throughput, peak memory and state per key.
//
// Generates (once) the steady workload of 2,000 VMs x 50 service ports (over
// 100,000 keys, 18 M tuples in an hour of NSG v2 flow logs), then replays it
// through the full pipeline (read, decode, route, de-duplicate, port
// statistics, detection) with 1, 2 and 4 shards. Each run is a child process so
// that its peak RSS is its own. Prints tuples/s, MB/s, peak RSS, and bytes per
// key of the detection state (what an idle key costs) and of the port
// inventory. Targets on 2 cores: >= 1 M tuples/s; <= 128 bytes per idle key.
//
//   replay_bench [--dir DIR] [--shards 1,2,4] [--decoders N]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "daemon/replay.h"

using namespace flowwatch;

namespace {

struct RunFigures {
  double seconds = 0;
  uint64_t tuples = 0, input_bytes = 0, keys = 0, port_keys = 0;
  uint64_t detect_state_bytes = 0, port_state_bytes = 0, open_bucket_bytes = 0, dedup_bytes = 0;
  long peak_rss_kb = 0;
};

RunFigures RunOnce(const std::string& dir, int shards, int decoders) {
  int fd[2];
  if (pipe(fd) != 0) std::exit(1);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    app::ReplayOptions o;
    o.paths = {dir};
    o.progress = false;
    o.config.pipeline.shards = shards;
    o.config.pipeline.decoders = decoders;
    RunFigures f;
    app::RunReplay(o, [&](const app::ReplayResult& r) {
      const app::PipelineTotals t = app::Totals(r);
      f.seconds = r.seconds;
      f.tuples = t.tuples;
      f.input_bytes = r.input_bytes;
      f.keys = t.keys;
      f.port_keys = t.port_keys;
      for (const app::ShardPipeline* s : r.shards) {
        f.detect_state_bytes += s->detection().baseline_bytes();
        f.port_state_bytes += s->ports().memory_bytes();
        f.open_bucket_bytes += s->detection().open_bucket_bytes();
        f.dedup_bytes += s->dedup().memory_bytes();
      }
    });
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    f.peak_rss_kb = ru.ru_maxrss;
    if (write(fd[1], &f, sizeof f) != sizeof f) _exit(1);
    _exit(0);
  }
  close(fd[1]);
  RunFigures f;
  if (read(fd[0], &f, sizeof f) != sizeof f) std::exit(1);
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "bench-data/replay-steady";
  std::string shard_list = "1,2,4";
  int decoders = 0;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 < argc && !std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (i + 1 < argc && !std::strcmp(argv[i], "--shards")) shard_list = argv[i + 1];
    else if (i + 1 < argc && !std::strcmp(argv[i], "--decoders")) decoders = std::atoi(argv[i + 1]);
    else {  // before anything is generated under the working directory
      std::fprintf(stderr, "usage: replay_bench [--dir DIR] [--shards 1,2,4] [--decoders N] (not '%s')\n", argv[i]);
      return 2;
    }
  }
  gen::GenOptions o;
  o.scenario = gen::Scenario::kSteady;
  o.vms = 2000;
  o.ports_per_vm = 50;
  o.hours = 1;
  o.out_dir = dir;
  bench::EnsureWorkload(o);
  const unsigned cores = std::thread::hardware_concurrency();
  std::printf("replay benchmark: steady workload (2000 VMs x 50 ports, 1 h, NSG v2), %u cores, decoders %s\n", cores,
              decoders > 0 ? std::to_string(decoders).c_str() : "= cores");
  std::printf("  %6s %10s %12s %8s %10s %10s %14s %12s\n", "shards", "seconds", "M tuples/s", "MB/s", "peak RSS",
              "keys", "B/idle key", "B/port key");
  std::stringstream ss(shard_list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const int shards = std::atoi(item.c_str());
    const RunFigures f = RunOnce(dir, shards, decoders);
    std::printf("  %6d %10.2f %12.2f %8.0f %8.0f MB %10llu %14.1f %12.1f\n", shards, f.seconds, f.tuples / 1e6 / f.seconds,
                f.input_bytes / 1e6 / f.seconds, f.peak_rss_kb / 1024.0, static_cast<unsigned long long>(f.keys),
                static_cast<double>(f.detect_state_bytes) / static_cast<double>(f.keys),
                static_cast<double>(f.port_state_bytes) / static_cast<double>(f.port_keys));
    std::printf("         held at the end: detection %.0f MB (+ bucket tables kept for reuse %.0f MB), port inventory %.0f MB, "
                "dedup window %.0f MB\n",
                f.detect_state_bytes / 1e6, f.open_bucket_bytes / 1e6, f.port_state_bytes / 1e6, f.dedup_bytes / 1e6);
  }
  std::printf("  targets: >= 1 M tuples/s end to end on 2 cores; <= 128 bytes of detection state per idle key\n");
  return 0;
}
