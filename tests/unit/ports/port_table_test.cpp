// PortTable: each key's peers with their first sighting, which names the
// peers new to a key when it deviates (an alert's new_peers), and survives a
// checkpoint.
#include "lib/ports/port_table.h"

#include <catch2/catch.hpp>

namespace flowwatch::ports {
namespace {

constexpr int64_t kT0 = 1620000000000;  // 2021-05-03
constexpr int64_t kMinute = 60'000;

// One tuple of vm 1's outbound tcp/443 to 10.0.2.<peer> at kT0 + minute.
FlowRecord To(uint32_t peer, int64_t minute) {
  FlowRecord f;
  f.time_ms = kT0 + minute * kMinute;
  f.vm_id = 1;
  f.dst_port = 443;
  f.protocol = kProtoTcp;
  f.direction = Direction::kOutbound;
  f.src = IpAddress::FromV4(0x0A000101);
  f.dst = IpAddress::FromV4(0x0A000200 + peer);
  f.bytes_sd = 1000;
  f.state = FlowState::kEnd;
  return f;
}

IpAddress Peer(uint32_t peer) { return IpAddress::FromV4(0x0A000200 + peer); }

const FlowKey kKey{1, 443, kProtoTcp, Direction::kOutbound};

std::vector<IpAddress> Peers(std::initializer_list<uint32_t> ids) {
  std::vector<IpAddress> out;
  for (uint32_t id : ids) out.push_back(Peer(id));
  return out;
}

}  // namespace

TEST_CASE("A peer is new from its first tuple on, on a key that had lived without it") {
  PortTable t(PortTableOptions{});
  t.Apply(To(1, 0));
  t.Apply(To(2, 50));
  t.Apply(To(2, 40));  // late: its first sighting is minute 40
  t.Apply(To(3, 60));
  const std::vector<IpAddress> top = Peers({1, 2, 3, 4});
  // Since minute 45, on a key that has lived 30 minutes: 3 (4 was never seen).
  CHECK(t.NewPeers(kKey, top, kT0 + 45 * kMinute, 30 * kMinute) == Peers({3}));
  CHECK(t.NewPeers(kKey, top, kT0 + 40 * kMinute, 30 * kMinute) == Peers({2, 3}));
  CHECK(t.NewPeers(kKey, top, kT0, 0) == Peers({1, 2, 3}));
  // The key's history must come first: with 45 minutes of it, peer 2 (at 40) is part of the key's start.
  CHECK(t.NewPeers(kKey, top, kT0, 45 * kMinute) == Peers({3}));
  CHECK(t.NewPeers(kKey, top, kT0 + 61 * kMinute, 0).empty());
  CHECK(t.NewPeers(FlowKey{2, 443, kProtoTcp, Direction::kOutbound}, top, kT0, 0).empty());  // an unknown key
}

TEST_CASE("Past a full peer list, a peer is new when its whole network is") {
  PortTableOptions o;
  o.max_peers_per_key = 2;
  PortTable t(o);
  t.Apply(To(1, 0));
  t.Apply(To(2, 0));
  t.Apply(To(3, 30));  // the list is full: counted untracked, its network (10.0.2.0/24) known
  FlowRecord far = To(0, 40);
  far.dst = IpAddress::FromV4(0x5B3A0F07);  // 91.58.15.7: a network never seen on the key
  t.Apply(far);
  CHECK(t.NewPeers(kKey, Peers({1, 2, 3}), kT0 + 10 * kMinute, 0) == Peers({}));
  CHECK(t.NewPeers(kKey, {far.dst, Peer(3)}, kT0 + 10 * kMinute, 0) == std::vector<IpAddress>{far.dst});
  CHECK(t.NewPeers(kKey, {far.dst}, kT0 + 41 * kMinute, 0).empty());  // seen before that
}

TEST_CASE("The first sightings survive a checkpoint") {
  PortTable t(PortTableOptions{});
  t.Apply(To(1, 0));
  t.Apply(To(2, 30));
  std::string saved;
  state::Writer w(&saved);
  t.Save(&w);

  state::IdRemap remap;
  remap.vms = {0, 1};
  remap.rules = {0};
  PortTable restored(PortTableOptions{});
  state::Reader r(saved, "ports");
  REQUIRE(restored.Load(&r, remap, 4));
  CHECK(r.done());
  CHECK(restored.NewPeers(kKey, Peers({1, 2}), kT0 + 20 * kMinute, 0) == Peers({2}));

  // Read as the format before (peers without a first sighting), the same
  // bytes do not line up: a wrong version is refused, never misread silently.
  PortTable wrong(PortTableOptions{});
  state::Reader old(saved, "ports");
  CHECK_FALSE((wrong.Load(&old, remap, 3) && old.done()));
}

}  // namespace flowwatch::ports
