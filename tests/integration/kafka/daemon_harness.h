// What the daemon's integration tests share: the demo story as Event Hubs
// messages, producing them with kcat, a `flowwatch run` process with its
// configuration, summary and alert file, replay's alerts for comparison, an
// HTTP GET, and a webhook receiver on 127.0.0.1.
#pragma once

#include <httplib.h>
#include <simdjson.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <thread>
#include <random>
#include <memory>
#include <functional>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "tests/integration/kafka/harness.h"
#include "tests/integration/process_util.h"

namespace flowwatch::testing {

const std::string kBin = FW_FLOWWATCH_BIN;
const std::string kMockBroker = FW_MOCK_BROKER_BIN;
const std::string kTopic = "flowlogs";

// The demo story as Event Hubs messages ("<MAC>\t<message>" lines), plus one
// later message whose only job is to move event time past the story's end, as
// the next minute's logs would.
struct Story {
  std::string keyed_file;            // for kcat -K '\t' -l
  std::vector<std::string> lines;    // keyed lines
  uint64_t tuples = 0;
};

inline Story MakeStory(const TempDir& dir) {
  Story s;
  const RunResult gen = Run({kBin, "gen", "--scenario", "demo", "--messages", "--out", dir / "story"});
  REQUIRE(gen.exit_code == 0);
  s.keyed_file = dir / "story/messages.ndjson";
  {
    std::ofstream(s.keyed_file, std::ios::app)
        << "000D3A000004\t"
        << R"({"records":[{"time":"2021-05-04T00:10:30Z","macAddress":"000D3A000004","category":"NetworkSecurityGroupFlowEvent",)"
        << R"("resourceId":"/HEARTBEAT","properties":{"Version":2,"flows":[{"rule":"hb","flows":[{"mac":"000D3A000004",)"
        << R"("flowTuples":["1620087000,10.0.1.7,10.0.1.6,50000,9,T,O,A,B,,,,"]}]}]}}]})" << "\n";
  }
  std::istringstream in(Slurp(s.keyed_file));
  std::string line;
  while (std::getline(in, line)) s.lines.push_back(line);
  s.tuples = 48219 + 1;  // the demo's tuples (see the generator tests) and the heartbeat's
  return s;
}

// The story's lines before event time `until` ("2021-05-03T23:45": the jump
// at 23:30 fires and has not resolved) and the rest.
inline std::pair<std::vector<std::string>, std::vector<std::string>> SplitStory(const Story& story,
                                                                                const std::string& until) {
  std::pair<std::vector<std::string>, std::vector<std::string>> out;
  for (const std::string& l : story.lines) {
    const size_t t = l.find("\"time\":\"");
    (t != std::string::npos && l.compare(t + 8, until.size(), until) < 0 ? out.first : out.second).push_back(l);
  }
  return out;
}

// paced: one message per batch, so that fetch-size limits and broker latency
// spread consumption over seconds (a fetch always returns at least one batch).
// max_message_bytes: raises kcat's limit (1,000,000 by default) for larger messages.
inline void Produce(const MockBroker& broker, const std::string& keyed_file, bool paced = false,
                    int max_message_bytes = 0) {
  std::vector<std::string> argv = {"kcat", "-P", "-b", broker.bootstrap(), "-t", kTopic, "-K", "\t", "-l", keyed_file};
  if (paced) argv.insert(argv.begin() + 1, {"-X", "batch.num.messages=1"});
  if (max_message_bytes > 0) argv.insert(argv.begin() + 1, {"-X", "message.max.bytes=" + std::to_string(max_message_bytes)});
  REQUIRE(RunToEnd(argv) == 0);
}

// Small fetches for paced consumption (librdkafka wants fetch.max.bytes >= message.max.bytes).
const std::map<std::string, std::string> kSmallFetches = {
    {"message.max.bytes", "32768"}, {"fetch.max.bytes", "32768"}, {"max.partition.fetch.bytes", "8192"}};

inline std::string WriteLines(const TempDir& dir, const std::string& name, const std::vector<std::string>& lines) {
  std::ofstream out(dir / name);
  for (const std::string& l : lines) out << l << "\n";
  return dir / name;
}

// Offsets one past the last message of each partition, as kcat sees them.
inline std::map<int, int64_t> EndOffsets(const MockBroker& broker, const std::string& topic = kTopic) {
  Process p({"kcat", "-C", "-b", broker.bootstrap(), "-t", topic, "-e", "-q", "-o", "beginning", "-f", "%p %o\\n"}, "",
            "", false, true);
  std::map<int, int64_t> ends;
  char line[128];
  while (fgets(line, sizeof line, p.out())) {
    int partition = 0;
    long long offset = 0;
    if (sscanf(line, "%d %lld", &partition, &offset) == 2) ends[partition] = std::max<int64_t>(ends[partition], offset + 1);
  }
  p.Wait(30s);
  return ends;
}

inline bool CommittedAll(const Summary& s, const std::map<int, int64_t>& ends) {
  for (const auto& [p, end] : ends) {
    auto it = s.committed.find(p);
    if (it == s.committed.end() || it->second < end) return false;
  }
  return true;
}

struct DaemonConfig {
  std::string group = "flowwatch";
  std::string dead_letter_topic;
  std::map<std::string, std::string> librdkafka;
  std::string kafka_yaml;  // more keys of source.kafka, each line indented by 4
  int decoders = 2;
  int shards = 2;
  std::string webhook_url;  // with secret ${FW_TEST_WEBHOOK_SECRET}
  std::string webhooks_yaml;  // more entries of alerts.webhooks, as YAML list items indented by 4
  std::string rate_limit_yaml = "{max: 0}";
  std::string http_token;
  std::string checkpoint_interval = "1s";  // Kafka commits follow checkpoints
  int session_timeout_ms = 6000;
  std::string inventory;   // default: the story's
  std::string extra_yaml;  // more top-level configuration
  std::string files;       // source.files: this folder instead of Kafka
  std::string blob_yaml;   // source.blob instead of Kafka: its keys, each line indented by 4
  bool follow_blob_events = false;  // with a broker: Kafka carries BlobCreated events for source.blob's blobs
  std::string idle_timeout = "2s";
};

class Daemon {
 public:
  Daemon(const TempDir& dir, const std::string& name, const MockBroker& broker, const DaemonConfig& c)
      : Daemon(dir, name, &broker, c) {}
  // Without a broker: c.files names the folder to follow, or c.blob_yaml the blobs.
  Daemon(const TempDir& dir, const std::string& name, const DaemonConfig& c) : Daemon(dir, name, nullptr, c) {}

