// HttpServer: the daemon's HTTP endpoint (cpp-httplib) on http.listen, serving
// GET routes (/metrics, /healthz, /readyz, /api/v1/...) from its own threads.
// With a token, routes not marked open answer 401 unless the request carries
// "Authorization: Bearer <token>" (the probes stay open for the kubelet).
//
// Threads: Get() before Start(); handlers run on the server's threads and
// must be thread-safe; Stop() (or the destructor) joins them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "lib/common/status.h"

namespace httplib {
class Server;
}

namespace flowwatch::metrics {

struct HttpRequest {
  std::map<std::string, std::string> params;  // the query string, decoded
  std::string Param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? "" : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  enum class Access { kToken, kOpen };
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Before Start(). "" (the default) leaves every route open.
  void SetToken(std::string token) { token_ = std::move(token); }
  void Get(const std::string& path, Handler handler, Access access = Access::kToken);
  // Binds "host:port" (port 0: any free port) and starts serving.
  Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
  std::string token_;
};

}  // namespace flowwatch::metrics
