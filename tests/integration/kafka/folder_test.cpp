// `flowwatch run` with source.files: the daemon follows a folder while the
// demo's hourly PT1H.json blobs land in it, each growing in place as Azure
// writes it (records added before the `]}` trailer, a quarter of the hour at a
// time, all of an hour's NICs together):
//  - it raises replay's alerts on the same files exactly, reads nothing twice
//    and nothing late;
//  - killed with SIGKILL again and again while the blobs land, and restarted
//    from its checkpoints, it counts every flow once (summary and the live
//    port inventory against `flowwatch ports`) and fires each incident once;
//  - a followed file replaced by the same bytes, or truncated and rewritten
//    in place, reads on from its position; one truncated for good is read
//    again from its start.
#include <random>
#include <regex>
#include <thread>

#include "tests/integration/kafka/daemon_harness.h"

namespace flowwatch::testing {
namespace {

namespace fs = std::filesystem;

// One hourly blob of the story: where it goes under the followed folder, its
// head (`{"records":[`) and its records' texts.
struct Blob {
  std::string relative;
  std::vector<std::string> records;
};

// The demo story's blobs in time order (their paths' y=/m=/d=/h= folders),
// plus a later blob whose only job is to move event time past the story's end,
// as the next hour's logs would. Records are split at Azure's block
// boundaries (`,` between records).
std::vector<Blob> StoryBlobs(const TempDir& dir, uint64_t* tuples) {
  const RunResult gen = Run({kBin, "gen", "--scenario", "demo", "--out", dir / "story"});
  REQUIRE(gen.exit_code == 0);
  std::vector<Blob> blobs;
  for (const auto& e : fs::recursive_directory_iterator(dir / "story")) {
    if (e.path().filename() != "PT1H.json") continue;
    Blob b;
    b.relative = fs::relative(e.path(), dir / "story").string();
    const std::string text = Slurp(e.path().string());
    constexpr std::string_view kHead = "{\"records\":[", kNext = "},{\"time\":";
    REQUIRE(text.rfind(kHead, 0) == 0);
    size_t at = kHead.size();
    for (size_t next = text.find(kNext, at); next != std::string::npos; next = text.find(kNext, at)) {
      b.records.push_back(text.substr(at, next + 1 - at));
      at = next + 2;
    }
    b.records.push_back(text.substr(at, text.size() - 2 - at));  // up to the `]}` trailer
    blobs.push_back(std::move(b));
  }
  std::sort(blobs.begin(), blobs.end(), [](const Blob& a, const Blob& b) { return a.relative < b.relative; });
  blobs.push_back({"resourceId=/HEARTBEAT/y=2021/m=05/d=04/h=00/m=00/macAddress=000D3A000004/PT1H.json",
                   {R"({"time":"2021-05-04T00:10:30Z","macAddress":"000D3A000004","category":"NetworkSecurityGroupFlowEvent",)"
                    R"("resourceId":"/HEARTBEAT","properties":{"Version":2,"flows":[{"rule":"hb","flows":[{"mac":"000D3A000004",)"
                    R"("flowTuples":["1620087000,10.0.1.7,10.0.1.6,50000,9,T,O,A,B,,,,"]}]}]}})"}});
  *tuples = 48219 + 1;  // the demo's tuples (see the generator tests) and the heartbeat's
  return blobs;
}

// The hour folder of a blob's path ("y=2021/m=05/d=03/h=07").
std::string HourOf(const std::string& relative) {
  const size_t y = relative.find("/y=");
  return relative.substr(y, relative.find("/m=", relative.find("/h=", y)) - y);
}

// Writes the blobs into `into` as Azure does: each hour's blobs appear
// together and grow in place, a quarter of their records at a time (the
// trailer overwritten by the next records and a new trailer). pause between
// steps; stops early when `stop` is set.
void Land(const std::vector<Blob>& blobs, const std::string& into, std::chrono::milliseconds pause,
          const std::atomic<bool>& stop) {
  for (size_t first = 0; first < blobs.size() && !stop.load();) {
    size_t last = first;
    while (last < blobs.size() && HourOf(blobs[last].relative) == HourOf(blobs[first].relative)) ++last;
    std::vector<size_t> written(last - first, 0);  // records written so far, per blob
    for (int quarter = 1; quarter <= 4 && !stop.load(); ++quarter) {
      for (size_t i = first; i < last; ++i) {
        const Blob& b = blobs[i];
        const std::string path = into + "/" + b.relative;
        size_t& done = written[i - first];
        const size_t upto = std::max<size_t>(1, b.records.size() * static_cast<size_t>(quarter) / 4);
        if (upto <= done) continue;
        std::string add;
        for (size_t r = done; r < upto; ++r) add += (r == 0 ? "" : ",") + b.records[r];
        add += "]}";
        if (done == 0) {
          fs::create_directories(fs::path(path).parent_path());
          std::ofstream(path, std::ios::binary) << "{\"records\":[" << add;
        } else {
          std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
          f.seekp(-2, std::ios::end);  // over the trailer
          f << add;
        }
        done = upto;
      }
      std::this_thread::sleep_for(pause);
    }
    first = last;
  }
}

// Replay's alerts and port inventory over the landed folder.
std::pair<std::vector<std::string>, std::string> ReplayFolder(const TempDir& dir, const std::string& folder) {
  const RunResult r = Run({kBin, "replay", "-q", "--inventory", dir / "story/inventory.csv", "--alerts",
                           dir / "replay-alerts.jsonl", folder});
  REQUIRE(r.exit_code == 0);
  const RunResult ports = Run({kBin, "ports", "--json", "--inventory", dir / "story/inventory.csv", folder});
  REQUIRE(ports.exit_code == 0);
  return {SortedLines(Slurp(dir / "replay-alerts.jsonl")), ports.out};
}

DaemonConfig FolderConfig(const TempDir& dir) {
  DaemonConfig c;
  c.files = dir / "in";
  c.inventory = dir / "story/inventory.csv";
  c.idle_timeout = "5s";  // a slow machine must not make a NIC's next minutes late
  fs::create_directories(c.files);
  return c;
}

TEST_CASE("The daemon follows a folder while the demo's blobs land and grow in it, and raises replay's alerts once") {
  TempDir dir;
  uint64_t tuples = 0;
  const std::vector<Blob> blobs = StoryBlobs(dir, &tuples);
  const DaemonConfig c = FolderConfig(dir);
  Daemon d(dir, "d", c);
  d.Start();
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  CHECK(HttpGet(d.summary().http_listen, "/readyz").first == 200);
  std::atomic<bool> stop{false};
  Land(blobs, c.files, 20ms, stop);
  const bool done = WaitUntil([&] { return d.summary().tuples >= tuples && d.summary().alerts >= 10; }, 90s);
  INFO(d.log());
  REQUIRE(done);
  const std::string api = d.summary().http_listen;
  const auto [status, live_ports] = HttpGet(api, "/api/v1/ports");
  REQUIRE(status == 200);
  const auto [rc, took] = d.Stop();
  REQUIRE(rc == 0);
  const Summary s = d.summary();
  CHECK(s.tuples == tuples);
  CHECK(s.duplicates == 0);  // nothing was read twice: each blob's new records only
  CHECK(s.late_flows == 0);
  CHECK(s.errors.empty());
  const auto [replay_alerts, replay_ports] = ReplayFolder(dir, c.files);
  CHECK(SortedLines(d.alerts()) == replay_alerts);
  CHECK(WithoutTruncatedPeers(live_ports) == WithoutTruncatedPeers(replay_ports));
}

TEST_CASE("Killed with SIGKILL again and again while blobs land, the folder daemon counts every flow once and fires each incident once") {
  TempDir dir;
  uint64_t tuples = 0;
  const std::vector<Blob> blobs = StoryBlobs(dir, &tuples);
  const DaemonConfig c = FolderConfig(dir);
  std::atomic<bool> stop{false}, landed{false};
  std::thread lander([&] {
    Land(blobs, c.files, 120ms, stop);
    landed.store(true);
  });
  StopAndJoin join{&stop, &lander};
  constexpr int kRounds = 10;
  KillLoop kills = KillRepeatedly(dir, c, kRounds, [&] { return !landed.load(); });
  lander.join();
  CHECK(kills.while_busy >= kRounds / 2);  // most kills came while the blobs were still landing
  const std::unique_ptr<Daemon>& d = kills.daemon;
  // (The alert file holds every run's alerts; a summary counts its own run's.)
  const bool done = WaitUntil([&] { return d->summary().tuples >= tuples && SortedLines(d->alerts()).size() >= 10; }, 90s);
  INFO(d->log());
  INFO(d->summary_text());
  INFO(d->alerts());
  REQUIRE(done);
  std::this_thread::sleep_for(1s);  // nothing more is coming
  const std::string api = d->summary().http_listen;
  const auto [status, live_ports] = HttpGet(api, "/api/v1/ports");
  REQUIRE(status == 200);
  REQUIRE(d->Stop().first == 0);
  const Summary s = d->summary();
  CHECK(s.tuples == tuples);
  CHECK(s.late_flows == 0);
  const auto [replay_alerts, replay_ports] = ReplayFolder(dir, c.files);
  CHECK(WithoutTruncatedPeers(live_ports) == WithoutTruncatedPeers(replay_ports));
  CHECK(SortedLines(d->alerts()) == replay_alerts);
  std::string progress;
  for (uint64_t t : kills.tuples_per_kill) progress += std::to_string(t) + " ";
  const size_t restores = Occurrences(d->log(), "restored ");
  WARN("seed " << kills.seed << "; tuples per run: " << progress << "; runs that restored a checkpoint: " << restores);
  CHECK(restores >= kRounds / 2);
}

// The tuples in a record's text (each starts with its 10-digit epoch second).
uint64_t TuplesIn(const std::string& record) {
  uint64_t n = 0;
  for (size_t at = record.find("\"16"); at != std::string::npos; at = record.find("\"16", at + 1)) {
    n += at + 12 < record.size() && record[at + 11] == ',';
  }
  return n;
}

TEST_CASE("A followed file replaced by the same bytes or rewritten in place reads on, and one truncated for good is read again") {
  TempDir dir;
  uint64_t tuples = 0;
  const std::vector<Blob> blobs = StoryBlobs(dir, &tuples);
  const DaemonConfig c = FolderConfig(dir);
  std::atomic<bool> stop{false};
  Land(blobs, c.files, 0ms, stop);
  Daemon d(dir, "d", c);
  d.Start();
  REQUIRE(WaitUntil([&] { return d.summary().tuples >= tuples; }, 60s));
  const uint64_t decoded = d.summary().tuples_decoded;
  REQUIRE(decoded == tuples);
  auto path = [&](size_t i) { return c.files + "/" + blobs[i].relative; };
  // Replaced by a copy of itself (a new inode, as a copier's rename makes).
  const std::string copy = Slurp(path(10));
  std::ofstream(path(10) + ".tmp", std::ios::binary) << copy;
  fs::rename(path(10) + ".tmp", path(10));
  // Truncated and written again in place, whole, within idle_timeout.
  const std::string whole = Slurp(path(20));
  std::ofstream(path(20), std::ios::binary | std::ios::trunc) << "{\"records\":[" << blobs[20].records[0] << "]}";
  std::this_thread::sleep_for(1s);
  std::ofstream(path(20), std::ios::binary | std::ios::trunc) << whole;
  REQUIRE(WaitUntil([&] { return d.log().find("was replaced; its first") != std::string::npos; }, 30s));
  std::this_thread::sleep_for(1s);  // a few polls
  CHECK(d.summary().tuples_decoded == decoded);  // nothing read twice
  // Truncated for good: rewritten, so read again from its start.
  std::ofstream(path(30), std::ios::binary | std::ios::trunc) << "{\"records\":[" << blobs[30].records[0] << "]}";
  const uint64_t again = TuplesIn(blobs[30].records[0]);
  REQUIRE(again > 0);
  const bool reread = WaitUntil([&] { return d.summary().tuples_decoded == decoded + again; }, 30s);
  INFO(d.log());
  CHECK(reread);
  REQUIRE(d.Stop().first == 0);
  const Summary s = d.summary();
  CHECK(s.tuples_decoded == s.tuples + s.duplicates);
  CHECK(s.tuples <= tuples + again);  // its flows older than the de-duplication window count again (new data)
  CHECK(d.log().find("was truncated: reading it again from its start") != std::string::npos);
  CHECK(d.log().find(blobs[20].relative + " was") == std::string::npos);  // the one rewritten whole read on
}

}  // namespace
}  // namespace flowwatch::testing
