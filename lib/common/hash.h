// Fast, stable 64-bit hashing for keys, routing and de-duplication.
//
// The functions are pure and deterministic across runs and machines (no random
// seed), because hash values are used to route keys to shards and are stored in
// checkpoints. They follow wyhash's multiply-fold construction; quality is ample for
// hash tables and for 64-bit de-duplication fingerprints. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace flowwatch {

inline constexpr uint64_t kHashP0 = 0xa0761d6478bd642full;
inline constexpr uint64_t kHashP1 = 0xe7037ed1a0b428dbull;
inline constexpr uint64_t kHashP2 = 0x8ebc6af09c88c6e3ull;

// 64x64 -> 128 multiply, folded.
inline uint64_t HashMix(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// Combines two 64-bit values into one well-mixed value (order matters).
inline uint64_t HashCombine(uint64_t seed, uint64_t v) {
  return HashMix(seed ^ kHashP0, v ^ kHashP1);
}

// Finalizer for a single integer key.
inline uint64_t HashU64(uint64_t v) { return HashMix(v ^ kHashP0, kHashP1); }

namespace detail {
inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t LoadTail(const char* p, size_t n) {  // 0 <= n < 8
  uint64_t v = 0;
  if (n > 0) std::memcpy(&v, p, n);  // p may be null when n is 0 (an empty string_view)
  return v;
}
}  // namespace detail

inline uint64_t HashBytes(const char* p, size_t n, uint64_t seed = 0) {
  uint64_t h = HashMix(seed ^ kHashP0, n ^ kHashP1);
  while (n >= 16) {
    h = HashMix(detail::Load64(p) ^ kHashP1, detail::Load64(p + 8) ^ h);
    p += 16;
    n -= 16;
  }
  uint64_t a;
  uint64_t b = 0;
  if (n >= 8) {
    a = detail::Load64(p);
    b = detail::LoadTail(p + 8, n - 8);
  } else {
    a = detail::LoadTail(p, n);
  }
  return HashMix(a ^ kHashP1 ^ h, b ^ kHashP2 ^ (n << 56));
}

inline uint64_t HashString(std::string_view s, uint64_t seed = 0) {
  return HashBytes(s.data(), s.size(), seed);
}

}  // namespace flowwatch

namespace flowwatch {
// Hash functor for integer keys in FlatHashMap.
struct IntHash {
  uint64_t operator()(uint64_t v) const { return HashU64(v); }
};
}  // namespace flowwatch
