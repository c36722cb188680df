#include "lib/metrics/http_server.h"

#include <httplib.h>

#include <chrono>
#include <string_view>

namespace flowwatch::metrics {

HttpServer::HttpServer() : server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

namespace {

// Compares without an early exit, so response times reveal at most the
// token's length, never how much of it a guess got right.
bool SameToken(std::string_view given, std::string_view token) {
  if (given.size() != token.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

}  // namespace

void HttpServer::Get(const std::string& path, Handler handler, Access access) {
  server_->Get(path, [this, handler = std::move(handler), access](const httplib::Request& req, httplib::Response& res) {
    if (access == Access::kToken && !token_.empty()) {
      const std::string auth = req.get_header_value("Authorization");
      if (auth.rfind("Bearer ", 0) != 0 || !SameToken(auth.substr(7), token_)) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Bearer");
        res.set_content("unauthorized: this endpoint needs Authorization: Bearer <http.token>\n", "text/plain");
        return;
      }
    }
    HttpRequest request;
    for (const auto& [k, v] : req.params) request.params[k] = v;
    const HttpResponse r = handler(request);
    res.status = r.status;
    res.set_content(r.body, r.content_type.c_str());
  });
}

Status HttpServer::Start(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("http.listen: expected host:port, got " + listen);
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Status::InvalidArgument("http.listen: bad port in " + listen);
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ < 0) return Status::Unavailable("http.listen: cannot listen on " + listen);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // A stop() before the accept loop runs would be missed and the join would hang.
  for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace flowwatch::metrics
