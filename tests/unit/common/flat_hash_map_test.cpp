#include "lib/common/flat_hash_map.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <unordered_map>

#include "lib/common/hash.h"

namespace flowwatch {
namespace {

// A deliberately bad hash: many keys share a home slot, stressing probe runs
// and backward-shift deletion across the table's wrap-around.
struct CollidingHash {
  uint64_t operator()(uint64_t v) const { return (v % 7) * 0x9E3779B97F4A7C15ull; }
};

TEST_CASE("FlatHashMap behaves like std::unordered_map under random operations") {
  FlatHashMap<uint64_t, std::string, CollidingHash> map;
  std::unordered_map<uint64_t, std::string> ref;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t k = rng() % 5000;
    switch (rng() % 4) {
      case 0:
      case 1: {
        auto [v, inserted] = map.TryEmplace(k);
        REQUIRE(inserted == (ref.count(k) == 0));
        *v = std::to_string(i);
        ref[k] = *v;
        break;
      }
      case 2:
        REQUIRE(map.Erase(k) == (ref.erase(k) == 1));
        break;
      case 3: {
        const std::string* v = map.Find(k);
        auto it = ref.find(k);
        REQUIRE((v != nullptr) == (it != ref.end()));
        if (v) REQUIRE(*v == it->second);
        break;
      }
    }
    REQUIRE(map.size() == ref.size());
  }
  size_t seen = 0;
  map.ForEach([&](const uint64_t& k, const std::string& v) {
    ++seen;
    REQUIRE(ref.at(k) == v);
  });
  REQUIRE(seen == ref.size());
}

TEST_CASE("FlatHashMap EraseIf removes exactly the matching entries") {
  FlatHashMap<uint64_t, uint64_t, CollidingHash> map;
  for (uint64_t k = 0; k < 10000; ++k) *map.TryEmplace(k).first = k * 2;
  const size_t erased = map.EraseIf([](const uint64_t& k, uint64_t&) { return k % 3 == 0; });
  REQUIRE(erased == 3334);
  REQUIRE(map.size() == 10000 - 3334);
  for (uint64_t k = 0; k < 10000; ++k) {
    const uint64_t* v = map.Find(k);
    if (k % 3 == 0) {
      REQUIRE(v == nullptr);
    } else {
      REQUIRE(v != nullptr);
      REQUIRE(*v == k * 2);
    }
  }
}

TEST_CASE("FlatHashMap keeps its load factor at or below 7/8") {
  FlatHashMap<uint64_t, uint32_t, IntHash> map;
  for (uint64_t k = 0; k < 100000; ++k) map.TryEmplace(k);
  REQUIRE(map.size() * 8 <= map.capacity() * 7);
  REQUIRE(map.memory_bytes() == map.capacity() * (sizeof(uint64_t) + sizeof(uint32_t) + 4 + 1));
}

}  // namespace
}  // namespace flowwatch
