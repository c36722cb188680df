// The deployment's queries against the real thing. `flowwatch run` consumes
// the demo story up to the moment its incidents fire; a real Prometheus
// scrapes it and evaluates deploy/prometheus/rules.yaml. Then:
//  - every PromQL expression of the Grafana dashboard (panels, variables,
//    annotations) and of the rules names only metrics that the daemon's
//    /metrics serves, and passes `promtool check rules` as a recording rule;
//  - every dashboard query returns data from Prometheus on the demo;
//  - Prometheus loads the rules and evaluates them without error: of the
//    health alerts only "no input" is pending (nothing arrives once the story
//    is consumed), and the deviation alert fires for exactly the demo's 5
//    incidents.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>

#include "tests/integration/kafka/daemon_harness.h"
#include "tests/integration/kafka/dashboard.h"

namespace flowwatch::testing {
namespace {

const std::string kRules = std::string(FW_SOURCE_DIR) + "/deploy/prometheus/rules.yaml";

std::vector<Query> RuleQueries(const std::string& path) {
  std::vector<Query> out;
  const YAML::Node doc = YAML::LoadFile(path);
  for (const YAML::Node& group : doc["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      const std::string name = rule["alert"] ? rule["alert"].as<std::string>() : rule["record"].as<std::string>();
      out.push_back({"rule " + group["name"].as<std::string>() + "/" + name, rule["expr"].as<std::string>()});
    }
  }
  return out;
}

// `promtool check rules` on the queries written as recording rules.
RunResult PromtoolCheck(const TempDir& dir, const std::vector<Query>& queries) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "queries" << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  for (size_t i = 0; i < queries.size(); ++i) {
    out << YAML::BeginMap << YAML::Key << "record" << YAML::Value << "query:" + std::to_string(i);
    out << YAML::Key << "expr" << YAML::Value << YAML::DoubleQuoted << queries[i].expr << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  std::ofstream(dir / "queries.yaml") << out.c_str() << "\n";
  return Run({"promtool", "check", "rules", dir / "queries.yaml"});
}

// Prometheus's rules, as "group/alert" -> (health, state, alerts' "vm port direction").
struct RuleState {
  std::string health, state;
  std::set<std::string> alerts;
};
std::map<std::string, RuleState> Rules(const Prometheus& prometheus) {
  std::map<std::string, RuleState> out;
  simdjson::dom::parser parser;
  simdjson::dom::array groups;
  if (parser.parse(prometheus.Get("/api/v1/rules"))["data"]["groups"].get(groups)) return out;
  for (simdjson::dom::element g : groups) {
    std::string_view group;
    simdjson::dom::array rules;
    if (g["name"].get(group) || g["rules"].get(rules)) continue;
    for (simdjson::dom::element r : rules) {
      std::string_view name, health, state;
      if (r["name"].get(name) || r["health"].get(health)) continue;
      RuleState& s = out[std::string(group) + "/" + std::string(name)];
      s.health = health;
      if (!r["state"].get(state)) s.state = state;
      simdjson::dom::array alerts;
      if (r["alerts"].get(alerts)) continue;
      for (simdjson::dom::element a : alerts) {
        std::string_view vm, port, direction;
        if (a["labels"]["vm"].get(vm) || a["labels"]["port"].get(port) || a["labels"]["direction"].get(direction)) {
          continue;
        }
        s.alerts.insert(std::string(vm) + " " + std::string(port) + " " + std::string(direction));
      }
    }
  }
  return out;
}

TEST_CASE("Every dashboard and alert-rule query names served metrics, passes promtool and works in a real Prometheus") {
  TempDir dir;
  const Story story = MakeStory(dir);
  const auto [before, after] = SplitStory(story, "2021-05-03T23:45");
  MockBroker broker(kMockBroker, 1, kTopic, 4, dir / "broker.log");
  WebhookReceiver receiver;  // so that the delivery series exist
  setenv("FW_TEST_WEBHOOK_SECRET", "hook-secret", 1);
  DaemonConfig c;
  c.webhook_url = receiver.url();
  Daemon d(dir, "d", broker, c);
  d.Start();
  REQUIRE(WaitUntil([&] { return !d.summary().http_listen.empty(); }, 30s));
  const std::string target = d.summary().http_listen;
  Produce(broker, WriteLines(dir, "before.keyed", before));
  const auto ends = EndOffsets(broker);
  REQUIRE(WaitUntil([&] { return d.summary().alerts >= 5 && CommittedAll(d.summary(), ends); }, 90s));
  REQUIRE(WaitUntil([&] { return receiver.calls().size() >= 5; }, 30s));

  const auto [status, metrics] = HttpGet(target, "/metrics");
  REQUIRE(status == 200);
  const std::set<std::string> served = ServedNames(metrics);
  REQUIRE(served.count("flowwatch_checkpoint_age_seconds") == 1);  // a checkpoint was written
  REQUIRE(served.count("flowwatch_deviation_ratio") == 1);

  const std::vector<Query> dashboard = DashboardQueries(Slurp(kDashboard));
  const std::vector<Query> rules = RuleQueries(kRules);
  CHECK(dashboard.size() >= 20);
  std::vector<Query> all = dashboard;
  all.insert(all.end(), rules.begin(), rules.end());
  // The followed sources' row names what only source.blob or source.files
  // serves (documented so; blob_test.cpp checks that a Blob daemon serves it).
  const std::map<std::string, Served> documented = DocumentedNames();
  size_t followed = 0;
  for (const Query& q : all) {
    const std::set<std::string> names = MetricNames(q.expr);
    INFO(q.where << ": " << q.expr);
    CHECK((!names.empty() || q.expr.find("up{") != std::string::npos));
    followed += q.followed;
    for (const std::string& n : names) {
      if (q.followed) {
        INFO("not documented as served with source.blob or source.files: " << n);
        CHECK((documented.count(n) == 1 && documented.at(n) == Served::kFollowed));
      } else {
        INFO("not served: " << n);
        CHECK(served.count(n) == 1);
      }
    }
  }
  CHECK(followed >= 4);
  const RunResult promtool = PromtoolCheck(dir, all);
  INFO(promtool.out << promtool.err);
  REQUIRE(promtool.exit_code == 0);

  // A real Prometheus: the dashboard shows data, the rules evaluate.
  Prometheus prometheus(dir, target, {kRules});
  const bool scraped = WaitUntil(
      [&] { return prometheus.Count("rate(flowwatch_source_messages_total{job=\"flowwatch\"}[1m])") == 1; }, 60s);
  INFO(Slurp(dir / "prometheus.log"));
  REQUIRE(scraped);
  for (const Query& q : dashboard) {
    INFO(q.where << ": " << q.expr);
    if (q.followed) {
      CHECK(prometheus.Count(q.expr) >= 0);  // a valid query; no data from a Kafka daemon
    } else if (q.where.rfind("annotation ", 0) == 0) {
      CHECK(prometheus.Count(q.expr) >= 0);  // a valid query; the annotation marks changes only
    } else {
      CHECK(prometheus.Count(q.expr) >= 1);
    }
  }

  const std::set<std::string> incidents = {"vm01 1433 outbound", "vm01 80 outbound", "vm02 80 inbound",
                                           "vm03 1433 inbound", "vm04 1433 inbound"};
  std::map<std::string, RuleState> state;
  // The story is consumed before Prometheus starts, so from its point of
  // view no message arrives: FlowwatchNoInput is pending (for 45 minutes of
  // silence in all, it would page). Every other health alert stays quiet.
  const auto expected_state = [](const std::string& name) {
    return name == "flowwatch-health/FlowwatchNoInput" ? "pending" : "inactive";
  };
  const bool settled = WaitUntil(
      [&] {
        state = Rules(prometheus);
        bool quiet = !state.empty();
        for (const auto& [name, s] : state) {
          if (name.rfind("flowwatch-health/", 0) == 0) quiet = quiet && s.state == expected_state(name);
        }
        return quiet && state["flowwatch-deviations/FlowwatchTrafficDeviation"].alerts == incidents;
      },
      30s);
  for (const auto& [name, s] : state) {
    INFO(name << ": health " << s.health << ", state " << s.state << ", " << s.alerts.size() << " alerts");
    CHECK(s.health == "ok");
    if (name.rfind("flowwatch-health/", 0) == 0) CHECK(s.state == expected_state(name));
  }
  std::set<std::string> loaded, written;  // "group/alert" (one alert may have a rule per severity)
  for (const auto& [name, s] : state) loaded.insert(name);
  for (const Query& q : rules) written.insert(q.where.substr(5));
  CHECK(loaded == written);
  CHECK(state["flowwatch-deviations/FlowwatchTrafficDeviation"].alerts == incidents);
  CHECK(settled);
  REQUIRE(d.Stop().first == 0);
}

}  // namespace
}  // namespace flowwatch::testing
