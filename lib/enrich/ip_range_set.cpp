#include "lib/enrich/ip_range_set.h"

#include <algorithm>

namespace flowwatch::enrich {
namespace {

// ::ffff:0.0.0.0 .. ::ffff:255.255.255.255, where IpAddress keeps IPv4.
constexpr Uint128 kMappedFirst = Uint128{0xffff} << 32;
constexpr Uint128 kMappedLast = kMappedFirst | 0xffffffffu;

}  // namespace

IpRangeSet::IpRangeSet(std::span<const IpPrefix> prefixes) {
  for (const IpPrefix& p : prefixes) {
    if (p.v4) {
      v4_.push_back({p.first4, p.last4});
      continue;
    }
    v6_.push_back({p.first6, p.last6});
    const Uint128 first = std::max(p.first6, kMappedFirst);
    const Uint128 last = std::min(p.last6, kMappedLast);
    if (first <= last) v4_.push_back({static_cast<uint32_t>(first), static_cast<uint32_t>(last)});
  }
  SortAndMerge(&v4_);
  SortAndMerge(&v6_);
}

template <typename T>
void IpRangeSet::SortAndMerge(std::vector<Range<T>>* ranges) {
  auto& r = *ranges;
  if (r.empty()) return;
  std::sort(r.begin(), r.end(), [](const Range<T>& a, const Range<T>& b) { return a.first < b.first; });
  size_t out = 0;
  for (size_t i = 1; i < r.size(); ++i) {
    Range<T>& cur = r[out];
    // Overlapping or adjacent: extend. cur.last + 1 cannot overflow when
    // cur.last < r[i].first.
    if (r[i].first <= cur.last || r[i].first == cur.last + 1) {
      cur.last = std::max(cur.last, r[i].last);
    } else {
      r[++out] = r[i];
    }
  }
  r.resize(out + 1);
  r.shrink_to_fit();
}

template <typename T>
bool IpRangeSet::Find(const std::vector<Range<T>>& ranges, T value) {
  // First range starting after value; the candidate is the one before it.
  auto it = std::upper_bound(ranges.begin(), ranges.end(), value,
                             [](T v, const Range<T>& r) { return v < r.first; });
  if (it == ranges.begin()) return false;
  return value <= std::prev(it)->last;
}

bool IpRangeSet::Contains(const IpAddress& ip) const {
  if (ip.is_v4()) return Find(v4_, ip.v4());
  return Find(v6_, ToUint128(ip));
}

}  // namespace flowwatch::enrich
