// The daemon against a Kafka-protocol broker process (librdkafka's mock
// cluster, mock_broker.c), with flow logs produced by kcat (an independent
// client) and `flowwatch run` as a separate process, judged by its summary file
// and its alert output:
//  - the demo story's alerts come out exactly as replay's on the same messages;
//  - two daemons in one group split the partitions, and when one is killed
//    (SIGKILL) the other takes over: every flow is applied at least once;
//  - a broker outage and injected request errors lose nothing;
//  - SIGTERM in the middle of a backlog drains and commits: a restart resumes
//    exactly there; SIGTERM at any moment of start-up exits 0;
//  - garbage between good messages is counted, skipped, and dead-lettered;
//  - SIGHUP reloads the configuration mid-stream without losing state, and a
//    broken configuration is refused while the running one stays;
//  - a real Prometheus scrapes /metrics, the per-key deviation series
//    included; /healthz and /readyz answer; the metric names served are
//    exactly those docs/metrics.md lists.
// Alert delivery to Alertmanager, the spool and the HTTP API: alerting_test.cpp.
#include <httplib.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "lib/alert/webhook_sink.h"
#include "tests/fake_token_endpoint.h"
#include "tests/integration/kafka/daemon_harness.h"
#include "tests/integration/process_util.h"

namespace flowwatch::testing {
namespace {

TEST_CASE("The daemon raises the demo story's alerts exactly as replay does") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Produce(broker, story.keyed_file);
  const auto ends = EndOffsets(broker);
  Daemon d(dir, "d", broker, {});
  d.Start();
  const bool done = WaitUntil([&] { return d.summary().alerts >= 10 && CommittedAll(d.summary(), ends); }, 90s);
  INFO(d.log());
  REQUIRE(done);
  const auto [rc, took] = d.Stop();
  REQUIRE(rc == 0);
  const Summary s = d.summary();
  REQUIRE(s.messages == story.lines.size());
  REQUIRE(s.tuples == story.tuples);
  REQUIRE(s.late_flows == 0);
  REQUIRE(SortedLines(d.alerts()) == ReplayAlerts(dir, story));
}

TEST_CASE("Two daemons split the partitions, and when one is killed the other takes over: nothing is lost") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  DaemonConfig c;
  c.group = "pair";
  Daemon a(dir, "a", broker, c), b(dir, "b", broker, c);
  a.Start();
  b.Start();
  // Both members of the group, each with its own partitions.
  const bool split = WaitUntil(
      [&] {
        const Summary sa = a.summary(), sb = b.summary();
        std::set<int> all(sa.assigned.begin(), sa.assigned.end());
        for (int p : sb.assigned) {
          if (!all.insert(p).second) return false;  // overlap
        }
        return !sa.assigned.empty() && !sb.assigned.empty() && all.size() == 4;
      },
      60s);
  INFO(a.log() << b.log());
  REQUIRE(split);
  const size_t half = story.lines.size() / 2;
  Produce(broker, WriteLines(dir, "first.ndjson", {story.lines.begin(), story.lines.begin() + half}));
  REQUIRE(WaitUntil([&] { return a.summary().messages + b.summary().messages >= half; }, 60s));
  a.Kill();
  const Summary last_a = a.summary();  // written before each of its commits: covers them
  Produce(broker, WriteLines(dir, "second.ndjson", {story.lines.begin() + half, story.lines.end()}));
  const auto ends = EndOffsets(broker);
  const bool taken_over = WaitUntil([&] { return CommittedAll(b.summary(), ends); }, 120s);
  INFO(b.log());
  REQUIRE(taken_over);
  REQUIRE(b.Stop().first == 0);
  const Summary sb = b.summary();
  REQUIRE(sb.assigned.empty());  // it left the group cleanly
  // At least once: every message's flows were applied by one daemon or the other
  // (or both, for what A applied after its last commit).
  REQUIRE(last_a.tuples + sb.tuples >= story.tuples);
  REQUIRE(last_a.messages + sb.messages >= story.lines.size());
  REQUIRE(last_a.tuples + sb.tuples <= story.tuples + last_a.tuples);
}

