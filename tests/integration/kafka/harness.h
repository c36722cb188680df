// Integration-test harness for the daemon: real processes, nothing in-process.
//  - Process: a child with optional pipes; killed and reaped on destruction, so
//    every process a test starts is stopped by the test.
//  - MockBroker: librdkafka's mock cluster as a process (mock_broker.c), on
//    127.0.0.1, driven by commands (broker down/up, request errors, topics).
//  - Kcat: kcat, an independent Kafka client, to produce and consume.
//  - Daemon: `flowwatch run` with a generated config; its summary file is the
//    window into what it has done.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace flowwatch::testing {

using namespace std::chrono_literals;

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Process {
 public:
  // Starts argv with stdout/stderr appended to files ("" = /dev/null) and, if
  // asked, stdin and stdout as pipes.
  Process(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path,
          bool pipe_stdin = false, bool pipe_stdout = false) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
    if (pipe_stdin) {
      if (pipe(in_pipe) != 0) throw std::runtime_error("pipe");
      posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
      posix_spawn_file_actions_addclose(&fa, in_pipe[1]);
    } else {
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    if (pipe_stdout) {
      if (pipe(out_pipe) != 0) throw std::runtime_error("pipe");
      posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
      posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
    } else {
      posix_spawn_file_actions_addopen(&fa, 1, out_path.empty() ? "/dev/null" : out_path.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
    }
    posix_spawn_file_actions_addopen(&fa, 2, err_path.empty() ? "/dev/null" : err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + argv[0]);
    }
    posix_spawn_file_actions_destroy(&fa);
    if (pipe_stdin) {
      close(in_pipe[0]);
      stdin_ = fdopen(in_pipe[1], "w");
    }
    if (pipe_stdout) {
      close(out_pipe[1]);
      stdout_ = fdopen(out_pipe[0], "r");
    }
  }
  ~Process() {
    if (stdin_) fclose(stdin_);
    if (running()) Signal(SIGKILL);
    Wait(30s);
    if (stdout_) fclose(stdout_);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool running() const { return pid_ > 0 && !exited_; }
  pid_t pid() const { return pid_; }
  void Signal(int sig) {
    if (running()) kill(pid_, sig);
  }
  void CloseStdin() {
    if (stdin_) fclose(stdin_);
    stdin_ = nullptr;
  }
  FILE* in() { return stdin_; }
  FILE* out() { return stdout_; }

  // Waits for the process to end; on timeout kills it. Returns the exit code,
  // or -signal if a signal ended it, or -1000 on timeout.
  int Wait(std::chrono::milliseconds timeout) {
    if (exited_) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        return status_;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        exited_ = true;
        status_ = -1000;
        return status_;
      }
      std::this_thread::sleep_for(20ms);
    }
  }

 private:
  pid_t pid_ = -1;
  FILE* stdin_ = nullptr;
  FILE* stdout_ = nullptr;
  bool exited_ = false;
  int status_ = 0;
};

// Runs a command to its end; returns its exit code.
inline int RunToEnd(const std::vector<std::string>& argv, const std::string& err_path = "",
                    std::chrono::milliseconds timeout = 120s) {
  Process p(argv, "", err_path);
  return p.Wait(timeout);
}

class MockBroker {
 public:
  MockBroker(const std::string& binary, int brokers, const std::string& topic, int partitions, const std::string& log)
      : process_({binary, std::to_string(brokers), topic, std::to_string(partitions)}, "", log, true, true) {
    char line[512];
    if (!fgets(line, sizeof line, process_.out())) throw std::runtime_error("mock broker did not start");
    std::string s(line);
    if (s.rfind("bootstrap ", 0) != 0) throw std::runtime_error("mock broker said: " + s);
    bootstrap_ = s.substr(10);
    while (!bootstrap_.empty() && (bootstrap_.back() == '\n' || bootstrap_.back() == '\r')) bootstrap_.pop_back();
  }
  ~MockBroker() {
    process_.CloseStdin();
    process_.Wait(10s);
  }
  const std::string& bootstrap() const { return bootstrap_; }
  // Sends a command; returns the broker's answer ("ok" or "error ...").
  std::string Command(const std::string& cmd) {
    std::fprintf(process_.in(), "%s\n", cmd.c_str());
    std::fflush(process_.in());
    char line[512];
    if (!fgets(line, sizeof line, process_.out())) return "error: no answer";
    std::string s(line);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

 private:
  Process process_;
  std::string bootstrap_;
};

// What a daemon's summary file says.
struct Summary {
  bool present = false;
  uint64_t messages = 0, tuples = 0, tuples_decoded = 0, duplicates = 0, alerts = 0, poison = 0, dead_lettered = 0,
           rebalances = 0, late_flows = 0;
  std::map<std::string, uint64_t> errors;
  std::map<int, int64_t> committed;
  std::vector<int> assigned;
  std::string http_listen;
};

inline Summary ReadSummary(const std::string& path) {
  Summary s;
  const std::string text = Slurp(path);
  if (text.empty()) return s;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc)) return s;
  s.present = true;
  auto u = [&](const char* k) {
    uint64_t v = 0;
    if (doc[k].get(v) != simdjson::SUCCESS) v = 0;
    return v;
  };
  s.messages = u("messages");
  s.tuples = u("tuples");
  s.tuples_decoded = u("tuples_decoded");
  s.duplicates = u("duplicates_dropped");
  s.alerts = u("alerts");
  s.poison = u("poison_messages");
  s.dead_lettered = u("dead_lettered");
  s.rebalances = u("rebalances");
  s.late_flows = u("late_flows");
  simdjson::dom::object errors;
  if (!doc["errors"].get(errors)) {
    for (auto [k, v] : errors) s.errors[std::string(k)] = v.get_uint64().value();
  }
  simdjson::dom::object committed;
  if (!doc["committed"].get(committed)) {
    for (auto [k, v] : committed) s.committed[std::stoi(std::string(k))] = v.get_int64().value();
  }
  std::string_view http_listen;
  if (!doc["http_listen"].get(http_listen)) s.http_listen = std::string(http_listen);
  simdjson::dom::array assigned;
  if (!doc["assigned"].get(assigned)) {
    for (simdjson::dom::element p : assigned) s.assigned.push_back(static_cast<int>(p.get_int64().value()));
  }
  return s;
}

// A TCP port on 127.0.0.1 that was free a moment ago (for servers that need
// a port on their command line, like Prometheus).
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("no free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// Polls until pred() holds or the timeout passes; returns pred().
inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

}  // namespace flowwatch::testing
