#include "lib/enrich/inventory.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace flowwatch::enrich {
namespace {

IpAddress Ip(std::string_view text) {
  IpAddress ip;
  REQUIRE(IpAddress::Parse(text, &ip));
  return ip;
}

// The VM name an address maps to, or "" when absent.
std::string VmOf(const Inventory& inv, std::string_view ip) {
  const std::string* name = inv.FindByIp(Ip(ip));
  return name == nullptr ? "" : *name;
}
std::string VmOfMac(const Inventory& inv, uint64_t mac) {
  const std::string* name = inv.FindByMac(mac);
  return name == nullptr ? "" : *name;
}

// The error message of a parse that must fail with InvalidArgument.
std::string CsvError(std::string_view text) {
  Result<Inventory> r = Inventory::ParseCsv(text, "inventory.csv");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  return r.status().message();
}
std::string JsonError(std::string_view text) {
  Result<Inventory> r = Inventory::ParseAzJson(text, "inv.json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  return r.status().message();
}

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

}  // namespace

TEST_CASE("CSV inventory maps IPs and MACs to VM names", "[inventory]") {
  Result<Inventory> r = Inventory::ParseCsv(
      "name,ip,mac\n"
      "vm01,10.0.1.4,00-0D-3A-F8-80-1A\n"
      "vm02,10.0.1.5,000D3AF8801B\n"
      "vm03,10.0.1.6,00:0d:3a:f8:80:1c\n"
      "vm03,10.0.2.6,\n"
      "vm04,2001:db8::4,\n",
      "inventory.csv");
  REQUIRE(r.ok());
  const Inventory& inv = *r;
  CHECK(VmOf(inv, "10.0.1.4") == "vm01");
  CHECK(VmOf(inv, "10.0.1.5") == "vm02");
  CHECK(VmOf(inv, "10.0.1.6") == "vm03");
  CHECK(VmOf(inv, "10.0.2.6") == "vm03");
  CHECK(VmOf(inv, "2001:db8::4") == "vm04");
  CHECK(VmOf(inv, "::ffff:10.0.1.4") == "vm01");  // v4-mapped spelling is the same address
  CHECK(VmOf(inv, "10.0.1.7") == "");
  CHECK(VmOfMac(inv, 0x000D3AF8801A) == "vm01");
  CHECK(VmOfMac(inv, 0x000D3AF8801B) == "vm02");
  CHECK(VmOfMac(inv, 0x000D3AF8801C) == "vm03");
  CHECK(VmOfMac(inv, 0x000D3AF8801D) == "");
  CHECK(VmOfMac(inv, 0) == "");
  CHECK(inv.vm_count() == 4);
  CHECK(inv.address_count() == 5);
  CHECK(inv.mac_count() == 3);
  CHECK(inv.vm_names() == std::vector<std::string>{"vm01", "vm02", "vm03", "vm04"});
}

TEST_CASE("CSV header: any order, case and spacing, mac optional", "[inventory]") {
  Result<Inventory> r = Inventory::ParseCsv(" IP , Mac ,NAME\n10.0.0.4, 000D3AF8801A ,  vm1  \n", "x.csv");
  REQUIRE(r.ok());
  CHECK(VmOf(*r, "10.0.0.4") == "vm1");
  CHECK(VmOfMac(*r, 0x000D3AF8801A) == "vm1");

  r = Inventory::ParseCsv("name,ip\nvm1,10.0.0.4\nvm2,10.0.0.5\n", "x.csv");
  REQUIRE(r.ok());
  CHECK(VmOf(*r, "10.0.0.5") == "vm2");
  CHECK(r->mac_count() == 0);
}

TEST_CASE("CSV tolerates CRLF, comments, blank lines, quotes and a BOM", "[inventory]") {
  Result<Inventory> r = Inventory::ParseCsv(
      "\xEF\xBB\xBF# exported from the CMDB\r\n"
      "\r\n"
      "\"name\",\"ip\",\"mac\"\r\n"
      "  # indented comment\r\n"
      "\"vm01\",\"10.0.1.4\",\"00-0D-3A-F8-80-1A\"\r\n"
      "\"web, prod\",10.0.1.5,\r\n"
      "\"say \"\"hi\"\"\" , 10.0.1.6 ,\r\n"
      "\t\r\n"
      "vm04,10.0.1.7,",  // no final newline
      "inventory.csv");
  REQUIRE(r.ok());
  CHECK(VmOf(*r, "10.0.1.4") == "vm01");
  CHECK(VmOfMac(*r, 0x000D3AF8801A) == "vm01");
  CHECK(VmOf(*r, "10.0.1.5") == "web, prod");
  CHECK(VmOf(*r, "10.0.1.6") == "say \"hi\"");
  CHECK(VmOf(*r, "10.0.1.7") == "vm04");
  CHECK(r->vm_count() == 4);
}

TEST_CASE("The same address repeated for the same VM is accepted", "[inventory]") {
  Result<Inventory> r = Inventory::ParseCsv(
      "name,ip,mac\nvm1,10.0.0.4,000D3AF8801A\nvm1,10.0.0.5,000D3AF8801A\nvm1,10.0.0.4,\n", "x.csv");
  REQUIRE(r.ok());
  CHECK(r->vm_count() == 1);
  CHECK(r->address_count() == 2);
  CHECK(r->mac_count() == 1);
}

TEST_CASE("CSV errors name the source, the line and the offending value", "[inventory]") {
  CHECK(CsvError("name,ip,mac\nvm1,10.0.0.4,\n\n# c\nvm2,10.0.0.5,\nvm3,x,\n") ==
        "inventory.csv:6: bad IP address 'x'");
  CHECK(CsvError("name,ip,mac\nvm1,10.0.0.256,\n") == "inventory.csv:2: bad IP address '10.0.0.256'");
  CHECK(CsvError("name,ip,mac\nvm1,10.0.0.4,00-0D-3A\n") == "inventory.csv:2: bad MAC address '00-0D-3A'");
  CHECK(CsvError("name,ip,mac\nvm1,10.0.0.4,000D3AF8801G\n") == "inventory.csv:2: bad MAC address '000D3AF8801G'");
  CHECK_THAT(CsvError("name,ip,mac\nvm1,10.0.0.4,00:00:00:00:00:00\n"),
             StartsWith("inventory.csv:2: bad MAC address '00:00:00:00:00:00'"));
  CHECK(CsvError("name,ip,mac\n,10.0.0.4,\n") == "inventory.csv:2: empty VM name");
  CHECK(CsvError("name,ip,mac\n\"\",10.0.0.4,\n") == "inventory.csv:2: empty VM name");
  CHECK_THAT(CsvError("name,ip\n" + std::string(257, 'a') + ",10.0.0.4\n"),
             StartsWith("inventory.csv:2: VM name longer than 256 bytes"));
  CHECK(Inventory::ParseCsv("name,ip\n" + std::string(256, 'a') + ",10.0.0.4\n", "x").ok());
  CHECK_THAT(CsvError("name,ip\nvm\x01,10.0.0.4\n"), StartsWith("inventory.csv:2: VM name") &&
                                                          Contains("control character"));
  CHECK(CsvError("name,ip,mac\nvm1,,\n") == "inventory.csv:2: missing IP address for VM 'vm1'");
  CHECK(CsvError("name,ip,mac\nvm1,10.0.0.4\n") == "inventory.csv:2: expected 3 fields as in the header, found 2");
  CHECK(CsvError("name,ip\nvm1,10.0.0.4,x\n") == "inventory.csv:2: expected 2 fields as in the header, found 3");
  CHECK_THAT(CsvError("name,ip\n\"vm1,10.0.0.4\n"), StartsWith("inventory.csv:2: unterminated quoted field 1"));
  CHECK_THAT(CsvError("name,ip\n\"vm1\"x,10.0.0.4\n"), StartsWith("inventory.csv:2: text after the closing quote"));
}

TEST_CASE("CSV header problems are errors", "[inventory]") {
  CHECK_THAT(CsvError("vm1,10.0.0.4,000D3AF8801A\n"),
             StartsWith("inventory.csv:1: missing header row") && Contains("'vm1,10.0.0.4,000D3AF8801A'"));
  CHECK_THAT(CsvError("# only a comment\n\n"), StartsWith("inventory.csv: missing header row"));
  CHECK_THAT(CsvError(""), StartsWith("inventory.csv: missing header row"));
  CHECK(CsvError("# c\nname,ip,mac,owner,Region\nvm1,10.0.0.4,,me,x\n") ==
        "inventory.csv:2: unknown columns 'owner', 'Region' in the header (expected name, ip and optionally mac)");
  CHECK(CsvError("name,ip,rack\n") ==
        "inventory.csv:1: unknown column 'rack' in the header (expected name, ip and optionally mac)");
  CHECK(CsvError("name,ip,IP\n") == "inventory.csv:1: column 'ip' appears twice in the header");
  CHECK(CsvError("name,mac\n") == "inventory.csv:1: the header lacks the required column 'ip'");
  CHECK(CsvError("ip,mac\n") == "inventory.csv:1: the header lacks the required column 'name'");
}

TEST_CASE("An address claimed by two VMs is rejected, naming both lines", "[inventory]") {
  CHECK(CsvError("name,ip,mac\nvm1,10.0.0.4,\nvm2,10.0.0.5,\n# c\nvm2,10.0.0.4,\n") ==
        "inventory.csv:5: IP address 10.0.0.4 of VM 'vm2' is already mapped to VM 'vm1' by line 2");
  CHECK(CsvError("name,ip,mac\nvm1,10.0.0.4,000D3AF8801A\nvm2,10.0.0.5,00-0d-3a-f8-80-1a\n") ==
        "inventory.csv:3: MAC address 00-0d-3a-f8-80-1a of VM 'vm2' is already mapped to VM 'vm1' by line 2");
  // Different spellings of one address are the same address.
  CHECK_THAT(CsvError("name,ip\nvm1,2001:db8::1\nvm2,2001:0db8:0:0::1\n"),
             StartsWith("inventory.csv:3: IP address 2001:0db8:0:0::1 of VM 'vm2'") && Contains("line 2"));
}

TEST_CASE("az vm list-ip-addresses JSON: private and public IPs, NIC entries merge", "[inventory]") {
  Result<Inventory> r = Inventory::ParseAzJson(R"([
    {"virtualMachine":{"name":"vm1","resourceGroup":"rg","network":{
      "privateIpAddresses":["10.0.0.4"],
      "publicIpAddresses":[{"id":"/subscriptions/x/pip","ipAddress":"13.88.1.2","ipAllocationMethod":"Static",
                            "name":"pip","resourceGroup":"rg","zone":null}]}}},
    {"virtualMachine":{"network":{"publicIpAddresses":[],"privateIpAddresses":["10.0.0.5"]},"name":"vm2",
                       "extra":{"nested":[1,2,{"a":null}]}}, "other":true},
    {"virtualMachine":{"name":"vm1","network":{"privateIpAddresses":["10.0.1.4","10.0.1.5"],
      "publicIpAddresses":[{"ipAddress":null,"name":"deallocated"}]}}},
    {"virtualMachine":{"name":"vm3"}}
  ])",
                                               "inv.json");
  REQUIRE(r.ok());
  CHECK(VmOf(*r, "10.0.0.4") == "vm1");
  CHECK(VmOf(*r, "13.88.1.2") == "vm1");
  CHECK(VmOf(*r, "10.0.1.4") == "vm1");
  CHECK(VmOf(*r, "10.0.1.5") == "vm1");
  CHECK(VmOf(*r, "10.0.0.5") == "vm2");
  CHECK(r->vm_count() == 3);
  CHECK(r->address_count() == 5);
  CHECK(r->vm_names() == std::vector<std::string>{"vm1", "vm2", "vm3"});

  // A single entry instead of an array, and an empty list.
  r = Inventory::ParseAzJson(R"({"virtualMachine":{"name":"solo","network":{"privateIpAddresses":["10.9.0.4"]}}})", "x");
  REQUIRE(r.ok());
  CHECK(VmOf(*r, "10.9.0.4") == "solo");
  r = Inventory::ParseAzJson(" [ ] ", "x");
  REQUIRE(r.ok());
  CHECK(r->vm_count() == 0);
}

