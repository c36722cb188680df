// `flowwatch run` with source.blob, against Azurite on 127.0.0.1: the demo's
// hourly PT1H.json blobs written by Microsoft's JavaScript SDK as Azure writes
// them (a record block at a time, the block list committed with `]}` last):
// the first hours before the daemon starts (catch-up), the last four while it
// runs (live: each hour's blobs growing together, half an hour at a time),
// and two bad blobs (records that are not flow logs, a broken tuple, a name
// outside the layout). The daemon raises replay's alerts on the same blobs
// exactly, reads nothing twice and nothing late, counts the bad records by
// error type, and restarted from its checkpoint reads nothing again. Then
// all of the story's hours written live while the daemon is killed with
// SIGKILL again and again: restarted from its checkpoints, it counts every
// flow once and fires each incident once, as replay does on the same blobs.
// Restarted while one NIC is ahead of the others and the first listing waits
// out a 503, it lets no flow be late.
// The same through Kafka (the test broker): Event Grid's BlobCreated events
// for every commit, produced as the blobs grow, the daemon killed again and
// again, reading each named blob's new records once.
// Skipped (77) without the npm packages (tests/integration/blob).
#include "tests/integration/blob/azurite.h"
#include "tests/integration/blob/fault_proxy.h"
#include "tests/integration/kafka/daemon_harness.h"
#include "tests/integration/kafka/dashboard.h"

namespace flowwatch::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNsgContainer = "insights-logs-networksecuritygroupflowevent";
constexpr uint64_t kTuples = 48219 + 1;  // the demo's tuples (see the generator tests) and the heartbeat's

// A later blob whose only job is to move event time past the story's end, as
// later hours' logs would: two hours on, so that the story's NICs are over at
// once (their streams silent), not idle_timeout later.
void WriteHeartbeat(const TempDir& dir) {
  const std::string beat = dir / "heartbeat/resourceId=/HEARTBEAT/y=2021/m=05/d=04/h=01/m=00/macAddress=000D3A000004";
  fs::create_directories(beat);
  std::ofstream(beat + "/PT1H.json")
      << R"({"records":[{"time":"2021-05-04T01:10:30Z","macAddress":"000D3A000004","category":"NetworkSecurityGroupFlowEvent",)"
         R"("resourceId":"/HEARTBEAT","properties":{"Version":2,"flows":[{"rule":"hb","flows":[{"mac":"000D3A000004",)"
         R"("flowTuples":["1620090600,10.0.1.7,10.0.1.6,50000,9,T,O,A,B,,,,"]}]}]}}]})";
}

// Moves the story's last `hours` hours of blobs (all, if it has fewer) to
// live/0, live/1, ..., to be written while the daemon runs; returns how many,
// and in *by_hour every hour's blobs as they were in the story.
int MoveLive(const TempDir& dir, int hours, std::map<std::string, std::vector<fs::path>>* by_hour) {
  for (const auto& e : fs::recursive_directory_iterator(dir / "story")) {
    if (e.path().filename() != "PT1H.json") continue;
    const std::string p = e.path().string();
    (*by_hour)[p.substr(p.find("/d="), 10)].push_back(e.path());  // "d=03/h=07"
  }
  int live = 0;
  const auto first = std::prev(by_hour->end(), std::min<long>(hours, static_cast<long>(by_hour->size())));
  for (auto it = first; it != by_hour->end(); ++it, ++live) {
    for (const fs::path& blob : it->second) {
      const fs::path to = fs::path(dir / ("live/" + std::to_string(live))) / fs::relative(blob, dir / "story");
      fs::create_directories(to.parent_path());
      fs::copy_file(blob, to);
      fs::remove(blob);
    }
  }
  return live;
}

