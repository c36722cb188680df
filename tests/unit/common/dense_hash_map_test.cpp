#include "lib/common/dense_hash_map.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <unordered_map>
#include <vector>

#include "lib/common/hash.h"

namespace flowwatch {
namespace {

// Every key of a residue class mod 7 has the same full hash: the same home
// slot and the same 8-bit tag, so only the key comparison tells them apart.
struct SameHashHash {
  uint64_t operator()(uint64_t v) const { return (v % 7) * 0x9E3779B97F4A7C15ull; }
};

// Every key carries the tag 0xAB, homes spread: the tag filter never helps.
struct SameTagHash {
  uint64_t operator()(uint64_t v) const { return (HashU64(v) & 0x00FFFFFFFFFFFFFFull) | (0xABull << 56); }
};

// Every key has its home in the last 5 slots of the index, whatever its
// size, with the tag 0xFF: each probe run wraps around the end of the index.
struct WrappingHash {
  uint64_t operator()(uint64_t v) const { return ~(v % 5); }
};

// Homes all at slot 0 but tags spread: the tag filter does the work.
struct SameHomeHash {
  uint64_t operator()(uint64_t v) const { return HashU64(v) & 0xFF00000000000000ull; }
};

// Runs `ops` random operations over keys in [0, key_space) against
// std::unordered_map, checking every answer, then the full contents.
template <typename Hash>
void CheckAgainstOracle(uint64_t seed, int ops, uint64_t key_space) {
  DenseHashMap<uint64_t, uint64_t, Hash> map;
  std::unordered_map<uint64_t, uint64_t> ref;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < ops; ++i) {
    const uint64_t k = rng() % key_space;
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2: {
        auto [v, inserted] = map.TryEmplace(k);
        REQUIRE(inserted == (ref.count(k) == 0));
        if (inserted) REQUIRE(*v == 0);  // value-initialized, also in a reused entry
        REQUIRE(*v == ref[k]);
        *v = rng();
        ref[k] = *v;
        break;
      }
      case 3:
      case 4:
        REQUIRE(map.Erase(k) == (ref.erase(k) == 1));
        break;
      default: {
        const uint64_t* v = map.Find(k);
        auto it = ref.find(k);
        REQUIRE((v != nullptr) == (it != ref.end()));
        if (v) REQUIRE(*v == it->second);
      }
    }
    REQUIRE(map.size() == ref.size());
  }
  for (const auto& [k, v] : ref) {
    const uint64_t* found = map.Find(k);
    REQUIRE(found != nullptr);
    REQUIRE(*found == v);
  }
  size_t seen = 0;
  map.ForEach([&](const uint64_t& k, const uint64_t& v) {
    ++seen;
    REQUIRE(ref.at(k) == v);
  });
  REQUIRE(seen == ref.size());
}

TEST_CASE("DenseHashMap behaves like std::unordered_map under random operations") {
  // Key space of 200k: the table grows through many rehashes, shrinks and
  // grows again, and crosses chunk boundaries both ways.
  CheckAgainstOracle<IntHash>(1, 600000, 200000);
}

TEST_CASE("DenseHashMap behaves like std::unordered_map when keys share hashes, tags or homes") {
  SECTION("same full hash") { CheckAgainstOracle<SameHashHash>(2, 100000, 700); }
  SECTION("same tag") { CheckAgainstOracle<SameTagHash>(3, 200000, 20000); }
  SECTION("probe runs wrapping around the index") { CheckAgainstOracle<WrappingHash>(4, 100000, 700); }
  SECTION("same home, tags spread") { CheckAgainstOracle<SameHomeHash>(5, 100000, 700); }
}

