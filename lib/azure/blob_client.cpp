#include "lib/azure/blob_client.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>
#include <thread>

namespace flowwatch::azure {
namespace {

std::string Base64Decode(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return "";
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return "";
  // EVP_DecodeBlock counts the padding's zero bytes: at most two '=' end
  // base64 (more is not base64; counting them all once underflowed).
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) ++pad;
  if (pad > 2 || static_cast<size_t>(n) < pad) return "";
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string Base64Encode(const unsigned char* data, size_t size) {
  std::string out((size + 2) / 3 * 4, '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  return out;
}

// Percent-encodes a path or query value: unreserved characters stay, and in a
// path also '/' and '=' (flow-log blob names are full of them), so that the
// path signed is the one sent whichever form the server canonicalizes.
std::string Encode(std::string_view s, bool path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (path && (c == '/' || c == '='))) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string XmlUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      if (s.substr(i, entity.size()) == entity) {
        out.push_back(c);
        i += entity.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out.push_back('&');
  }
  return out;
}

// The text of the first <tag>...</tag> in xml[from, to) ("" if none).
std::string_view Element(std::string_view xml, std::string_view tag, size_t from, size_t to) {
  std::string open(1, '<'), close("</");
  open.append(tag).push_back('>');
  close.append(tag).push_back('>');
  const size_t b = xml.substr(0, to).find(open, from);
  if (b == std::string_view::npos) return {};
  const size_t e = xml.substr(0, to).find(close, b + open.size());
  if (e == std::string_view::npos) return {};
  return xml.substr(b + open.size(), e - b - open.size());
}

std::string HttpDate() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// "/container" or "/container/blob", encoded.
std::string Path(const std::string& container, const std::string& blob) {
  std::string p(1, '/');
  p += Encode(container, true);
  if (!blob.empty()) {
    p.push_back('/');
    p += Encode(blob, true);
  }
  return p;
}

bool Transient(int status) { return status == 0 || status == 408 || status == 429 || status >= 500; }

}  // namespace

Result<BlobAccount> ParseConnectionString(std::string_view text) {
  std::map<std::string, std::string> fields;
  while (!text.empty()) {
    const size_t semi = text.find(';');
    const std::string_view part = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    const size_t eq = part.find('=');
    if (part.find_first_not_of(" \t\r\n") == std::string_view::npos) continue;
    if (eq == std::string_view::npos) return Status::InvalidArgument("the storage connection string has a part without '='");
    fields[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  BlobAccount a;
  a.name = fields["AccountName"];
  a.key = fields["AccountKey"];
  a.sas = fields["SharedAccessSignature"];
  if (!a.sas.empty() && a.sas[0] == '?') a.sas.erase(0, 1);
  a.endpoint = fields["BlobEndpoint"];
  while (!a.endpoint.empty() && a.endpoint.back() == '/') a.endpoint.pop_back();
  if (a.endpoint.empty()) {
    if (a.name.empty()) return Status::InvalidArgument("the storage connection string has neither AccountName nor BlobEndpoint");
    const std::string protocol = fields.count("DefaultEndpointsProtocol") ? fields["DefaultEndpointsProtocol"] : "https";
    const std::string suffix = fields.count("EndpointSuffix") ? fields["EndpointSuffix"] : "core.windows.net";
    a.endpoint = protocol + "://" + a.name + ".blob." + suffix;
  }
  if (a.name.empty()) {  // a SAS connection string may name only the endpoint
    Result<BlobAccount> from_url = AccountFromUrl(a.endpoint);
    if (from_url.ok()) a.name = from_url->name;
  }
  if (a.key.empty() && a.sas.empty()) {
    return Status::InvalidArgument("the storage connection string has neither AccountKey nor SharedAccessSignature");
  }
  if (!a.key.empty() && a.name.empty()) return Status::InvalidArgument("the storage connection string has an AccountKey but no AccountName");
  if (!a.key.empty() && Base64Decode(a.key).empty()) {
    return Status::InvalidArgument("the storage connection string's AccountKey is not base64");
  }
  return a;
}

Result<BlobAccount> AccountFromUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return Status::InvalidArgument("account_url " + url + " is not a URL");
  const size_t host_end = url.find_first_of(":/", scheme + 3);
  const std::string host = url.substr(scheme + 3, host_end == std::string::npos ? std::string::npos : host_end - scheme - 3);
  BlobAccount a;
  a.endpoint = url;
  while (!a.endpoint.empty() && a.endpoint.back() == '/') a.endpoint.pop_back();
  a.name = host.substr(0, host.find('.'));
  // Azurite and other path-style endpoints: http://127.0.0.1:10000/ACCOUNT.
  const size_t slash = host_end == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  if (slash != std::string::npos && slash + 1 < a.endpoint.size()) a.name = a.endpoint.substr(slash + 1);
  if (a.name.empty()) return Status::InvalidArgument("account_url " + url + " names no account");
  return a;
}

std::string SharedKeySignature(const std::string& key_base64, const std::string& string_to_sign) {
  const std::string key = Base64Decode(key_base64);
  if (key.empty()) return "";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(string_to_sign.data()), string_to_sign.size(), mac, &len);
  return Base64Encode(mac, len);
}

BlobClient::BlobClient(BlobAccount account, std::shared_ptr<TokenCache> tokens, BlobClientOptions options)
    : account_(std::move(account)), tokens_(std::move(tokens)), options_(options) {
  const size_t scheme = account_.endpoint.find("://");
  const size_t slash = account_.endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  origin_ = account_.endpoint.substr(0, slash);
  if (slash != std::string::npos) base_path_ = account_.endpoint.substr(slash);
}

BlobClient::~BlobClient() = default;

std::string BlobClient::Url(const std::string& container, const std::string& blob) const {
  return account_.endpoint + "/" + container + "/" + blob;
}

std::map<std::pair<std::string, std::string>, uint64_t> BlobClient::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::unique_ptr<httplib::Client> BlobClient::TakeConnection() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<httplib::Client> http = std::move(idle_.back());
      idle_.pop_back();
      return http;
    }
  }
  auto http = std::make_unique<httplib::Client>(origin_);
  const auto s = options_.timeout.count() / 1000, us = (options_.timeout.count() % 1000) * 1000;
  http->set_connection_timeout(s, us);
  http->set_read_timeout(s, us);
  http->set_keep_alive(true);
  return http;
}

