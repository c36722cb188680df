// KafkaSource in-process against a broker process (mock_broker.c) and kcat:
// back-pressure. A handler that has no room makes the source hold the
// partition's messages and pause it; when room comes back the partition
// resumes, and every message arrives once, in order, none missing; a paused
// partition taken away by a rebalance and given back is fetched again; with
// Entra ID, tokens from a fake token endpoint reach both handles.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "lib/azure/credential.h"
#include "lib/source/kafka/client_config.h"
#include "lib/source/kafka/kafka_source.h"
#include "tests/fake_token_endpoint.h"
#include "tests/integration/kafka/harness.h"
#include "tests/integration/process_util.h"

namespace flowwatch::testing {
namespace {

using source::MessageHandler;
using source::SourceMessage;

// Takes messages only while open; everything taken counts as processed at once.
class GatedHandler : public MessageHandler {
 public:
  std::atomic<bool> open{false};

  bool Offer(SourceMessage& m) override {
    if (!open.load()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    got_[m.partition].emplace_back(m.offset, std::string(m.data, m.size));
    next_[m.partition] = m.offset + 1;
    m.owner.reset();
    return true;
  }
  void WaitForRoom(int32_t, std::chrono::milliseconds timeout) override {
    if (!open.load()) std::this_thread::sleep_for(timeout);
  }
  void CollectCompleted(std::vector<std::pair<int32_t, int64_t>>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [p, next] : next_) out->emplace_back(p, next);
  }
  bool Drain(const std::vector<int32_t>&, std::chrono::milliseconds) override { return true; }
  void OnBacklog(int32_t, int64_t) override {}
  void OnAssigned(const std::vector<int32_t>&) override {}
  void OnRevoked(const std::vector<int32_t>&) override {}

  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [p, list] : got_) n += list.size();
    return n;
  }
  std::map<int32_t, std::vector<std::pair<int64_t, std::string>>> got() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  mutable std::mutex mu_;
  std::map<int32_t, std::vector<std::pair<int64_t, std::string>>> got_;
  std::map<int32_t, int64_t> next_;
};

// Like the daemon's decoder pool: a message taken is in flight for `delay`
// before it counts as processed; Drain waits for the in-flight ones; a revoke
// forgets the completions not yet reported (their new owner commits).
class DelayedHandler : public MessageHandler {
 public:
  explicit DelayedHandler(std::chrono::milliseconds delay) : delay_(delay) {}

  bool Offer(SourceMessage& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    got_[m.partition].push_back(m.offset);
    pending_.push_back({m.partition, m.offset + 1, std::chrono::steady_clock::now() + delay_});
    m.owner.reset();
    return true;
  }
  void WaitForRoom(int32_t, std::chrono::milliseconds) override {}
  void CollectCompleted(std::vector<std::pair<int32_t, int64_t>>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    while (!pending_.empty() && pending_.front().due <= std::chrono::steady_clock::now()) {
      out->emplace_back(pending_.front().partition, pending_.front().next);
      pending_.pop_front();
    }
  }
  bool Drain(const std::vector<int32_t>&, std::chrono::milliseconds budget) override {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_.empty() || pending_.back().due <= std::chrono::steady_clock::now()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void OnBacklog(int32_t, int64_t) override {}
  void OnAssigned(const std::vector<int32_t>&) override {}
  void OnRevoked(const std::vector<int32_t>& partitions) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(pending_, [&](const Pending& p) {
      return std::find(partitions.begin(), partitions.end(), p.partition) != partitions.end();
    });
  }
  std::map<int32_t, std::vector<int64_t>> got() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  struct Pending {
    int32_t partition;
    int64_t next;
    std::chrono::steady_clock::time_point due;
  };
  const std::chrono::milliseconds delay_;
  mutable std::mutex mu_;
  std::deque<Pending> pending_;
  std::map<int32_t, std::vector<int64_t>> got_;
};

// Produces `messages` numbered messages to `topic` with kcat, keyed over `keys` keys.
void ProduceNumbered(const MockBroker& broker, const TempDir& dir, const std::string& topic, int messages, int keys) {
  {
    std::ofstream out(dir / "messages.txt");
    for (int i = 0; i < messages; ++i) out << "key" << (i % keys) << "\tmessage " << i << "\n";
  }
  REQUIRE(RunToEnd({"kcat", "-P", "-b", broker.bootstrap(), "-t", topic, "-K", "\t", "-l", dir / "messages.txt"}) == 0);
}

