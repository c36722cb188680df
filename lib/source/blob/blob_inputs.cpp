#include "lib/source/blob/blob_inputs.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace flowwatch::source {
namespace {

// A host whose URLs name the account in their path (an emulator's), not in
// their first label: an IPv4 address, localhost, or any host with a port.
bool PathStyle(const std::string& host, bool has_port) {
  if (has_port || host == "localhost") return true;
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
}

}  // namespace

bool IsBlobUrl(std::string_view path) { return path.rfind("https://", 0) == 0 || path.rfind("http://", 0) == 0; }

Result<BlobUrl> ParseBlobUrl(const std::string& url) {
  BlobUrl out;
  const size_t query = url.find('?');
  out.shown = url.substr(0, query);
  if (query != std::string::npos) out.account.sas = url.substr(query + 1);
  const size_t scheme = out.shown.find("://");
  if (scheme == std::string::npos || !IsBlobUrl(out.shown)) {
    return Status::InvalidArgument(out.shown + " is not an http:// or https:// URL");
  }
  const size_t path = out.shown.find('/', scheme + 3);
  const std::string authority = out.shown.substr(scheme + 3, path == std::string::npos ? std::string::npos : path - scheme - 3);
  const size_t colon = authority.find(':');
  const std::string host = authority.substr(0, colon);
  if (host.empty()) return Status::InvalidArgument(out.shown + " names no host");
  std::vector<std::string> segments;
  if (path != std::string::npos) {
    std::string rest = out.shown.substr(path + 1);
    for (size_t at = 0; at <= rest.size();) {
      const size_t slash = rest.find('/', at);
      segments.push_back(rest.substr(at, slash == std::string::npos ? std::string::npos : slash - at));
      if (slash == std::string::npos) break;
      at = slash + 1;
    }
  }
  out.account.endpoint = out.shown.substr(0, scheme + 3) + authority;
  size_t next = 0;
  if (PathStyle(host, colon != std::string::npos)) {
    if (segments.empty() || segments[0].empty()) return Status::InvalidArgument(out.shown + " names no account (path style: /ACCOUNT/CONTAINER)");
    out.account.name = segments[0];
    out.account.endpoint += "/" + segments[0];
    next = 1;
  } else {
    out.account.name = host.substr(0, host.find('.'));
    if (out.account.name.empty()) return Status::InvalidArgument(out.shown + " names no account (ACCOUNT.blob.core.windows.net)");
  }
  if (segments.size() <= next || segments[next].empty()) return Status::InvalidArgument(out.shown + " names no container");
  out.container = segments[next];
  for (size_t i = next + 1; i < segments.size(); ++i) out.prefix += (i > next + 1 ? "/" : "") + segments[i];
  return out;
}

Result<std::vector<InputFile>> ListBlobInputs(const std::string& url, const config::AzureConfig& azure_config,
                                              const azure::GetEnv& env) {
  Result<BlobUrl> parsed = ParseBlobUrl(url);
  if (!parsed.ok()) return parsed.status();
  BlobUrl u = std::move(parsed).value();
  const auto get = [&](const char* name) -> const char* { return env ? env(name) : std::getenv(name); };
  std::shared_ptr<azure::TokenCache> tokens;
  if (u.account.sas.empty()) {
    const char* cs = get("AZURE_STORAGE_CONNECTION_STRING");
    if (cs != nullptr && *cs != '\0') {
      Result<azure::BlobAccount> from = azure::ParseConnectionString(cs);
      if (!from.ok()) return Status::InvalidArgument("AZURE_STORAGE_CONNECTION_STRING: " + from.status().message());
      if (from->name != u.account.name) {
        return Status::InvalidArgument("AZURE_STORAGE_CONNECTION_STRING is for account " + from->name + ", " + u.shown +
                                       " names account " + u.account.name);
      }
      u.account.key = from->key;
      u.account.sas = from->sas;
    } else {
      Result<std::unique_ptr<azure::TokenCredential>> credential = azure::MakeCredential(azure_config, env);
      if (!credential.ok()) {
        return Status::InvalidArgument(u.shown + ": no SAS in the URL, no AZURE_STORAGE_CONNECTION_STRING, and no Entra ID credential (" +
                                       credential.status().message() + ")");
      }
      tokens = std::make_shared<azure::TokenCache>(std::move(credential).value());
    }
  }
  auto client = std::make_shared<azure::BlobClient>(u.account, tokens);
  std::vector<azure::BlobItem> items;
  if (Status s = client->List(u.container, u.prefix, &items); !s.ok()) return s.WithContext(u.shown);
  std::vector<InputFile> out;
  for (const azure::BlobItem& item : items) {
    if (!HasInputExtension(item.name)) continue;
    InputFile f;
    f.path = client->Url(u.container, item.name);
    f.size_bytes = item.size;
    f.time_hint_ms = TimeHintFromPath(item.name);
    f.read = [client, container = u.container, name = item.name, size = item.size](size_t padding, std::vector<char>* buf,
                                                                                    size_t* n) {
      std::string body;
      if (Status s = client->Get(container, name, 0, static_cast<int64_t>(size), &body); !s.ok()) {
        return s.WithContext(client->Url(container, name));
      }
      buf->resize(body.size() + padding);
      std::memcpy(buf->data(), body.data(), body.size());
      std::memset(buf->data() + body.size(), 0, padding);
      *n = body.size();
      return Status::Ok();
    };
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace flowwatch::source
