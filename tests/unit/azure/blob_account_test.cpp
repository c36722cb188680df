// Storage connection strings and account URLs: the account, endpoint and
// secret each form gives, and errors that name what is missing, never a value.
#include <catch2/catch.hpp>

#include "lib/azure/blob_client.h"

namespace flowwatch::azure {
namespace {

constexpr const char* kKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

TEST_CASE("A storage connection string gives the account, its blob endpoint and its key or SAS") {
  Result<BlobAccount> a = ParseConnectionString(std::string("DefaultEndpointsProtocol=https;AccountName=flowlogs;AccountKey=") +
                                                kKey + ";EndpointSuffix=core.windows.net");
  REQUIRE(a.ok());
  CHECK(a->name == "flowlogs");
  CHECK(a->endpoint == "https://flowlogs.blob.core.windows.net");
  CHECK(a->key == kKey);
  CHECK(a->sas.empty());

  a = ParseConnectionString("BlobEndpoint=https://flowlogs.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sig=abc%3D");
  REQUIRE(a.ok());
  CHECK(a->name == "flowlogs");
  CHECK(a->endpoint == "https://flowlogs.blob.core.windows.net");
  CHECK(a->sas == "sv=2022-11-02&ss=b&sig=abc%3D");

  a = ParseConnectionString(std::string("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=") + kKey +
                            ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;");
  REQUIRE(a.ok());
  CHECK(a->endpoint == "http://127.0.0.1:10000/devstoreaccount1");
}

TEST_CASE("A storage connection string without a secret, or with a key that is not base64, is refused without echoing it") {
  Result<BlobAccount> a = ParseConnectionString("AccountName=flowlogs;EndpointSuffix=core.windows.net");
  REQUIRE(!a.ok());
  CHECK(a.status().message() == "the storage connection string has neither AccountKey nor SharedAccessSignature");
  a = ParseConnectionString("AccountName=flowlogs;AccountKey=not*base64*secret");
  REQUIRE(!a.ok());
  CHECK(a.status().message() == "the storage connection string's AccountKey is not base64");
  CHECK(a.status().message().find("secret") == std::string::npos);
  a = ParseConnectionString("just-a-key");
  REQUIRE(!a.ok());
  CHECK(a.status().message().find("just-a-key") == std::string::npos);
}

TEST_CASE("An account URL names the account, host-style or path-style") {
  Result<BlobAccount> a = AccountFromUrl("https://flowlogs.blob.core.windows.net/");
  REQUIRE(a.ok());
  CHECK(a->name == "flowlogs");
  CHECK(a->endpoint == "https://flowlogs.blob.core.windows.net");
  a = AccountFromUrl("http://127.0.0.1:10000/devstoreaccount1");
  REQUIRE(a.ok());
  CHECK(a->name == "devstoreaccount1");
  CHECK(!AccountFromUrl("flowlogs").ok());
}

TEST_CASE("SharedKey's signature is the base64 HMAC-SHA256 of the string to sign under the decoded key") {
  // printf 'GET\n' | openssl dgst -sha256 -mac HMAC -macopt hexkey:$(echo -n KEY | base64 -d | xxd -p -c 256)
  //   -binary | base64
  CHECK(SharedKeySignature(kKey, "GET\n") == "/ZZsmidvu/o1IWuAI6fRY2fmdvnXEMtMILD8Y+sZWjA=");
  CHECK(SharedKeySignature("not base64!", "GET\n").empty());
}

}  // namespace
}  // namespace flowwatch::azure
