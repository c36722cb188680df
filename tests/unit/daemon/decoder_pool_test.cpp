// DecoderPool under concurrency (run under TSan in CI): a source thread offers
// messages of several partitions, collects completions, revokes and reassigns a
// partition mid-stream, while decoders and shard workers run. Checks that what
// is reported complete was applied by the shards, that completions come in
// order per partition, that nothing offered is lost, and that event time never
// runs ahead of a partition that has not delivered.
#include "daemon/decoder_pool.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lib/enrich/inventory.h"
#include "lib/enrich/vm_resolver.h"

namespace flowwatch::app {
namespace {

// Counts what a shard applied; every field is the shard thread's but the totals.
class CountingProcessor : public shard::ShardProcessor {
 public:
  CountingProcessor(std::atomic<uint64_t>* flows, std::atomic<int64_t>* max_progress)
      : flows_(flows), max_progress_(max_progress) {}
  void OnFlow(const FlowRecord&) override { flows_->fetch_add(1, std::memory_order_relaxed); }
  void OnProgress(int64_t t) override {
    int64_t m = max_progress_->load();
    while (t > m && !max_progress_->compare_exchange_weak(m, t)) {
    }
  }
  void OnEndOfInput() override {}

 private:
  std::atomic<uint64_t>* flows_;
  std::atomic<int64_t>* max_progress_;
};

// Two decoders feeding two shards that count what they apply and the
// furthest event time they were told of.
struct Pool {
  static shard::ShardSetOptions SetOptions() {
    shard::ShardSetOptions o;
    o.producers = 2;
    o.shards = 2;
    o.ring_capacity = 64;  // small: back-pressure between decoders and shards
    return o;
  }
  static DecoderPoolOptions Options() {
    DecoderPoolOptions o;
    o.decoders = 2;
    o.queue_messages = 8;  // small: Offer says "no room" often
    o.idle_timeout = std::chrono::milliseconds(50);
    return o;
  }
  NameTables names;
  enrich::VmResolver resolver{std::make_shared<const enrich::Inventory>(), &names.vms};
  std::atomic<uint64_t> flows{0};
  std::atomic<int64_t> max_progress{INT64_MIN};
  shard::ShardSet shards{SetOptions(), [this](int) { return std::make_unique<CountingProcessor>(&flows, &max_progress); }};
  DecoderPool pool{Options(), &names, &resolver, &shards, nullptr};
};

// One NSG v2 record with `tuples` flow tuples at event time `t` seconds.
std::string Message(int64_t t, int tuples, int mac) {
  char mac_text[16];
  std::snprintf(mac_text, sizeof mac_text, "000D3A%06X", mac);
  std::string flows;
  for (int i = 0; i < tuples; ++i) {
    if (i) flows += ",";
    flows += "\"" + std::to_string(t) + ",10.0.0." + std::to_string(4 + mac % 200) + ",10.1.0." +
             std::to_string(1 + i % 250) + "," + std::to_string(40000 + i) + ",443,T,O,A,B,1,100,1,200\"";
  }
  return std::string(R"({"records":[{"time":"2021-05-03T00:00:00Z","macAddress":")") + mac_text +
         R"(","category":"NetworkSecurityGroupFlowEvent","resourceId":"/R","properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":")" +
         mac_text + R"(","flowTuples":[)" + flows + "]}]}]}}]}";
}