void BlobClient::GiveBack(std::unique_ptr<httplib::Client> http) {
  constexpr size_t kMaxIdle = 32;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(http));
}

BlobClient::Response BlobClient::Send(const char* kind, const std::string& path,
                                      const std::map<std::string, std::string>& query, const std::string& range) {
  Response out;
  const auto backoff = [&](int attempt) {
    return std::min(options_.max_backoff, options_.backoff * (1 << std::min(attempt - 1, 6)));
  };
  for (int attempt = 1;; ++attempt) {
    httplib::Headers headers{{"x-ms-version", kApiVersion}, {"x-ms-date", HttpDate()}, {"User-Agent", "flowwatch"}};
    if (!range.empty()) headers.emplace("x-ms-range", range);
    std::string target = base_path_ + path;
    std::string q;
    for (const auto& [k, v] : query) q += (q.empty() ? "" : "&") + k + "=" + Encode(v, false);
    if (!account_.key.empty()) {
      // SharedKey: the verb, eleven standard headers (all empty: x-ms-date
      // stands for Date, x-ms-range for Range), the x-ms- headers sorted,
      // then /ACCOUNT/path and each query parameter on a line of its own.
      std::string sts = "GET\n\n\n\n\n\n\n\n\n\n\n\n";
      std::map<std::string, std::string> ms;
      for (const auto& [k, v] : headers) {
        if (k.rfind("x-ms-", 0) == 0) ms[k] = v;
      }
      for (const auto& [k, v] : ms) sts += k + ":" + v + "\n";
      sts += "/" + account_.name + target;
      for (const auto& [k, v] : query) sts += "\n" + k + ":" + v;
      headers.emplace("Authorization", "SharedKey " + account_.name + ":" + SharedKeySignature(account_.key, sts));
    } else if (!account_.sas.empty()) {
      q += (q.empty() ? "" : "&") + account_.sas;
    } else if (tokens_) {
      Result<AccessToken> token = tokens_->Get(kStorageScope);
      if (!token.ok()) {
        out = Response{};
        out.error = token.status().message();
        if (attempt >= options_.max_attempts || token.status().code() != StatusCode::kUnavailable) return out;
        std::this_thread::sleep_for(backoff(attempt));
        continue;
      }
      headers.emplace("Authorization", "Bearer " + token->token);
    }
    if (!q.empty()) target += "?" + q;
    std::unique_ptr<httplib::Client> http = TakeConnection();
    httplib::Result res = http->Get(target, headers);
    if (res) GiveBack(std::move(http));  // one that got no answer is not reused
    out = Response{};
    if (!res) {
      out.error = "no answer (" + httplib::to_string(res.error()) + ")";
    } else {
      out.status = res->status;
      out.retry_after = res->get_header_value("Retry-After");
      out.error_code = res->get_header_value("x-ms-error-code");
      out.body = std::move(res->body);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_[{kind, std::to_string(out.status)}];
    }
    if (!Transient(out.status) || attempt >= options_.max_attempts) return out;
    auto wait = backoff(attempt);
    if (!out.retry_after.empty() && out.retry_after.find_first_not_of("0123456789") == std::string::npos &&
        out.retry_after.size() < 6) {
      wait = std::min(options_.max_backoff, std::chrono::milliseconds(std::stoi(out.retry_after) * 1000));
    }
    std::this_thread::sleep_for(wait);
  }
}

