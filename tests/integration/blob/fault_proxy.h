// A proxy on 127.0.0.1 in front of Azurite that answers some requests with
// 503 Server Busy (and Retry-After) instead of forwarding them, as Storage
// does when an account is throttled: every request is logged with its time
// and answer. Stopped by the destructor.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace flowwatch::testing {

class FaultProxy {
 public:
  struct Seen {
    std::chrono::steady_clock::time_point at;
    int status = 0;
  };

  explicit FaultProxy(int upstream_port) : upstream_("127.0.0.1", upstream_port) {
    server_.Get(".*", [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FaultProxy() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

  // While > 0, of every `pass_every` requests all but the last get 503
  // (with "Retry-After: retry_after_s" when that is > 0).
  std::atomic<int> pass_every{0};
  // While > 0, the next request gets 503 (and this is counted down).
  std::atomic<int> fail_next{0};
  std::atomic<int> retry_after_s{0};

  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    const int every = pass_every.load();
    const int n = ++count_;
    int pending = fail_next.load();
    while (pending > 0 && !fail_next.compare_exchange_weak(pending, pending - 1)) {
    }
    if (pending > 0 || (every > 0 && n % every != 0)) {
      res.status = 503;
      if (retry_after_s.load() > 0) res.set_header("Retry-After", std::to_string(retry_after_s.load()));
      res.set_content("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>"
                      "<Message>The server is busy.</Message></Error>",
                      "application/xml");
    } else {
      httplib::Headers headers;
      for (const auto& [name, value] : req.headers) {
        if (name != "Host" && name != "REMOTE_ADDR" && name != "REMOTE_PORT" && name != "LOCAL_ADDR" &&
            name != "LOCAL_PORT") {
          headers.emplace(name, value);
        }
      }
      std::lock_guard<std::mutex> lock(upstream_mu_);
      auto up = upstream_.Get(req.target, headers);
      if (!up) {
        res.status = 502;
      } else {
        res.status = up->status;
        for (const auto& [name, value] : up->headers) {
          if (name != "Content-Length" && name != "Transfer-Encoding" && name != "Connection" && name != "Keep-Alive") {
            res.set_header(name, value);
          }
        }
        res.body = up->body;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back({std::chrono::steady_clock::now(), res.status});
  }

  httplib::Server server_;
  std::mutex upstream_mu_;
  httplib::Client upstream_;  // guarded by upstream_mu_
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> count_{0};
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

}  // namespace flowwatch::testing
