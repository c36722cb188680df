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
  // More padding than base64 has (found by fuzzing: it threw length_error).
  a = ParseConnectionString("AccountName=flowlogs;AccountKey=Eby8vdM02x" + std::string(50, '='));
  REQUIRE(!a.ok());
  CHECK(a.status().message() == "the storage connection string's AccountKey is not base64");
  a = ParseConnectionString("AccountName=flowlogs;AccountKey=QUJD===");
  CHECK(!a.ok());
  a = ParseConnectionString("AccountName=flowlogs;AccountKey=QUI=");  // "AB"
  CHECK(a.ok());
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

TEST_CASE("A List Blobs page gives each blob's name (XML-unescaped), length and ETag, and the next marker") {
  const std::string page =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs>"
      "<Blob><Name>y=2026/m=12/d=07/h=04/m=00/PT1H.json</Name><Properties><Etag>0x8DC</Etag>"
      "<Content-Length>123456</Content-Length></Properties></Blob>"
      "<Blob><Name>a &amp; b&lt;1&gt;.json</Name><Properties><Content-Length>2</Content-Length></Properties></Blob>"
      "<Blob><Properties><Content-Length>9</Content-Length></Properties></Blob>"
      "</Blobs><NextMarker>2!100!MDAw</NextMarker></EnumerationResults>";
  std::vector<BlobItem> items;
  std::string marker;
  REQUIRE(ParseBlobListPage(page, &items, &marker).ok());
  REQUIRE(items.size() == 2);  // the one without a name is skipped
  CHECK(items[0].name == "y=2026/m=12/d=07/h=04/m=00/PT1H.json");
  CHECK(items[0].size == 123456);
  CHECK(items[0].etag == "0x8DC");
  CHECK(items[1].name == "a & b<1>.json");
  CHECK(marker == "2!100!MDAw");
  // The last page has an empty marker; a page cut inside a <Blob> is an error.
  REQUIRE(ParseBlobListPage("<EnumerationResults><Blobs></Blobs><NextMarker /></EnumerationResults>", &items, &marker).ok());
  CHECK(marker.empty());
  const Status cut = ParseBlobListPage("<Blobs><Blob><Name>x</Name>", &items, &marker);
  CHECK(cut.code() == StatusCode::kCorruption);
  CHECK(cut.message().find("cut short") != std::string::npos);
}

}  // namespace
}  // namespace flowwatch::azure
