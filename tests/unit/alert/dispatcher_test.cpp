// The dispatcher against a real HTTP receiver (cpp-httplib on 127.0.0.1):
// signatures and headers, retries until a failing receiver recovers, each
// event delivered once, rejected events dropped, duplicates never sent, the
// spool across a restart, the rate limit's storm alert, and the Alertmanager
// and PagerDuty payloads. (Alertmanager itself is exercised by the daemon's
// integration test.)
#include "lib/alert/dispatcher.h"

#include <httplib.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      if (failures_ > 0) {
        --failures_;
        res.status = fail_status_;
        return;
      }
      bodies_[req.body]++;
      in_order_.push_back(req.body);
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
  std::vector<std::string> in_order() const {
    std::lock_guard<std::mutex> lock(mu_);
    return in_order_;
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
  std::vector<std::string> signatures_, team_, in_order_;
};

// A port nothing listens on (a receiver found it free, then went away):
// connections to it are refused until a receiver starts there.
int ClosedPort() {
  Receiver probe;
  return probe.Start();
}

SinkOptions Hook(int port, std::chrono::milliseconds timeout, std::string secret = "",
                 std::map<std::string, std::string> headers = {}) {
  SinkOptions o;
  o.http = WebhookSinkOptions{"http://127.0.0.1:" + std::to_string(port) + "/hook", std::move(secret),
                              std::move(headers), timeout};
  return o;
}

AlertEvent Event(const std::string& fingerprint, bool resolved, const std::string& json) {
  return AlertEvent{fingerprint, resolved, json, "text of " + fingerprint};
}

// An alert object as the daemon writes it.
std::string AlertJson(const std::string& fingerprint, bool resolved, const std::string& severity) {
  return std::string(R"({"status":")") + (resolved ? "resolved" : "firing") +
         R"(","detector":"volume","vm":"vm01","protocol":"tcp","port":1433,"direction":"outbound",)" +
         R"("window_start":"2021-05-03T23:30:00Z","window_end":")" +
         (resolved ? "2021-05-03T23:50:00Z" : "2021-05-03T23:35:00Z") +
         R"(","observed_bytes":7340032,"baseline_bytes":1048576,"ratio":7.0,"zscore":12.3,"severity":")" + severity +
         R"(","top_peers":[],"incident_start":"2021-05-03T23:30:00Z","fingerprint":")" + fingerprint + R"("})";
}

// A fresh folder under the system's temporary folder, removed at the end.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/fw-dispatcher-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  size_t Count(const std::string& ext) const {
    size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path)) n += e.path().extension() == ext;
    return n;
  }
  std::string path;
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
  Dispatcher dispatcher(Fast(), {Hook(port, 2s, "s3cret", {{"X-Team", "netsec"}})});
  dispatcher.Start();
  dispatcher.Enqueue(Event("fp1", false, R"({"status":"firing","fingerprint":"fp1"})"));
  dispatcher.Enqueue(Event("fp1", false, R"({"status":"firing","fingerprint":"fp1"})"));  // the same event again
  dispatcher.Enqueue(Event("fp1", true, R"({"status":"resolved","fingerprint":"fp1"})"));
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
  Dispatcher dispatcher(Fast(), {Hook(port, 2s)});
  dispatcher.Start();
  for (int i = 0; i < 5; ++i) dispatcher.Enqueue(Event("fp" + std::to_string(i), false, "alert " + std::to_string(i)));
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
  const int port = ClosedPort();  // connections are refused until the receiver starts
  Dispatcher dispatcher(Fast(), {Hook(port, 1s)});
  dispatcher.Start();
  for (int i = 0; i < 3; ++i) dispatcher.Enqueue(Event("k" + std::to_string(i), false, "event " + std::to_string(i)));
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
  Dispatcher dispatcher(Fast(), {Hook(port, 2s)});
  dispatcher.Start();
  dispatcher.Enqueue(Event("a", false, "first"));
  dispatcher.Enqueue(Event("b", false, "second"));
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 1; }, 10s));
  dispatcher.Stop(1s);
  CHECK(dispatcher.stats()[0].rejected == 1);
  CHECK(receiver.calls() == 2);
  REQUIRE(receiver.bodies().count("second") == 1);
}


