// The dispatcher against a real HTTP receiver (cpp-httplib on 127.0.0.1):
// signatures and headers, retries until a failing receiver recovers, each
// event delivered once, rejected events dropped, duplicates never sent.
#include "lib/alert/dispatcher.h"

#include <httplib.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

namespace flowwatch::alert {
namespace {

using namespace std::chrono_literals;

// A receiver that answers `fail_status` to the first `failures` calls.
class Receiver {
 public:
  explicit Receiver(int failures = 0, int fail_status = 503) : failures_(failures), fail_status_(fail_status) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      if (failures_ > 0) {
        --failures_;
        res.status = fail_status_;
        return;
      }
      bodies_[req.body]++;
      signatures_.push_back(req.get_header_value("X-Flowwatch-Signature"));
      team_.push_back(req.get_header_value("X-Team"));
      res.status = 200;
    });
  }
  ~Receiver() { Stop(); }
  // Listens on `port` (0: any); returns the port.
  int Start(int port = 0) {
    port_ = port == 0 ? server_.bind_to_any_port("127.0.0.1") : (server_.bind_to_port("127.0.0.1", port) ? port : -1);
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // A stop() before the accept loop runs would be missed and the join would hang.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);
    return port_;
  }
  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  std::map<std::string, int> bodies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  std::vector<std::string> signatures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return signatures_;
  }
  std::vector<std::string> team() const {
    std::lock_guard<std::mutex> lock(mu_);
    return team_;
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  mutable std::mutex mu_;
  int failures_;
  int fail_status_;
  int calls_ = 0;
  std::map<std::string, int> bodies_;
  std::vector<std::string> signatures_, team_;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

DispatcherOptions Fast() {
  DispatcherOptions o;
  o.backoff_base = 20ms;
  o.backoff_max = 200ms;
  return o;
}

TEST_CASE("Each alert reaches the receiver once, signed, with the configured headers") {
  Receiver receiver;
  const int port = receiver.Start();
  WebhookSinkOptions hook{"http://127.0.0.1:" + std::to_string(port) + "/hook", "s3cret", {{"X-Team", "netsec"}}, 2s};
  Dispatcher dispatcher(Fast(), {hook});
  dispatcher.Start();
  dispatcher.Enqueue("fp1:firing", R"({"status":"firing","fingerprint":"fp1"})");
  dispatcher.Enqueue("fp1:firing", R"({"status":"firing","fingerprint":"fp1"})");  // the same event again
  dispatcher.Enqueue("fp1:resolved", R"({"status":"resolved","fingerprint":"fp1"})");
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 2; }, 10s));
  dispatcher.Stop(1s);
  const auto bodies = receiver.bodies();
  REQUIRE(bodies.size() == 2);
  for (const auto& [body, n] : bodies) CHECK(n == 1);
  CHECK(dispatcher.stats()[0].duplicates == 1);
  for (const std::string& sig : receiver.signatures()) {
    const bool matches = sig == "sha256=" + HmacSha256Hex("s3cret", R"({"status":"firing","fingerprint":"fp1"})") ||
                         sig == "sha256=" + HmacSha256Hex("s3cret", R"({"status":"resolved","fingerprint":"fp1"})");
    CHECK(matches);
  }
  for (const std::string& t : receiver.team()) CHECK(t == "netsec");
  // A known vector (RFC 4231 test case 2).
  CHECK(HmacSha256Hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("A receiver that fails, then recovers, gets every alert exactly once") {
  Receiver receiver(/*failures=*/4, /*fail_status=*/503);
  const int port = receiver.Start();
  Dispatcher dispatcher(Fast(), {WebhookSinkOptions{"http://127.0.0.1:" + std::to_string(port) + "/hook", "", {}, 2s}});
  dispatcher.Start();
  for (int i = 0; i < 5; ++i) dispatcher.Enqueue("fp" + std::to_string(i) + ":firing", "alert " + std::to_string(i));
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 5; }, 20s));
  dispatcher.Stop(1s);
  const SinkStats st = dispatcher.stats()[0];
  CHECK(st.retries == 4);
  CHECK(st.queued == 0);
  const auto bodies = receiver.bodies();
  REQUIRE(bodies.size() == 5);
  for (const auto& [body, n] : bodies) CHECK(n == 1);
}

TEST_CASE("A receiver that is down for a while gets every alert once it is up") {
  // Find a port, then leave it closed: connections are refused until the receiver starts.
  int port = 0;
  {
    Receiver probe;
    port = probe.Start();
  }
  Dispatcher dispatcher(Fast(), {WebhookSinkOptions{"http://127.0.0.1:" + std::to_string(port) + "/hook", "", {}, 1s}});
  dispatcher.Start();
  for (int i = 0; i < 3; ++i) dispatcher.Enqueue("k" + std::to_string(i), "event " + std::to_string(i));
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].retries >= 3; }, 10s));
  CHECK(dispatcher.stats()[0].oldest_undelivered_seconds > 0);
  Receiver receiver;
  receiver.Start(port);
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 3; }, 20s));
  dispatcher.Stop(1s);
  const auto bodies = receiver.bodies();
  REQUIRE(bodies.size() == 3);
  for (const auto& [body, n] : bodies) CHECK(n == 1);
}

TEST_CASE("An alert the receiver rejects is dropped and counted, and the next one goes through") {
  Receiver receiver(/*failures=*/1, /*fail_status=*/400);
  const int port = receiver.Start();
  Dispatcher dispatcher(Fast(), {WebhookSinkOptions{"http://127.0.0.1:" + std::to_string(port) + "/hook", "", {}, 2s}});
  dispatcher.Start();
  dispatcher.Enqueue("a", "first");
  dispatcher.Enqueue("b", "second");
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 1; }, 10s));
  dispatcher.Stop(1s);
  CHECK(dispatcher.stats()[0].rejected == 1);
  CHECK(receiver.calls() == 2);
  REQUIRE(receiver.bodies().count("second") == 1);
}

}  // namespace
}  // namespace flowwatch::alert