TEST_CASE("A broker outage and injected request errors lose nothing") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Produce(broker, story.keyed_file, /*paced=*/true);
  const auto ends = EndOffsets(broker);
  DaemonConfig c;
  // Small fetches and a slow broker spread consumption over seconds.
  c.librdkafka = kSmallFetches;
  REQUIRE(broker.Command("rtt 1 50") == "ok");
  Daemon d(dir, "d", broker, c);
  d.Start();
  REQUIRE(WaitUntil([&] { return d.summary().messages >= 300; }, 60s));
  REQUIRE(broker.Command("down 1") == "ok");
  std::this_thread::sleep_for(4s);
  REQUIRE(broker.Command("up 1") == "ok");
  REQUIRE(broker.Command("errors 1 5 6") == "ok");    // Fetch: NOT_LEADER_FOR_PARTITION x5
  REQUIRE(broker.Command("errors 8 3 27") == "ok");   // OffsetCommit: REBALANCE_IN_PROGRESS x3
  // ILLEGAL_GENERATION x2, as a commit during a rebalance gets it (librdkafka
  // #4059): librdkafka rejoins, and the assignment is lost and given back.
  REQUIRE(broker.Command("errors 8 2 22") == "ok");
  REQUIRE(broker.Command("rtt 1 0") == "ok");
  const bool done = WaitUntil([&] { return CommittedAll(d.summary(), ends) && d.summary().alerts >= 10; }, 120s);
  INFO(d.summary_text());
  INFO(d.log());
  REQUIRE(done);
  CHECK(d.summary().assigned.size() == 4);  // the assignment is whole again
  REQUIRE(d.Stop().first == 0);
  const Summary s = d.summary();
  // Whatever was fetched twice was dropped as a duplicate: each flow counts once,
  // and no partition's stall let the others make its data late.
  REQUIRE(s.tuples == story.tuples);
  REQUIRE(s.late_flows == 0);
  REQUIRE(s.tuples_decoded == s.tuples + s.duplicates);
  REQUIRE(SortedLines(d.alerts()) == ReplayAlerts(dir, story));
}

TEST_CASE("SIGTERM in the middle of a backlog drains and commits, and a restart resumes exactly there") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Produce(broker, story.keyed_file, /*paced=*/true);
  const auto ends = EndOffsets(broker);
  REQUIRE(broker.Command("rtt 1 50") == "ok");
  DaemonConfig c;
  c.group = "restart";
  c.librdkafka = kSmallFetches;
  Daemon first(dir, "first", broker, c);
  first.Start();
  REQUIRE(WaitUntil([&] { return first.summary().messages >= 500; }, 60s));
  const auto [rc, took] = first.Stop();
  INFO(first.log());
  REQUIRE(rc == 0);
  REQUIRE(took < 15s);
  const Summary s1 = first.summary();
  REQUIRE(s1.messages < story.lines.size());  // really in the middle
  int64_t committed = 0;
  for (const auto& [p, offset] : s1.committed) committed += offset;
  REQUIRE(static_cast<uint64_t>(committed) == s1.messages);  // everything it processed, committed

  REQUIRE(broker.Command("rtt 1 0") == "ok");
  Daemon second(dir, "second", broker, c);
  second.Start();
  REQUIRE(WaitUntil([&] { return CommittedAll(second.summary(), ends); }, 90s));
  REQUIRE(second.Stop().first == 0);
  const Summary s2 = second.summary();
  INFO(second.log());
  REQUIRE(s1.messages + s2.messages == story.lines.size());  // no message twice, none missing
  REQUIRE(s1.tuples + s2.tuples == story.tuples);
}

