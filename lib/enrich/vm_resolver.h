// VmResolver: names the VM a flow belongs to, and gives the routing hash that
// decides which shard owns that VM's keys.
//
// A tuple belongs to the NIC that logged it; its local address is the source of
// an outbound tuple and the destination of an inbound one. The VM is the
// inventory's name for that address, else for the NIC's MAC, else the address
// itself ("a VM not in the inventory is named by its IP"). Names are interned in
// NameTables::vms; the routing hash is a hash of the name, so it is stable
// across processes and restarts (a checkpoint's keys land on the same shard,
// and a key's owner could later be "the replica holding its partition").
//
// Threads: the resolver is shared; each decoding thread passes its own Cache,
// so lookups after warm-up take no lock and do not allocate. SetInventory()
// (SIGHUP) may run concurrently: caches notice the new inventory and start
// afresh; replaced inventories are kept alive until the resolver goes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "lib/common/flat_hash_map.h"
#include "lib/common/interner.h"
#include "lib/common/ip_address.h"
#include "lib/enrich/inventory.h"

namespace flowwatch::enrich {

class VmResolver {
 public:
  struct Vm {
    uint32_t id = 0;          // NameTables::vms
    uint64_t route_hash = 0;  // hash of the VM's name
  };

  // Per-thread memo of resolutions. Bounded: cleared when it grows too large.
  class Cache {
   public:
    static constexpr size_t kMaxEntries = 1u << 20;

   private:
    friend class VmResolver;
    struct Key {
      IpAddress ip;
      uint64_t mac = 0;
      friend bool operator==(const Key&, const Key&) = default;
    };
    struct KeyHash {
      uint64_t operator()(const Key& k) const { return HashCombine(k.ip.Hash(), k.mac); }
    };
    FlatHashMap<Key, Vm, KeyHash> map_;
    uint64_t generation_ = 0;
  };

  // inventory may be null (no inventory); vm_names must outlive the resolver.
  VmResolver(std::shared_ptr<const Inventory> inventory, StringInterner* vm_names);

  Vm Resolve(const IpAddress& local_ip, uint64_t mac, Cache* cache) const;

  // Replaces the inventory. VMs keep their keys by name: a renamed VM's keys
  // start afresh under the new name.
  void SetInventory(std::shared_ptr<const Inventory> inventory);
  std::shared_ptr<const Inventory> inventory() const;

 private:
  std::atomic<const Inventory*> current_{nullptr};
  std::atomic<uint64_t> generation_{1};
  StringInterner* vm_names_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const Inventory>> inventories_;  // guarded by mu_; all ever set
};

}  // namespace flowwatch::enrich
