// The Blob Storage source against Azurite (Microsoft's emulator) on
// 127.0.0.1, with blobs written by Microsoft's JavaScript SDK the way Azure
// writes PT1H.json (write_blobs.mjs): every record read once and whole,
// live appends followed (two blobs read at once), a blob listed as it was
// last read not read again, positions checkpointed and resumed, SharedKey and
// SAS accepted, a wrong key refused with a message that names the account and
// not the key, Storage down then up losing and repeating nothing, and between
// full listings only the hours that can still change listed, a deleted
// container forgetting nothing, and a 503 storm (through a proxy,
// fault_proxy.h) retried with Retry-After honoured. And the reader of the
// blobs Event Grid's BlobCreated events name (blob_events.h): events in both
// schemas, each blob's new whole records once, a refused message offered again
// as it was, positions resumed, a rewritten blob read again, other accounts'
// and containers' events never fetched, Storage down then up.
// Skipped (77) when the npm packages are not installed (scripts/test.sh
// installs them: npm ci in this folder).
#include <catch2/catch.hpp>

#include <mutex>
#include <set>

#include "lib/azure/blob_client.h"
#include "lib/source/blob/blob_events.h"
#include "lib/source/blob/blob_source.h"
#include "tests/integration/blob/azurite.h"
#include "tests/integration/blob/fault_proxy.h"

namespace flowwatch::testing {
namespace {

namespace fs = std::filesystem;
using source::SourceMessage;
using source::SourcePositions;

// Two NICs' hour blobs of six records each, in the VNet flow log layout.
void MakeBlobs(const std::string& src) {
  for (const char* mac : {"000D3A100001", "000D3A100002"}) {
    const std::string dir = src + "/flowLogResourceID=/SUB/NETWORKWATCHERRG/NETWORKWATCHER_EASTUS/FL/y=2026/m=12/d=07/"
                                  "h=04/m=00/macAddress=" + mac;
    fs::create_directories(dir);
    std::ofstream out(dir + "/PT1H.json");
    out << R"({"records":[)";
    for (int i = 0; i < 6; ++i) {
      out << (i ? "," : "") << R"({"time":"2026-12-07T04:0)" << i << R"(:00Z","macAddress":")" << mac
          << R"(","n":)" << i << R"(,"pad":")" << std::string(static_cast<size_t>(300 + i * 1000), 'x') << "\"}";
    }
    out << "]}";
  }
}

// One NIC's blob of hour h (0-9) on 2026-12-07, of n small records, in the VNet flow log layout.
void MakeBlob(const std::string& src, int h, const std::string& mac, int n) {
  const std::string dir = src + "/flowLogResourceID=/SUB/NETWORKWATCHERRG/NETWORKWATCHER_EASTUS/FL/y=2026/m=12/d=07/h=0" +
                          std::to_string(h) + "/m=00/macAddress=" + mac;
  fs::create_directories(dir);
  std::ofstream out(dir + "/PT1H.json");
  out << R"({"records":[)";
  for (int i = 0; i < n; ++i) {
    out << (i ? "," : "") << R"({"time":"2026-12-07T0)" << h << ":" << 10 + i << R"(:00Z","macAddress":")" << mac
        << R"(","n":)" << i << "}";
  }
  out << "]}";
}

// Applies every message at once and keeps them by partition.
class Recorder : public source::MessageHandler {
 public:
  bool Offer(SourceMessage& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    bodies_[m.partition].emplace_back(m.data, m.size);
    records_ += source::WholeRecords(std::string_view(m.data, m.size), 0, true, false, SIZE_MAX).records;
    done_.emplace_back(m.partition, m.offset + 1);
    return true;
  }
  void WaitForRoom(int32_t, std::chrono::milliseconds) override {}
  void CollectCompleted(std::vector<std::pair<int32_t, int64_t>>* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    out->insert(out->end(), done_.begin(), done_.end());
    done_.clear();
  }
  bool Drain(const std::vector<int32_t>&, std::chrono::milliseconds) override { return true; }
  void OnBacklog(int32_t, int64_t) override {}
  void OnAssigned(const std::vector<int32_t>&) override {}
  void OnRevoked(const std::vector<int32_t>&) override {}

