// A fake Entra ID token endpoint and instance metadata service on 127.0.0.1
// (cpp-httplib), for the credential, Kafka and daemon tests: it records every
// request (method, path, form or query fields, the Metadata header) and
// answers each with a new token ("token-1", "token-2", ...) valid for
// expires_in seconds, or with an error while failures are queued.
//   POST /<tenant>/oauth2/v2.0/token     (workload identity, client secret)
//   GET  /metadata/identity/oauth2/token (managed identity; IMDS answers with strings)
#pragma once

#include <httplib.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace flowwatch::testing {

class FakeTokenEndpoint {
 public:
  struct Request {
    std::string method, path;
    std::map<std::string, std::string> fields;  // form (POST) or query (GET)
    std::string metadata_header;
  };

  FakeTokenEndpoint() {
    server_.Post(R"(/([^/]+)/oauth2/v2\.0/token)",
                 [this](const httplib::Request& req, httplib::Response& res) { Answer(req, res, false); });
    server_.Get("/metadata/identity/oauth2/token",
                [this](const httplib::Request& req, httplib::Response& res) { Answer(req, res, true); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeTokenEndpoint() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string imds_url() const { return url() + "/metadata/identity/oauth2/token"; }

  void set_expires_in(int seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    expires_in_ = seconds;
  }
  // The next `n` requests get `status` with an Entra-style error body.
  void Fail(int n, int status, const std::string& error = "temporarily_unavailable") {
    std::lock_guard<std::mutex> lock(mu_);
    failures_ = n;
    fail_status_ = status;
    fail_error_ = error;
  }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t tokens_issued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return issued_;
  }

 private:
  void Answer(const httplib::Request& req, httplib::Response& res, bool imds) {
    std::lock_guard<std::mutex> lock(mu_);
    Request r{req.method, req.path, {}, req.get_header_value("Metadata")};
    for (const auto& [k, v] : req.params) r.fields[k] = v;
    requests_.push_back(r);
    if (failures_ > 0) {
      --failures_;
      res.status = fail_status_;
      res.set_content(R"({"error":")" + fail_error_ +
                          R"(","error_description":"AADSTS90000: the fake says no.\r\nTrace ID: 1234"})",
                      "application/json");
      return;
    }
    ++issued_;
    const std::string token = "token-" + std::to_string(issued_);
    const std::string expires = imds ? "\"" + std::to_string(expires_in_) + "\"" : std::to_string(expires_in_);
    res.set_content(R"({"token_type":"Bearer","expires_in":)" + expires + R"(,"access_token":")" + token + "\"}",
                    "application/json");
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  int expires_in_ = 3600;
  int failures_ = 0;
  int fail_status_ = 503;
  std::string fail_error_;
  size_t issued_ = 0;
};

}  // namespace flowwatch::testing
