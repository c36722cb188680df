// Blob URL prefixes as replay's inputs (lib/source/blob/blob_inputs.h): how a
// URL names the account, container and prefix. Listing and reading them
// against Azurite: tests/integration/kafka/blob_test.cpp.
#include "lib/source/blob/blob_inputs.h"

#include <catch2/catch.hpp>

namespace flowwatch::source {

TEST_CASE("A blob URL names its account by its host, or by its path on an emulator, then the container and the prefix") {
  Result<BlobUrl> u = ParseBlobUrl(
      "https://acme.blob.core.windows.net/insights-logs-flowlogflowevent/flowLogResourceID=/X/y=2024?sv=2022&sig=abc%3D");
  REQUIRE(u.ok());
  CHECK(u->account.name == "acme");
  CHECK(u->account.endpoint == "https://acme.blob.core.windows.net");
  CHECK(u->account.sas == "sv=2022&sig=abc%3D");
  CHECK(u->container == "insights-logs-flowlogflowevent");
  CHECK(u->prefix == "flowLogResourceID=/X/y=2024");
  CHECK(u->shown == "https://acme.blob.core.windows.net/insights-logs-flowlogflowevent/flowLogResourceID=/X/y=2024");

  u = ParseBlobUrl("http://127.0.0.1:10000/devstoreaccount1/c");
  REQUIRE(u.ok());
  CHECK(u->account.name == "devstoreaccount1");
  CHECK(u->account.endpoint == "http://127.0.0.1:10000/devstoreaccount1");
  CHECK(u->account.sas.empty());
  CHECK(u->container == "c");
  CHECK(u->prefix.empty());
  u = ParseBlobUrl("http://localhost/dev/c/");
  REQUIRE(u.ok());
  CHECK(u->account.name == "dev");
  CHECK(u->container == "c");
  CHECK(u->prefix.empty());

  CHECK_FALSE(IsBlobUrl("/var/flowlogs"));
  CHECK(IsBlobUrl("https://acme.blob.core.windows.net/c"));
}

TEST_CASE("A blob URL without a container or account is refused by name, its SAS left out") {
  Result<BlobUrl> u = ParseBlobUrl("https://acme.blob.core.windows.net/?sig=SECRET");
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().message() == "https://acme.blob.core.windows.net/ names no container");
  u = ParseBlobUrl("http://127.0.0.1:10000/");
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().message().find("names no account") != std::string::npos);
  u = ParseBlobUrl("https://.blob.core.windows.net/c/x");  // found by fuzz_blob_events: an empty first label
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().message().find("names no account") != std::string::npos);
  u = ParseBlobUrl("http://127.0.0.1:10000/devstoreaccount1");
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().message().find("names no container") != std::string::npos);
  u = ParseBlobUrl("ftp://x/y?sig=SECRET");
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().message().find("SECRET") == std::string::npos);
}

}  // namespace flowwatch::source
