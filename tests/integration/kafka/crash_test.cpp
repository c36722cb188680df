// Crashes: `flowwatch run` is killed with SIGKILL at random points while it
// consumes a backlog, and restarted each time from its checkpoints. At the end
// every flow has been counted exactly once (the live port inventory equals
// `flowwatch ports --json` over the same messages, and the summary's tuples
// equal what was produced) and each incident fired exactly once (the alert file
// equals replay's alerts, with no repeats).
// Also: checkpoints that cannot be written (readiness, metric, log, recovery),
// a broker down at start, the checkpoint's shard count kept across a restart,
// and hostile input shapes within bounds.
#include <random>

#include "tests/integration/kafka/daemon_harness.h"

namespace flowwatch::testing {
namespace {

TEST_CASE("Killed with SIGKILL 20 times mid-backlog and restarted, the daemon counts every flow once and fires each incident once") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Produce(broker, story.keyed_file, /*paced=*/true);
  const auto ends = EndOffsets(broker);
  REQUIRE(broker.Command("rtt 1 30") == "ok");  // with small fetches: the backlog takes a while
  DaemonConfig c;
  c.librdkafka = kSmallFetches;
  // Each run joins a group of its own, so that it need not wait for the killed
  // member's session to expire: where it starts reading comes from the
  // checkpoint alone (the group has no offsets), which is what is tested.
  auto daemon_for_round = [&](int round) {
    c.group = "crash-" + std::to_string(round);
    return std::make_unique<Daemon>(dir, "d", broker, c);  // the same folder, state and alert file each time
  };
  std::unique_ptr<Daemon> d = daemon_for_round(0);

  const unsigned seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(100, 2500);
  constexpr int kRounds = 20;
  const auto deadline = std::chrono::steady_clock::now() + 240s;
  int rounds = 0;
  std::vector<uint64_t> messages_per_round;
  for (; rounds < kRounds && std::chrono::steady_clock::now() < deadline; ++rounds) {
    d = daemon_for_round(rounds);
    d->RemoveSummary();
    d->Start();
    // Killed at a random moment once it consumes (the group has given it the partitions).
    const bool consuming = WaitUntil([&] { return !d->summary().assigned.empty(); }, 30s);
    INFO(d->log());
    REQUIRE(consuming);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    d->Kill();
    messages_per_round.push_back(d->summary().messages);
  }
  REQUIRE(rounds == kRounds);
  // Killed while there was still a backlog: the last run had not committed everything.
  CHECK(d->summary().messages > 0);

  REQUIRE(broker.Command("rtt 1 0") == "ok");
  d = daemon_for_round(rounds);
  d->RemoveSummary();
  d->Start();
  const bool done = WaitUntil([&] { return CommittedAll(d->summary(), ends); }, 120s);
  INFO(d->log());
  REQUIRE(done);
  // The last buckets close (and the story's incidents resolve) only once every
  // partition has been idle for source.idle_timeout after the last commit.
  const std::vector<std::string> replay_alerts = ReplayAlerts(dir, story);  // writes the story's messages to dir/replay
  WaitUntil([&] { return SortedLines(d->alerts()) == replay_alerts; }, 30s);
  const std::string api = d->summary().http_listen;
  const auto [status, live_ports] = HttpGet(api, "/api/v1/ports");
  REQUIRE(status == 200);
  const Summary s = d->summary();
  REQUIRE(d->Stop().first == 0);