TEST_CASE("DenseHashMap keeps every key through growth and loses each one it erases") {
  constexpr uint64_t kKeys = 200000;
  DenseHashMap<uint64_t, uint64_t, IntHash> map;
  REQUIRE(map.empty());
  REQUIRE(map.Find(7) == nullptr);
  REQUIRE_FALSE(map.Erase(7));
  for (uint64_t k = 0; k < kKeys; ++k) {
    auto [v, inserted] = map.TryEmplace(k * 0x10001);
    REQUIRE(inserted);
    *v = k;
  }
  REQUIRE(map.size() == kKeys);
  for (uint64_t k = 0; k < kKeys; ++k) {
    const uint64_t* v = map.Find(k * 0x10001);
    REQUIRE(v != nullptr);
    REQUIRE(*v == k);
    REQUIRE(map.Find(k * 0x10001 + 1) == nullptr);
  }

  std::vector<uint64_t> order(kKeys);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(6));
  for (size_t n = 0; n < kKeys; ++n) {
    const uint64_t k = order[n];
    REQUIRE(map.Erase(k * 0x10001));
    REQUIRE_FALSE(map.Erase(k * 0x10001));
    REQUIRE(map.Find(k * 0x10001) == nullptr);
    REQUIRE(map.size() == kKeys - n - 1);
    if (n % 20000 == 0) {  // the rest are all still there, with their values
      for (size_t m = n + 1; m < kKeys; ++m) {
        const uint64_t* v = map.Find(order[m] * 0x10001);
        REQUIRE(v != nullptr);
        REQUIRE(*v == order[m]);
      }
    }
  }
  REQUIRE(map.empty());
  size_t visited = 0;
  map.ForEach([&](const uint64_t&, uint64_t&) { ++visited; });
  REQUIRE(visited == 0);

  // The emptied table is usable again.
  for (uint64_t k = 0; k < 5000; ++k) REQUIRE(map.TryEmplace(k).second);
  for (uint64_t k = 0; k < 5000; ++k) REQUIRE(*map.Find(k) == 0);
  REQUIRE(map.size() == 5000);
}

TEST_CASE("DenseHashMap ForEach visits every live entry exactly once") {
  DenseHashMap<uint64_t, uint64_t, IntHash> map;
  std::unordered_map<uint64_t, uint64_t> ref;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50000; ++i) {
    const uint64_t k = rng() % 30000;
    if (rng() % 3 == 0) {
      map.Erase(k);
      ref.erase(k);
    } else {
      *map.TryEmplace(k).first = k + 1;
      ref[k] = k + 1;
    }
  }
  std::vector<uint64_t> keys;
  map.ForEach([&](const uint64_t& k, uint64_t& v) {
    keys.push_back(k);
    REQUIRE(v == k + 1);
    v *= 2;  // values are writable through ForEach
  });
  std::sort(keys.begin(), keys.end());
  REQUIRE(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
  REQUIRE(keys.size() == ref.size());
  for (uint64_t k : keys) REQUIRE(ref.count(k) == 1);
  for (const auto& [k, v] : ref) REQUIRE(*map.Find(k) == 2 * v);

  const auto& const_map = map;
  size_t seen = 0;
  const_map.ForEach([&](const uint64_t& k, const uint64_t& v) {
    ++seen;
    REQUIRE(v == 2 * (k + 1));
  });
  REQUIRE(seen == ref.size());
}

TEST_CASE("DenseHashMap EraseIf offers each entry once and removes exactly the matching ones") {
  DenseHashMap<uint64_t, uint64_t, SameHashHash> colliding;
  DenseHashMap<uint64_t, uint64_t, IntHash> spread;
  auto check = [](auto& map, uint64_t keys) {
    for (uint64_t k = 0; k < keys; ++k) *map.TryEmplace(k).first = k * 3;
    std::vector<uint64_t> offered;
    const size_t erased = map.EraseIf([&](const uint64_t& k, uint64_t& v) {
      offered.push_back(k);
      REQUIRE(v == k * 3);
      return k % 3 == 0 || k % 5 == 0;
    });
    std::sort(offered.begin(), offered.end());
    std::vector<uint64_t> all(keys);
    std::iota(all.begin(), all.end(), 0);
    REQUIRE(offered == all);
    size_t expect_erased = 0;
    for (uint64_t k = 0; k < keys; ++k) {
      const bool gone = k % 3 == 0 || k % 5 == 0;
      expect_erased += gone;
      const uint64_t* v = map.Find(k);
      REQUIRE((v == nullptr) == gone);
      if (v) REQUIRE(*v == k * 3);
    }
    REQUIRE(erased == expect_erased);
    REQUIRE(map.size() == keys - expect_erased);
    REQUIRE(map.EraseIf([](const uint64_t&, uint64_t&) { return true; }) == keys - expect_erased);
    REQUIRE(map.empty());
  };
  check(colliding, 3000);
  check(spread, 100000);
}

