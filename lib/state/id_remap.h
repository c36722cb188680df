// IdRemap: a checkpoint holds the interned ids (VM names, NSG rule names) of
// the process that wrote it; restoring maps each to this process's id for the
// same name (see NameTables). Value type.
#pragma once

#include <cstdint>
#include <vector>

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

}  // namespace flowwatch::state
