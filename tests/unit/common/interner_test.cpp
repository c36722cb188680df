#include "lib/common/interner.h"

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

namespace flowwatch {
namespace {

TEST_CASE("StringInterner gives stable dense ids and reads them back") {
  StringInterner in(100);
  REQUIRE(in.Get(StringInterner::kEmptyId) == "");
  REQUIRE(in.Get(StringInterner::kOverflowId) == "(other)");
  const uint32_t a = in.Intern("DefaultRule_DenyAllInBound");
  const uint32_t b = in.Intern("UserRule_default-allow-rdp");
  REQUIRE(a != b);
  REQUIRE(in.Intern("DefaultRule_DenyAllInBound") == a);
  REQUIRE(in.Get(a) == "DefaultRule_DenyAllInBound");
  REQUIRE(in.Get(999) == "");
  uint32_t found = 0;
  REQUIRE(in.Find("UserRule_default-allow-rdp", &found));
  REQUIRE(found == b);
  REQUIRE_FALSE(in.Find("nope", &found));
}

TEST_CASE("StringInterner is capped and counts overflows") {
  StringInterner in(5);  // 2 reserved + 3
  REQUIRE(in.Intern("a") != StringInterner::kOverflowId);
  REQUIRE(in.Intern("b") != StringInterner::kOverflowId);
  REQUIRE(in.Intern("c") != StringInterner::kOverflowId);
  REQUIRE(in.Intern("d") == StringInterner::kOverflowId);
  REQUIRE(in.Intern("e") == StringInterner::kOverflowId);
  REQUIRE(in.overflows() == 2);
  REQUIRE(in.Intern("a") == in.Intern("a"));  // known names still resolve
}

TEST_CASE("StringInterner keeps every name intact across its character blocks, long names included") {
  StringInterner in;
  std::vector<std::string> names;
  // Small names fill 64 KiB blocks; names past a quarter block get blocks of
  // their own, before or after the first small one.
  names.push_back(std::string(70000, 'L'));
  for (int i = 0; i < 3000; ++i) {
    names.push_back("subscriptions/0000/resourceGroups/rg/providers/nic-" + std::to_string(i));
    if (i % 700 == 0) names.push_back(std::string(16385 + i, static_cast<char>('a' + i % 26)));
  }
  std::vector<uint32_t> ids;
  for (const auto& n : names) ids.push_back(in.Intern(n));
  for (size_t i = 0; i < names.size(); ++i) {
    REQUIRE(in.Get(ids[i]) == names[i]);
    REQUIRE(in.Intern(names[i]) == ids[i]);
  }
  REQUIRE(in.size() == names.size() + 2);
}

TEST_CASE("InternCache agrees with the interner, including on cache collisions") {
  StringInterner in;
  InternCache cache(&in);
  std::vector<uint32_t> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back(cache.Intern("rule-" + std::to_string(i)));
  for (int i = 0; i < 5000; ++i) {
    REQUIRE(cache.Intern("rule-" + std::to_string(i)) == ids[i]);
    REQUIRE(in.Get(ids[i]) == "rule-" + std::to_string(i));
  }
  REQUIRE(cache.Intern("") == StringInterner::kEmptyId);
}

TEST_CASE("StringInterner tolerates concurrent interning and lock-free reads") {
  StringInterner in;
  constexpr int kThreads = 4;
  constexpr int kNames = 20000;  // crosses several chunks
  std::vector<std::vector<uint32_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      InternCache cache(&in);
      for (int i = 0; i < kNames; ++i) {
        const uint32_t id = cache.Intern("name-" + std::to_string(i));
        ids[t].push_back(id);
        REQUIRE_FALSE(in.Get(id).empty());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 1; t < kThreads; ++t) REQUIRE(ids[t] == ids[0]);
  REQUIRE(in.size() == kNames + 2);
}

}  // namespace
}  // namespace flowwatch