// Through a proxy on `port` (FaultProxy), if given.
DaemonConfig BlobConfig(const Azurite& az, const std::string& containers, int port = 0) {
  std::string connection = az.connection_string();
  if (port != 0) {
    const std::string direct = std::to_string(az.port());
    connection.replace(connection.find(direct), direct.size(), std::to_string(port));
  }
  DaemonConfig c;
  c.blob_yaml = "    connection_string: \"" + connection + "\"\n    containers: [" + containers +
                "]\n    poll_interval: 200ms\n    full_list_interval: 1s\n";  // the heartbeat's is a new resource
  // Time here runs at hundreds of times Azure's pace (an hour's blobs in a
  // second or two), so a NIC's next hour may begin seconds after another's:
  // the default idle_timeout holds it that long.
  c.idle_timeout = "30s";
  return c;
}


TEST_CASE("The daemon reads the demo's blobs from Blob Storage, catch-up then live, and raises replay's alerts once") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  REQUIRE(Run({kBin, "gen", "--scenario", "demo", "--out", dir / "story"}).exit_code == 0);
  WriteHeartbeat(dir);
  // Bad input, uploaded whole: a blob in the layout whose records are not
  // flow logs or hold a broken tuple, and one outside the layout.
  const std::string bad = dir / "bad/resourceId=/BAD/y=2021/m=05/d=03/h=00/m=00/macAddress=000D3A0000FF";
  fs::create_directories(bad);
  std::ofstream(bad + "/PT1H.json")
      << R"({"records":[{"hello":1},{"time":"2021-05-03T00:01:00Z","macAddress":"000D3A0000FF","category":)"
         R"("NetworkSecurityGroupFlowEvent","resourceId":"/BAD","properties":{"Version":2,"flows":[{"rule":"r",)"
         R"("flows":[{"mac":"000D3A0000FF","flowTuples":["not,a,tuple"]}]}]}}]})";
  // And a blob whose last record was cut short, in a stream that never goes
  // on: once the newest hour is two past it, nothing will complete it.
  const std::string cut = dir / "bad/resourceId=/BAD/y=2021/m=05/d=03/h=00/m=00/macAddress=000D3A0000FE";
  fs::create_directories(cut);
  std::ofstream(cut + "/PT1H.json") << R"({"records":[{"time":"2021-05-03T00:01:00Z","macAddress":"000D3A0000FE")";
  // In a second container, so that the first is listed by hours (one holding
  // a blob outside the layout is listed whole).
  fs::create_directories(dir / "other/notes");
  std::ofstream(dir / "other/notes/PT1H.json") << R"({"records":[42]})";

  // The last four hours' blobs go to live/0 .. live/3, to be written while the daemon runs.
  std::map<std::string, std::vector<fs::path>> by_hour;
  const int live_hours = MoveLive(dir, 4, &by_hour);
  REQUIRE(by_hour.size() > 4);
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  Write(az, dir / "story", 0, 60, 15, kNsgContainer);  // catch-up: the first hours, whole
  Write(az, dir / "bad", 0, 1, 0, kNsgContainer);
  Write(az, dir / "other", 0, 1, 0, "other");
  const DaemonConfig c = BlobConfig(az, std::string("\"") + kNsgContainer + "\", \"other\"");
  Daemon d(dir, "d", c);
  d.Start();
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  for (int h = 0; h < live_hours; ++h) {  // live
    Write(az, dir / ("live/" + std::to_string(h)), 0, 30, 15, kNsgContainer);
    Write(az, dir / ("live/" + std::to_string(h)), 30, 60, 15, kNsgContainer);
  }
  Write(az, dir / "heartbeat", 0, 1, 1, kNsgContainer);
  const bool done = WaitUntil([&] { return d.summary().tuples >= kTuples && d.summary().alerts >= 10; }, 90s);
  INFO(d.log());
  REQUIRE(done);
  const auto [ready, why] = HttpGet(d.summary().http_listen, "/readyz");
  CHECK(ready == 200);
  // What /metrics says of the blobs: every one listed and read; the NICs'
  // streams, silent since the heartbeat's hour, and the heartbeat's; requests
  // by kind and status.
  const auto [status, metrics] = HttpGet(d.summary().http_listen, "/metrics");
  REQUIRE(status == 200);
  size_t blobs = 1 + 3;  // the heartbeat and the bad ones
  for (const auto& [hour, paths] : by_hour) blobs += paths.size();
  CHECK(MetricValue(metrics, "flowwatch_source_objects_tracked") == static_cast<double>(blobs));
  CHECK(MetricValue(metrics, "flowwatch_source_behind_bytes") == 0);
  CHECK(MetricValue(metrics, "flowwatch_source_oldest_unread_seconds") == 0);  // nothing waits
  const double nics = static_cast<double>(by_hour.begin()->second.size());
  // And the heartbeat's and BAD's two NICs' (notes/ has none).
  CHECK(MetricValue(metrics, "flowwatch_source_streams") == nics + 3);
  CHECK(MetricValue(metrics, "flowwatch_source_streams_silent") == nics + 2);
  CHECK(MetricValue(metrics, "flowwatch_source_blob_requests_total{kind=\"list\",status=\"200\"}") >= 1);
  CHECK(MetricValue(metrics, "flowwatch_source_blob_requests_total{kind=\"get\",status=\"206\"}") >= blobs);
  const std::set<std::string> served = ServedNames(metrics);
  for (const std::string& n : served) {
    INFO("served but not in docs/metrics.md: " << n);
    CHECK(DocumentedNames().count(n) == 1);
  }
  for (const auto& [n, by] : DocumentedNames()) {
    INFO("in docs/metrics.md as served with source.blob, but not served: " << n);
    if (by == Served::kFollowed) CHECK(served.count(n) == 1);
    if (by == Served::kBlobEvents) CHECK(served.count(n) == 0);
  }
  // The dashboard's row for followed sources shows what this daemon serves.
  size_t followed_queries = 0;
  for (const Query& q : DashboardQueries(Slurp(kDashboard))) {
    if (!q.followed) continue;
    ++followed_queries;
    for (const std::string& n : MetricNames(q.expr)) {
      INFO(q.where << ": not served with source.blob: " << n);
      CHECK(served.count(n) == 1);
    }
  }
  CHECK(followed_queries >= 4);
  auto [rc, took] = d.Stop();
  REQUIRE(rc == 0);
  Summary s = d.summary();
  CHECK(s.tuples == kTuples);
  CHECK(s.duplicates == 0);  // nothing was read twice: each blob's new records only
  CHECK(s.late_flows == 0);
  // The bad blobs' records counted by error type (the cut one bad_json),
  // skipped, nothing else lost.
  CHECK(s.errors == std::map<std::string, uint64_t>{{"bad_json", 1}, {"bad_tuple", 1}, {"unknown_format", 2}});
  CHECK(d.log().find(kKey) == std::string::npos);  // the account key is never logged
  const RunResult r = Run({kBin, "replay", "-q", "--inventory", dir / "story/inventory.csv", "--alerts",
                           dir / "replay-alerts.jsonl", dir / "story", dir / "live", dir / "heartbeat", dir / "bad", dir / "other"});
  REQUIRE(r.exit_code == 0);
  CHECK(SortedLines(d.alerts()) == SortedLines(Slurp(dir / "replay-alerts.jsonl")));

  // Restarted from its checkpoint: every blob is where it was left.
  const std::string alerts_before = d.alerts();
  d.RemoveSummary();
  d.Start();
  REQUIRE(WaitUntil([&] { return d.summary().present; }, 30s));
  std::this_thread::sleep_for(2s);  // ten polls
  std::tie(rc, took) = d.Stop();
  REQUIRE(rc == 0);
  s = d.summary();
  CHECK(s.tuples == kTuples);
  CHECK(s.duplicates == 0);
  CHECK(d.alerts() == alerts_before);
}