TEST_CASE("Events undelivered at stop stay in the spool and are delivered once by the next run") {
  TempDir spool;
  const int port = ClosedPort();
  DispatcherOptions options = Fast();
  options.spool_dir = spool.path;
  {
    Dispatcher first(options, {Hook(port, 500ms)});
    first.Start();
    for (int i = 0; i < 3; ++i) {
      const std::string fp = "s" + std::to_string(i);
      first.Enqueue(Event(fp, false, AlertJson(fp, false, "warning")));
    }
    REQUIRE(WaitFor([&] { return first.stats()[0].retries >= 2; }, 10s));
    first.Stop(0ms);
    CHECK(first.stats()[0].delivered == 0);
  }
  REQUIRE(spool.Count(".pending") == 3);
  // A damaged file is set aside, not fatal, and does not stop the others.
  const std::string sink_dir = spool.path + "/" + SinkId(Hook(port, 500ms));
  std::ofstream(sink_dir + "/0000000000000099.pending") << "not an event\n";

  Receiver receiver;
  receiver.Start(port);
  Dispatcher second(options, {Hook(port, 2s)});
  second.Start();
  REQUIRE(WaitFor([&] { return second.stats()[0].delivered == 3; }, 20s));
  second.Stop(1s);
  CHECK(second.stats()[0].restored == 3);
  const auto bodies = receiver.bodies();
  REQUIRE(bodies.size() == 3);
  for (const auto& [body, n] : bodies) CHECK(n == 1);
  CHECK(receiver.in_order().front().find("\"fingerprint\":\"s0\"") != std::string::npos);  // queue order kept
  CHECK(spool.Count(".pending") == 0);
  CHECK(spool.Count(".bad") == 1);
}

TEST_CASE("A receiver that stays down costs bounded memory: beyond the queue's bound the oldest events go") {
  TempDir spool;
  const int port = ClosedPort();
  DispatcherOptions options = Fast();
  options.max_queued = 3;
  options.spool_dir = spool.path;
  Dispatcher dispatcher(options, {Hook(port, 200ms)});
  dispatcher.Start();
  for (int i = 0; i < 10; ++i) dispatcher.Enqueue(Event("q" + std::to_string(i), false, "event " + std::to_string(i)));
  const SinkStats st = dispatcher.stats()[0];
  dispatcher.Stop(0ms);
  CHECK(st.dropped == 7);
  CHECK(st.queued == 3);
  CHECK(spool.Count(".pending") == 3);  // the dropped ones left the spool too
}

TEST_CASE("A spool that cannot be written is counted and logged, and the events are still delivered") {
  TempDir dir;
  std::ofstream(dir.path + "/not-a-folder") << "x";  // where the spool's folder would go
  Receiver receiver;
  const int port = receiver.Start();
  DispatcherOptions options = Fast();
  options.spool_dir = dir.path + "/not-a-folder";
  Dispatcher dispatcher(options, {Hook(port, 2s)});
  dispatcher.Start();
  dispatcher.Enqueue(Event("e1", false, "first"));
  dispatcher.Enqueue(Event("e2", false, "second"));
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 2; }, 10s));
  dispatcher.Stop(1s);
  CHECK(dispatcher.stats()[0].spool_errors >= 2);
  CHECK(receiver.bodies().size() == 2);
}

TEST_CASE("An alert storm pages once: firing alerts beyond the rate limit are held back and summed up") {
  Receiver receiver;
  const int port = receiver.Start();
  DispatcherOptions options = Fast();
  options.rate_limit.max = 3;
  options.rate_limit.per = 1s;
  Dispatcher dispatcher(options, {Hook(port, 2s)});
  dispatcher.Start();
  for (int i = 0; i < 10; ++i) dispatcher.Enqueue(Event("f" + std::to_string(i), false, "firing " + std::to_string(i)));
  dispatcher.Enqueue(Event("f0", true, "resolved 0"));  // its firing was sent: so is its resolution
  dispatcher.Enqueue(Event("f9", true, "resolved 9"));  // its firing was held back: so is this
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 5; }, 10s));  // 3 firing, 1 storm, 1 resolved
  const RateLimitStats during = dispatcher.rate_limit_stats();
  CHECK(during.suppressed == 7);
  CHECK(during.storm_active);
  CHECK(during.storms == 1);
  // Quiet for a whole period: the storm resolves, with the count.
  std::this_thread::sleep_for(1100ms);
  dispatcher.Poll();
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 6; }, 10s));
  dispatcher.Stop(1s);
  CHECK_FALSE(dispatcher.rate_limit_stats().storm_active);
  const std::vector<std::string> got = receiver.in_order();
  REQUIRE(got.size() == 6);
  CHECK(got[0] == "firing 0");
  CHECK(got[3].find("\"detector\":\"alert_storm\"") != std::string::npos);
  CHECK(got[3].find("\"status\":\"firing\"") != std::string::npos);
  CHECK(got[4] == "resolved 0");
  CHECK(got[5].find("\"status\":\"resolved\"") != std::string::npos);
  CHECK(got[5].find("\"suppressed\":7") != std::string::npos);
  for (const std::string& body : got) CHECK(body != "resolved 9");
}

