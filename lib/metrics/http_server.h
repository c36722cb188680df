// HttpServer: the daemon's HTTP endpoint (cpp-httplib) on http.listen, serving
// plain-text GET routes (/metrics, /healthz, /readyz) from its own threads.
//
// Threads: Get() before Start(); handlers run on the server's threads and
// must be thread-safe; Stop() (or the destructor) joins them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "lib/common/status.h"

namespace httplib {
class Server;
}

namespace flowwatch::metrics {

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

  void Get(const std::string& path, std::function<HttpResponse()> handler);
  // Binds "host:port" (port 0: any free port) and starts serving.
  Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
};

}  // namespace flowwatch::metrics