TEST_CASE("Killed with SIGKILL again and again while blobs are appended, the Blob daemon counts every flow once and fires each incident once") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  REQUIRE(Run({kBin, "gen", "--scenario", "demo", "--out", dir / "story"}).exit_code == 0);
  WriteHeartbeat(dir);
  std::map<std::string, std::vector<fs::path>> by_hour;
  const int live_hours = MoveLive(dir, 1000, &by_hour);  // every hour, live
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  const DaemonConfig c = BlobConfig(az, std::string("\"") + kNsgContainer + "\"");
  // Each hour's blobs appended to together, half an hour at a time, committed
  // every quarter of an hour (write_blobs.mjs, on this thread: no REQUIRE).
  std::atomic<bool> stop{false}, landed{false};
  std::atomic<int> failed_writes{0};
  std::thread lander([&] {
    const auto write = [&](const std::string& src, int from, int to, int step) {
      if (stop.load()) return;
      if (WriteExitCode(az, src, from, to, step, kNsgContainer) != 0) failed_writes.fetch_add(1);
    };
    for (int h = 0; h < live_hours; ++h) {
      write(dir / ("live/" + std::to_string(h)), 0, 30, 15);
      write(dir / ("live/" + std::to_string(h)), 30, 60, 15);
    }
    write(dir / "heartbeat", 0, 1, 1);
    landed.store(true);
  });
  StopAndJoin join{&stop, &lander};
  constexpr int kRounds = 10;
  KillLoop kills = KillRepeatedly(dir, c, kRounds, [&] { return !landed.load(); });
  lander.join();
  REQUIRE(failed_writes.load() == 0);
  CHECK(kills.while_busy >= kRounds / 2);  // most kills came while the blobs were still being appended
  const std::unique_ptr<Daemon>& d = kills.daemon;
  // (The alert file holds every run's alerts; a summary counts its own run's.)
  const bool done =
      WaitUntil([&] { return d->summary().tuples >= kTuples && SortedLines(d->alerts()).size() >= 10; }, 90s);
  INFO(d->log());
  INFO(d->summary_text());
  INFO(d->alerts());
  REQUIRE(done);
  std::this_thread::sleep_for(1s);  // nothing more is coming
  REQUIRE(d->Stop().first == 0);
  const Summary s = d->summary();
  CHECK(s.tuples == kTuples);
  CHECK(s.late_flows == 0);
  const RunResult r = Run({kBin, "replay", "-q", "--inventory", dir / "story/inventory.csv", "--alerts",
                           dir / "replay-alerts.jsonl", dir / "live", dir / "heartbeat"});
  REQUIRE(r.exit_code == 0);
  CHECK(SortedLines(d->alerts()) == SortedLines(Slurp(dir / "replay-alerts.jsonl")));
  std::string progress;
  for (uint64_t t : kills.tuples_per_kill) progress += std::to_string(t) + " ";
  const size_t restores = Occurrences(d->log(), "restored ");
  WARN("seed " << kills.seed << "; tuples per run: " << progress << "; runs that restored a checkpoint: " << restores);
  CHECK(restores >= kRounds / 2);
}