  size_t records() {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }
  // The records delivered for each partition, as the text between a blob's
  // `{"records":[` and `]}`.
  std::vector<std::string> Texts() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [partition, bodies] : bodies_) {
      std::string t;
      for (const std::string& b : bodies) t += (t.empty() ? "" : ",") + b.substr(1, b.size() - 2);
      out.push_back(t);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::map<int32_t, std::vector<std::string>> bodies_;
  size_t records_ = 0;
  std::vector<std::pair<int32_t, int64_t>> done_;
};

std::shared_ptr<azure::BlobClient> Client(const std::string& connection_string, int attempts = 4) {
  Result<azure::BlobAccount> account = azure::ParseConnectionString(connection_string);
  REQUIRE(account.ok());
  azure::BlobClientOptions o;
  o.max_attempts = attempts;
  o.backoff = 100ms;
  o.timeout = 5s;
  return std::make_shared<azure::BlobClient>(*account, nullptr, o);
}

// A running blob source; stopped (its final checkpoint taken) with the object.
class Running {
 public:
  Running(source::BlobSourceOptions o, std::shared_ptr<azure::BlobClient> client, Recorder* r) {
    o.containers = {kContainer};
    o.poll_interval = 100ms;
    o.checkpoint = [this](const SourcePositions& p, bool) {
      std::lock_guard<std::mutex> lock(mu_);
      last_ = p;
    };
    auto created = source::BlobSource::Create(o, std::move(client), r);
    REQUIRE(created.ok());
    source_ = std::move(created).value();
    thread_ = std::thread([this] { status_ = source_->Run(stop_, {}); });
  }
  ~Running() { Stop(); }
  SourcePositions Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  source::ObjectFollower& source() { return *source_; }

 private:
  std::unique_ptr<source::ObjectFollower> source_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Status status_;
  std::mutex mu_;
  SourcePositions last_;
};


// Each blob's text between its head and trailer, as Storage has it now.
std::vector<std::string> StoredTexts(azure::BlobClient* client) {
  std::vector<azure::BlobItem> items;
  REQUIRE(client->List(kContainer, "", &items).ok());
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::string> out;
  for (const azure::BlobItem& item : items) {
    std::string body;
    REQUIRE(client->Get(kContainer, item.name, 0, static_cast<int64_t>(item.size), &body).ok());
    REQUIRE(body.size() == item.size);
    out.push_back(body.substr(12, body.size() - 14));
  }
  return out;
}

TEST_CASE("Blobs written as Azure writes them are read from Azurite whole and once, live appends followed, and resumed from the checkpoint") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  MakeBlobs(dir / "src");
  Azurite az(dir / "azurite");
  auto client = Client(az.connection_string());
  Write(az, dir / "src", 0, 3);

  Recorder r;
  SourcePositions at;
  const auto gets = [&] {
    uint64_t n = 0;
    for (const auto& [kind_status, count] : client->requests()) n += kind_status.first == "get" ? count : 0;
    return n;
  };
  {
    source::BlobSourceOptions o;
    o.parallel_reads = 4;  // the two blobs read at once
    Running run(o, client, &r);
    REQUIRE(WaitUntil([&] { return r.records() == 6; }, 20s));
    Write(az, dir / "src", 3, 5);  // live: two more minutes on each NIC
    REQUIRE(WaitUntil([&] { return r.records() == 10; }, 20s));
    CHECK(run.source().tracked() == 2);
    // Polls that list the blobs as they were last read read nothing.
    std::this_thread::sleep_for(300ms);
    const uint64_t before = gets();
    std::this_thread::sleep_for(500ms);
    CHECK(gets() == before);
    at = run.Stop();
  }
  CHECK(r.records() == 10);
  CHECK(r.Texts() == StoredTexts(client.get()));
  REQUIRE(at.files.size() == 2);
  std::vector<azure::BlobItem> items;
  REQUIRE(client->List(kContainer, "", &items).ok());
  for (const azure::BlobItem& item : items) {
    const std::string url = az.endpoint() + "/" + kContainer + "/" + item.name;
    REQUIRE(at.files.count(url) == 1);
    CHECK(at.files.at(url).bytes == static_cast<int64_t>(item.size) - 2);  // all but the `]}`
  }

  // Restarted from the checkpoint, after the last minute landed: only it.
  Write(az, dir / "src", 5, 6);
  source::BlobSourceOptions o;
  o.resume = at.files;
  Recorder again;
  {
    Running run(o, client, &again);
    REQUIRE(WaitUntil([&] { return again.records() == 2; }, 20s));
    std::this_thread::sleep_for(500ms);  // a few more polls: nothing else
  }
  CHECK(again.records() == 2);
  for (const std::string& t : again.Texts()) CHECK(t.rfind(R"({"time":"2026-12-07T04:05:00Z")", 0) == 0);
}