TEST_CASE("Garbage between good messages is counted, skipped and copied to the dead-letter topic") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 1, dir / "broker.log");
  REQUIRE(broker.Command("topic flowlogs-dlq 1") == "ok");
  const std::vector<std::string> garbage = {"k\tnot json at all", "k\t{\"records\":[{\"time\":\"2021-05-03T00:01:00Z\"",
                                            "k\t\x01\x02\x03 binary", "k\t[1,2,3]", "k\t{\"hello\":\"world\"}"};
  std::vector<std::string> lines;
  uint64_t good = 0;
  for (size_t i = 0; i < 40; ++i) {
    lines.push_back("k\t" + story.lines[i].substr(story.lines[i].find('\t') + 1));
    ++good;
    if (i % 8 == 7) lines.push_back(garbage[i / 8]);
  }
  Produce(broker, WriteLines(dir, "mixed.ndjson", lines));
  DaemonConfig c;
  c.dead_letter_topic = "flowlogs-dlq";
  Daemon d(dir, "d", broker, c);
  d.Start();
  REQUIRE(WaitUntil([&] { return d.summary().messages >= lines.size() && d.summary().dead_lettered >= 5; }, 60s));
  REQUIRE(d.Stop().first == 0);
  const Summary s = d.summary();
  INFO(d.log());
  REQUIRE(s.messages == lines.size());
  REQUIRE(s.poison == garbage.size());
  REQUIRE(s.dead_lettered == garbage.size());
  REQUIRE(s.errors.count("bad_json") == 1);
  REQUIRE(s.errors.at("bad_json") >= 3);
  REQUIRE(s.errors.count("unknown_format") == 1);
  REQUIRE(s.errors.at("unknown_format") >= 2);
  REQUIRE(s.committed.at(0) == static_cast<int64_t>(lines.size()));  // committed past the garbage

  // The good messages' tuples all arrived, as replay counts them.
  std::vector<std::string> bodies;
  for (size_t i = 0; i < good; ++i) bodies.push_back(story.lines[i].substr(story.lines[i].find('\t') + 1));
  std::filesystem::create_directories(dir / "good");
  WriteLines(dir, "good/good.ndjson", bodies);
  const RunResult r = Run({kBin, "replay", "-q", "--summary", dir / "good-summary.json", dir / "good"});
  REQUIRE(r.exit_code == 0);
  REQUIRE(ReadSummary(dir / "good-summary.json").tuples == s.tuples);

  // The dead-letter topic holds the garbage, byte for byte.
  Process consume({"kcat", "-C", "-b", broker.bootstrap(), "-t", "flowlogs-dlq", "-e", "-q", "-o", "beginning"}, "",
                  "", false, true);
  std::set<std::string> dlq;
  char buf[4096];
  while (fgets(buf, sizeof buf, consume.out())) {
    std::string m(buf);
    if (!m.empty() && m.back() == '\n') m.pop_back();
    dlq.insert(m);
  }
  consume.Wait(30s);
  std::set<std::string> expected;
  for (const std::string& g : garbage) expected.insert(g.substr(2));
  REQUIRE(dlq == expected);
}


TEST_CASE("SIGHUP reloads the configuration mid-stream without losing state, and refuses a broken one") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Daemon d(dir, "d", broker, {});
  const std::string good_config = Slurp(d.config_path());
  d.Start();
  const size_t half = story.lines.size() / 2;
  Produce(broker, WriteLines(dir, "first.ndjson", {story.lines.begin(), story.lines.begin() + half}));
  REQUIRE(WaitUntil([&] { return d.summary().messages >= half; }, 60s));

  // A broken file: refused, named, and the daemon goes on with what it had.
  std::ofstream(d.config_path()) << good_config << "detection:\n  min_ratio: banana\n";
  d.Signal(SIGHUP);
  REQUIRE(WaitUntil([&] { return d.log().find("keeping the running configuration") != std::string::npos; }, 20s));
  CHECK(d.log().find("min_ratio") != std::string::npos);

  // The good file again: reloaded (inventory re-read, thresholds in force).
  std::ofstream(d.config_path()) << good_config;
  d.Signal(SIGHUP);
  REQUIRE(WaitUntil([&] { return d.log().find("reload: thresholds") != std::string::npos; }, 20s));

  Produce(broker, WriteLines(dir, "second.ndjson", {story.lines.begin() + half, story.lines.end()}));
  const auto ends = EndOffsets(broker);
  const bool done = WaitUntil([&] { return d.summary().alerts >= 10 && CommittedAll(d.summary(), ends); }, 90s);
  INFO(d.log());
  REQUIRE(done);
  REQUIRE(d.Stop().first == 0);
  // Baselines learnt before the reloads carried through them: the alerts are
  // exactly replay's, every flow counted once.
  const Summary s = d.summary();
  REQUIRE(s.tuples == story.tuples);
  REQUIRE(SortedLines(d.alerts()) == ReplayAlerts(dir, story));
}