// A source's options for `topic`, in a group of the same name, committing every 200 ms.
source::kafka::KafkaSourceOptions SourceOptions(const MockBroker& broker, const std::string& topic,
                                                const std::string& heartbeat_ms) {
  config::KafkaConfig k;
  k.brokers = broker.bootstrap();
  k.topic = topic;
  k.group_id = topic;
  k.librdkafka = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", heartbeat_ms}};
  auto client = source::kafka::BuildConsumerConfig(k);
  REQUIRE(client.ok());
  source::kafka::KafkaSourceOptions options;
  options.client = client.value();
  options.commit_interval = std::chrono::milliseconds(200);
  return options;
}

// The sum of a source's committed offsets: with offsets from 0, the messages committed.
int64_t CommittedTotal(const source::kafka::KafkaSource& source) {
  int64_t sum = 0;
  for (const auto& [p, offset] : source.committed()) sum += offset;
  return sum;
}

TEST_CASE("A handler without room pauses the partitions, and they resume with every message once and in order") {
  TempDir dir;
  MockBroker broker(FW_MOCK_BROKER_BIN, 1, "gated", 3, dir / "broker.log");
  constexpr int kMessages = 600;
  ProduceNumbered(broker, dir, "gated", kMessages, 7);
  const source::kafka::KafkaSourceOptions options = SourceOptions(broker, "gated", "1000");
  GatedHandler handler;
  auto created = source::kafka::KafkaSource::Create(options, &handler);
  REQUIRE(created.ok());
  source::kafka::KafkaSource& source = **created;

  std::atomic<bool> stop{false};
  std::thread runner([&] { (void)source.Run(stop, nullptr); });
  // Closed: messages arrive, nothing is taken, the partitions get paused.
  const bool paused = WaitUntil([&] { return source.counters().pauses.value() >= 1; }, 30s);
  std::this_thread::sleep_for(1s);
  const uint64_t pauses = source.counters().pauses.value();
  const size_t taken_while_closed = handler.count();
  handler.open = true;
  const bool all = WaitUntil([&] { return handler.count() >= kMessages; }, 30s);
  const bool committed = WaitUntil([&] { return CommittedTotal(source) == kMessages; }, 10s);
  stop = true;
  runner.join();

  REQUIRE(paused);
  CHECK(pauses >= 1);
  CHECK(taken_while_closed == 0);
  REQUIRE(all);
  REQUIRE(committed);
  REQUIRE(handler.count() == kMessages);  // none twice
  std::set<std::string> bodies;
  for (const auto& [p, list] : handler.got()) {
    for (size_t i = 0; i < list.size(); ++i) {
      INFO("partition " << p << " message " << i);
      REQUIRE(list[i].first == static_cast<int64_t>(i));  // from the start, in order, no gap
      bodies.insert(list[i].second);
    }
  }
  REQUIRE(bodies.size() == kMessages);  // every message produced
}

TEST_CASE("A paused partition that a rebalance takes away and gives back is fetched again") {
  // librdkafka 2.0.2 keeps the application's pause flag across a revoke and
  // a re-assignment of the same partition: one revoked while paused (its held
  // messages dropped) came back paused for good.
  TempDir dir;
  MockBroker broker(FW_MOCK_BROKER_BIN, 1, "regain", 2, dir / "broker.log");
  constexpr int kMessages = 400;
  ProduceNumbered(broker, dir, "regain", kMessages, 5);
  const source::kafka::KafkaSourceOptions options = SourceOptions(broker, "regain", "500");
  GatedHandler first_handler, second_handler;  // both closed: every partition each one gets is paused
  auto first = source::kafka::KafkaSource::Create(options, &first_handler);
  REQUIRE(first.ok());
  std::atomic<bool> stop_first{false};
  std::thread first_runner([&] { (void)(*first)->Run(stop_first, nullptr); });
  const bool both_paused = WaitUntil([&] { return (*first)->counters().pauses.value() >= 2; }, 30s);

  // A second member takes one partition; when it leaves, the first gets it back.
  bool split = false, back = false;
  {
    auto second = source::kafka::KafkaSource::Create(options, &second_handler);
    REQUIRE(second.ok());
    std::atomic<bool> stop_second{false};
    std::thread second_runner([&] { (void)(*second)->Run(stop_second, nullptr); });
    split = WaitUntil([&] { return (*first)->assigned_count() == 1 && (*second)->assigned_count() == 1; }, 60s);
    stop_second = true;
    second_runner.join();
  }
  back = WaitUntil([&] { return (*first)->assigned_count() == 2; }, 60s);
  first_handler.open = true;
  const bool all = WaitUntil([&] { return first_handler.count() >= kMessages; }, 30s);
  stop_first = true;
  first_runner.join();

  REQUIRE(both_paused);
  REQUIRE(split);
  REQUIRE(back);
  CHECK(second_handler.count() == 0);
  INFO("messages taken " << first_handler.count() << " of " << kMessages);
  REQUIRE(all);
  for (const auto& [p, list] : first_handler.got()) {
    for (size_t i = 0; i < list.size(); ++i) {
      INFO("partition " << p << " message " << i);
      REQUIRE(list[i].first == static_cast<int64_t>(i));  // from the start, in order, once
    }
  }
}