TEST_CASE("A wrong account key is refused with a message naming the account and what to check, never the key") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  MakeBlobs(dir / "src");
  Azurite az(dir / "azurite");
  Write(az, dir / "src", 0, 1);
  const std::string wrong = "AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKKKllllMMMMnnnnOOOOppppQQQQrrrrSSSStttt0000111122==";
  auto client = Client(az.connection_string(wrong));
  std::vector<azure::BlobItem> items;
  const Status s = client->List(kContainer, "", &items);
  REQUIRE(s.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("account devstoreaccount1") && Catch::Contains("HTTP 403") &&
                              Catch::Contains("AccountKey"));
  CHECK(s.message().find(wrong) == std::string::npos);
  CHECK(s.message().find("AAAAbbbb") == std::string::npos);
  // The right key, through a SAS-less SharedKey client, lists what was written.
  auto good = Client(az.connection_string());
  REQUIRE(good->List(kContainer, "", &items).ok());
  CHECK(items.size() == 2);
  const auto requests = good->requests();
  CHECK(requests.at({"list", "200"}) == 1);
}

TEST_CASE("Storage down, then up: the blob source loses and repeats nothing") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  MakeBlobs(dir / "src");
  auto az = std::make_unique<Azurite>(dir / "azurite");
  const int port = az->port();
  Write(*az, dir / "src", 0, 2);
  auto client = Client(az->connection_string(), 2);
  Recorder r;
  Running run({}, client, &r);
  REQUIRE(WaitUntil([&] { return r.records() == 4; }, 20s));
  az.reset();  // down
  const uint64_t errors = run.source().counters().errors.value();
  REQUIRE(WaitUntil([&] { return run.source().counters().errors.value() > errors; }, 20s));
  CHECK(run.source().not_ready() == "source.blob: the last listing failed (the log says why)");
  az = std::make_unique<Azurite>(dir / "azurite", port);  // up again, with the same data
  Write(*az, dir / "src", 2, 6);
  REQUIRE(WaitUntil([&] { return r.records() == 12; }, 30s));
  CHECK(run.source().not_ready().empty());
  std::this_thread::sleep_for(500ms);
  run.Stop();
  CHECK(r.records() == 12);
  CHECK(r.Texts() == StoredTexts(client.get()));
  const auto requests = client->requests();
  CHECK(requests.count({"list", "0"}) == 1);  // refused connections were counted as such
}

TEST_CASE("Between full listings only the hours that can still change are listed: a new NIC is found, an old hour is not") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  // NIC A's hours 04-06; NIC B's hour 04, of which 6 records of 12 now.
  for (int h : {4, 5, 6}) MakeBlob(dir / "a", h, "000D3A10000A", 6);
  MakeBlob(dir / "b", 4, "000D3A10000B", 12);
  Write(az, dir / "a", 0, 6, 6);
  Write(az, dir / "b", 0, 6, 6);
  auto client = Client(az.connection_string());
  Recorder r;
  SourcePositions at;
  {
    Running run({}, client, &r);  // full_list_interval: 10 minutes
    REQUIRE(WaitUntil([&] { return r.records() == 24; }, 20s));
    // Hour 04 is two before the newest: B's late records there are not
    // listed; C, a new NIC in hour 06, is.
    MakeBlob(dir / "c", 6, "000D3A10000C", 6);
    Write(az, dir / "b", 6, 12, 6);
    Write(az, dir / "c", 0, 6, 6);
    REQUIRE(WaitUntil([&] { return r.records() == 30; }, 20s));
    std::this_thread::sleep_for(1s);  // ten polls
    CHECK(r.records() == 30);
    CHECK(run.source().tracked() == 5);  // B's hour 04, not listed, is not forgotten
    at = run.Stop();
  }
  // Listed whole at every poll, from the checkpoint: B's late records, and only they.
  source::BlobSourceOptions o;
  o.full_list_interval = 0ms;
  o.resume = at.files;
  Recorder again;
  Running run(o, client, &again);
  REQUIRE(WaitUntil([&] { return again.records() == 6; }, 20s));
  std::this_thread::sleep_for(500ms);
  CHECK(again.records() == 6);
  CHECK(run.source().tracked() == 5);
}