TEST_CASE("JSON errors name the source, the element and the key", "[inventory]") {
  const std::string ok = R"({"virtualMachine":{"name":"vm0","network":{"privateIpAddresses":["10.0.0.1"]}}})";
  CHECK(JsonError("[" + ok + "," + ok + "," + ok + R"(,{"virtualMachine":{"network":{}}}])") ==
        "inv.json: element 3: virtualMachine.name missing");
  CHECK(JsonError(R"([{"vm":{}}])") == "inv.json: element 0: virtualMachine missing");
  CHECK_THAT(JsonError(R"([{"virtualMachine":[]}])"), StartsWith("inv.json: element 0: virtualMachine is not an object"));
  CHECK_THAT(JsonError(R"([{"virtualMachine":{"name":7}}])"),
             StartsWith("inv.json: element 0: virtualMachine.name is not a string"));
  CHECK(JsonError(R"([{"virtualMachine":{"name":""}}])") == "inv.json: element 0: virtualMachine.name: empty VM name");
  CHECK(JsonError("[" + ok + R"(,{"virtualMachine":{"name":"vm1","network":{"privateIpAddresses":["10.0.0.2","10.0.0.x"]}}}])") ==
        "inv.json: element 1: virtualMachine.network.privateIpAddresses[1]: bad IP address '10.0.0.x'");
  CHECK(JsonError(R"([{"virtualMachine":{"name":"vm1","network":{"publicIpAddresses":[{"ipAddress":"1.2.3"}]}}}])") ==
        "inv.json: element 0: virtualMachine.network.publicIpAddresses[0].ipAddress: bad IP address '1.2.3'");
  CHECK_THAT(JsonError(R"([{"virtualMachine":{"name":"vm1","network":{"privateIpAddresses":"10.0.0.1"}}}])"),
             StartsWith("inv.json: element 0: virtualMachine.network.privateIpAddresses is not an array"));
  CHECK_THAT(JsonError(R"([7])"), StartsWith("inv.json: element 0: not an object"));
  CHECK(JsonError("[" + ok + R"(,{"virtualMachine":{"name":"vm9","network":{"privateIpAddresses":["10.0.0.1"]}}}])") ==
        "inv.json: element 1: IP address 10.0.0.1 of VM 'vm9' is already mapped to VM 'vm0' by element 0");
  CHECK_THAT(JsonError(R"("just a string")"), StartsWith("inv.json: the top level is not a JSON array"));
  CHECK_THAT(JsonError(R"([{"virtualMachine":{"name":"vm1"}})"), StartsWith("inv.json:") && Contains("JSON"));
  CHECK_THAT(JsonError(R"([{"virtualMachine":{"name":"vm1"}}] [])"), StartsWith("inv.json: invalid JSON"));
  CHECK_THAT(JsonError(R"({"virtualMachine":{"name":"vm1","network":null},"x":[1]} x)"),
             StartsWith("inv.json: invalid JSON"));
}