// Restarted, the daemon knows the newest event time of its checkpoint (one
// NIC's, ahead of the others) before it has listed the blobs that were behind
// it; Storage slow to answer that first listing (503 with Retry-After) must
// not let event time jump there and make the other NICs' next records late.
TEST_CASE("Restarted while one NIC is ahead of the others and Storage is slow to answer, the Blob daemon makes no flow late") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  REQUIRE(Run({kBin, "gen", "--scenario", "demo", "--out", dir / "story"}).exit_code == 0);
  WriteHeartbeat(dir);
  std::map<std::string, std::vector<fs::path>> by_hour;
  REQUIRE(MoveLive(dir, 1, &by_hour) == 1);  // the last hour to live/0
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  Write(az, dir / "story", 0, 60, 15, kNsgContainer);
  Write(az, dir / "live/0", 0, 15, 15, kNsgContainer);  // every NIC's first quarter hour
  // One NIC goes on to minute 45 (its blob moved to live/ahead).
  const fs::path first = by_hour.rbegin()->second.front();
  const fs::path ahead = dir / "live/ahead" / fs::relative(first, dir / "story");
  fs::create_directories(ahead.parent_path());
  fs::rename(dir / "live/0" / fs::relative(first, dir / "story"), ahead);
  Write(az, dir / "live/ahead", 15, 45, 15, kNsgContainer);
  const size_t blobs = [&] {
    size_t n = 0;
    for (const auto& [hour, paths] : by_hour) n += paths.size();
    return n;
  }();
  // Through the proxy from the start (the checkpoint names blobs by URL).
  FaultProxy proxy(az.port());
  const DaemonConfig c = BlobConfig(az, std::string("\"") + kNsgContainer + "\"", proxy.port());
  {
    Daemon d(dir, "d", c);
    d.Start();
    REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
    const bool read = WaitUntil([&] {
      const auto [status, metrics] = HttpGet(d.summary().http_listen, "/metrics");
      return status == 200 && MetricValue(metrics, "flowwatch_source_objects_tracked") == static_cast<double>(blobs) &&
             MetricValue(metrics, "flowwatch_source_behind_bytes") == 0;
    }, 60s);
    INFO(d.log());
    REQUIRE(read);
    REQUIRE(d.Stop().first == 0);  // its checkpoint: that NIC at minute 45, the others at 15
  }
  Write(az, dir / "live/0", 15, 60, 15, kNsgContainer);
  Write(az, dir / "live/ahead", 45, 60, 15, kNsgContainer);
  Write(az, dir / "heartbeat", 0, 1, 1, kNsgContainer);

  // The first listing waits out a 503's Retry-After: the decoders wake meanwhile.
  const size_t before = proxy.seen().size();
  proxy.fail_next = 1;
  proxy.retry_after_s = 2;
  Daemon d(dir, "d", c);
  d.RemoveSummary();
  d.Start();
  const bool done = WaitUntil([&] { return d.summary().tuples >= kTuples; }, 90s);
  INFO(d.log());
  REQUIRE(done);
  std::this_thread::sleep_for(1s);  // nothing more is coming
  REQUIRE(d.Stop().first == 0);
  const Summary s = d.summary();
  CHECK(s.tuples == kTuples);
  CHECK(s.duplicates == 0);
  CHECK(s.late_flows == 0);
  CHECK(proxy.seen()[before].status == 503);
  const RunResult r = Run({kBin, "replay", "-q", "--inventory", dir / "story/inventory.csv", "--alerts",
                           dir / "replay-alerts.jsonl", dir / "story", dir / "live", dir / "heartbeat"});
  REQUIRE(r.exit_code == 0);
  CHECK(SortedLines(d.alerts()) == SortedLines(Slurp(dir / "replay-alerts.jsonl")));
}

