// Alert delivery end to end, with the real servers: `flowwatch run` on the
// demo story (through the broker process), a real Alertmanager (the Debian
// package, on 127.0.0.1) that routes to a local receiver standing in for a
// pager, and a generic webhook receiver:
//  - Alertmanager gets the firing alerts, keeps them active while flowwatch
//    re-sends them, and forwards them, and later their resolutions, to the pager;
//  - the webhook, down when the alerts fire, gets each of them once, signed,
//    once it is up;
//  - the HTTP API (behind the bearer token) serves the open incidents, the
//    deviations, and the live port inventory equal to `flowwatch ports --json`;
//  - alerts undelivered at shutdown wait in the spool under state.dir and are
//    delivered by the next run.
#include <simdjson.h>

#include "lib/alert/webhook_sink.h"
#include "tests/integration/kafka/daemon_harness.h"

namespace flowwatch::testing {
namespace {

// Alertmanager routing every alert on its own to `pager_url`, resolutions included.
class Alertmanager {
 public:
  Alertmanager(const TempDir& dir, const std::string& pager_url) : port_(FreePort()) {
    {
      std::ofstream cfg(dir / "alertmanager.yml");
      cfg << "route:\n  receiver: pager\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1s\n"
          << "  repeat_interval: 1h\nreceivers:\n  - name: pager\n    webhook_configs:\n      - url: \"" << pager_url
          << "\"\n        send_resolved: true\n";
    }
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"prometheus-alertmanager", "--config.file=" + dir / "alertmanager.yml",
                                 "--storage.path=" + dir / "alertmanager", "--cluster.listen-address=",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        "", dir / "alertmanager.log");
    REQUIRE(WaitUntil([&] { return HttpGet(address(), "/-/ready").first == 200; }, 30s));
  }
  ~Alertmanager() {
    process_->Signal(SIGTERM);
    process_->Wait(20s);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string alerts_url() const { return "http://" + address() + "/api/v2/alerts"; }
  // The flowwatch alerts Alertmanager holds as active now, as "vm port direction".
  std::set<std::string> Active() const {
    std::set<std::string> out;
    const auto [status, body] = HttpGet(address(), "/api/v2/alerts?active=true&silenced=false&inhibited=false");
    simdjson::dom::parser parser;
    simdjson::dom::array alerts;
    if (status != 200 || parser.parse(body).get(alerts)) return out;
    for (simdjson::dom::element a : alerts) {
      std::string_view name, state, vm, port, direction;
      if (a["labels"]["alertname"].get(name) || name != "FlowwatchDeviation") continue;
      if (a["status"]["state"].get(state) || state != "active") continue;
      if (a["labels"]["vm"].get(vm) || a["labels"]["port"].get(port) || a["labels"]["direction"].get(direction)) continue;
      out.insert(std::string(vm) + " " + std::string(port) + " " + std::string(direction));
    }
    return out;
  }

 private:
  int port_;
  std::unique_ptr<Process> process_;
};

// What the pager got from Alertmanager: per alert ("vm port direction"), the
// statuses of the notifications that carried it, in order.
std::map<std::string, std::vector<std::string>> PagerNotifications(const WebhookReceiver& pager) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [body, meta] : pager.calls()) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc)) continue;
    simdjson::dom::array alerts;
    if (doc["alerts"].get(alerts)) continue;
    for (simdjson::dom::element a : alerts) {
      std::string_view status, vm, port, direction;
      if (a["status"].get(status) || a["labels"]["vm"].get(vm) || a["labels"]["port"].get(port) ||
          a["labels"]["direction"].get(direction)) {
        continue;
      }
      out[std::string(vm) + " " + std::string(port) + " " + std::string(direction)].push_back(std::string(status));
    }
  }
  return out;
}