TEST_CASE("A deleted container forgets no position and says so until it is back, then what it holds is read") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  MakeBlobs(dir / "src");
  Write(az, dir / "src", 0, 6, 6);
  auto client = Client(az.connection_string(), 1);
  Recorder r;
  Running run({}, client, &r);
  REQUIRE(WaitUntil([&] { return r.records() == 12 && run.source().not_ready().empty(); }, 20s));
  DeleteContainer(az);
  REQUIRE(WaitUntil([&] { return !run.source().not_ready().empty(); }, 20s));
  CHECK(run.source().not_ready() == "source.blob: the last listing failed (the log says why)");
  std::this_thread::sleep_for(500ms);
  CHECK(run.source().tracked() == 2);  // both positions kept while it cannot be listed
  CHECK(client->requests().count({"list", "404"}) == 1);  // the answers counted as such
  // Back, holding another NIC's blob only: the two are gone, the new one is read.
  MakeBlob(dir / "other", 4, "000D3A100003", 6);
  Write(az, dir / "other", 0, 6, 6);
  REQUIRE(WaitUntil([&] { return run.source().not_ready().empty() && r.records() == 18; }, 20s));
  std::this_thread::sleep_for(500ms);
  CHECK(run.source().tracked() == 1);
  run.Stop();
  CHECK(r.records() == 18);
}

TEST_CASE("A 503 storm: two requests in three answered Server Busy with Retry-After, every record read once") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  Azurite az(dir / "azurite");
  MakeBlobs(dir / "src");
  Write(az, dir / "src", 0, 6, 6);
  FaultProxy proxy(az.port());
  proxy.pass_every = 3;
  proxy.retry_after_s = 1;
  std::string through = az.connection_string();
  through.replace(through.find(std::to_string(az.port())), std::to_string(az.port()).size(), std::to_string(proxy.port()));
  auto client = Client(through);  // four tries a request, backoff from 100 ms
  Recorder r;
  Running run({}, client, &r);
  REQUIRE(WaitUntil([&] { return r.records() == 12; }, 40s));
  proxy.pass_every = 0;  // the storm is over
  std::this_thread::sleep_for(500ms);
  run.Stop();
  CHECK(r.records() == 12);
  CHECK(r.Texts() == StoredTexts(client.get()));
  const auto requests = client->requests();
  CHECK(requests.count({"list", "503"}) == 1);
  CHECK(requests.count({"get", "503"}) == 1);
  CHECK(run.source().counters().errors.value() == 0);  // retried within the request: no failed poll
  // Retry-After honoured: after each 503, the next request a second later (one reader: parallel_reads 1).
  const std::vector<FaultProxy::Seen> seen = proxy.seen();
  size_t busy = 0;
  for (size_t i = 0; i + 1 < seen.size(); ++i) {
    if (seen[i].status != 503) continue;
    ++busy;
    CHECK(seen[i + 1].at - seen[i].at >= 950ms);
  }
  CHECK(busy >= 6);
}


// Event Grid's BlobCreated event for a blob (as Event Grid delivers it to an
// Event Hub: an array of one event), or in the CloudEvents schema.
// Without a length, the event names none (the reader then reads to the end).
std::string Length(int64_t length) {
  return length < 0 ? std::string() : R"("contentLength":)" + std::to_string(length) + ",";
}
std::string EventGridEvent(const std::string& url, int64_t length = -1,
                           const std::string& type = "Microsoft.Storage.BlobCreated") {
  return R"([{"topic":"/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",)"
         R"("subject":"/blobServices/default/containers/c/blobs/b","eventType":")" + type +
         R"(","id":"6f4c","data":{"api":"PutBlockList","requestId":"r","eTag":"0x8D","contentType":"application/octet-stream",)" +
         Length(length) + R"("blobType":"BlockBlob","url":")" + url +
         R"(","sequencer":"0000000000000000000000000001","storageDiagnostics":{"batchId":"b"}},)"
         R"("dataVersion":"","metadataVersion":"1","eventTime":"2026-12-07T04:05:00Z"}])";
}
std::string CloudEvent(const std::string& url, int64_t length = -1) {
  return R"({"specversion":"1.0","type":"Microsoft.Storage.BlobCreated","source":"/subscriptions/SUB/resourceGroups/RG/)"
         R"(providers/Microsoft.Storage/storageAccounts/devstoreaccount1","id":"9a1b","time":"2026-12-07T04:05:00Z",)"
         R"("subject":"/blobServices/default/containers/c/blobs/b","data":{"api":"PutBlockList",)" + Length(length) +
         R"("blobType":"BlockBlob","url":")" + url + R"("}})";
}