  // Every flow once: the summary's counts (restored with the state) and the port inventory.
  CHECK(s.tuples == story.tuples);
  CHECK(s.late_flows == 0);
  const RunResult ports = Run({kBin, "ports", "--json", "--inventory", dir / "story/inventory.csv", dir / "replay"});
  REQUIRE(ports.exit_code == 0);
  CHECK(live_ports == ports.out);
  // Each incident once: the alert file, appended to by every run, holds replay's alerts, none twice.
  CHECK(SortedLines(d->alerts()) == replay_alerts);
  // How far each run got (the messages its last summary counted): the kills hit
  // mid-backlog, and the restored runs went on from their checkpoints.
  std::string progress;
  for (uint64_t m : messages_per_round) progress += std::to_string(m) + " ";
  const size_t restores = Occurrences(d->log(), "restored ");
  WARN("seed " << seed << "; messages per run: " << progress << "; runs that restored a checkpoint: " << restores);
  CHECK(restores >= kRounds / 2);
}

TEST_CASE("When checkpoints cannot be written the daemon says so and keeps consuming, and recovers when it can again") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Produce(broker, story.keyed_file);
  Daemon d(dir, "d", broker, DaemonConfig{});
  d.Start();
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  const std::string api = d.summary().http_listen;
  REQUIRE(WaitUntil([&] { return MetricValue(HttpGet(api, "/metrics").second, "flowwatch_checkpoints_total") >= 1; },
                    60s));
  REQUIRE(WaitUntil([&] { return HttpGet(api, "/readyz").first == 200; }, 30s));

  // The checkpoint folder becomes unusable (as a full or read-only disk would).
  const std::string folder = d.state_dir() + "/checkpoints";
  std::filesystem::rename(folder, folder + ".away");
  std::ofstream(folder) << "not a folder";
  const bool failing = WaitUntil([&] { return HttpGet(api, "/readyz").first == 503; }, 30s);
  INFO(d.log());
  REQUIRE(failing);
  const auto [status, why] = HttpGet(api, "/readyz");
  CHECK(why.find("not ready: the last checkpoint failed: cannot create checkpoint folder") != std::string::npos);
  CHECK(MetricValue(HttpGet(api, "/metrics").second, "flowwatch_checkpoint_failures_total") >= 1);
  CHECK(MetricValue(HttpGet(api, "/metrics").second, "flowwatch_ready") == 0);
  CHECK(d.log().find("the previous one stays, Kafka commits wait") != std::string::npos);
  CHECK(HttpGet(api, "/healthz").first == 200);  // alive all the same
  // It goes on consuming meanwhile.
  const uint64_t before = d.summary().messages;
  Produce(broker, story.keyed_file);  // the story again, as more traffic
  REQUIRE(WaitUntil([&] { return d.summary().messages >= before + story.lines.size(); }, 60s));
  // The good checkpoints were not touched.
  size_t kept = 0;
  for (const auto& e : std::filesystem::directory_iterator(folder + ".away")) kept += e.path().extension() == ".fwc";
  CHECK(kept >= 1);

  std::filesystem::remove(folder);
  std::filesystem::rename(folder + ".away", folder);
  REQUIRE(WaitUntil([&] { return HttpGet(api, "/readyz").first == 200; }, 30s));
  CHECK(MetricValue(HttpGet(api, "/metrics").second, "flowwatch_ready") == 1);
  const auto ends = EndOffsets(broker);
  REQUIRE(WaitUntil([&] { return CommittedAll(d.summary(), ends); }, 60s));
  REQUIRE(d.Stop().first == 0);
  const Summary s = d.summary();
  CHECK(s.tuples_decoded == s.tuples + s.duplicates);
}