TEST_CASE("Event Grid's BlobCreated events on Kafka as the work queue: killed again and again, the daemon reads each blob's new records once and raises replay's alerts") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  REQUIRE(Run({kBin, "gen", "--scenario", "demo", "--out", dir / "story"}).exit_code == 0);
  WriteHeartbeat(dir);
  std::map<std::string, std::vector<fs::path>> by_hour;
  const int live_hours = MoveLive(dir, 1000, &by_hour);  // every hour, live
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  DaemonConfig c = BlobConfig(az, std::string("\"") + kNsgContainer + "\"");
  c.follow_blob_events = true;
  // Each hour's blobs appended to together, half an hour at a time, committed
  // every two minutes (Azure commits every minute), and the commits' events
  // (write_blobs.mjs: both schemas, keyed by subject) produced after each
  // half hour (on this thread: no REQUIRE).
  std::atomic<bool> stop{false}, landed{false};
  std::atomic<int> failed{0};
  std::atomic<size_t> events{0};
  std::thread lander([&] {
    const auto write = [&](const std::string& src, int from, int to, int step, const std::string& events_file) {
      if (stop.load()) return;
      if (WriteExitCode(az, src, from, to, step, kNsgContainer, events_file) != 0) failed.fetch_add(1);
    };
    const auto produce = [&](const std::string& events_file) {
      if (stop.load()) return;
      events += SortedLines(Slurp(events_file)).size();
      if (RunToEnd({"kcat", "-P", "-b", broker.bootstrap(), "-t", kTopic, "-K", "\t", "-l", events_file}) != 0) {
        failed.fetch_add(1);
      }
    };
    for (int h = 0; h < live_hours; ++h) {
      for (int half = 0; half < 2; ++half) {
        const std::string events_file = dir / ("events-" + std::to_string(h) + "-" + std::to_string(half) + ".txt");
        write(dir / ("live/" + std::to_string(h)), 30 * half, 30 * half + 30, 2, events_file);
        produce(events_file);
      }
    }
    write(dir / "heartbeat", 0, 1, 1, dir / "events-heartbeat.txt");
    produce(dir / "events-heartbeat.txt");
    landed.store(true);
  });
  StopAndJoin join{&stop, &lander};
  constexpr int kRounds = 6;
  KillLoop kills = KillRepeatedly(dir, c, kRounds, [&] { return !landed.load(); }, &broker);
  lander.join();
  REQUIRE(failed.load() == 0);
  CHECK(kills.while_busy >= kRounds / 2);
  const std::unique_ptr<Daemon>& d = kills.daemon;
  // Events the daemon must not follow, in the last run: another container's
  // blob, a deletion, and one naming another host (a forged event).
  const std::string other = az.endpoint() + "/other/resourceId=/X/y=2021/m=05/d=03/h=00/m=00/macAddress=00/PT1H.json";
  const std::string forged = std::string("http://203.0.113.9/devstoreaccount1/") + kNsgContainer + "/resourceId=/X/PT1H.json";
  std::ofstream(dir / "bad-events.txt")
      << "a\t[{\"eventType\":\"Microsoft.Storage.BlobCreated\",\"subject\":\"a\",\"data\":{\"url\":\"" << other << "\"}}]\n"
      << "b\t[{\"eventType\":\"Microsoft.Storage.BlobDeleted\",\"subject\":\"b\",\"data\":{\"url\":\"" << other << "\"}}]\n"
      << "c\t{\"type\":\"Microsoft.Storage.BlobCreated\",\"subject\":\"c\",\"data\":{\"url\":\"" << forged << "\"}}\n";
  Produce(broker, dir / "bad-events.txt");
  const bool done = WaitUntil(
      [&] {
        const Summary s = d->summary();
        return s.tuples >= kTuples && SortedLines(d->alerts()).size() >= 10 && CommittedAll(s, EndOffsets(broker));
      },
      120s);
  INFO(d->log());
  INFO(d->summary_text());
  REQUIRE(done);
  const auto [status, metrics] = HttpGet(d->summary().http_listen, "/metrics");
  REQUIRE(status == 200);
  CHECK(MetricValue(metrics, "flowwatch_source_blob_events_total{outcome=\"ignored\"}") == 2);
  CHECK(MetricValue(metrics, "flowwatch_source_blob_events_total{outcome=\"retried\"}") == 0);
  const std::set<std::string> served = ServedNames(metrics);
  for (const std::string& n : served) {
    INFO("served but not in docs/metrics.md: " << n);
    CHECK(DocumentedNames().count(n) == 1);
  }
  for (const auto& [n, by] : DocumentedNames()) {
    INFO("in docs/metrics.md as served with follow_blob_events, but not served: " << n);
    if (by == Served::kBlobEvents) CHECK(served.count(n) == 1);
  }
  CHECK(served.count("flowwatch_source_blob_requests_total") == 1);
  REQUIRE(d->Stop().first == 0);
  const Summary s = d->summary();
  CHECK(s.tuples == kTuples);
  CHECK(s.late_flows == 0);
  CHECK(d->log().find(kKey) == std::string::npos);  // the account key is never logged
  const RunResult r = Run({kBin, "replay", "-q", "--inventory", dir / "story/inventory.csv", "--alerts",
                           dir / "replay-alerts.jsonl", dir / "live", dir / "heartbeat"});
  REQUIRE(r.exit_code == 0);
  CHECK(SortedLines(d->alerts()) == SortedLines(Slurp(dir / "replay-alerts.jsonl")));
  const size_t restores = Occurrences(d->log(), "restored ");
  WARN("seed " << kills.seed << "; " << events.load() << " events; runs that restored a checkpoint: " << restores);
}

