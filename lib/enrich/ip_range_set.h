// IpRangeSet: an immutable set of IP addresses given as CIDR prefixes, answering
// "is this address in the set?" in O(log n) without locks or allocation.
//
// Built once from a list of prefixes (overlapping, nested, adjacent or repeated,
// in any order), then only read. Thread-safety: const methods may be called from
// any number of threads at once; the set is never modified after construction
// (rebuild a new one and publish it to change it).
//
// Invariants: v4_ and v6_ are sorted by first address, and their ranges are
// disjoint and non-adjacent (a.last + 1 < b.first for consecutive a, b), so the
// only range that can hold an address is the last one starting at or before it.
// IPv6 prefixes that overlap the v4-mapped block ::ffff:0:0/96 also add the
// overlapped part to v4_, because IpAddress stores IPv4 in that form and
// Contains() looks those addresses up among the IPv4 ranges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "lib/common/ip_address.h"
#include "lib/enrich/ip_prefix.h"

namespace flowwatch::enrich {

class IpRangeSet {
 public:
  IpRangeSet() = default;  // empty: contains nothing
  explicit IpRangeSet(std::span<const IpPrefix> prefixes);

  bool Contains(const IpAddress& ip) const;

  // Merged, disjoint ranges (not the number of prefixes given).
  size_t v4_range_count() const { return v4_.size(); }
  size_t v6_range_count() const { return v6_.size(); }

 private:
  template <typename T>
  struct Range {
    T first;
    T last;
  };

  template <typename T>
  static void SortAndMerge(std::vector<Range<T>>* ranges);
  template <typename T>
  static bool Find(const std::vector<Range<T>>& ranges, T value);

  std::vector<Range<uint32_t>> v4_;
  std::vector<Range<Uint128>> v6_;
};

}  // namespace flowwatch::enrich
