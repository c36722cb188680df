// Entra ID credentials against a fake token endpoint on 127.0.0.1: the
// request each kind sends (form, query, headers), the federated token file
// re-read on every exchange, answers parsed (numbers and IMDS's strings),
// errors that say what failed and quote no secret, the choice of `auto` and
// what each kind needs, and the cache's reuse and refresh.
#include "lib/azure/credential.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <thread>

#include "tests/fake_token_endpoint.h"
#include "tests/integration/process_util.h"

namespace flowwatch::testing {
namespace {

const std::string kScope = "https://contoso.servicebus.windows.net/.default";

// No environment at all, so that the machine's AZURE_* never leak in.
const azure::GetEnv kNoEnv = [](const char*) -> const char* { return nullptr; };

std::unique_ptr<azure::TokenCredential> Make(const azure::CredentialOptions& o, const azure::GetEnv& env = kNoEnv) {
  auto c = azure::MakeCredential(o, env);
  INFO(c.status().message());
  REQUIRE(c.ok());
  return std::move(c).value();
}

TEST_CASE("Workload identity exchanges the federated token file, re-read each time, for a token of the scope") {
  FakeTokenEndpoint endpoint;
  TempDir dir;
  const std::string file = dir / "azure-identity-token";
  std::ofstream(file) << "service-account-jwt-1\n";
  azure::CredentialOptions o;
  o.tenant_id = "tenant-1";
  o.client_id = "client-1";
  o.federated_token_file = file;
  o.authority_host = endpoint.url() + "/";
  endpoint.set_expires_in(3599);
  auto credential = Make(o);
  CHECK(std::string(credential->kind()) == "workload_identity");

  const auto before = azure::Clock::now();
  auto token = credential->Fetch(kScope);
  REQUIRE(token.ok());
  CHECK(token->token == "token-1");
  CHECK(token->expires_on >= before + std::chrono::seconds(3599));
  CHECK(token->expires_on <= azure::Clock::now() + std::chrono::seconds(3599));

  std::ofstream(file) << "service-account-jwt-2";  // the kubelet rotated it
  REQUIRE(credential->Fetch(kScope).ok());
  const auto requests = endpoint.requests();
  REQUIRE(requests.size() == 2);
  const FakeTokenEndpoint::Request& r = requests[0];
  CHECK(r.method == "POST");
  CHECK(r.path == "/tenant-1/oauth2/v2.0/token");
  CHECK(r.fields == std::map<std::string, std::string>{
                        {"grant_type", "client_credentials"},
                        {"client_id", "client-1"},
                        {"scope", kScope},
                        {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                        {"client_assertion", "service-account-jwt-1"}});
  CHECK(requests[1].fields.at("client_assertion") == "service-account-jwt-2");
}

TEST_CASE("A client secret is sent as client_secret, and an error names the credential but quotes no secret") {
  FakeTokenEndpoint endpoint;
  azure::CredentialOptions o;
  o.kind = "client_secret";
  o.tenant_id = "tenant-2";
  o.client_id = "client-2";
  o.client_secret = "s3cr3t-value";
  o.authority_host = endpoint.url();
  auto credential = Make(o);
  REQUIRE(credential->Fetch(kScope).ok());
  const auto requests = endpoint.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/tenant-2/oauth2/v2.0/token");
  CHECK(requests[0].fields.at("client_secret") == "s3cr3t-value");
  CHECK(requests[0].fields.count("client_assertion") == 0);

  endpoint.Fail(1, 401, "invalid_client");
  auto refused = credential->Fetch(kScope);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);  // will not pass by itself
  CHECK(refused.status().message() ==
        "client secret (client client-2): HTTP 401 invalid_client: AADSTS90000: the fake says no.");

  endpoint.Fail(1, 503);
  auto busy = credential->Fetch(kScope);
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.status().code() == StatusCode::kUnavailable);
  CHECK(busy.status().message().find("s3cr3t") == std::string::npos);
}

TEST_CASE("Managed identity asks the metadata service for the scope's resource, with Metadata: true") {
  FakeTokenEndpoint endpoint;
  azure::CredentialOptions o;
  o.kind = "managed_identity";
  o.managed_identity_endpoint = endpoint.imds_url();
  endpoint.set_expires_in(86399);
  auto system_assigned = Make(o);
  CHECK(system_assigned->principal() == "system-assigned");
  auto token = system_assigned->Fetch(kScope);
  REQUIRE(token.ok());  // IMDS writes expires_in as a string
  CHECK(token->expires_on > azure::Clock::now() + std::chrono::seconds(86000));

  o.client_id = "user-assigned-1";
  REQUIRE(Make(o)->Fetch(kScope).ok());
  const auto requests = endpoint.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].method == "GET");
  CHECK(requests[0].metadata_header == "true");
  CHECK(requests[0].fields == std::map<std::string, std::string>{
                                  {"api-version", "2018-02-01"}, {"resource", "https://contoso.servicebus.windows.net/"}});
  CHECK(requests[1].fields.at("client_id") == "user-assigned-1");
}

