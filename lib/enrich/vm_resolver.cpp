#include "lib/enrich/vm_resolver.h"

#include <string>

namespace flowwatch::enrich {

VmResolver::Vm VmResolver::Resolve(const IpAddress& local_ip, uint64_t mac, Cache* cache) const {
  const Cache::Key key{local_ip, mac};
  if (const Vm* hit = cache->map_.Find(key)) return *hit;
  if (cache->map_.size() >= Cache::kMaxEntries) cache->map_.Clear();

  const std::string* name = nullptr;
  if (inventory_ != nullptr) {
    name = inventory_->FindByIp(local_ip);
    if (name == nullptr && mac != 0) name = inventory_->FindByMac(mac);
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
