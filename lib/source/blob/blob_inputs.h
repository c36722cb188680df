// Blob URL prefixes as inputs of `flowwatch replay` and `flowwatch ports`, for
// an investigation straight from Storage:
// https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX], or a path-style
// endpoint's http://HOST:PORT/ACCOUNT/CONTAINER[/PREFIX] (Azurite's). Every
// flow-log blob under the prefix (*.json, *.json.gz, *.ndjson[.gz]) is one
// input, in the order of its hour folders, read whole by a ranged Get Blob.
//
// Auth, the first that applies: a SAS in the URL's query; the connection
// string in AZURE_STORAGE_CONNECTION_STRING (its account must be the URL's;
// its endpoint is not used: the URL's is); otherwise Entra ID with the
// configuration's `azure` settings, as `run` has them (workload identity,
// managed identity or a client secret, from the environment when blank).
// Errors name the URL without its SAS, never a key, SAS or token.
//
// Stateless functions; the inputs' readers may run on any threads at once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lib/azure/blob_client.h"
#include "lib/azure/credential.h"
#include "lib/common/status.h"
#include "lib/config/config.h"
#include "lib/source/file/input_files.h"

namespace flowwatch::source {

// Whether a path given to replay is a URL (http:// or https://).
bool IsBlobUrl(std::string_view path);

struct BlobUrl {
  azure::BlobAccount account;  // its name and endpoint; the SAS if the URL has one
  std::string container;
  std::string prefix;  // "" for the whole container
  std::string shown;   // the URL without its query, for messages
};
// Pure; exposed for its tests.
Result<BlobUrl> ParseBlobUrl(const std::string& url);

// The flow-log blobs under a URL prefix, each with its reader.
Result<std::vector<InputFile>> ListBlobInputs(const std::string& url, const config::AzureConfig& azure,
                                              const azure::GetEnv& env = {});

}  // namespace flowwatch::source
