// NameTables: the interned string tables shared by every stage of one process.
//
// Decoders add rule and resource names, the router adds VM names; shards and
// outputs read them back. Thread-safety is StringInterner's: add under a mutex
// (decoders use InternCache first), read lock-free.
#pragma once

#include "lib/common/interner.h"

namespace flowwatch {

struct NameTables {
  StringInterner rules{1u << 16};
  StringInterner resources{1u << 16};
  StringInterner vms{1u << 20};
};

}  // namespace flowwatch
