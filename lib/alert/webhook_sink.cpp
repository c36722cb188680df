#include "lib/alert/webhook_sink.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace flowwatch::alert {

std::string HmacSha256Hex(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), mac, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 15]);
  }
  return out;
}

WebhookSink::WebhookSink(WebhookSinkOptions options) : options_(std::move(options)) {
  // "scheme://host:port" for the client, the rest is the path.
  const size_t scheme = options_.url.find("://");
  const size_t slash = options_.url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  origin_ = slash == std::string::npos ? options_.url : options_.url.substr(0, slash);
  path_ = slash == std::string::npos ? "/" : options_.url.substr(slash);
  client_ = std::make_unique<httplib::Client>(origin_);
  const auto seconds = options_.timeout.count() / 1000;
  const auto micros = (options_.timeout.count() % 1000) * 1000;
  client_->set_connection_timeout(seconds, micros);
  client_->set_read_timeout(seconds, micros);
  client_->set_write_timeout(seconds, micros);
}

WebhookSink::~WebhookSink() = default;

Delivery WebhookSink::Post(const std::string& body, std::string* detail) {
  httplib::Headers headers;
  for (const auto& [k, v] : options_.headers) headers.emplace(k, v);
  headers.emplace("User-Agent", "flowwatch");
  if (!options_.secret.empty()) headers.emplace("X-Flowwatch-Signature", "sha256=" + HmacSha256Hex(options_.secret, body));
  auto res = client_->Post(path_.c_str(), headers, body, "application/json");
  if (!res) {
    *detail = httplib::to_string(res.error());
    return Delivery::kRetry;
  }
  *detail = "HTTP " + std::to_string(res->status);
  if (res->status >= 200 && res->status < 300) return Delivery::kDelivered;
  if (res->status == 408 || res->status == 429 || res->status >= 500) return Delivery::kRetry;
  return Delivery::kRejected;
}

}  // namespace flowwatch::alert