 private:
  Daemon(const TempDir& dir, const std::string& name, const MockBroker* broker, const DaemonConfig& c)
      : dir_(dir / name), config_(dir_ + "/flowwatch.yaml"), summary_(dir_ + "/state/summary.json"),
        alerts_(dir_ + "/alerts.jsonl") {
    std::filesystem::create_directories(dir_);
    std::ofstream cfg(config_);
    if (!c.files.empty()) {
      cfg << "source:\n  files: [\"" << c.files << "\"]\n  poll_interval: 200ms\n";
    } else if (!c.blob_yaml.empty() && !c.follow_blob_events) {
      cfg << "source:\n  blob:\n" << c.blob_yaml;
    } else {
      cfg << "source:\n  kafka:\n    brokers: \"" << broker->bootstrap() << "\"\n    topic: " << kTopic
          << "\n    group_id: " << c.group << "\n    commit_interval: 1s\n";
      if (!c.dead_letter_topic.empty()) cfg << "    dead_letter_topic: " << c.dead_letter_topic << "\n";
      cfg << c.kafka_yaml;
      cfg << "    librdkafka:\n      session.timeout.ms: \"" << c.session_timeout_ms
          << "\"\n      heartbeat.interval.ms: \"" << c.session_timeout_ms / 6 << "\"\n";
      for (const auto& [k, v] : c.librdkafka) cfg << "      " << k << ": \"" << v << "\"\n";
      if (c.follow_blob_events) cfg << "    follow_blob_events: true\n  blob:\n" << c.blob_yaml;
    }
    cfg << "  idle_timeout: " << c.idle_timeout << "\ninventory:\n  file: " << (c.inventory.empty() ? dir / "story/inventory.csv" : c.inventory)
        << "\nstate:\n  dir: " << dir_
        << "/state\n  checkpoint_interval: " << c.checkpoint_interval << "\nalerts:\n  file: " << alerts_ << "\n";
    cfg << "  rate_limit: " << c.rate_limit_yaml << "\n";
    if (!c.webhook_url.empty() || !c.webhooks_yaml.empty()) cfg << "  webhooks:\n" << c.webhooks_yaml;
    if (!c.webhook_url.empty()) {
      cfg << "    - url: \"" << c.webhook_url << "\"\n      secret: \"${FW_TEST_WEBHOOK_SECRET}\"\n"
          << "      headers: {X-Team: netsec}\n";
    }
    cfg << "pipeline:\n  decoders: " << c.decoders
        << "\n  shards: " << c.shards << "\nhttp:\n  listen: \"127.0.0.1:0\"\n  token: \"" << c.http_token
        << "\"\nlog:\n  level: info\n" << c.extra_yaml;
  }