TEST_CASE("DecoderPool reports completions in order, only once applied, and loses nothing across a revoke") {
  constexpr int kPartitions = 4;
  constexpr int kPerPartition = 300;
  constexpr int kTuples = 5;
  Pool under_test;
  DecoderPool& pool = under_test.pool;
  std::atomic<uint64_t>& flows = under_test.flows;
  std::atomic<int64_t>& max_progress = under_test.max_progress;
  shard::ShardSet& shards = under_test.shards;
  shards.Start();
  pool.Start();

  // Partition p's message i is at event time 1620000000 + i (partition 3 lags:
  // it delivers only at the end).
  std::vector<std::string> bodies;
  std::vector<source::SourceMessage> pending;
  std::map<int32_t, int64_t> completed;  // partition -> next offset reported
  uint64_t offered_tuples = 0;
  pool.OnAssigned({0, 1, 2, 3});
  pool.OnBacklog(3, kPerPartition);  // waiting in the broker: never idle, however slow
  auto collect = [&] {
    std::vector<std::pair<int32_t, int64_t>> out;
    pool.CollectCompleted(&out);
    for (const auto& [p, next] : out) {
      INFO("partition " << p);
      REQUIRE(next > completed[p]);  // in order, each once
      completed[p] = next;
    }
  };
  auto offer_all = [&](int32_t p, int from, int to) {
    for (int i = from; i < to; ++i) {
      auto body = std::make_shared<std::string>(Message(1620000000 + i, kTuples, p * 1000 + i % 10));
      source::SourceMessage m;
      m.partition = p;
      m.offset = i;
      m.data = body->data();
      m.size = body->size();
      m.owner = body;
      while (!pool.Offer(m)) {
        pool.WaitForRoom(p, std::chrono::milliseconds(5));
        collect();
      }
      offered_tuples += kTuples;
    }
  };
  for (int i = 0; i < kPerPartition; i += 50) {
    for (int32_t p = 0; p < 3; ++p) offer_all(p, i, i + 50);
    collect();
  }
  // Partition 3 has delivered nothing: event time must not pass its start.
  REQUIRE(max_progress.load() < 1620000000 * 1000LL);

  // Revoke partition 0 after draining it; its completions are then no longer ours.
  REQUIRE(pool.Drain({0}, std::chrono::seconds(10)));
  collect();
  REQUIRE(completed[0] == kPerPartition);
  pool.OnRevoked({0});
  pool.OnAssigned({0});
  offer_all(0, kPerPartition, kPerPartition + 20);
  offer_all(3, 0, kPerPartition);

  REQUIRE(pool.Drain({0, 1, 2, 3}, std::chrono::seconds(20)));
  collect();
  REQUIRE(completed[0] == kPerPartition + 20);
  for (int32_t p = 1; p < kPartitions; ++p) REQUIRE(completed[p] == kPerPartition);
  REQUIRE(flows.load() == offered_tuples);  // completed means applied: all of it
  REQUIRE(pool.messages() == 3 * kPerPartition + kPerPartition + 20);
  REQUIRE(pool.poison_messages() == 0);
  pool.Stop();
  shards.Join();
  REQUIRE(flows.load() == offered_tuples);
}

// A restarted daemon following blobs knows the newest event time of its
// checkpoint before it has listed the blobs that were behind it: until the
// source says it has read what it lists, having nothing assigned must not move
// event time there, or those blobs' next records are late.
TEST_CASE("Restarted, with nothing assigned, event time stays put until the followed source has caught up") {
  using namespace std::chrono_literals;
  constexpr int64_t kRestored = 1620003600000;  // the checkpoint's newest event time
  Pool under_test;
  DecoderPool& pool = under_test.pool;
  pool.SeedEventTime(kRestored);
  under_test.shards.Start();
  pool.Start();
  std::this_thread::sleep_for(1500ms);  // the decoders wake every second
  CHECK(under_test.max_progress.load() == INT64_MIN);

  // A blob behind the restored time, read and retired within the first poll.
  pool.OnAssigned({7});
  pool.OnProgressFloor(7, kRestored - 3600000);
  auto body = std::make_shared<std::string>(Message(kRestored / 1000 - 1800, 3, 7));
  source::SourceMessage m{7, 0, body->data(), body->size(), body};
  REQUIRE(pool.Offer(m));
  REQUIRE(pool.Drain({7}, 10s));
  pool.OnRevoked({7});
  std::this_thread::sleep_for(1500ms);
  CHECK(under_test.max_progress.load() <= (kRestored / 1000 - 1800) * 1000);

  pool.OnCaughtUp();  // the first poll is over: nothing older is coming
  for (int i = 0; i < 40 && under_test.max_progress.load() < kRestored; ++i) std::this_thread::sleep_for(100ms);
  CHECK(under_test.max_progress.load() == kRestored);
  pool.Stop();
  under_test.shards.Join();
  CHECK(under_test.flows.load() == 3);
}

}  // namespace
}  // namespace flowwatch::app
