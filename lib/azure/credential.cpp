#include "lib/azure/credential.h"

#include <httplib.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>

#include "lib/common/text_format.h"

namespace flowwatch::azure {
namespace {

constexpr const char* kDefaultAuthority = "https://login.microsoftonline.com";

struct Url {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "/..." ("" if none)
};

Url SplitUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return {url, ""};
  return {url.substr(0, slash), url.substr(slash)};
}

std::unique_ptr<httplib::Client> MakeClient(const std::string& origin, std::chrono::milliseconds timeout) {
  auto client = std::make_unique<httplib::Client>(origin);
  const auto s = timeout.count() / 1000, us = (timeout.count() % 1000) * 1000;
  client->set_connection_timeout(s, us);
  client->set_read_timeout(s, us);
  client->set_write_timeout(s, us);
  return client;
}

// The token in an Entra ID or IMDS answer, or why there is none. `who` starts
// every message ("workload identity (client 1234...)").
Result<AccessToken> ParseAnswer(const std::string& who, const httplib::Result& res) {
  if (!res) return Status::Unavailable(who + ": no answer from the token endpoint (" + httplib::to_string(res.error()) + ")");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const bool json = !parser.parse(res->body).get(doc) && doc.is_object();
  if (res->status != 200) {
    std::string detail = "HTTP " + std::to_string(res->status);
    std::string_view error, description;
    if (json && !doc["error"].get(error)) detail += " " + std::string(error);
    if (json && !doc["error_description"].get(description)) {
      std::string d(description.substr(0, description.find_first_of("\r\n")));  // the trace IDs follow
      if (d.size() > 300) d = d.substr(0, 300) + "...";
      detail += ": " + d;
    }
    const bool transient = res->status == 408 || res->status == 429 || res->status >= 500;
    return transient ? Status::Unavailable(who + ": " + detail) : Status::InvalidArgument(who + ": " + detail);
  }
  std::string_view token;
  if (!json || doc["access_token"].get(token) || token.empty()) {
    return Status::Unavailable(who + ": the token endpoint's answer has no access_token");
  }
  // expires_in: seconds, a number (Entra ID) or a string (IMDS); else
  // expires_on, seconds since the epoch.
  int64_t seconds = -1;
  int64_t n = 0;
  std::string_view text;
  const auto as_int = [&](const char* field, int64_t* out) {
    if (!doc[field].get(n)) {
      *out = n;
      return true;
    }
    if (!doc[field].get(text) && !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos &&
        text.size() < 19) {
      *out = std::stoll(std::string(text));
      return true;
    }
    return false;
  };
  int64_t expires_on = 0;
  if (as_int("expires_in", &seconds)) {
    return AccessToken{std::string(token), Clock::now() + std::chrono::seconds(seconds)};
  }
  if (as_int("expires_on", &expires_on)) {
    return AccessToken{std::string(token), Clock::time_point(std::chrono::seconds(expires_on))};
  }
  return Status::Unavailable(who + ": the token endpoint's answer has no expires_in");
}

// Workload identity and client secret: the client credentials grant on
// {authority}/{tenant}/oauth2/v2.0/token.
class EntraIdCredential : public TokenCredential {
 public:
  EntraIdCredential(const CredentialOptions& o, bool federated) : options_(o), federated_(federated) {
    std::string authority = o.authority_host;
    while (!authority.empty() && authority.back() == '/') authority.pop_back();
    const Url url = SplitUrl(authority);
    origin_ = url.origin;
    path_ = url.path + "/" + o.tenant_id + "/oauth2/v2.0/token";
  }

  Result<AccessToken> Fetch(const std::string& scope) override {
    const std::string who = std::string(federated_ ? "workload identity" : "client secret") + " (client " +
                            options_.client_id + ")";
    httplib::Params form{{"grant_type", "client_credentials"}, {"client_id", options_.client_id}, {"scope", scope}};
    if (federated_) {
      // Re-read each time: the kubelet rotates the projected token (hourly).
      std::ifstream in(options_.federated_token_file);
      std::stringstream buffer;
      buffer << in.rdbuf();
      const std::string assertion(TrimSpace(buffer.str()));
      if (!in || assertion.empty()) {
        return Status::InvalidArgument(who + ": cannot read the federated token file " + options_.federated_token_file +
                                       (in ? " (it is empty)" : ""));
      }
      form.emplace("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      form.emplace("client_assertion", assertion);
    } else {
      form.emplace("client_secret", options_.client_secret);
    }
    auto client = MakeClient(origin_, options_.timeout);
    return ParseAnswer(who, client->Post(path_, httplib::Headers{{"User-Agent", "flowwatch"}}, form));
  }

  const char* kind() const override { return federated_ ? "workload_identity" : "client_secret"; }
  std::string principal() const override { return options_.client_id; }

 private:
  const CredentialOptions options_;
  const bool federated_;
  std::string origin_, path_;
};

// Managed identity through the instance metadata service: GET with
// `Metadata: true`, the resource being the scope without "/.default".
class ManagedIdentityCredential : public TokenCredential {
 public:
  explicit ManagedIdentityCredential(const CredentialOptions& o) : options_(o) {
    const Url url = SplitUrl(o.managed_identity_endpoint);
    origin_ = url.origin;
    path_ = url.path.empty() ? "/" : url.path;
  }