size_t CountWith(const std::map<std::string, std::vector<std::string>>& n, const std::string& status) {
  size_t count = 0;
  for (const auto& [alert, statuses] : n) count += std::count(statuses.begin(), statuses.end(), status) > 0;
  return count;
}

// GET with the bearer token.
std::pair<int, std::string> ApiGet(const std::string& host_port, const std::string& path, const std::string& token) {
  const size_t colon = host_port.rfind(':');
  httplib::Client client(host_port.substr(0, colon), std::stoi(host_port.substr(colon + 1)));
  client.set_read_timeout(10);
  auto res = client.Get(path.c_str(), httplib::Headers{{"Authorization", "Bearer " + token}});
  if (!res) return {-1, ""};
  return {res->status, res->body};
}

// The webhook got every alert of the alert file once, signed with the secret.
void RequireEachAlertOnceSigned(const WebhookReceiver& receiver, const Daemon& d) {
  std::vector<std::string> received;
  for (const auto& [body, meta] : receiver.calls()) {
    received.push_back(body);
    CHECK(meta == "sha256=" + alert::HmacSha256Hex("hook-secret", body) + " netsec");
  }
  std::sort(received.begin(), received.end());
  REQUIRE(received == SortedLines(d.alerts()));
}

TEST_CASE("Alertmanager keeps the demo's alerts active while they fire and forwards them and their resolutions to a pager") {
  TempDir dir;
  const Story story = MakeStory(dir);
  // The story up to 23:45 (the jump at 23:30 fires), then the rest (it resolves).
  const auto [before, after] = SplitStory(story, "2021-05-03T23:45");
  REQUIRE(!before.empty());
  REQUIRE(!after.empty());
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  WebhookReceiver pager;
  Alertmanager am(dir, pager.url());
  const int hook_port = FreePort();  // the generic webhook: down until later
  setenv("FW_TEST_WEBHOOK_SECRET", "hook-secret", 1);
  DaemonConfig c;
  c.webhook_url = "http://127.0.0.1:" + std::to_string(hook_port) + "/hook";
  c.webhooks_yaml = "    - url: \"" + am.alerts_url() + "\"\n      format: alertmanager\n      resend_interval: 1s\n";
  c.http_token = "api-t0ken";
  Daemon d(dir, "d", broker, c);
  d.Start();
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  const std::string api = d.summary().http_listen;

  Produce(broker, WriteLines(dir, "before.keyed", before));
  const bool fired = WaitUntil([&] { return CountWith(PagerNotifications(pager), "firing") == 5; }, 90s);
  INFO(d.log());
  INFO(Slurp(dir / "alertmanager.log"));
  REQUIRE(fired);
  const std::set<std::string> expected = {"vm01 1433 outbound", "vm01 80 outbound", "vm02 80 inbound",
                                          "vm03 1433 inbound", "vm04 1433 inbound"};
  REQUIRE(am.Active() == expected);

  // The API, behind the token; the probes are open.
  CHECK(HttpGet(api, "/api/v1/alerts").first == 401);
  CHECK(HttpGet(api, "/metrics").first == 401);
  CHECK(HttpGet(api, "/healthz").first == 200);
  const auto [alerts_status, open_incidents] = ApiGet(api, "/api/v1/alerts", "api-t0ken");
  REQUIRE(alerts_status == 200);
  CHECK(Occurrences(open_incidents, "\"status\":\"firing\"") == 5);
  const auto [dev_status, deviations] = ApiGet(api, "/api/v1/deviations?vm=vm01&limit=10", "api-t0ken");
  REQUIRE(dev_status == 200);
  CHECK(deviations.find(R"({"vm":"vm01","protocol":"tcp","port":1433,"direction":"outbound")") != std::string::npos);
  CHECK(Occurrences(deviations, "\"firing\":true") == 2);
  CHECK(Occurrences(deviations, "\"vm\":\"vm0") == Occurrences(deviations, "\"vm\":\"vm01\""));  // the filter
  CHECK(ApiGet(api, "/api/v1/deviations?limit=x", "api-t0ken").first == 400);
  const auto [metrics_status, metrics] = ApiGet(api, "/metrics", "api-t0ken");
  REQUIRE(metrics_status == 200);
  CHECK(metrics.find(R"(flowwatch_deviation_firing{vm="vm01",protocol="tcp",port="1433",direction="outbound"} 1)") !=
        std::string::npos);

  // Alertmanager would let them expire 4 s after the last send; flowwatch reminds it every second.
  std::this_thread::sleep_for(6s);
  CHECK(am.Active() == expected);

  WebhookReceiver hook(hook_port);  // up at last
  Produce(broker, WriteLines(dir, "after.keyed", after));
  const auto ends = EndOffsets(broker);
  REQUIRE(WaitUntil([&] { return d.summary().alerts >= 10 && CommittedAll(d.summary(), ends); }, 90s));
  const bool resolved = WaitUntil([&] { return CountWith(PagerNotifications(pager), "resolved") == 5; }, 60s);
  REQUIRE(resolved);
  CHECK(am.Active().empty());
  for (const auto& [alert, statuses] : PagerNotifications(pager)) {
    INFO(alert);
    CHECK(statuses.front() == "firing");
    CHECK(statuses.back() == "resolved");
  }
  REQUIRE(WaitUntil([&] { return hook.calls().size() >= 10; }, 90s));
  RequireEachAlertOnceSigned(hook, d);

  // The live port inventory equals `flowwatch ports --json` over the same messages.
  ReplayAlerts(dir, story);  // writes them to dir/replay
  const RunResult ports = Run({kBin, "ports", "--json", "--vm", "vm03", "--inventory", dir / "story/inventory.csv",
                               dir / "replay"});
  REQUIRE(ports.exit_code == 0);
  const auto [ports_status, live_ports] = ApiGet(api, "/api/v1/ports?vm=vm03", "api-t0ken");
  REQUIRE(ports_status == 200);
  CHECK(live_ports == ports.out);
  CHECK(live_ports.find("\"port\":1433") != std::string::npos);
  CHECK(ApiGet(api, "/api/v1/ports?direction=sideways", "api-t0ken").first == 400);

  REQUIRE(d.Stop().first == 0);
  CHECK(d.log().find("api-t0ken") == std::string::npos);
  CHECK(d.log().find("hook-secret") == std::string::npos);
}