TEST_CASE("BlobCreated events are told from other events and from records, in both schemas") {
  std::vector<source::BlobCreatedEvent> events;
  CHECK(source::ParseBlobCreatedEvents(EventGridEvent("https://a.blob.core.windows.net/c/x/PT1H.json", 1234), &events));
  REQUIRE(events.size() == 1);
  CHECK(events[0].url == "https://a.blob.core.windows.net/c/x/PT1H.json");
  CHECK(events[0].content_length == 1234);
  events.clear();
  CHECK(source::ParseBlobCreatedEvents(CloudEvent("https://a.blob.core.windows.net/c/y/PT1H.json", 99), &events));
  REQUIRE(events.size() == 1);
  CHECK(events[0].content_length == 99);
  events.clear();
  // Other events (left to the decoder), records, broken JSON and an event without a url name nothing to read.
  CHECK_FALSE(source::ParseBlobCreatedEvents(EventGridEvent("https://a/c/z", 5, "Microsoft.Storage.BlobDeleted"), &events));
  CHECK_FALSE(source::ParseBlobCreatedEvents(R"({"records":[{"time":"2026-12-07T04:05:00Z"}]})", &events));
  CHECK(source::ParseBlobCreatedEvents(EventGridEvent("https://a/c/z"), &events));
  REQUIRE(events.size() == 1);
  CHECK(events[0].content_length == -1);
  events.clear();
  CHECK_FALSE(source::ParseBlobCreatedEvents(R"([{"eventType":"Microsoft.Storage.BlobCreated")", &events));
  CHECK_FALSE(source::ParseBlobCreatedEvents(R"({"eventType":"Microsoft.Storage.BlobCreated","data":{}})", &events));
  CHECK(events.empty());
}

// Takes (or refuses) messages and keeps each one's text.
class Taker : public Recorder {
 public:
  bool Offer(SourceMessage& m) override {
    offers.emplace_back(m.data, m.size);
    if (refuse > 0) {
      --refuse;
      return false;
    }
    taken.push_back(offers.back());
    return Recorder::Offer(m);
  }
  int refuse = 0;
  std::vector<std::string> offers, taken;
};

// A message the reader built is `[` the event message's elements, then `,`
// and the records, `]`: the records' text (with its leading comma), and how
// many records it holds.
std::string RecordsText(const std::string& body, const std::string& event) {
  const std::string inner = event[0] == '[' ? event.substr(1, event.size() - 2) : event;
  REQUIRE(body.size() >= inner.size() + 2);
  REQUIRE(body.compare(1, inner.size(), inner) == 0);
  return body.substr(1 + inner.size(), body.size() - 2 - inner.size());
}
size_t RecordsIn(const std::string& body, const std::string& event) {
  const std::string text = RecordsText(body, event);
  if (text.empty()) return 0;
  std::string array = text;  // `,r1,r2` as `[r1,r2]`
  array[0] = '[';
  array.push_back(']');
  return source::WholeRecords(array, 0, true, false, SIZE_MAX).records;
}