TEST_CASE("LoadFile reads the CSV and az JSON fixtures", "[inventory]") {
  Result<Inventory> csv = Inventory::LoadFile(FW_TEST_DATA_DIR "/enrich/inventory.csv");
  REQUIRE(csv.ok());
  CHECK(csv->vm_count() == 5);
  CHECK(VmOf(*csv, "10.0.1.6") == "vm03");
  CHECK(VmOf(*csv, "10.0.2.6") == "vm03");
  CHECK(VmOf(*csv, "10.0.3.4") == "web-frontend, prod");
  CHECK(VmOf(*csv, "2001:db8:10::5") == "vm05");
  CHECK(VmOfMac(*csv, 0x000D3AF8801A) == "vm01");
  CHECK(VmOfMac(*csv, 0x000D3AF8801D) == "vm03");

  Result<Inventory> json = Inventory::LoadFile(FW_TEST_DATA_DIR "/enrich/az-vm-list-ip-addresses.json");
  REQUIRE(json.ok());
  CHECK(json->vm_names() == std::vector<std::string>{"vm01", "vm02", "vm03"});
  CHECK(VmOf(*json, "20.62.134.17") == "vm01");
  CHECK(VmOf(*json, "52.226.37.8") == "vm02");
  CHECK(VmOf(*json, "10.0.1.6") == "vm03");
  CHECK(VmOf(*json, "10.0.2.7") == "vm03");
  CHECK(json->address_count() == 7);

  Result<Inventory> missing = Inventory::LoadFile(FW_TEST_DATA_DIR "/enrich/no-such-file.csv");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kIoError);
  CHECK_THAT(missing.status().message(), Contains("no-such-file.csv"));
}