TEST_CASE("Alerts undelivered at shutdown wait in the spool and reach the webhook after a restart") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  const int hook_port = FreePort();  // down during the first run
  setenv("FW_TEST_WEBHOOK_SECRET", "hook-secret", 1);
  DaemonConfig c;
  c.webhook_url = "http://127.0.0.1:" + std::to_string(hook_port) + "/hook";
  Daemon d(dir, "d", broker, c);
  d.Start();
  Produce(broker, story.keyed_file);
  const auto ends = EndOffsets(broker);
  REQUIRE(WaitUntil([&] { return d.summary().alerts >= 10 && CommittedAll(d.summary(), ends); }, 90s));
  REQUIRE(d.Stop().first == 0);
  auto spooled = [&] {
    size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(d.state_dir() + "/spool")) {
      n += e.path().extension() == ".pending";
    }
    return n;
  };
  REQUIRE(spooled() == 10);
  INFO(d.log());
  CHECK(d.log().find("10 events undelivered at stop; they stay in the spool") != std::string::npos);

  WebhookReceiver hook(hook_port);
  d.Start();
  REQUIRE(WaitUntil([&] { return hook.calls().size() >= 10; }, 60s));
  REQUIRE(d.Stop().first == 0);
  RequireEachAlertOnceSigned(hook, d);
  CHECK(spooled() == 0);
  CHECK(d.log().find("10 events restored from the spool") != std::string::npos);
}

}  // namespace
}  // namespace flowwatch::testing
