#include "lib/shard/dedup_window.h"

#include <catch2/catch.hpp>

namespace flowwatch::shard {
namespace {

constexpr int64_t kMinute = 60 * 1000;

TEST_CASE("DedupWindow drops a repeat within the window and keeps distinct fingerprints") {
  DedupWindow w({30 * kMinute, 1000});
  REQUIRE_FALSE(w.CheckAndInsert(1, 0));
  REQUIRE_FALSE(w.CheckAndInsert(2, kMinute));
  REQUIRE(w.CheckAndInsert(1, 2 * kMinute));
  REQUIRE(w.CheckAndInsert(2, 14 * kMinute));
  REQUIRE_FALSE(w.CheckAndInsert(3, 14 * kMinute));
}

TEST_CASE("DedupWindow forgets after the window has passed twice over") {
  DedupWindow w({30 * kMinute, 1000});
  REQUIRE_FALSE(w.CheckAndInsert(1, 0));
  REQUIRE_FALSE(w.CheckAndInsert(9, 16 * kMinute));  // rotation: 1 moves to the previous generation
  REQUIRE(w.CheckAndInsert(1, 17 * kMinute));      // still caught
  REQUIRE_FALSE(w.CheckAndInsert(8, 32 * kMinute));  // second rotation: 1 is gone
  REQUIRE_FALSE(w.CheckAndInsert(1, 33 * kMinute));
}

TEST_CASE("DedupWindow stays within its entry cap and says when the window shrank") {
  DedupWindow w({30 * kMinute, 100});
  for (uint64_t i = 0; i < 10000; ++i) REQUIRE_FALSE(w.CheckAndInsert(i + 1, 0));
  REQUIRE(w.size() <= 200);
  REQUIRE(w.early_rotations() > 0);
  REQUIRE(w.CheckAndInsert(10000, 0));  // the most recent are still remembered
}

}  // namespace
}  // namespace flowwatch::shard
