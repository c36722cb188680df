// BlobClient: the three Blob Storage REST calls a flow-log reader needs - List
// Blobs (by prefix, every page), a ranged Get Blob, and the account's
// authorization - over cpp-httplib (already the Entra client's; no Azure SDK
// for C++ is packaged).
//
// Auth, one of: the account key of a connection string (SharedKey: each
// request signed with HMAC-SHA256 over its canonical form), a SAS (its query
// appended), or Entra ID (a bearer token for https://storage.azure.com from
// the shared TokenCache, credential.h). x-ms-version is pinned (kApiVersion).
//
// Retries: no answer, 408, 429 and 5xx are retried max_attempts times with
// exponential backoff (Retry-After honoured, capped at max_backoff); then
// kUnavailable. 403 is kInvalidArgument naming the account and what to check;
// a missing container or blob is kNotFound. No key, SAS or token ever reaches
// an error message or log line.
//
// Connections are kept alive between requests in a pool: a request takes an
// idle one (or makes one) and gives it back after an answer (a connection
// that got no answer is dropped), so that callers on several threads read at
// once, each on a connection of its own.
//
// Threads: any number of callers at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "lib/azure/credential.h"

namespace httplib {
class Client;
}
#include "lib/common/status.h"

namespace flowwatch::azure {

inline constexpr const char* kApiVersion = "2021-12-02";
inline constexpr const char* kStorageScope = "https://storage.azure.com/.default";

struct BlobAccount {
  std::string name;      // the account name
  std::string endpoint;  // "https://ACCOUNT.blob.core.windows.net", or Azurite's "http://127.0.0.1:PORT/ACCOUNT"
  std::string key;       // base64 account key (secret), or ""
  std::string sas;       // a SAS query without its "?" (secret), or ""
};

// A connection string (AccountName, AccountKey, BlobEndpoint,
// DefaultEndpointsProtocol, EndpointSuffix, SharedAccessSignature; `;`
// separated). Errors name what is missing, never a value.
Result<BlobAccount> ParseConnectionString(std::string_view text);
// An account URL for Entra ID ("https://ACCOUNT.blob.core.windows.net"): the
// account is the host's first label.
Result<BlobAccount> AccountFromUrl(const std::string& url);

// base64(HMAC-SHA256(base64-decoded key, string_to_sign)): SharedKey's
// signature. Empty if the key is not base64.
std::string SharedKeySignature(const std::string& key_base64, const std::string& string_to_sign);

struct BlobItem {
  std::string name;
  uint64_t size = 0;
  std::string etag;
};

// One page of a List Blobs answer: its blobs appended to *out (those without
// a name skipped), and its NextMarker in *next_marker ("" on the last page).
// Corruption if a <Blob> is cut short. Pure; exposed for fuzzing.
Status ParseBlobListPage(std::string_view xml, std::vector<BlobItem>* out, std::string* next_marker);

struct BlobClientOptions {
  std::chrono::milliseconds timeout{30000};
  int max_attempts = 4;
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds max_backoff{30000};
};

class BlobClient {
 public:
  // tokens: for Entra ID (account without key or SAS); may be null otherwise.
  BlobClient(BlobAccount account, std::shared_ptr<TokenCache> tokens, BlobClientOptions options = {});
  ~BlobClient();

  // Every blob in the container whose name starts with prefix (all pages).
  Status List(const std::string& container, const std::string& prefix, std::vector<BlobItem>* out);
  // Bytes [from, to) of a blob (fewer if it is shorter; none if from is past its end).
  Status Get(const std::string& container, const std::string& blob, int64_t from, int64_t to, std::string* out);

  // The blob's URL (no SAS): its name in checkpoints and logs.
  std::string Url(const std::string& container, const std::string& blob) const;
  const BlobAccount& account() const { return account_; }

  // Requests by kind ("list", "get") and HTTP status ("0": no answer).
  std::map<std::pair<std::string, std::string>, uint64_t> requests() const;

 private:
  struct Response {
    int status = 0;  // 0: no answer
    std::string body, error, retry_after, error_code;
  };
  Response Send(const char* kind, const std::string& path, const std::map<std::string, std::string>& query,
                const std::string& range);
  Status Check(const Response& r, const std::string& what) const;

  const BlobAccount account_;
  std::string origin_, base_path_;  // the endpoint split: scheme://host[:port], and "/ACCOUNT" or ""
  std::shared_ptr<TokenCache> tokens_;
  const BlobClientOptions options_;
  std::unique_ptr<httplib::Client> TakeConnection();
  void GiveBack(std::unique_ptr<httplib::Client> http);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;                 // guarded by mu_
  std::map<std::pair<std::string, std::string>, uint64_t> requests_;  // guarded by mu_
};

}  // namespace flowwatch::azure