TEST_CASE("PagerDuty: a trigger, then a resolve, keyed by the fingerprint") {
  Receiver receiver;
  const int port = receiver.Start();
  SinkOptions pd = Hook(port, 2s);
  pd.format = "pagerduty";
  pd.routing_key = "R0UT1NG";
  Dispatcher dispatcher(Fast(), {pd});
  dispatcher.Start();
  dispatcher.Enqueue(Event("fpd", false, AlertJson("fpd", false, "critical")));
  dispatcher.Enqueue(Event("fpd", true, AlertJson("fpd", true, "critical")));
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 2; }, 10s));
  dispatcher.Stop(1s);
  const std::vector<std::string> got = receiver.in_order();
  REQUIRE(got.size() == 2);
  CHECK(got[0].rfind(R"({"routing_key":"R0UT1NG","event_action":"trigger","dedup_key":"fpd","payload":{"summary":"text of fpd","source":"vm01","severity":"critical","timestamp":"2021-05-03T23:30:00Z","component":"tcp/1433","group":"outbound","class":"volume","custom_details":{"status":"firing",)", 0) == 0);
  CHECK(got[1] == R"({"routing_key":"R0UT1NG","event_action":"resolve","dedup_key":"fpd"})");
}

TEST_CASE("Alertmanager: a firing alert is re-sent while it lasts and resolved with the labels it fired with") {
  Receiver receiver;
  const int port = receiver.Start();
  SinkOptions am = Hook(port, 2s);
  am.format = "alertmanager";
  am.resend_interval = 200ms;
  Dispatcher dispatcher(Fast(), {am});
  dispatcher.Start();
  dispatcher.Enqueue(Event("fam", false, AlertJson("fam", false, "warning")));
  // The alert, then reminders (counted once the receiver has answered, so
  // wait for the count too).
  REQUIRE(WaitFor([&] { return receiver.in_order().size() >= 3 && dispatcher.stats()[0].reminders >= 2; }, 10s));
  CHECK(dispatcher.stats()[0].active == 1);
  // It grew critical before it resolved: the resolution still names the alert that fired.
  dispatcher.Enqueue(Event("fam", true, AlertJson("fam", true, "critical")));
  REQUIRE(WaitFor([&] { return dispatcher.stats()[0].delivered == 2; }, 10s));
  CHECK(dispatcher.stats()[0].active == 0);
  const size_t after_resolution = receiver.in_order().size();
  std::this_thread::sleep_for(600ms);
  dispatcher.Stop(1s);
  const std::vector<std::string> got = receiver.in_order();
  CHECK(got.size() == after_resolution);  // no reminders once resolved
  const std::string labels =
      R"([{"labels":{"alertname":"FlowwatchDeviation","detector":"volume","direction":"outbound","port":"1433","protocol":"tcp","severity":"warning","vm":"vm01"},)";
  CHECK(got.front().rfind(labels, 0) == 0);
  CHECK(got.front().find(R"("startsAt":"2021-05-03T23:30:00Z","endsAt":")") != std::string::npos);
  CHECK(got.front().find(R"("summary":"text of fam")") != std::string::npos);
  CHECK(got.back().rfind(labels, 0) == 0);
  CHECK(got.back().find(R"("startsAt":"2021-05-03T23:30:00Z","endsAt":"2021-05-03T23:50:00Z"})") != std::string::npos);
}

}  // namespace
}  // namespace flowwatch::alert
