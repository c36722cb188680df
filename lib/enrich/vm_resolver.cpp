#include "lib/enrich/vm_resolver.h"

#include <string>

namespace flowwatch::enrich {

VmResolver::VmResolver(std::shared_ptr<const Inventory> inventory, StringInterner* vm_names) : vm_names_(vm_names) {
  SetInventory(std::move(inventory));
}

void VmResolver::SetInventory(std::shared_ptr<const Inventory> inventory) {
  std::lock_guard<std::mutex> lock(mu_);
  current_.store(inventory.get(), std::memory_order_release);
  inventories_.push_back(std::move(inventory));
  generation_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const Inventory> VmResolver::inventory() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inventories_.back();
}

VmResolver::Vm VmResolver::Resolve(const IpAddress& local_ip, uint64_t mac, Cache* cache) const {
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  if (cache->generation_ != generation) {
    cache->map_.Clear();
    cache->generation_ = generation;
  }
  const Cache::Key key{local_ip, mac};
  if (const Vm* hit = cache->map_.Find(key)) return *hit;
  if (cache->map_.size() >= Cache::kMaxEntries) cache->map_.Clear();

  const Inventory* inventory = current_.load(std::memory_order_acquire);
  const std::string* name = nullptr;
  if (inventory != nullptr) {
    name = inventory->FindByIp(local_ip);
    if (name == nullptr && mac != 0) name = inventory->FindByMac(mac);
  }
  Vm vm;
  if (name != nullptr) {
    vm.id = vm_names_->Intern(*name);
    vm.route_hash = HashString(*name);
  } else {
    char buf[46];
    const size_t n = local_ip.Format(buf);
    const std::string_view text(buf, n);
    vm.id = vm_names_->Intern(text);
    vm.route_hash = HashString(text);
  }
  if (vm.id == StringInterner::kOverflowId) {
    // Past the VM-name cap every unnamed VM is "(other)": route them together so
    // that the (other) keys live on one shard.
    vm.route_hash = HashString(vm_names_->Get(vm.id));
  }
  *cache->map_.TryEmplace(key).first = vm;
  return vm;
}

}  // namespace flowwatch::enrich