TEST_CASE("A broker that is down when the daemon starts: alive, not ready, then it consumes everything once it is up") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  REQUIRE(broker.Command("down 1") == "ok");
  Daemon d(dir, "d", broker, DaemonConfig{});
  d.Start();
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  const std::string api = d.summary().http_listen;
  std::this_thread::sleep_for(5s);
  CHECK(HttpGet(api, "/healthz").first == 200);
  CHECK(HttpGet(api, "/readyz").first == 503);
  CHECK(MetricValue(HttpGet(api, "/metrics").second, "flowwatch_ready") == 0);
  // The image's health check.
  CHECK(Run({kBin, "probe", "http://" + api + "/healthz"}).exit_code == 0);
  const RunResult not_ready = Run({kBin, "probe", "http://" + api + "/readyz"});
  CHECK(not_ready.exit_code == 1);
  CHECK(not_ready.err.find("503 not ready: no partitions assigned") != std::string::npos);
  REQUIRE(broker.Command("up 1") == "ok");
  Produce(broker, story.keyed_file);
  const auto ends = EndOffsets(broker);
  const bool done = WaitUntil([&] { return CommittedAll(d.summary(), ends) && d.summary().alerts >= 10; }, 90s);
  INFO(d.log());
  REQUIRE(done);
  CHECK(HttpGet(api, "/readyz").first == 200);
  REQUIRE(d.Stop().first == 0);
  CHECK(d.summary().tuples == story.tuples);
  CHECK(SortedLines(d.alerts()) == ReplayAlerts(dir, story));
}

TEST_CASE("A restart keeps the checkpoint's shard count when pipeline.shards is 0, and refuses another explicit one") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Produce(broker, story.keyed_file);
  const auto ends = EndOffsets(broker);
  DaemonConfig c;
  c.shards = 3;
  {
    Daemon first(dir, "d", broker, c);
    first.Start();
    REQUIRE(WaitUntil([&] { return CommittedAll(first.summary(), ends) && first.summary().alerts >= 10; }, 90s));
    REQUIRE(first.Stop().first == 0);
  }
  c.shards = 1;  // explicitly another count: refused, with what to do
  Daemon refused(dir, "d", broker, c);
  refused.Start();
  CHECK(refused.Wait(30s) == 2);
  CHECK(refused.log().find("written by 3 shards, this run has 1; set pipeline.shards to 3 to restore it") !=
        std::string::npos);
  c.shards = 0;  // one per core: the checkpoint's count wins
  Daemon second(dir, "d", broker, c);  // the same folder: its log follows the first two runs'
  second.RemoveSummary();
  second.Start();
  REQUIRE(WaitUntil([&] { return Occurrences(second.log(), "decoders, 3 shards") == 2; }, 30s));
  INFO(second.log());
  REQUIRE(WaitUntil([&] { return CommittedAll(second.summary(), ends); }, 30s));
  REQUIRE(second.Stop().first == 0);
  CHECK(second.log().find("restored ") != std::string::npos);
  CHECK(second.summary().tuples == story.tuples);  // restored, nothing read twice
}

// Peak resident memory of a running process, in MB (VmHWM).
double PeakRssMb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

// The sum of a metric's series in a /metrics text whose lines start with prefix.
double SumOf(const std::string& text, const std::string& prefix) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