Status BlobClient::Check(const Response& r, const std::string& what) const {
  const std::string where = "account " + account_.name + ", " + what;
  if (r.status == 0) return Status::Unavailable(where + ": " + r.error);
  if (r.status >= 200 && r.status < 300) return Status::Ok();
  const std::string detail = "HTTP " + std::to_string(r.status) + (r.error_code.empty() ? "" : " " + r.error_code);
  if (r.status == 404) return Status::NotFound(where + ": " + detail);
  if (r.status == 403 || r.status == 401) {
    return Status::InvalidArgument(
        where + ": " + detail +
        ": check the connection string's AccountKey, or the SAS's expiry and its read and list permissions, or that "
        "the identity has the Storage Blob Data Reader role on the account");
  }
  if (Transient(r.status)) return Status::Unavailable(where + ": " + detail + " (after retries)");
  return Status::IoError(where + ": " + detail);
}

Status ParseBlobListPage(std::string_view xml, std::vector<BlobItem>* out, std::string* next_marker) {
  size_t at = 0;
  while (true) {
    const size_t b = xml.find("<Blob>", at);
    if (b == std::string_view::npos) break;
    const size_t e = xml.find("</Blob>", b);
    if (e == std::string_view::npos) return Status::Corruption("a listing cut short (a <Blob> without its </Blob>)");
    BlobItem item;
    item.name = XmlUnescape(Element(xml, "Name", b, e));
    const std::string_view length = Element(xml, "Content-Length", b, e);
    item.size = length.empty() ? 0 : std::strtoull(std::string(length).c_str(), nullptr, 10);
    item.etag = std::string(Element(xml, "Etag", b, e));
    if (!item.name.empty()) out->push_back(std::move(item));
    at = e;
  }
  *next_marker = XmlUnescape(Element(xml, "NextMarker", 0, xml.size()));
  return Status::Ok();
}

Status BlobClient::List(const std::string& container, const std::string& prefix, std::vector<BlobItem>* out) {
  std::string marker;
  for (int page = 0; page < 100000; ++page) {
    std::map<std::string, std::string> query{{"comp", "list"}, {"restype", "container"}, {"maxresults", "5000"}};
    if (!prefix.empty()) query["prefix"] = prefix;
    if (!marker.empty()) query["marker"] = marker;
    const Response r = Send("list", Path(container, ""), query, "");
    if (Status s = Check(r, "container " + container); !s.ok()) return s;
    if (Status s = ParseBlobListPage(r.body, out, &marker); !s.ok()) {
      return Status::Corruption("account " + account_.name + ", container " + container + ": " + s.message());
    }
    if (marker.empty()) return Status::Ok();
  }
  return Status::Corruption("account " + account_.name + ", container " + container + ": listing pages never end");
}

Status BlobClient::Get(const std::string& container, const std::string& blob, int64_t from, int64_t to,
                       std::string* out) {
  out->clear();
  if (to <= from) return Status::Ok();
  const Response r = Send("get", Path(container, blob), {},
                          "bytes=" + std::to_string(from) + "-" + std::to_string(to - 1));
  if (r.status == 416) return Status::Ok();  // from is past its end: shorter now
  if (Status s = Check(r, "blob " + container + "/" + blob); !s.ok()) return s;
  *out = r.body;
  if (r.status == 200 && from > 0) {  // the whole blob (a server without ranges)
    *out = static_cast<size_t>(from) < r.body.size() ? r.body.substr(static_cast<size_t>(from)) : "";
  }
  if (out->size() > static_cast<size_t>(to - from)) out->resize(static_cast<size_t>(to - from));
  return Status::Ok();
}

}  // namespace flowwatch::azure