 public:
  void Start() {
    process_ = std::make_unique<Process>(std::vector<std::string>{kBin, "run", "--config", config_},
                                         dir_ + "/stdout.log", dir_ + "/daemon.log");
  }
  // SIGTERM; returns the exit code and how long the daemon took to exit.
  std::pair<int, std::chrono::milliseconds> Stop() {
    const auto t0 = std::chrono::steady_clock::now();
    process_->Signal(SIGTERM);
    const int rc = process_->Wait(60s);
    return {rc, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)};
  }
  void Signal(int sig) { process_->Signal(sig); }
  pid_t pid() const { return process_->pid(); }
  // Waits for the process to end by itself; its exit code.
  int Wait(std::chrono::milliseconds timeout) { return process_->Wait(timeout); }
  const std::string& config_path() const { return config_; }
  void Kill() {
    process_->Signal(SIGKILL);
    process_->Wait(10s);
  }
  Summary summary() const { return ReadSummary(summary_); }
  std::string state_dir() const { return dir_ + "/state"; }
  // Forgets the last run's summary (before a restart, to see the new run's).
  void RemoveSummary() const { std::filesystem::remove(summary_); }
  std::string summary_text() const { return Slurp(summary_); }
  std::string alerts() const { return Slurp(alerts_); }
  std::string log() const { return Slurp(dir_ + "/daemon.log"); }

 private:
  std::string dir_;
  std::string config_;
  std::string summary_;
  std::string alerts_;
  std::unique_ptr<Process> process_;
};

// Sets a stop flag and joins a thread when it goes out of scope, so that a
// failing REQUIRE does not leave a helper thread running.
struct StopAndJoin {
  std::atomic<bool>* stop;
  std::thread* thread;
  ~StopAndJoin() {
    stop->store(true);
    if (thread->joinable()) thread->join();
  }
};

// Kills a daemon (SIGKILL; of a followed source, or of `broker`) `rounds` times, each a random
// 0.3-2 s after it starts reading (its summary appears, after any restore),
// with the same state and alert file each time, then starts it once more
// and returns it running. In the result: its summary's tuples at each kill,
// how many kills came while `busy` held (input still arriving), and the
// random seed (the caller prints it).
struct KillLoop {
  std::unique_ptr<Daemon> daemon;
  std::vector<uint64_t> tuples_per_kill;
  int while_busy = 0;
  unsigned seed = 0;
};
inline KillLoop KillRepeatedly(const TempDir& dir, const DaemonConfig& c, int rounds, const std::function<bool()>& busy,
                               const MockBroker* broker = nullptr) {
  KillLoop out;
  out.seed = std::random_device{}();
  INFO("seed " << out.seed);
  std::mt19937 rng(out.seed);
  std::uniform_int_distribution<int> delay_ms(300, 2000);
  for (int round = 0; round <= rounds; ++round) {
    out.daemon = broker ? std::make_unique<Daemon>(dir, "d", *broker, c) : std::make_unique<Daemon>(dir, "d", c);
    out.daemon->RemoveSummary();
    out.daemon->Start();
    if (round == rounds) break;
    REQUIRE(WaitUntil([&] { return out.daemon->summary().present; }, 30s));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    out.while_busy += busy();
    out.daemon->Kill();
    out.tuples_per_kill.push_back(out.daemon->summary().tuples);
  }
  return out;
}

// A port inventory without the top peers of keys whose peer list is truncated:
// past ports.max_peers_per_key a key keeps the peers that came first, and the
// hours decoded side by side (by two decoders, here and in replay) arrive in
// an order of their own. Every count stays exact.
inline std::string WithoutTruncatedPeers(const std::string& json) {
  static const std::regex kTruncated(R"re(("peers_truncated":true,)"top_peers":\[[^\]]*\],)re");
  return std::regex_replace(json, kTruncated, "$1");
}

// How many times `what` occurs in text (e.g. a line in a log).
inline size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

inline std::vector<std::string> SortedLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

// Replays the story's messages as one NDJSON file and returns its alert lines.
inline std::vector<std::string> ReplayAlerts(const TempDir& dir, const Story& story) {
  std::vector<std::string> bodies;
  for (const std::string& l : story.lines) bodies.push_back(l.substr(l.find('\t') + 1));
  std::filesystem::create_directories(dir / "replay");
  WriteLines(dir, "replay/story.ndjson", bodies);
  const RunResult r = Run({kBin, "replay", "-q", "--inventory", dir / "story/inventory.csv", "--alerts",
                           dir / "replay-alerts.jsonl", dir / "replay"});
  REQUIRE(r.exit_code == 0);
  return SortedLines(Slurp(dir / "replay-alerts.jsonl"));
}

