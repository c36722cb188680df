// Fuzzes what lib/azure parses from outside: a List Blobs answer's page
// (ParseBlobListPage) and a storage connection string. Whatever the bytes:
// no crash, no blob without a name, and no error message quoting the account
// key or SAS the input carried (one word of 24 characters or more).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lib/azure/blob_client.h"

namespace {

// The value after `field=` up to the next ';', if the input has one.
std::string_view Field(std::string_view text, std::string_view field) {
  const size_t at = text.find(field);
  if (at == std::string_view::npos) return {};
  const std::string_view rest = text.substr(at + field.size());
  return rest.substr(0, rest.find(';'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flowwatch::azure;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::vector<BlobItem> items;
  std::string marker;
  if (ParseBlobListPage(text, &items, &marker).ok()) {
    for (const BlobItem& item : items) {
      if (item.name.empty()) std::abort();
    }
  }

  const flowwatch::Result<BlobAccount> account = ParseConnectionString(text);
  if (!account.ok()) {
    const std::string& message = account.status().message();
    for (const std::string_view secret : {Field(text, "AccountKey="), Field(text, "SharedAccessSignature=")}) {
      // One word longer than any of the fixed messages' (an account key is
      // 88 base64 characters), so that a match is the secret echoed, not a
      // piece of the message the fuzzer copied into the input.
      const bool word = secret.find(' ') == std::string_view::npos;
      if (word && secret.size() >= 24 && message.find(secret) != std::string::npos) std::abort();
    }
  } else if (account->endpoint.empty() || (account->key.empty() && account->sas.empty())) {
    std::abort();
  }
  return 0;
}
