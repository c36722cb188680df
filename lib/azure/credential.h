// Entra ID (Azure AD) access tokens for Azure services: Event Hubs' Kafka
// endpoint (SASL OAUTHBEARER) today, Blob Storage next.
//
// Three credentials, as Azure's own SDKs name them:
// - workload identity (AKS): the federated service-account token in
//   AZURE_FEDERATED_TOKEN_FILE is exchanged for an access token (client
//   credentials grant with a JWT client assertion). The file is re-read on
//   every exchange: the kubelet rotates it.
// - managed identity: the instance metadata service (IMDS) on the node.
// - client secret: an app registration's secret.
// `auto` picks the first whose settings are all there, in that order.
//
// Tokens and secrets never reach a log line, metric or error message: errors
// say which credential failed, the HTTP status and Entra's error code and
// description, nothing of the request.
//
// Threads: a TokenCredential is used by one caller at a time (TokenCache
// serializes); TokenCache is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "lib/common/counter.h"
#include "lib/common/status.h"
#include "lib/config/config.h"

namespace flowwatch::azure {

using Clock = std::chrono::system_clock;

struct AccessToken {
  std::string token;  // secret
  Clock::time_point expires_on;
};

// The `azure:` section of the config (lib/config/config.h). Blank fields are
// taken from the environment the AKS workload identity webhook sets up
// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE,
// AZURE_AUTHORITY_HOST) and from AZURE_CLIENT_SECRET, as Azure's SDKs do.
using CredentialOptions = config::AzureConfig;

class TokenCredential {
 public:
  virtual ~TokenCredential() = default;
  // A new token for `scope` (e.g. "https://contoso.servicebus.windows.net/.default"):
  // one exchange, no cache, no retry. kUnavailable for what may pass (no
  // answer, 429, 5xx), kInvalidArgument for what will not (401, 400, no file).
  virtual Result<AccessToken> Fetch(const std::string& scope) = 0;
  virtual const char* kind() const = 0;  // "workload_identity", ...
  // Who the token is for, for logs and the Kafka principal: the client ID, or
  // "system-assigned" (a managed identity without one).
  virtual std::string principal() const = 0;
};

// Blanks filled from `env` (std::getenv by default), `auto` resolved, and what
// the chosen kind needs checked: the error names the missing key and its
// environment variable.
using GetEnv = std::function<const char*(const char*)>;
Result<std::unique_ptr<TokenCredential>> MakeCredential(CredentialOptions options, const GetEnv& env = {});

// Tokens per scope, shared by every client in the process (the Kafka consumer
// and its dead-letter producer, the Blob reader): a token is reused while more
// than half its lifetime is left, so that a client refreshing at 80% of it
// (librdkafka does) gets a new one, and never one about to expire. Concurrent
// callers for one scope share one exchange.
class TokenCache {
 public:
  explicit TokenCache(std::unique_ptr<TokenCredential> credential,
                      std::function<Clock::time_point()> now = [] { return Clock::now(); });

  Result<AccessToken> Get(const std::string& scope);
  const TokenCredential& credential() const { return *credential_; }

  SharedCounter fetched;  // exchanges that gave a token
  SharedCounter failed;   // exchanges that did not

 private:
  struct Entry {
    AccessToken token;
    Clock::time_point fetched_at;
  };
  std::unique_ptr<TokenCredential> credential_;
  std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::map<std::string, Entry> tokens_;  // by scope; guarded by mu_
};

// "https://<host>/.default" for a service host, the scope Event Hubs and
// Storage expect.
std::string DefaultScope(const std::string& host);

}  // namespace flowwatch::azure
