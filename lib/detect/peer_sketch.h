// PeerSketch: the heaviest remote peers of one key in one bucket, for the
// alert's top_peers. Exact while at most kSlots peers are seen; beyond that it
// is Space-Saving (Metwally et al.): a new peer replaces the lightest one and
// inherits its count, so heavy hitters are never lost but counts of replaced
// entries may be overestimated. Fixed size, no allocation. Not thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "lib/model/alert.h"
#include "lib/state/codec.h"

namespace flowwatch::detect {

class PeerSketch {
 public:
  static constexpr int kSlots = 6;  // >= the default top_peers (5); 144 bytes

  void Add(const IpAddress& ip, uint64_t bytes) {
    for (int i = 0; i < n_; ++i) {
      if (slots_[i].ip == ip) {
        slots_[i].bytes += bytes;
        return;
      }
    }
    if (n_ < kSlots) {
      slots_[n_++] = PeerBytes{ip, bytes};
      return;
    }
    PeerBytes* min = &slots_[0];
    for (int i = 1; i < kSlots; ++i) {
      if (slots_[i].bytes < min->bytes) min = &slots_[i];
    }
    *min = PeerBytes{ip, min->bytes + bytes};
  }

  // The k heaviest peers, by bytes (descending), then address.
  std::vector<PeerBytes> Top(int k) const {
    std::vector<PeerBytes> out(slots_.begin(), slots_.begin() + n_);
    std::sort(out.begin(), out.end(), [](const PeerBytes& a, const PeerBytes& b) {
      return a.bytes != b.bytes ? a.bytes > b.bytes : a.ip < b.ip;
    });
    if (static_cast<int>(out.size()) > k) out.resize(static_cast<size_t>(std::max(k, 0)));
    return out;
  }

  void Save(state::Writer* w) const {
    w->Put<uint8_t>(static_cast<uint8_t>(n_));
    for (int i = 0; i < n_; ++i) {
      w->Put<uint64_t>(slots_[i].ip.hi());
      w->Put<uint64_t>(slots_[i].ip.lo());
      w->Put<uint64_t>(slots_[i].bytes);
    }
  }
  void Load(state::Reader* r) {
    n_ = r->Get<uint8_t>();
    if (n_ > kSlots) {
      r->Fail("a peer sketch of " + std::to_string(n_) + " slots");
      n_ = 0;
    }
    for (int i = 0; i < n_; ++i) {
      const uint64_t hi = r->Get<uint64_t>();
      slots_[i].ip = IpAddress::FromV6(hi, r->Get<uint64_t>());
      slots_[i].bytes = r->Get<uint64_t>();
    }
  }

 private:
  std::array<PeerBytes, kSlots> slots_{};
  int n_ = 0;
};

}  // namespace flowwatch::detect