TEST_CASE("Prometheus scrapes the daemon, a webhook gets each alert once and signed, and docs/metrics.md lists what is served") {
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  WebhookReceiver receiver;
  setenv("FW_TEST_WEBHOOK_SECRET", "hook-secret", 1);
  DaemonConfig c;
  c.webhook_url = receiver.url();
  Daemon d(dir, "d", broker, c);
  d.Start();
  // Before any partition is assigned: alive, not ready.
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  const std::string target = d.summary().http_listen;
  CHECK(HttpGet(target, "/healthz").first == 200);
  REQUIRE(WaitUntil([&] { return HttpGet(target, "/readyz").first == 200; }, 60s));

  Produce(broker, story.keyed_file);
  const auto ends = EndOffsets(broker);
  REQUIRE(WaitUntil([&] { return d.summary().alerts >= 10 && CommittedAll(d.summary(), ends); }, 90s));

  std::optional<Prometheus> prometheus(std::in_place, dir, target);
  const double messages = static_cast<double>(story.lines.size());
  const bool scraped = WaitUntil(
      [&] { return prometheus->Value("flowwatch_decode_messages_total{job=\"flowwatch\"}") == messages; }, 60s);
  INFO(Slurp(dir / "prometheus.log"));
  REQUIRE(scraped);
  CHECK(prometheus->Value("up{job=\"flowwatch\"}") == 1);
  CHECK(prometheus->Value("flowwatch_shard_tuples_applied_total") == static_cast<double>(story.tuples));
  CHECK(prometheus->Value("flowwatch_source_partitions_assigned") == 4);
  CHECK(prometheus->Value("count(flowwatch_source_partition_lag_messages)") == 4);
  CHECK(prometheus->Value("sum(flowwatch_source_partition_lag_messages)") == 0);  // caught up
  CHECK(prometheus->Value("sum(flowwatch_decode_errors_total)") == 0);
  CHECK(prometheus->Value("sum(flowwatch_alert_events_total)") == static_cast<double>(d.summary().alerts));
  CHECK(prometheus->Value("sum(flowwatch_alert_events_total{status=\"firing\"})") == 5);
  CHECK(prometheus->Value("sum(flowwatch_source_partition_messages_total)") == messages);
  // Traffic: ingress and egress add up to all bytes, and so do the (four, so all) busiest VMs.
  const double bytes = prometheus->Value("flowwatch_traffic_bytes_total");
  CHECK(bytes > 0);
  CHECK(prometheus->Value("sum(flowwatch_traffic_vm_bytes_total)") == bytes);
  CHECK(prometheus->Value("sum(flowwatch_traffic_top_vm_bytes_total)") == bytes);
  CHECK(prometheus->Value("count(flowwatch_traffic_top_vm_bytes_total{way=\"ingress\"})") == 4);
  CHECK(prometheus->Value("flowwatch_traffic_vm_bytes_total{way=\"ingress\",peer_class=\"external\"}") > 0);
  // The per-key series: the keys closest to firing (every incident has resolved by the story's end).
  CHECK(prometheus->Value("count(flowwatch_deviation_ratio)") >= 1);
  CHECK(prometheus->Value("sum(flowwatch_deviation_firing)") == 0);
  CHECK(prometheus->Value("flowwatch_deviation_baseline_bytes{vm=\"vm03\",port=\"1433\",direction=\"inbound\"}") > 0);
  CHECK(WaitUntil([&] { return prometheus->Value("flowwatch_alert_deliveries_total{outcome=\"delivered\"}") ==
                               static_cast<double>(d.summary().alerts); }, 20s));
  prometheus.reset();

  const auto [status, body] = HttpGet(target, "/metrics");
  REQUIRE(status == 200);
  const std::set<std::string> served = ServedNames(body);
  const std::map<std::string, Served> documented = DocumentedNames();
  for (const std::string& n : served) {
    INFO("served but not in docs/metrics.md: " << n);
    CHECK(documented.count(n) == 1);
  }
  for (const auto& [n, by] : documented) {
    INFO("in docs/metrics.md as served by every daemon, or not by one from Kafka alone: " << n);
    CHECK(served.count(n) == (by == Served::kAlways));
  }
  REQUIRE(d.Stop().first == 0);

  // The webhook got every alert of the alert file once, signed with the secret.
  const std::vector<std::string> written = SortedLines(d.alerts());
  std::vector<std::string> received;
  for (const auto& [body, meta] : receiver.calls()) {
    received.push_back(body);
    CHECK(meta == "sha256=" + alert::HmacSha256Hex("hook-secret", body) + " netsec");
  }
  std::sort(received.begin(), received.end());
  REQUIRE(received == written);
  CHECK(d.log().find("hook-secret") == std::string::npos);  // the secret is never logged
}