TEST_CASE("No answer, an answer without a token and an unreadable token file are errors that say so") {
  TempDir dir;
  azure::CredentialOptions o;
  o.tenant_id = "t";
  o.client_id = "c";
  o.federated_token_file = dir / "missing";
  o.timeout = std::chrono::milliseconds(2000);
  {
    FakeTokenEndpoint endpoint;
    o.authority_host = endpoint.url();
    auto missing = Make(o)->Fetch(kScope);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().message() ==
          "workload identity (client c): cannot read the federated token file " + dir / "missing");
  }
  std::ofstream(dir / "missing") << "jwt";
  // The endpoint above is gone: nothing listens on its port now.
  auto unanswered = Make(o)->Fetch(kScope);
  REQUIRE_FALSE(unanswered.ok());
  CHECK(unanswered.status().code() == StatusCode::kUnavailable);
  CHECK(unanswered.status().message().find("no answer from the token endpoint") != std::string::npos);
}

TEST_CASE("auto picks workload identity, then a client secret, then managed identity, from the environment") {
  std::map<std::string, std::string> env = {{"AZURE_TENANT_ID", "t"}, {"AZURE_CLIENT_ID", "c"},
                                            {"AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"},
                                            {"AZURE_CLIENT_SECRET", "s"}};
  const azure::GetEnv get = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  CHECK(std::string(Make({}, get)->kind()) == "workload_identity");
  env.erase("AZURE_FEDERATED_TOKEN_FILE");
  CHECK(std::string(Make({}, get)->kind()) == "client_secret");
  env.erase("AZURE_CLIENT_SECRET");
  auto managed = Make({}, get);
  CHECK(std::string(managed->kind()) == "managed_identity");
  CHECK(managed->principal() == "c");  // AZURE_CLIENT_ID names a user-assigned identity

  azure::CredentialOptions o;
  o.kind = "workload_identity";
  o.client_id = "c";
  o.federated_token_file = "/f";
  auto no_tenant = azure::MakeCredential(o, kNoEnv);
  REQUIRE_FALSE(no_tenant.ok());
  CHECK(no_tenant.status().message() == "azure.tenant_id: needed by credential workload_identity (or set AZURE_TENANT_ID)");
  o.kind = "kerberos";
  auto unknown = azure::MakeCredential(o, kNoEnv);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("azure.credential: 'kerberos' is none of") == 0);
}

// Counts its fetches; tokens live `lifetime` from the fake clock's now.
class CountingCredential : public azure::TokenCredential {
 public:
  CountingCredential(const azure::Clock::time_point* now, std::chrono::seconds lifetime) : now_(now), lifetime_(lifetime) {}
  Result<azure::AccessToken> Fetch(const std::string& scope) override {
    ++fetches;
    if (fail) return Status::Unavailable("down");
    return azure::AccessToken{scope + "#" + std::to_string(fetches), *now_ + lifetime_};
  }
  const char* kind() const override { return "counting"; }
  std::string principal() const override { return "p"; }
  std::atomic<int> fetches{0};
  bool fail = false;

 private:
  const azure::Clock::time_point* now_;
  std::chrono::seconds lifetime_;
};

TEST_CASE("The cache reuses a token while more than half its lifetime is left, per scope") {
  azure::Clock::time_point now{std::chrono::hours(1000)};
  auto owned = std::make_unique<CountingCredential>(&now, std::chrono::seconds(3600));
  CountingCredential* credential = owned.get();
  azure::TokenCache cache(std::move(owned), [&] { return now; });

  CHECK(cache.Get("a")->token == "a#1");
  now += std::chrono::seconds(1799);
  CHECK(cache.Get("a")->token == "a#1");  // librdkafka's refresh at 80% of a 1-hour token would come later
  CHECK(cache.Get("b")->token == "b#2");  // another scope, another token
  now += std::chrono::seconds(2);          // past half of a#1's hour
  CHECK(cache.Get("a")->token == "a#3");
  CHECK(cache.fetched.value() == 3);

  credential->fail = true;
  now += std::chrono::seconds(1801);
  CHECK_FALSE(cache.Get("a").ok());
  CHECK(cache.failed.value() == 1);
  credential->fail = false;
  CHECK(cache.Get("a")->token == "a#5");  // a failure is not cached

  // Callers at once share one exchange.
  now += std::chrono::hours(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { CHECK(cache.Get("a").ok()); });
  for (std::thread& t : threads) t.join();
  CHECK(credential->fetches == 6);
}

}  // namespace
}  // namespace flowwatch::testing