TEST_CASE("Hostile shapes through the daemon stay within bounds, keep it responsive, and show in the metrics") {
  TempDir dir;
  // A port scan of vm03 over 65,535 ports and a 100,000-source sweep of vm04 TCP 23 (13 hours of logs) ...
  REQUIRE(Run({kBin, "gen", "--scenario", "scan", "--hours", "13", "--messages", "--out", dir / "scan"}).exit_code == 0);
  // ... 100,000 more VMs in the inventory ...
  {
    std::ofstream inv(dir / "inventory.csv");
    inv << Slurp(dir / "scan/inventory.csv");
    for (int i = 0; i < 100000; ++i) {
      inv << "bulk" << i << ",10." << 100 + i / 65536 << "." << (i / 256) % 256 << "." << i % 256 << ",\n";
    }
  }
  // ... a 1.5 MB message beyond decode.max_body_bytes, and one nested 100,000 deep.
  {
    std::ofstream out(dir / "scan/messages.ndjson", std::ios::app);
    out << "000D3A000003\t{\"records\":[\"" << std::string(1536 * 1024, 'x') << "\"]}\n";
    out << "000D3A000003\t" << std::string(100000, '[') << "\n";
  }
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  DaemonConfig c;
  c.inventory = dir / "inventory.csv";
  c.extra_yaml = "decode:\n  max_body_bytes: 512KiB\n";
  c.librdkafka = {{"fetch.max.bytes", "8388608"}, {"max.partition.fetch.bytes", "4194304"}, {"message.max.bytes", "8388608"}};
  Daemon d(dir, "d", broker, c);
  d.Start();
  const bool started = WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s);
  INFO(d.log());
  REQUIRE(started);
  const std::string api = d.summary().http_listen;
  // The mock broker keeps only ~5 MiB a partition (older data is dropped), and
  // the scan's VM has more: produce in parts, each once the last is consumed.
  std::vector<std::string> lines;
  {
    std::istringstream in(Slurp(dir / "scan/messages.ndjson"));
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  for (size_t from = 0, part = 0; from < lines.size(); ++part) {
    std::vector<std::string> chunk;
    size_t bytes = 0;
    for (; from < lines.size() && bytes < (2u << 20); ++from) {
      bytes += lines[from].size();
      chunk.push_back(lines[from]);
    }
    Produce(broker, WriteLines(dir, "part" + std::to_string(part), chunk), /*paced=*/false, /*max_message_bytes=*/4 << 20);
    REQUIRE(WaitUntil([&] { return d.summary().messages >= from; }, 60s));
  }
  const auto ends = EndOffsets(broker);

  // Responsive all along: the probes and a scrape answer while the backlog is consumed.
  double slowest_probe = 0, slowest_scrape = 0;
  const bool done = WaitUntil(
      [&] {
        auto t0 = std::chrono::steady_clock::now();
        CHECK(HttpGet(api, "/healthz").first == 200);
        slowest_probe = std::max(slowest_probe, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        t0 = std::chrono::steady_clock::now();
        CHECK(HttpGet(api, "/metrics").first == 200);
        slowest_scrape =
            std::max(slowest_scrape, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        return CommittedAll(d.summary(), ends);
      },
      120s);
  INFO(d.log());
  REQUIRE(done);
  const double peak_mb = PeakRssMb(d.pid());
  const std::string metrics = HttpGet(api, "/metrics").second;
  REQUIRE(d.Stop().first == 0);
  WARN("hostile shapes: peak RSS " << peak_mb << " MB; slowest /healthz " << slowest_probe << " s, slowest /metrics "
                                   << slowest_scrape << " s");
  CHECK(peak_mb > 0);
  CHECK(peak_mb < 768);
  CHECK(slowest_probe < 2);
  CHECK(slowest_scrape < 5);
  // What was capped, and what was refused, is in the metrics.
  CHECK(SumOf(metrics, "flowwatch_decode_errors_total{type=\"too_large\"}") >= 1);
  CHECK(SumOf(metrics, "flowwatch_decode_errors_total{type=\"bad_json\"}") >= 1);
  CHECK(SumOf(metrics, "flowwatch_ports_folded_flows_total") > 10000);   // the scan beyond the 4,096 port keys of vm03
  CHECK(SumOf(metrics, "flowwatch_ports_keys ") < 2 * 4096 + 100);       // bounded per VM
  CHECK(SumOf(metrics, "flowwatch_detect_keys ") < 20);                  // zero-byte attempts make no baselines
  // Every message was read (the two hostile ones as errors), every flow applied, and nothing fired.
  CHECK(d.summary().messages == lines.size());
  {
    std::vector<std::string> bodies;
    for (const std::string& l : lines) bodies.push_back(l.substr(l.find('\t') + 1));
    std::filesystem::create_directories(dir / "replay");
    WriteLines(dir, "replay/scan.ndjson", bodies);
    REQUIRE(Run({kBin, "replay", "-q", "--inventory", dir / "inventory.csv", "--summary", dir / "replay.json",
                 dir / "replay"}).exit_code == 0);
    CHECK(d.summary().tuples == ReadSummary(dir / "replay.json").tuples);  // as replay applies them
  }
  CHECK(d.summary().alerts == 0);
}

}  // namespace
}  // namespace flowwatch::testing