TEST_CASE("A blob named by BlobCreated events is read once, its new whole records joining the event's message") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  MakeBlobs(dir / "src");
  Azurite az(dir / "azurite");
  auto client = Client(az.connection_string());
  Write(az, dir / "src", 0, 3);
  std::vector<azure::BlobItem> items;
  REQUIRE(client->List(kContainer, "", &items).ok());
  REQUIRE(items.size() == 2);
  const std::string url = client->Url(kContainer, items[0].name);
  const auto gets = [&] {
    uint64_t n = 0;
    for (const auto& [kind_status, count] : client->requests()) n += kind_status.first == "get" ? count : 0;
    return n;
  };
  const auto size_now = [&](const std::string& name) {
    std::vector<azure::BlobItem> now;
    REQUIRE(client->List(kContainer, "", &now).ok());
    for (const azure::BlobItem& i : now) {
      if (i.name == name) return static_cast<int64_t>(i.size);
    }
    return int64_t{-1};
  };

  Taker t;
  source::BlobEventOptions o;
  o.containers = {kContainer};
  o.retry_interval = 100ms;
  source::FilePosition after3;
  std::string first, ce;  // the events of the last two minutes
  {
    source::BlobEventReader reader(o, client, &t);
    std::string ev = EventGridEvent(url, size_now(items[0].name));
    SourceMessage m{0, 7, ev.data(), ev.size(), std::make_shared<int>(0)};
    REQUIRE(reader.Offer(m));
    CHECK_FALSE(m.owner);  // taken
    REQUIRE(t.taken.size() == 1);
    CHECK(RecordsIn(t.taken[0], ev) == 3);
    CHECK(RecordsText(t.taken[0], ev).rfind(",{\"time\":\"2026-12-07T04:00:00Z\"", 0) == 0);  // its event, then the records
    CHECK(reader.counters().followed.value() == 1);
    after3 = reader.positions().at(url);

    // The same event again (Event Grid delivers at least once): nothing new, and no request.
    const uint64_t before_again = gets();
    SourceMessage again{0, 8, ev.data(), ev.size(), std::make_shared<int>(0)};
    REQUIRE(reader.Offer(again));
    CHECK(RecordsIn(t.taken[1], ev) == 0);
    CHECK(gets() == before_again);

    // Two more minutes, committed one at a time: the first commit's event
    // reads only its record, even when the blob has grown since.
    Write(az, dir / "src", 3, 4);
    const int64_t at4 = size_now(items[0].name);
    Write(az, dir / "src", 4, 5);
    first = CloudEvent(url, at4);
    SourceMessage one{1, 2, first.data(), first.size(), std::make_shared<int>(0)};
    REQUIRE(reader.Offer(one));
    CHECK(RecordsIn(t.taken[2], first) == 1);
    // Two commits' events in one message: both commits, once.
    {
      Taker both;
      source::BlobEventOptions o2 = o;
      o2.resume = {{url, after3}};
      source::BlobEventReader twice(o2, client, &both);
      std::string two(1, '[');
      two.append(first).append(",").append(CloudEvent(url, size_now(items[0].name))).push_back(']');
      SourceMessage tm{5, 1, two.data(), two.size(), std::make_shared<int>(0)};
      REQUIRE(twice.Offer(tm));
      CHECK(source::WholeRecords(both.taken[0], 0, true, false, SIZE_MAX).records == 2 + 2);  // two events, two records
    }
    // The pipeline refuses the next once: offered again as it was, the position moved only once taken.
    const source::FilePosition after4 = reader.positions().at(url);
    ce = CloudEvent(url, size_now(items[0].name));
    t.refuse = 1;
    SourceMessage next{1, 3, ce.data(), ce.size(), std::make_shared<int>(0)};
    CHECK_FALSE(reader.Offer(next));
    CHECK(reader.positions().at(url) == after4);
    const uint64_t before = gets();
    REQUIRE(reader.Offer(next));
    CHECK(gets() == before);  // not read again
    REQUIRE(t.offers.size() == 5);
    CHECK(t.offers[3] == t.offers[4]);
    CHECK(RecordsIn(t.taken[3], ce) == 1);
    CHECK(reader.positions().at(url).bytes > after4.bytes);

    // Other accounts', containers' and names' events cost no request; records pass through untouched.
    const uint64_t before_others = gets();
    for (const std::string& other :
         {std::string("https://evil.example.com/devstoreaccount1/") + kContainer + "/x/PT1H.json",
          client->Url("other", items[0].name), client->Url(kContainer, "notes/readme.txt")}) {
      std::string e = EventGridEvent(other, 100000);
      SourceMessage om{2, 1, e.data(), e.size(), std::make_shared<int>(0)};
      REQUIRE(reader.Offer(om));
      CHECK(RecordsText(t.taken.back(), e).empty());
    }
    CHECK(gets() == before_others);
    CHECK(reader.counters().ignored.value() == 3);
    std::string records = R"({"records":[{"time":"2026-12-07T04:05:00Z"}]})";
    SourceMessage rm{2, 2, records.data(), records.size(), std::make_shared<int>(0)};
    REQUIRE(reader.Offer(rm));
    CHECK(t.taken.back() == records);
  }

  // Resumed at the first position (a checkpoint taken after the first event): only what came after it.
  {
    Taker t2;
    o.resume = {{url, after3}};
    source::BlobEventReader reader(o, client, &t2);
    std::string ev = EventGridEvent(url, size_now(items[0].name));
    SourceMessage m{0, 9, ev.data(), ev.size(), std::make_shared<int>(0)};
    REQUIRE(reader.Offer(m));
    CHECK(RecordsIn(t2.taken[0], ev) == 2);
    CHECK(RecordsText(t2.taken[0], ev) == RecordsText(t.taken[2], first) + RecordsText(t.taken[3], ce));
  }

  // Rewritten with other bytes: read again from its start. Gone: skipped.
  {
    Taker t3;
    o.resume = {{url, after3}};
    source::BlobEventReader reader(o, client, &t3);
    fs::remove_all(dir / "src");
    MakeBlob(dir / "src2", 4, "000D3A100009", 80);  // longer than the position it is resumed at
    DeleteContainer(az);
    Write(az, dir / "src2", 0, 80, 80);
    std::vector<azure::BlobItem> now;
    REQUIRE(client->List(kContainer, "", &now).ok());
    REQUIRE(now.size() == 1);
    const std::string url2 = client->Url(kContainer, now[0].name);
    o.resume = {{url2, after3}};  // as if it had been read to there before it was rewritten
    source::BlobEventReader rewritten(o, client, &t3);
    REQUIRE(static_cast<int64_t>(now[0].size) > after3.bytes);
    std::string ev = EventGridEvent(url2, static_cast<int64_t>(now[0].size));
    SourceMessage m{0, 1, ev.data(), ev.size(), std::make_shared<int>(0)};
    REQUIRE(rewritten.Offer(m));
    CHECK(RecordsIn(t3.taken[0], ev) == 80);
    CHECK(rewritten.counters().rewritten.value() == 1);
    std::string gone = EventGridEvent(url);
    SourceMessage g{0, 2, gone.data(), gone.size(), std::make_shared<int>(0)};
    REQUIRE(reader.Offer(g));
    CHECK(RecordsIn(t3.taken[1], gone) == 0);
    CHECK(reader.counters().missing.value() == 1);
  }
}

