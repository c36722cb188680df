// `flowwatch run`: the daemon. Consumes flow logs from Kafka / Event Hubs
// through the same pipeline as replay, writes alerts to alerts.file, and keeps a
// summary file (written before every offset commit and at exit). SIGTERM or
// SIGINT: stop fetching, drain, commit, exit 0. SIGHUP: reload thresholds, the
// inventory and the service tags without losing state.
#pragma once

#include <string>

namespace flowwatch::app {

struct RunOptions {
  std::string config_path;
  std::string summary_path;  // default: <state.dir>/summary.json
};

// Returns the process exit status (0 ok, 1 runtime failure, 2 configuration).
int RunDaemon(const RunOptions& options);

}  // namespace flowwatch::app
