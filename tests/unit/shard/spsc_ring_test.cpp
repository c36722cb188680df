#include "lib/shard/spsc_ring.h"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

namespace flowwatch::shard {
namespace {

TEST_CASE("SpscRing rounds capacity up and refuses pushes when full") {
  SpscRing<uint64_t> ring(5);
  REQUIRE(ring.capacity() == 8);
  for (uint64_t i = 0; i < 8; ++i) REQUIRE(ring.TryPush(i));
  REQUIRE_FALSE(ring.TryPush(99));
  REQUIRE(ring.size_approx() == 8);
  std::vector<uint64_t> got;
  REQUIRE(ring.Consume(3, [&](const uint64_t& v) { got.push_back(v); }) == 3);
  REQUIRE(got == std::vector<uint64_t>{0, 1, 2});
  REQUIRE(ring.TryPush(8));
  REQUIRE(ring.Consume(100, [&](const uint64_t& v) { got.push_back(v); }) == 6);
  REQUIRE(got == std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  REQUIRE(ring.empty());
  REQUIRE(ring.Consume(1, [](const uint64_t&) {}) == 0);
}

struct Item {
  uint64_t seq;
  uint64_t check;
};

// Stress: one producer, one consumer, a small ring so that both sides wrap and
// wait often. Every item arrives once, in order, intact. Run under TSan in CI.
TEST_CASE("SpscRing delivers every item once, in order, across threads") {
  constexpr uint64_t kItems = 2'000'000;
  SpscRing<Item> ring(64);
  std::thread producer([&] {
    for (uint64_t i = 0; i < kItems;) {
      if (ring.TryPush(Item{i, i * 0x9E3779B97F4A7C15ull})) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  uint64_t next = 0;
  bool ok = true;
  while (next < kItems) {
    const size_t n = ring.Consume(32, [&](const Item& it) {
      ok = ok && it.seq == next && it.check == next * 0x9E3779B97F4A7C15ull;
      ++next;
    });
    if (n == 0) std::this_thread::yield();
  }
  producer.join();
  REQUIRE(ok);
  REQUIRE(next == kItems);
  REQUIRE(ring.empty());
}

}  // namespace
}  // namespace flowwatch::shard
