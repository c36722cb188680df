// IdRemap: a checkpoint holds the interned ids (VM names, NSG rule names) of
// the process that wrote it; restoring maps each to this process's id for the
// same name (see NameTables). Value type.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/model/flow_key.h"
#include "lib/state/codec.h"

namespace flowwatch::state {

struct IdRemap {
  static constexpr uint32_t kUnknown = UINT32_MAX;
  std::vector<uint32_t> vms;    // old id -> new id, kUnknown if the checkpoint did not name it
  std::vector<uint32_t> rules;

  bool Vm(uint32_t old_id, uint32_t* id) const { return Map(vms, old_id, id); }
  bool Rule(uint32_t old_id, uint32_t* id) const { return Map(rules, old_id, id); }

 private:
  static bool Map(const std::vector<uint32_t>& m, uint32_t old_id, uint32_t* id) {
    if (old_id >= m.size() || m[old_id] == kUnknown) return false;
    *id = m[old_id];
    return true;
  }
};

// A FlowKey as checkpoints store it (FlowKey::Packed), its VM id mapped.
inline FlowKey ReadFlowKey(Reader* r, const IdRemap& remap) {
  const uint64_t packed = r->Get<uint64_t>();
  FlowKey key{static_cast<uint32_t>(packed >> 32), static_cast<uint16_t>(packed >> 16),
              static_cast<uint8_t>(packed >> 8), static_cast<Direction>(packed & 1)};
  if ((packed & 0xff) > 1) r->Fail("a key with a bad direction");
  if (!remap.Vm(key.vm_id, &key.vm_id)) r->Fail("a key of a VM the checkpoint does not name");
  return key;
}

}  // namespace flowwatch::state