TEST_CASE("DenseHashMap pointers stay valid across insertions and rehashes") {
  DenseHashMap<uint64_t, uint64_t, IntHash> map;
  std::vector<uint64_t*> pointers;
  for (uint64_t k = 0; k < 3000; ++k) {
    auto [v, inserted] = map.TryEmplace(k);
    REQUIRE(inserted);
    *v = k + 100;
    pointers.push_back(v);
  }
  const size_t bytes_before = map.memory_bytes();
  for (uint64_t k = 3000; k < 200000; ++k) *map.TryEmplace(k).first = k + 100;
  REQUIRE(map.memory_bytes() > bytes_before);  // the index and the chunks did grow
  for (uint64_t k = 0; k < 3000; ++k) {
    REQUIRE(map.Find(k) == pointers[k]);
    REQUIRE(*pointers[k] == k + 100);
    auto [v, inserted] = map.TryEmplace(k);
    REQUIRE_FALSE(inserted);
    REQUIRE(v == pointers[k]);
    *pointers[k] = 7;  // a write through the old pointer is what Find sees
    REQUIRE(*map.Find(k) == 7);
  }
}

TEST_CASE("DenseHashMap Clear empties the table and it fills again from scratch") {
  DenseHashMap<uint64_t, uint64_t, IntHash> map;
  for (uint64_t k = 0; k < 10000; ++k) *map.TryEmplace(k).first = k + 1;
  map.Clear();
  REQUIRE(map.empty());
  REQUIRE(map.Find(5) == nullptr);
  REQUIRE_FALSE(map.Erase(5));
  for (uint64_t k = 5000; k < 15000; ++k) {
    auto [v, inserted] = map.TryEmplace(k);
    REQUIRE(inserted);
    REQUIRE(*v == 0);
    *v = k;
  }
  REQUIRE(map.size() == 10000);
  for (uint64_t k = 0; k < 5000; ++k) REQUIRE(map.Find(k) == nullptr);
  for (uint64_t k = 5000; k < 15000; ++k) REQUIRE(*map.Find(k) == k);
}

// A 52-byte entry, the size the header's cost figures are given for.
struct Value48 {
  float f[12];
};
using Map52 = DenseHashMap<uint32_t, Value48, IntHash>;
static_assert(sizeof(Map52::Entry) == 52);

TEST_CASE("DenseHashMap memory_bytes stays within the documented cost a key") {
  // sizeof(Entry) plus 4 bytes / load (load in (7/16, 7/8] while growing)
  // plus less than a chunk of slack in all.
  Map52 map;
  REQUIRE(map.memory_bytes() == 0);
  const double entry = sizeof(Map52::Entry);
  for (uint32_t k = 1; k <= 300000; ++k) {
    map.TryEmplace(k * 2654435761u).first->f[0] = static_cast<float>(k);
    if (k % 997 != 0 && k != 300000) continue;
    const double per_key = static_cast<double>(map.memory_bytes()) / k;
    const double slack = static_cast<double>(Map52::kChunkEntries) * entry / k;
    REQUIRE(per_key >= entry + 4.0 * 8 / 7 - 1e-9);
    REQUIRE(per_key < entry + 4.0 * 16 / 7 + slack);
    // The header's 57-62 bytes a key, for a large table; 56.57 is its own
    // lower bound (52 + 4 / (7/8)) once the chunks are full.
    if (k >= 100000) {
      REQUIRE(per_key >= 56.5);
      REQUIRE(per_key <= 62);
    }
  }
  REQUIRE(map.Find(5 * 2654435761u)->f[0] == 5.0f);
}

}  // namespace
}  // namespace flowwatch
