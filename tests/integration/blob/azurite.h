// Test helpers for Blob Storage: Azurite (Microsoft's emulator) on
// 127.0.0.1, started and stopped by the test, and write_blobs.mjs, which
// writes PT1H.json blobs into it the way Azure does with Microsoft's own
// JavaScript SDK. Both come from npm (npm ci in tests/integration/blob;
// scripts/test.sh does it); HaveNode() says whether they are there.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/integration/kafka/harness.h"
#include "tests/integration/process_util.h"

namespace flowwatch::testing {

inline const std::string kNodeDir = FW_SOURCE_DIR "/tests/integration/blob";
inline constexpr const char* kKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
inline constexpr const char* kContainer = "insights-logs-flowlogflowevent";

inline bool CanConnect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Azurite's Blob service on a free port, its data in `location`; stopped
// with the object.
class Azurite {
 public:
  Azurite(const std::string& location, int port = FreePort())
      : port_(port),
        process_({kNodeDir + "/node_modules/.bin/azurite-blob", "--blobHost", "127.0.0.1", "--blobPort",
                  std::to_string(port), "--location", location, "--loose", "--skipApiVersionCheck", "--silent"},
                 "", location + "/azurite.log") {
    if (!WaitUntil([&] { return CanConnect(port_); }, 30s)) throw std::runtime_error("azurite did not start");
  }
  ~Azurite() {
    process_.Signal(SIGTERM);
    process_.Wait(10s);
  }
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/devstoreaccount1"; }
  std::string connection_string(const std::string& key = kKey) const {
    return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + key +
           ";BlobEndpoint=" + endpoint() + ";";
  }

 private:
  int port_;
  Process process_;
};

// Adds records [from, to) of every PT1H.json under src to the container
// (write_blobs.mjs), committing every `step` records; with events_file, the
// BlobCreated event of each commit is appended to it, keyed by its subject.
// The writer's exit code: callable from a thread of the test's own.
inline int WriteExitCode(const Azurite& az, const std::string& src, int from, int to, int step = 1,
                         const std::string& container = kContainer, const std::string& events_file = "") {
  std::vector<std::string> argv = {"node", kNodeDir + "/write_blobs.mjs", az.connection_string(), container, src,
                                   std::to_string(from), std::to_string(to), std::to_string(step)};
  if (!events_file.empty()) argv.push_back(events_file);
  return RunToEnd(argv, "", 60s);
}
// The same, on the test's thread: the write must succeed.
inline void Write(const Azurite& az, const std::string& src, int from, int to, int step = 1,
                  const std::string& container = kContainer) {
  REQUIRE(WriteExitCode(az, src, from, to, step, container) == 0);
}

// Deletes the container (delete_container.mjs).
inline void DeleteContainer(const Azurite& az, const std::string& container = kContainer) {
  REQUIRE(RunToEnd({"node", kNodeDir + "/delete_container.mjs", az.connection_string(), container}, "", 60s) == 0);
}

// Whether Azurite and the SDK are installed; if not, says so (the caller exits 77).
inline bool HaveNode() {
  if (std::filesystem::exists(kNodeDir + "/node_modules/.bin/azurite-blob")) return true;
  WARN("skipped: no " + kNodeDir + "/node_modules (npm ci --prefix " + kNodeDir + ")");
  return false;
}

}  // namespace flowwatch::testing
