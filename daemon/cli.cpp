#include "daemon/cli.h"

#include <CLI/CLI.hpp>
#include <httplib.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "daemon/replay.h"
#include "daemon/run.h"
#include "lib/alert/alert_format.h"
#include "lib/ports/port_report.h"
#include "lib/common/logging.h"
#include "lib/common/time_util.h"
#include "lib/config/config_loader.h"
#include "lib/gen/generator.h"

namespace flowwatch::app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;

// Loads --config (if given) and prints every problem. Returns false on errors.
bool LoadConfig(const std::string& path, config::Config* out) {
  if (path.empty()) return true;
  config::LoadResult r = config::LoadConfigFile(path);
  for (const std::string& e : r.errors) std::fprintf(stderr, "flowwatch: %s\n", e.c_str());
  if (!r.ok()) return false;
  *out = r.config;
  return true;
}

bool WriteFileOrStdout(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "flowwatch: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

struct ReplayArgs {
  std::string config_path;
  std::string inventory;
  std::string service_tags;
  std::string alerts;
  std::string alerts_format = "json";
  std::string summary;
  int decoders = 0;
  int shards = 0;
  bool quiet = false;
  std::vector<std::string> paths;
};

void AddPipelineFlags(CLI::App* cmd, ReplayArgs* a) {
  cmd->add_option("--config", a->config_path, "YAML configuration (detection, limits, inventory)");
  cmd->add_option("--inventory", a->inventory, "VM inventory: CSV name,ip,mac or `az vm list-ip-addresses -o json`");
  cmd->add_option("--service-tags", a->service_tags, "Microsoft ServiceTags_Public_*.json for the azure peer class");
  cmd->add_option("--decoders", a->decoders, "decoding threads (default: one per core)")->check(CLI::Range(0, 256));
  cmd->add_option("--shards", a->shards, "shard threads (default: one per core)")->check(CLI::Range(0, 256));
  cmd->add_flag("-q,--quiet", a->quiet, "no progress on stderr");
  cmd->add_option("paths", a->paths,
                  "flow-log files or folders (*.json, *.json.gz, *.ndjson), or blob URL prefixes "
                  "(https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX)")
      ->required();
}

// Applies command-line overrides to the configuration.
bool BuildOptions(const ReplayArgs& a, ReplayOptions* o) {
  if (!LoadConfig(a.config_path, &o->config)) return false;
  if (!a.inventory.empty()) o->config.inventory.file = a.inventory;
  if (!a.service_tags.empty()) o->config.inventory.service_tags_file = a.service_tags;
  if (a.decoders > 0) o->config.pipeline.decoders = a.decoders;
  if (a.shards > 0) o->config.pipeline.shards = a.shards;
  o->paths = a.paths;
  o->progress = !a.quiet;
  return true;
}

int Replay(const ReplayArgs& a) {
  ReplayOptions o;
  if (!BuildOptions(a, &o)) return kExitUsage;
  bool write_failed = false;
  const int rc = RunReplay(o, [&](const ReplayResult& r) {
    std::string lines;
    for (const Alert& alert : r.alerts) {
      lines += (a.alerts_format == "text" ? alert::AlertText(alert, *r.names, *r.classifier, r.inventory)
                                          : alert::AlertJson(alert, *r.names, *r.classifier, r.inventory)) +
               "\n";
    }
    if (!WriteFileOrStdout(a.alerts.empty() ? "-" : a.alerts, lines)) write_failed = true;
    const std::string summary = SummaryJson(r);
    if (!a.summary.empty() && !WriteFileOrStdout(a.summary, summary + "\n")) write_failed = true;
    if (!a.quiet) {
      const PipelineTotals t = Totals(r);
      std::fprintf(stderr,
                   "replay: %zu files, %llu records, %llu tuples applied, %llu duplicates dropped, %llu decode "
                   "errors, %.2f s\n",
                   r.files, static_cast<unsigned long long>(r.decode.records), static_cast<unsigned long long>(t.tuples),
                   static_cast<unsigned long long>(t.duplicates),
                   static_cast<unsigned long long>(r.decode.error_total()), r.seconds);
    }
    if (r.exit_code != 0) std::fprintf(stderr, "flowwatch: %s\n", r.error.c_str());
  });
  return write_failed && rc == 0 ? 1 : rc;
}

struct PortsArgs {
  ReplayArgs pipeline;
  std::string vm;
  std::string direction;
  std::string rule;
  int top = 5;
  bool json = false;
  bool allowed = false;
};

int Ports(const PortsArgs& a) {
  ReplayOptions o;
  if (!BuildOptions(a.pipeline, &o)) return kExitUsage;
  ports::PortReportFilter filter;
  filter.vm = a.vm;
  filter.rule = a.rule;
  filter.top_peers = a.top;
  filter.allowed_only = a.allowed;
  if (!ports::ParseDirectionFilter(a.direction, &filter.direction)) {
    std::fprintf(stderr, "flowwatch: --direction must be inbound or outbound (got '%s')\n", a.direction.c_str());
    return kExitUsage;
  }
  bool write_failed = false;
  const int rc = RunReplay(o, [&](const ReplayResult& r) {
    ports::PortReport report(*r.names, *r.classifier, r.inventory, filter);
    for (const ShardPipeline* s : r.shards) report.Add(s->ports());
    if (!WriteFileOrStdout("-", a.json ? report.Json() + "\n" : report.Table())) write_failed = true;
    if (r.exit_code != 0) std::fprintf(stderr, "flowwatch: %s\n", r.error.c_str());
  });
  return write_failed && rc == 0 ? 1 : rc;
}

struct GenArgs {
  gen::GenOptions options;
  bool hours_given = false, vms_given = false;
  std::string scenario = "demo";
  std::string format = "nsg_v2";
  std::string start;
};

int Gen(GenArgs a) {
  gen::ParseScenario(a.scenario, &a.options.scenario);
  if (a.options.scenario == gen::Scenario::kRealistic) {  // ten days of 80 VMs, unless told otherwise
    if (!a.hours_given) a.options.hours = 240;
    if (!a.vms_given) a.options.vms = 80;
  }
  a.options.format = a.format == "vnet_v4" ? RecordFormat::kVnetV4 : RecordFormat::kNsgV2;
  if (!a.start.empty() && !ParseIso8601(a.start, &a.options.start_ms)) {
    std::fprintf(stderr, "flowwatch: --start: not an ISO 8601 time: %s\n", a.start.c_str());
    return kExitUsage;
  }
  // Progress: each hour on a terminal (one line, rewritten), every 10 s otherwise.
  const bool tty = isatty(STDERR_FILENO) == 1;
  auto last = std::chrono::steady_clock::now();
  bool printed = false;
  auto result = gen::Generate(a.options, [&](const gen::GenReport& r) {
    const auto now = std::chrono::steady_clock::now();
    if (!tty && now - last < std::chrono::seconds(10)) return;
    last = now;
    printed = true;
    std::fprintf(stderr, "%sgen: %llu files, %.2f M tuples, %.1f MB written%s", tty ? "\r" : "",
                 static_cast<unsigned long long>(r.files), r.tuples / 1e6, r.output_bytes / 1e6, tty ? "   " : "\n");
  });
  if (tty && printed) std::fputc('\n', stderr);
  if (!result.ok()) {
    std::fprintf(stderr, "flowwatch: gen: %s\n", result.status().message().c_str());
    return result.status().code() == StatusCode::kInvalidArgument ? kExitUsage : 1;
  }
  std::fprintf(stderr, "gen: %s scenario, %s: %llu %s, %llu records, %llu tuples in %s\n",
               std::string(gen::ScenarioName(a.options.scenario)).c_str(), a.format.c_str(),
               static_cast<unsigned long long>(result->files), a.options.messages ? "messages" : "files",
               static_cast<unsigned long long>(result->records), static_cast<unsigned long long>(result->tuples),
               a.options.out_dir.c_str());
  return kExitOk;
}

int CheckConfig(const std::string& path) {
  config::LoadResult r = config::LoadConfigFile(path);
  for (const std::string& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %zu problem(s)\n", path.c_str(), r.errors.size());
    return kExitUsage;
  }
  std::printf("%s: OK\n", path.c_str());
  return kExitOk;
}

// GET `url` (http://host:port/path) and succeed on a 2xx answer: the
// container image's health check, which has no curl.
int Probe(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t path_at = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (url.rfind("http://", 0) != 0 || path_at == std::string::npos) {
    std::fprintf(stderr, "probe: %s is not an http://host:port/path URL\n", url.c_str());
    return kExitUsage;
  }
  httplib::Client client(url.substr(0, path_at));
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  const httplib::Result res = client.Get(url.substr(path_at));
  if (!res) {
    std::fprintf(stderr, "probe: %s: no answer (%s)\n", url.c_str(), httplib::to_string(res.error()).c_str());
    return 1;
  }
  std::fprintf(res->status / 100 == 2 ? stdout : stderr, "%d %s", res->status, res->body.c_str());
  return res->status / 100 == 2 ? kExitOk : 1;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"flowwatch: learns normal traffic per (VM, protocol, port, direction) from Azure flow logs and "
               "alerts when it deviates"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log lifecycle events (INFO) on stderr");
  app.set_version_flag("--version", "flowwatch " FLOWWATCH_VERSION);

  ReplayArgs replay;
  CLI::App* replay_cmd = app.add_subcommand("replay", "process flow-log files through the daemon's pipeline, in event time");
  AddPipelineFlags(replay_cmd, &replay);
  replay_cmd->add_option("--alerts", replay.alerts, "alert JSON Lines to this file (default: stdout)");
  replay_cmd->add_option("--alerts-format", replay.alerts_format, "json (JSON Lines, the default) or text (for people)")
      ->check(CLI::IsMember({"json", "text"}));
  replay_cmd->add_option("--summary", replay.summary, "write the summary JSON to this file ('-' for stdout)");

  PortsArgs ports_args;
  CLI::App* ports_cmd = app.add_subcommand("ports", "the port inventory: which ports each VM really gets traffic on, from whom");
  AddPipelineFlags(ports_cmd, &ports_args.pipeline);
  ports_cmd->add_option("--vm", ports_args.vm, "only this VM");
  ports_cmd->add_option("--direction", ports_args.direction, "inbound or outbound")
      ->check(CLI::IsMember({"inbound", "outbound", "in", "out"}));
  ports_cmd->add_option("--rule", ports_args.rule, "only ports whose traffic hit this NSG rule");
  ports_cmd->add_option("--top", ports_args.top, "peers to show per port (default 5)")->check(CLI::Range(0, 1000));
  ports_cmd->add_flag("--json", ports_args.json, "print JSON (the document GET /api/v1/ports serves)");
  ports_cmd->add_flag("--allowed", ports_args.allowed, "hide ports that only saw denied attempts");

  GenArgs gen_args;
  CLI::App* gen_cmd =
      app.add_subcommand("gen", "write synthetic Azure flow logs (demo story, steady load, port scan, realistic estate)");
  gen_cmd->add_option("--scenario", gen_args.scenario, "demo, steady, scan or realistic")
      ->check(CLI::IsMember({"demo", "steady", "scan", "realistic"}));
  gen_cmd->add_option("--format", gen_args.format, "nsg_v2 or vnet_v4")->check(CLI::IsMember({"nsg_v2", "vnet_v4"}));
  gen_cmd->add_option("--out", gen_args.options.out_dir, "output folder (created if missing)")->required();
  gen_cmd->add_option("--seed", gen_args.options.seed, "random seed (same seed, same bytes)");
  gen_cmd->add_option("--start", gen_args.start, "first hour, ISO 8601 (default 2021-05-03T00:00:00Z)");
  gen_cmd->add_option("--hours", gen_args.options.hours, "hours to generate (default 24; realistic: 240)")
      ->check(CLI::Range(1, 8784));
  gen_cmd->add_option("--vms", gen_args.options.vms, "steady, realistic: number of VMs (realistic: default 80)")
      ->check(CLI::Range(1, 1000000));
  gen_cmd->add_option("--ports-per-vm", gen_args.options.ports_per_vm, "steady: service ports (keys) per VM")
      ->check(CLI::Range(1, 10000));
  gen_cmd->add_option("--flows-per-minute", gen_args.options.flows_per_minute, "steady: new flows per key and minute")
      ->check(CLI::Range(1, 1000));
  gen_cmd->add_flag("--gzip", gen_args.options.gzip, "write PT1H.json.gz");
  gen_cmd->add_flag("--messages", gen_args.options.messages,
                    "write messages.ndjson (one Event Hubs message per NIC-minute, in time order) instead of blobs");

  RunOptions run_options;
  CLI::App* run_cmd = app.add_subcommand("run", "the daemon: consume flow logs from Kafka / Event Hubs and alert");
  run_cmd->add_option("--config", run_options.config_path, "YAML configuration")->required();
  run_cmd->add_option("--summary", run_options.summary_path, "summary file (default: <state.dir>/summary.json)");

  std::string check_path;
  CLI::App* check_cmd = app.add_subcommand("check-config", "validate a configuration file");
  check_cmd->add_option("file", check_path, "configuration file")->required();

  std::string probe_url = "http://127.0.0.1:9464/healthz";
  CLI::App* probe_cmd =
      app.add_subcommand("probe", "GET a URL of the daemon and exit 0 on a 2xx answer (the image's health check)");
  probe_cmd->add_option("url", probe_url, "http://host:port/path")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (run_cmd->parsed()) return RunDaemon(run_options);  // logs as its config says
  InitLogging(verbose ? LogLevel::kInfo : LogLevel::kWarn);
  if (replay_cmd->parsed()) return Replay(replay);
  if (check_cmd->parsed()) return CheckConfig(check_path);
  if (probe_cmd->parsed()) return Probe(probe_url);
  if (gen_cmd->parsed()) {
    gen_args.hours_given = gen_cmd->count("--hours") > 0;
    gen_args.vms_given = gen_cmd->count("--vms") > 0;
    return Gen(gen_args);
  }
  if (ports_cmd->parsed()) {
    ports_args.pipeline.quiet = true;  // the report is the output
    return Ports(ports_args);
  }
  return kExitUsage;
}

}  // namespace flowwatch::app