TEST_CASE("SIGTERM at any moment of start-up, the first group join included, exits 0 within the grace period") {
  // librdkafka 2.0.2 can abort in rd_kafka_sticky_assignor_state_destroy when
  // a consumer is closed before its first assignment (librdkafka #4312).
  TempDir dir;
  const Story story = MakeStory(dir);
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  Produce(broker, story.keyed_file, /*paced=*/false);
  DaemonConfig c;
  c.group = "startup";
  int run = 0;
  for (const int ms : {100, 300, 600, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000}) {
    Daemon d(dir, "d" + std::to_string(run++), broker, c);
    d.Start();
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    const auto [rc, took] = d.Stop();
    INFO("stopped " << ms << " ms after start: " << d.log());
    CHECK(rc == 0);
    CHECK(took < 15s);
  }
}

TEST_CASE("With Entra ID the daemon gets its Event Hubs token from the configured credential and logs neither token nor secret") {
  // The test broker has no SASL: no broker checks the token here (that takes
  // a real Event Hub); the token exchange, its metric and the logs are tested.
  TempDir dir;
  MockBroker broker(kMockBroker, 1, kTopic, 1, dir / "broker.log");
  std::filesystem::create_directories(dir / "story");
  std::ofstream(dir / "story/inventory.csv") << "name,ip,mac\nvm01,10.0.1.4,000D3A000001\n";
  FakeTokenEndpoint endpoint;
  setenv("FW_TEST_CLIENT_SECRET", "client-s3cr3t", 1);
  DaemonConfig c;
  c.group = "entra";
  c.kafka_yaml = "    event_hubs_namespace: contoso\n";
  c.librdkafka = {{"security.protocol", "SASL_PLAINTEXT"}};  // the test broker has no TLS
  c.extra_yaml = "azure:\n  credential: client_secret\n  tenant_id: tenant-1\n  client_id: client-1\n"
                 "  client_secret: \"${FW_TEST_CLIENT_SECRET}\"\n  authority_host: \"" + endpoint.url() + "\"\n";
  Daemon d(dir, "d", broker, c);
  d.Start();
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  const std::string target = d.summary().http_listen;
  REQUIRE(WaitUntil([&] {
    return HttpGet(target, "/metrics").second.find("flowwatch_azure_token_requests_total{result=\"ok\"} 1\n") !=
           std::string::npos;
  }, 20s));
  const auto [rc, took] = d.Stop();
  INFO(d.log());
  CHECK(rc == 0);
  const auto requests = endpoint.requests();
  REQUIRE(requests.size() == 1);  // the consumer's; nothing else needed one
  CHECK(requests[0].path == "/tenant-1/oauth2/v2.0/token");
  CHECK(requests[0].fields.at("scope") == "https://contoso.servicebus.windows.net/.default");
  CHECK(requests[0].fields.at("client_secret") == "client-s3cr3t");
  CHECK(d.log().find("Entra ID token for client-1 (client_secret)") != std::string::npos);
  CHECK(d.log().find("client-s3cr3t") == std::string::npos);
  CHECK(d.log().find("token-1") == std::string::npos);

  // A credential that lacks what it needs is a configuration error that names the key.
  unsetenv("AZURE_FEDERATED_TOKEN_FILE");
  DaemonConfig bad = c;
  bad.extra_yaml = "azure:\n  credential: workload_identity\n  tenant_id: t\n  client_id: c\n";
  Daemon b(dir, "bad", broker, bad);
  b.Start();
  CHECK(b.Wait(30s) == 2);
  CHECK(b.log().find("azure.federated_token_file: needed by credential workload_identity (or set "
                     "AZURE_FEDERATED_TOKEN_FILE)") != std::string::npos);
}

}  // namespace
}  // namespace flowwatch::testing