TEST_CASE("A 100,000-VM inventory loads quickly and every address resolves", "[inventory]") {
  constexpr uint32_t kVms = 100000;
  std::string csv = "name,ip,mac\n";
  csv.reserve(kVms * 48);
  auto ip_of = [](uint32_t i) { return IpAddress::FromV4((10u << 24) | (i + 1)); };
  for (uint32_t i = 0; i < kVms; ++i) {
    char mac[16];
    std::snprintf(mac, sizeof(mac), "%012llX", static_cast<unsigned long long>(0x000D3A000000ull + i));
    csv += "vm-" + std::to_string(i) + "," + ip_of(i).ToString() + "," + mac + "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  Result<Inventory> r = Inventory::ParseCsv(csv, "big.csv");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(r.ok());
  CHECK(r->vm_count() == kVms);
  CHECK(r->address_count() == kVms);
  CHECK(r->mac_count() == kVms);
  // Generous bound (sanitizer builds, a shared machine); parsing takes ~60 ms optimised.
  CHECK(elapsed < std::chrono::seconds(5));
  size_t resolved = 0;
  for (uint32_t i = 0; i < kVms; ++i) {
    const std::string* name = r->FindByIp(ip_of(i));
    const std::string* by_mac = r->FindByMac(0x000D3A000000ull + i);
    if (name != nullptr && *name == "vm-" + std::to_string(i) && by_mac == name) ++resolved;
  }
  CHECK(resolved == kVms);
  CHECK(r->FindByIp(ip_of(kVms)) == nullptr);
}

}  // namespace flowwatch::enrich