TEST_CASE("Commits refused with ILLEGAL_GENERATION lose neither the assignment nor an offset, and apply nothing twice") {
  // What a commit made while the group rebalances gets (librdkafka #4059):
  // librdkafka takes the assignment as lost and rejoins. As in the daemon,
  // commits follow checkpoints (here durable at once), and a partition that
  // comes back resumes where this process had applied it; messages still in
  // flight when the assignment is lost count too (before the fix they were
  // forgotten, read again and applied twice).
  TempDir dir;
  MockBroker broker(FW_MOCK_BROKER_BIN, 1, "generation", 2, dir / "broker.log");
  ProduceNumbered(broker, dir, "generation", 100, 5);
  DelayedHandler handler(1s);
  source::kafka::KafkaSourceOptions options = SourceOptions(broker, "generation", "1000");
  source::kafka::KafkaSource* source = nullptr;
  options.checkpoint = [&](const std::map<int32_t, int64_t>& offsets, bool) { source->SetDurable({offsets, {}}); };
  options.checkpoint_interval = 200ms;
  auto created = source::kafka::KafkaSource::Create(options, &handler);
  REQUIRE(created.ok());
  source = created->get();
  std::atomic<bool> stop{false};
  std::thread runner([&] { (void)source->Run(stop, nullptr); });
  const auto committed = [&] { return CommittedTotal(*source); };
  const bool first = WaitUntil([&] { return committed() == 100; }, 30s);
  const uint64_t rebalances = source->counters().rebalances.value();
  REQUIRE(broker.Command("errors 8 3 22") == "ok");  // the next three OffsetCommits
  // Two batches half a second apart: when the first one's commit is refused,
  // the second is in flight.
  ProduceNumbered(broker, dir, "generation", 100, 5);
  std::this_thread::sleep_for(500ms);
  ProduceNumbered(broker, dir, "generation", 100, 5);
  const bool second = WaitUntil([&] { return committed() == 300 && source->assigned().size() == 2; }, 60s);
  stop = true;
  runner.join();
  REQUIRE(first);
  REQUIRE(second);  // committed by the broker (the commit callback says so), the assignment whole
  CHECK(source->counters().commit_failures.value() >= 1);
  CHECK(source->counters().rebalances.value() > rebalances);  // lost and given back
  size_t taken = 0;
  for (const auto& [p, offsets] : handler.got()) {
    taken += offsets.size();
    for (size_t i = 0; i < offsets.size(); ++i) {
      INFO("partition " << p);
      REQUIRE(offsets[i] == static_cast<int64_t>(i));  // in order, none twice, none missing
    }
  }
  CHECK(taken == 300);
}

TEST_CASE("A consumer whose close() hangs is left behind after close_timeout, and the source stops anyway") {
  // librdkafka #4527: close() can hang (an assignment arriving while it
  // closes). Here a broker that answers after 30 s makes leaving the group
  // take about 5 s (librdkafka's own bound), longer than close_timeout; the
  // consumer left behind goes on closing, and calls back, after the source is
  // gone (ASan checks that nothing touches it).
  TempDir dir;
  MockBroker broker(FW_MOCK_BROKER_BIN, 1, "closing", 2, dir / "broker.log");
  constexpr int kMessages = 200;
  ProduceNumbered(broker, dir, "closing", kMessages, 5);
  source::kafka::KafkaSourceOptions options = SourceOptions(broker, "closing", "1000");
  options.close_timeout = 1s;
  GatedHandler handler;
  handler.open = true;
  auto created = source::kafka::KafkaSource::Create(options, &handler);
  REQUIRE(created.ok());
  std::unique_ptr<source::kafka::KafkaSource> source = std::move(created).value();
  std::atomic<bool> stop{false};
  Status status;
  std::thread runner([&] { status = source->Run(stop, nullptr); });
  const auto committed = [&] { return CommittedTotal(*source); };
  const bool all = WaitUntil([&] { return committed() == kMessages; }, 30s);
  REQUIRE(broker.Command("rtt 1 30000") == "ok");
  const auto t0 = std::chrono::steady_clock::now();
  stop = true;
  runner.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(all);
  CHECK(status.ok());
  CHECK(source->close_abandoned());
  CHECK(took < 3s);  // without the bound: 5 s
  CHECK(committed() == kMessages);
  source.reset();
  std::this_thread::sleep_for(6s);  // the consumer left behind finishes closing, its revoke callback included
  CHECK(handler.count() == kMessages);
}