TEST_CASE("Storage down or the key refused: a BlobCreated event's message is refused and tried again, then read once Storage is back") {
  if (!HaveNode()) std::exit(77);
  TempDir dir;
  fs::create_directories(dir / "azurite");
  MakeBlobs(dir / "src");
  auto az = std::make_unique<Azurite>(dir / "azurite");
  const int port = az->port();
  Write(*az, dir / "src", 0, 2);
  auto client = Client(az->connection_string(), 1);
  std::vector<azure::BlobItem> items;
  REQUIRE(client->List(kContainer, "", &items).ok());
  const std::string url = client->Url(kContainer, items[0].name);
  az.reset();
  Taker t;
  source::BlobEventOptions o;
  o.containers = {kContainer};
  o.retry_interval = 300ms;
  source::BlobEventReader reader(o, client, &t);
  std::string ev = EventGridEvent(url);
  SourceMessage m{0, 1, ev.data(), ev.size(), std::make_shared<int>(0)};
  CHECK_FALSE(reader.Offer(m));
  CHECK(t.offers.empty());  // nothing reached the pipeline
  CHECK(reader.counters().retried.value() == 1);
  CHECK(reader.failing());
  CHECK_FALSE(reader.Offer(m));  // within the retry interval: not even tried
  CHECK(reader.counters().retried.value() == 1);
  const auto t0 = std::chrono::steady_clock::now();
  reader.WaitForRoom(0, 5s);  // waits out the retry interval
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);
  az = std::make_unique<Azurite>(dir / "azurite", port);
  // The wrong key: refused, and tried again; the pipeline sees nothing.
  Taker refused;
  const std::string wrong = "AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKKKllllMMMMnnnnOOOOppppQQQQrrrrSSSStttt0000111122==";
  source::BlobEventReader with_wrong_key(o, Client(az->connection_string(wrong), 1), &refused);
  CHECK_FALSE(with_wrong_key.Offer(m));
  CHECK(with_wrong_key.failing());
  CHECK(refused.offers.empty());
  REQUIRE(reader.Offer(m));
  CHECK(RecordsIn(t.taken[0], ev) == 2);
  CHECK_FALSE(reader.failing());
}

}  // namespace
}  // namespace flowwatch::testing