TEST_CASE("replay and ports read a blob URL prefix as they read the same blobs downloaded, and say clearly when they cannot") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  REQUIRE(Run({kBin, "gen", "--scenario", "demo", "--out", dir / "story"}).exit_code == 0);
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  Write(az, dir / "story", 0, 60, 30, kNsgContainer);
  struct Env {  // the connection string for the commands this test runs, and not beyond it
    explicit Env(const std::string& cs) { setenv("AZURE_STORAGE_CONNECTION_STRING", cs.c_str(), 1); }
    ~Env() { unsetenv("AZURE_STORAGE_CONNECTION_STRING"); }
  } env(az.connection_string());
  const std::string url = az.endpoint() + "/" + kNsgContainer;
  const std::string inventory = dir / "story/inventory.csv";

  const RunResult local = Run({kBin, "replay", "-q", "--inventory", inventory, "--alerts", dir / "local.jsonl", dir / "story"});
  REQUIRE(local.exit_code == 0);
  const RunResult remote = Run({kBin, "replay", "-q", "--inventory", inventory, "--alerts", dir / "remote.jsonl",
                                "--summary", dir / "remote-summary.json", url + "/resourceId="});
  INFO(remote.err);
  REQUIRE(remote.exit_code == 0);
  const std::string local_alerts = Slurp(dir / "local.jsonl");
  CHECK(SortedLines(Slurp(dir / "remote.jsonl")) == SortedLines(local_alerts));
  CHECK(SortedLines(local_alerts).size() == 10);  // the story's five incidents, fired and resolved
  const std::string summary = Slurp(dir / "remote-summary.json");
  CHECK(summary.find("\"tuples\":48219") != std::string::npos);
  const RunResult local_ports = Run({kBin, "ports", "--json", "--inventory", inventory, dir / "story"});
  const RunResult remote_ports = Run({kBin, "ports", "--json", "--inventory", inventory, url});
  REQUIRE(remote_ports.exit_code == 0);
  CHECK(WithoutTruncatedPeers(remote_ports.out) == WithoutTruncatedPeers(local_ports.out));

  // A prefix down to one hour: only its blobs (one a NIC).
  std::string hour_prefix;
  for (const auto& e : fs::recursive_directory_iterator(dir / "story")) {
    const std::string p = fs::relative(e.path(), dir / "story").string();
    if (e.path().filename() == "PT1H.json" && p.find("/h=23/") != std::string::npos) hour_prefix = p.substr(0, p.find("/h=23/") + 5);
  }
  REQUIRE(!hour_prefix.empty());
  const RunResult hour = Run({kBin, "replay", "-q", "--inventory", inventory, "--summary", "-", url + "/" + hour_prefix});
  REQUIRE(hour.exit_code == 0);
  CHECK(hour.out.find("\"files\":4") != std::string::npos);

  // What cannot be read is said, naming the URL and what to check, never the key.
  const RunResult no_container = Run({kBin, "replay", "-q", az.endpoint() + "/no-such-container"});
  CHECK(no_container.exit_code == 2);
  CHECK(no_container.err.find(az.endpoint() + "/no-such-container") != std::string::npos);
  const std::string other = "http://127.0.0.1:" + std::to_string(az.port()) + "/otheraccount/" + kNsgContainer;
  const RunResult wrong_account = Run({kBin, "replay", "-q", other});
  CHECK(wrong_account.exit_code == 2);
  CHECK(wrong_account.err.find("is for account devstoreaccount1") != std::string::npos);
  CHECK(wrong_account.err.find("names account otheraccount") != std::string::npos);
  const RunResult no_name = Run({kBin, "replay", "-q", az.endpoint()});
  CHECK(no_name.exit_code == 2);
  CHECK(no_name.err.find("names no container") != std::string::npos);
  for (const RunResult* r : {&remote, &no_container, &wrong_account, &no_name}) CHECK(r->err.find(kKey) == std::string::npos);
}

}  // namespace
}  // namespace flowwatch::testing