// GET http://host:port/path on 127.0.0.1; the status and body.
inline std::pair<int, std::string> HttpGet(const std::string& host_port, const std::string& path) {
  const size_t colon = host_port.rfind(':');
  httplib::Client client(host_port.substr(0, colon), std::stoi(host_port.substr(colon + 1)));
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  auto res = client.Get(path.c_str());
  if (!res) return {-1, ""};
  return {res->status, res->body};
}

// Metric names that a /metrics text declares (its # TYPE lines).
inline std::set<std::string> ServedNames(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) names.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  return names;
}

// Which daemons serve a metric, as its row in docs/metrics.md says.
enum class Served {
  kAlways,
  kFollowed,    // only a daemon following files or blobs ("with `source.files` or `source.blob`", "with `source.blob`")
  kBlobEvents,  // only with BlobCreated events on Kafka ("with `source.kafka.follow_blob_events`")
};
// Metric names that docs/metrics.md lists, and which daemons serve each.
inline std::map<std::string, Served> DocumentedNames() {
  std::map<std::string, Served> names;
  std::istringstream in(Slurp(std::string(FW_SOURCE_DIR) + "/docs/metrics.md"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `flowwatch_", 0) != 0) continue;
    Served& s = names[line.substr(3, line.find('`', 3) - 3)];
    s = Served::kAlways;
    if (line.find("| with `source.files` or `source.blob`") != std::string::npos ||
        line.find("| with `source.blob`") != std::string::npos) {
      s = Served::kFollowed;
    } else if (line.find("| with `source.kafka.follow_blob_events`") != std::string::npos) {
      s = Served::kBlobEvents;
    }
  }
  return names;
}

// The value of a series (`name` or `name{label="v",...}` as served) in a
// /metrics text; -1 if absent.
inline double MetricValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// A real Prometheus (the Debian package) on 127.0.0.1 scraping `target` every
// second as job "flowwatch", evaluating `rule_files` every second; stopped by
// the destructor.
class Prometheus {
 public:
  Prometheus(const TempDir& dir, const std::string& target, const std::vector<std::string>& rule_files = {})
      : port_(FreePort()) {
    {
      std::ofstream cfg(dir / "prometheus.yml");
      cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n";
      if (!rule_files.empty()) {
        cfg << "rule_files:\n";
        for (const std::string& f : rule_files) cfg << "  - \"" << f << "\"\n";
      }
      cfg << "scrape_configs:\n  - job_name: flowwatch\n    static_configs:\n"
          << "      - targets: [\"" << target << "\"]\n";
    }
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"prometheus", "--config.file=" + dir / "prometheus.yml",
                                 "--storage.tsdb.path=" + dir / "tsdb",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        "", dir / "prometheus.log");
  }
  ~Prometheus() {
    process_->Signal(SIGTERM);
    process_->Wait(std::chrono::seconds(20));
  }
  // GET path on the Prometheus HTTP API: the body, "" on failure.
  std::string Get(const std::string& path, const httplib::Params& params = {}) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10);
    auto res = client.Get(path, params, httplib::Headers{});
    return res && res->status == 200 ? res->body : "";
  }
  // An instant query's results; -1 if the query failed.
  int64_t Count(const std::string& query) const {
    simdjson::dom::parser parser;
    simdjson::dom::array result;
    if (Query(&parser, query).get(result)) return -1;
    return static_cast<int64_t>(result.size());
  }
  // The value of an instant query with one result; -1 if none.
  double Value(const std::string& query) const {
    simdjson::dom::parser parser;
    simdjson::dom::array result;
    std::string_view value;
    if (Query(&parser, query).get(result) || result.size() != 1 || result.at(0)["value"].at(1).get(value)) return -1;
    return std::stod(std::string(value));
  }

 private:
  // The "result" array of an instant query (an error if the query failed).
  simdjson::simdjson_result<simdjson::dom::element> Query(simdjson::dom::parser* parser, const std::string& q) const {
    return parser->parse(Get("/api/v1/query", {{"query", q}}))["data"]["result"];
  }

  int port_;
  std::unique_ptr<Process> process_;
};

// A webhook receiver on 127.0.0.1 that records each call's body and signature
// (port 0: any free port).
class WebhookReceiver {
 public:
  explicit WebhookReceiver(int port = 0) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.emplace_back(req.body, req.get_header_value("X-Flowwatch-Signature") + " " + req.get_header_value("X-Team"));
      res.status = 200;
    });
    port_ = port == 0 ? server_.bind_to_any_port("127.0.0.1") : (server_.bind_to_port("127.0.0.1", port) ? port : -1);
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);  // else a quick stop() is missed
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<std::pair<std::string, std::string>> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> calls_;  // body, "signature team"
};

}  // namespace flowwatch::testing