  Result<AccessToken> Fetch(const std::string& scope) override {
    const std::string who =
        "managed identity (" + (options_.client_id.empty() ? principal() : "client " + options_.client_id) + ")";
    std::string resource = scope;
    if (resource.ends_with("/.default")) resource.resize(resource.size() - 8);  // keeps the trailing '/'
    httplib::Params query{{"api-version", "2018-02-01"}, {"resource", resource}};
    if (!options_.client_id.empty()) query.emplace("client_id", options_.client_id);
    auto client = MakeClient(origin_, options_.timeout);
    return ParseAnswer(who, client->Get(path_, query, httplib::Headers{{"Metadata", "true"}, {"User-Agent", "flowwatch"}}));
  }

  const char* kind() const override { return "managed_identity"; }
  std::string principal() const override { return options_.client_id.empty() ? "system-assigned" : options_.client_id; }

 private:
  const CredentialOptions options_;
  std::string origin_, path_;
};

}  // namespace

std::string DefaultScope(const std::string& host) { return "https://" + host + "/.default"; }

Result<std::unique_ptr<TokenCredential>> MakeCredential(CredentialOptions o, const GetEnv& env) {
  const GetEnv get = env ? env : [](const char* name) -> const char* { return std::getenv(name); };
  const auto fill = [&](std::string* field, const char* variable) {
    if (!field->empty()) return;
    if (const char* v = get(variable); v != nullptr) *field = v;
  };
  fill(&o.tenant_id, "AZURE_TENANT_ID");
  fill(&o.client_id, "AZURE_CLIENT_ID");
  fill(&o.federated_token_file, "AZURE_FEDERATED_TOKEN_FILE");
  fill(&o.client_secret, "AZURE_CLIENT_SECRET");
  fill(&o.authority_host, "AZURE_AUTHORITY_HOST");
  if (o.authority_host.empty()) o.authority_host = kDefaultAuthority;

  std::string kind = o.kind;
  if (kind == "auto") {
    if (!o.federated_token_file.empty()) {
      kind = "workload_identity";
    } else if (!o.client_secret.empty()) {
      kind = "client_secret";
    } else {
      kind = "managed_identity";
    }
  }
  const auto need = [&](const std::string& value, const char* key, const char* variable) -> Status {
    if (!value.empty()) return Status::Ok();
    return Status::InvalidArgument("azure." + std::string(key) + ": needed by credential " + kind + " (or set " +
                                   variable + ")");
  };
  if (kind == "workload_identity" || kind == "client_secret") {
    const bool federated = kind == "workload_identity";
    for (Status s : {need(o.tenant_id, "tenant_id", "AZURE_TENANT_ID"), need(o.client_id, "client_id", "AZURE_CLIENT_ID"),
                     federated ? need(o.federated_token_file, "federated_token_file", "AZURE_FEDERATED_TOKEN_FILE")
                               : need(o.client_secret, "client_secret", "AZURE_CLIENT_SECRET")}) {
      if (!s.ok()) return s;
    }
    return std::unique_ptr<TokenCredential>(new EntraIdCredential(o, federated));
  }
  if (kind == "managed_identity") return std::unique_ptr<TokenCredential>(new ManagedIdentityCredential(o));
  return Status::InvalidArgument("azure.credential: '" + o.kind +
                                 "' is none of auto, workload_identity, managed_identity, client_secret");
}

TokenCache::TokenCache(std::unique_ptr<TokenCredential> credential, std::function<Clock::time_point()> now)
    : credential_(std::move(credential)), now_(std::move(now)) {}

Result<AccessToken> TokenCache::Get(const std::string& scope) {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = now_();
  if (auto it = tokens_.find(scope); it != tokens_.end()) {
    const Entry& e = it->second;
    if (now < e.fetched_at + (e.token.expires_on - e.fetched_at) / 2) return e.token;
  }
  Result<AccessToken> token = credential_->Fetch(scope);
  if (!token.ok()) {
    failed.Add();
    return token;
  }
  fetched.Add();
  tokens_[scope] = Entry{*token, now};
  return token;
}

}  // namespace flowwatch::azure
