// Inventory: which VM an IP address or a NIC MAC address belongs to, so flows can
// be keyed and reported by VM name ("a VM not in the inventory is named by its IP").
//
// Sources (LoadFile tells them apart by content):
//  - CSV with a header row naming the columns name, ip and optionally mac, in any
//    order, case-insensitive. One row per (VM, IP); a VM with several NICs or
//    IPs has several rows. '#' comment lines, empty lines, CRLF and a UTF-8 BOM
//    are tolerated; fields are trimmed and may be wrapped in double quotes
//    ("a,b" keeps its comma, "" inside quotes is a quote).
//  - The JSON printed by `az vm list-ip-addresses -o json`: an array of
//    {"virtualMachine":{"name":..,"network":{"privateIpAddresses":[..],
//    "publicIpAddresses":[{"ipAddress":..},..]}}}; entries of the same VM (one
//    per NIC) merge. Unknown keys are ignored; a null public ipAddress (a
//    deallocated dynamic IP) is skipped.
// Loading is strict: a bad IP or MAC, an empty or unprintable name, an address
// claimed by two different VMs, a missing header or an unknown column is an
// InvalidArgument error naming the source and the CSV line ("inventory.csv:7:
// bad IP address 'x'") or the JSON element (0-based, as jq's .[3]: "inv.json:
// element 3: virtualMachine.name missing"). The same address listed twice for
// the same VM is accepted.
//
// Ownership and threads: a loaded Inventory is immutable. Its const methods are
// safe from any number of threads at once and do not allocate; the returned
// name pointers live as long as the Inventory. To reload, load a new Inventory
// and publish it (the old one must outlive its readers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/common/flat_hash_map.h"
#include "lib/common/hash.h"
#include "lib/common/ip_address.h"
#include "lib/common/status.h"

namespace flowwatch::enrich {

class Inventory {
 public:
  // Longest VM name accepted, in bytes (Azure allows 64 on Linux, 15 on Windows;
  // the slack is for names that carry a resource group or subscription).
  static constexpr size_t kMaxNameBytes = 256;

  Inventory() = default;  // empty: every lookup misses
  Inventory(Inventory&&) noexcept = default;
  Inventory& operator=(Inventory&&) noexcept = default;
  Inventory(const Inventory&) = delete;
  Inventory& operator=(const Inventory&) = delete;

  // Reads a CSV or `az vm list-ip-addresses` JSON file (JSON when its first
  // non-space character is '[' or '{'). IoError if unreadable.
  [[nodiscard]] static Result<Inventory> LoadFile(const std::string& path);
  // source_name prefixes every error message (normally the file's path).
  [[nodiscard]] static Result<Inventory> ParseCsv(std::string_view text, std::string_view source_name);
  [[nodiscard]] static Result<Inventory> ParseAzJson(std::string_view text, std::string_view source_name);

  // The VM's name, or nullptr when the address is not in the inventory.
  const std::string* FindByIp(const IpAddress& ip) const {
    const Origin* o = by_ip_.Find(ip);
    return o == nullptr ? nullptr : &names_[o->vm];
  }
  // mac is the 48-bit NIC address as FlowRecord::mac holds it (0 never matches).
  const std::string* FindByMac(uint64_t mac) const {
    const Origin* o = by_mac_.Find(mac);
    return o == nullptr ? nullptr : &names_[o->vm];
  }

  size_t vm_count() const { return names_.size(); }
  size_t address_count() const { return by_ip_.size(); }  // distinct IP addresses
  size_t mac_count() const { return by_mac_.size(); }     // distinct MAC addresses
  // Distinct VM names in the order the source first lists them.
  const std::vector<std::string>& vm_names() const { return names_; }

 private:
  friend class InventoryBuilder;

  // The VM an address maps to, and where the source said so (CSV line or JSON
  // element), kept to name both places when another VM claims the address.
  struct Origin {
    uint32_t vm = 0;  // index into names_
    uint32_t where = 0;
  };
  struct U64Hash {
    size_t operator()(uint64_t v) const { return HashU64(v); }
  };

  std::vector<std::string> names_;
  FlatHashMap<IpAddress, Origin, IpAddressHash> by_ip_;
  FlatHashMap<uint64_t, Origin, U64Hash> by_mac_;
};

}  // namespace flowwatch::enrich