// Entra ID through the test broker, as far as it goes: it speaks no SASL, so
// no broker ever checks a token (that needs a real Event Hub); what is tested
// is flowwatch's side of it: the refresh callback on both handles, served by
// librdkafka's background thread (nothing here polls), the token asked for
// the namespace's scope and handed over, refreshed before it expires with the
// rotated federated token, and a failure reported and retried.
struct EntraSetup {
  FakeTokenEndpoint endpoint;
  TempDir dir;
  std::string token_file = dir / "azure-identity-token";

  source::kafka::KafkaSourceOptions Options(const MockBroker& broker) {
    std::ofstream(token_file) << "service-account-jwt-1";
    config::KafkaConfig k;
    k.brokers = broker.bootstrap();
    k.topic = "entra";
    k.event_hubs_namespace = "contoso";
    k.librdkafka = {{"security.protocol", "SASL_PLAINTEXT"}};  // the test broker has no TLS
    auto client = source::kafka::BuildConsumerConfig(k);
    REQUIRE(client.ok());
    REQUIRE(client->Get("sasl.mechanisms") == "OAUTHBEARER");
    azure::CredentialOptions a;
    a.tenant_id = "tenant-1";
    a.client_id = "client-1";
    a.federated_token_file = token_file;
    a.authority_host = endpoint.url();
    auto credential = azure::MakeCredential(a);
    REQUIRE(credential.ok());
    source::kafka::KafkaSourceOptions options;
    options.client = client.value();
    options.tokens = std::make_shared<azure::TokenCache>(std::move(credential).value());
    return options;
  }
};

TEST_CASE("With Entra ID the consumer and its dead-letter producer get tokens before anything polls, and new ones before expiry") {
  EntraSetup setup;
  MockBroker broker(FW_MOCK_BROKER_BIN, 1, "entra", 1, setup.dir / "broker.log");
  setup.endpoint.set_expires_in(4);  // librdkafka asks again at 80% of a token's life
  source::kafka::KafkaSourceOptions options = setup.Options(broker);
  options.dead_letter_topic = "dead";
  GatedHandler handler;
  auto created = source::kafka::KafkaSource::Create(options, &handler);
  INFO(created.status().message());
  REQUIRE(created.ok());
  source::kafka::KafkaSource& source = **created;

  REQUIRE(WaitUntil([&] { return source.tokens_set() >= 2; }, 5s));  // both handles, not Run
  CHECK(setup.endpoint.tokens_issued() == 1);                          // one exchange, cached for the second
  std::ofstream(setup.token_file) << "service-account-jwt-2";          // the kubelet rotates it
  REQUIRE(WaitUntil([&] { return source.tokens_set() >= 4; }, 10s));
  const auto requests = setup.endpoint.requests();
  REQUIRE(requests.size() >= 2);
  CHECK(requests.front().fields.at("scope") == "https://contoso.servicebus.windows.net/.default");
  CHECK(requests.front().fields.at("client_assertion") == "service-account-jwt-1");
  CHECK(requests.back().fields.at("client_assertion") == "service-account-jwt-2");
}

TEST_CASE("With Entra ID a failed token exchange is reported to librdkafka and retried until it succeeds") {
  EntraSetup setup;
  MockBroker broker(FW_MOCK_BROKER_BIN, 1, "entra", 1, setup.dir / "broker.log");
  setup.endpoint.Fail(1, 503);
  GatedHandler handler;
  auto created = source::kafka::KafkaSource::Create(setup.Options(broker), &handler);
  INFO(created.status().message());
  REQUIRE(created.ok());
  source::kafka::KafkaSource& source = **created;
  REQUIRE(WaitUntil([&] { return setup.endpoint.requests().size() >= 1; }, 5s));
  CHECK(source.tokens_set() == 0);
  REQUIRE(WaitUntil([&] { return source.tokens_set() >= 1; }, 20s));  // librdkafka asks again 10 s later
  CHECK(setup.endpoint.requests().size() == 2);
}

}  // namespace
}  // namespace flowwatch::testing
