// WebhookSink: one HTTP(S) endpoint that alert events are POSTed to, as the
// alert JSON of PRODUCT.md (the generic webhook). With a secret, each call
// carries X-Flowwatch-Signature: sha256=<hex HMAC-SHA256 of the body>, so the
// receiver can check that it came from flowwatch; custom headers are added as
// configured. Thread-compatible: one dispatcher thread uses it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace httplib {
class Client;
}

namespace flowwatch::alert {

struct WebhookSinkOptions {
  std::string url;  // http(s)://host[:port]/path
  std::string secret;
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds timeout{10000};
};

// What one call came to.
enum class Delivery { kDelivered, kRetry, kRejected };

class WebhookSink {
 public:
  explicit WebhookSink(WebhookSinkOptions options);
  ~WebhookSink();

  // POSTs body; 2xx is delivered; 408, 429 and 5xx, or no answer, are worth
  // retrying; other statuses are rejected (retrying cannot help). *detail says
  // what happened (status or transport error), never the secret.
  Delivery Post(const std::string& body, std::string* detail);
  // scheme://host:port only: paths and queries of webhook URLs often carry
  // tokens (Slack, Teams), so logs and metrics show this instead.
  const std::string& origin() const { return origin_; }

 private:
  WebhookSinkOptions options_;
  std::string origin_;
  std::string path_;
  std::unique_ptr<httplib::Client> client_;
};

// Lower-case hex HMAC-SHA256 of body under key.
std::string HmacSha256Hex(const std::string& key, const std::string& body);

}  // namespace flowwatch::alert
