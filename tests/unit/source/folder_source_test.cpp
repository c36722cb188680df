// FolderSource and its record scanner: whole records only, Azure's block
// layout growing in place, positions and their checks. The pipeline here is a
// handler that applies what it is offered at once and records it; the whole
// daemon over a followed folder is tests/integration/kafka/folder_test.cpp.
#include "lib/source/file/folder_source.h"

#include "lib/decode/decoder.h"

#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace flowwatch::source {
namespace {

namespace fs = std::filesystem;

TEST_CASE("Whole records: the blob's head is skipped, a record still being written waits, the trailer ends them") {
  const std::string blob = R"({"records":[{"a":"}{"},{"b":[1,{"c":"\"]"}]}]})";
  RecordSpan s = WholeRecords(blob, 0, true, false, 1 << 20);
  CHECK(s.records == 2);
  CHECK(blob.substr(s.first, s.end - s.first) == R"({"a":"}{"},{"b":[1,{"c":"\"]"}]})");
  // From the end of the last record: nothing until more is written.
  CHECK(WholeRecords(blob, s.end, false, false, 1 << 20).records == 0);
  // Cut anywhere inside the second record: only the first is whole.
  const std::string cut = blob.substr(0, blob.find("[1,") + 5);
  s = WholeRecords(cut, 0, true, false, 1 << 20);
  CHECK(s.records == 1);
  CHECK(cut.substr(s.first, s.end - s.first) == R"({"a":"}{"})");
  // A head not yet complete: nothing.
  CHECK(WholeRecords(R"({"reco)", 0, true, false, 1 << 20).records == 0);
  // A bare array, and a bare record.
  CHECK(WholeRecords(R"([{"x":1}, {"y":2}])", 0, true, false, 1 << 20).records == 2);
  CHECK(WholeRecords(R"({"time":"t","properties":{}})", 0, true, false, 1 << 20).records == 1);
  // A stray character is a value of its own (the decoder counts it as bad),
  // so that a scan always moves on: a hang found by fuzzing.
  CHECK(WholeRecords("[}", 0, true, false, 1 << 20).records == 0);  // not complete: it may continue
  CHECK(WholeRecords(R"({"records":[{"a":1}}]})", 0, true, false, 1 << 20).records == 2);
  // Mid-file (not at its start), the text begins with the separator.
  CHECK(WholeRecords(R"(,{"x":1}]})", 0, false, false, 1 << 20).records == 1);
}

TEST_CASE("Whole records: at most max_bytes a message (at least one), and NDJSON by whole lines") {
  const std::string blob = R"({"records":[{"r":1111},{"r":2222},{"r":3333}]})";
  // {"r":1111},{"r":2222} is 21 bytes.
  CHECK(WholeRecords(blob, 0, true, false, 21).records == 2);
  CHECK(WholeRecords(blob, 0, true, false, 20).records == 1);
  const RecordSpan one = WholeRecords(blob, 0, true, false, 5);
  CHECK(one.records == 1);  // one record even when it alone is larger
  const RecordSpan rest = WholeRecords(blob, one.end, false, false, 1 << 20);
  CHECK(rest.records == 2);
  CHECK(blob.substr(rest.first, rest.end - rest.first) == R"({"r":2222},{"r":3333})");
  const std::string nd = "{\"a\":1}\n{\"b\":2}\n{\"c\":";
  const RecordSpan lines = WholeRecords(nd, 0, true, true, 1 << 20);
  CHECK(lines.records == 2);
  CHECK(lines.end == nd.rfind('\n') + 1);
}

// Applies every message at once and keeps what it was offered.
class Recorder : public MessageHandler {
 public:
  bool Offer(SourceMessage& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    bodies.emplace_back(m.data, m.size);
    done_.emplace_back(m.partition, m.offset + 1);
    assigned_seen.insert(m.partition);
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
  void OnAssigned(const std::vector<int32_t>& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    assigned += p.size();
  }
  void OnRevoked(const std::vector<int32_t>& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    revoked += p.size();
  }
  std::vector<std::string> Bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies;
  }
  size_t Revoked() {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked;
  }

  std::vector<std::string> bodies;
  std::set<int32_t> assigned_seen;
  size_t assigned = 0, revoked = 0;

 private:
  std::mutex mu_;
  std::vector<std::pair<int32_t, int64_t>> done_;
};

struct Folder {
  Folder() : root(fs::temp_directory_path() / ("fw-folder-source-" + std::to_string(::getpid()))) {
    fs::remove_all(root);
    fs::create_directories(root / "y=2021/m=05/d=03/h=00/m=00");
  }
  ~Folder() { fs::remove_all(root); }
  std::string blob() const { return (root / "y=2021/m=05/d=03/h=00/m=00/PT1H.json").string(); }
  fs::path root;
};

// What spdlog logs while it lives (the default logger swapped for one that
// writes here), restored when it goes.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string str() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
};

// Runs the source until pred holds (or 10 s), then stops it; the positions of
// its final checkpoint, and in *backlog what it last measured.
SourcePositions RunUntil(FolderSourceOptions o, Recorder* r, const std::function<bool()>& pred,
                         ObjectFollower::Backlog* backlog = nullptr) {
  SourcePositions last;
  o.poll_interval = std::chrono::milliseconds(20);
  o.checkpoint = [&](const SourcePositions& p, bool) { last = p; };
  auto source = FolderSource::Create(o, r);
  REQUIRE(source.ok());
  std::atomic<bool> stop{false};
  std::thread t([&] { REQUIRE((*source)->Run(stop, {}).ok()); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  t.join();
  if (backlog) *backlog = (*source)->backlog();
  return last;
}

TEST_CASE("A blob growing as Azure writes it is read record by record, each once, and its position checkpointed") {
  Folder dir;
  { std::ofstream(dir.blob()) << R"({"records":[{"n":1},{"n":2)"; }  // the second record half written
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  Recorder r;
  SourcePositions at = RunUntil(o, &r, [&] { return r.Bodies().size() == 1; });
  REQUIRE(r.Bodies() == std::vector<std::string>{R"([{"n":1}])"});
  REQUIRE(at.files.size() == 1);
  CHECK(at.files.begin()->second.bytes == static_cast<int64_t>(std::string(R"({"records":[{"n":1})").size()));

  // Completed, the trailer written, then the next minute's record before it.
  { std::ofstream(dir.blob()) << R"({"records":[{"n":1},{"n":2}]})"; }
  o.resume = at.files;
  Recorder r2;
  at = RunUntil(o, &r2, [&] { return r2.Bodies().size() == 1; });
  CHECK(r2.Bodies() == std::vector<std::string>{R"([{"n":2}])"});
  {
    std::fstream f(dir.blob(), std::ios::in | std::ios::out);
    f.seekp(-2, std::ios::end);
    f << R"(,{"n":3}]})";
  }
  o.resume = at.files;
  Recorder r3;
  at = RunUntil(o, &r3, [&] { return r3.Bodies().size() == 1; });
  CHECK(r3.Bodies() == std::vector<std::string>{R"([{"n":3}])"});
  CHECK(at.files.begin()->second.bytes == static_cast<int64_t>(fs::file_size(dir.blob())) - 2);
}

TEST_CASE("A checkpoint none of whose positions names a file listed now is said so, not silently read again") {
  Folder dir;
  { std::ofstream(dir.blob()) << R"({"records":[{"n":1}]})"; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  Recorder r;
  const SourcePositions at = RunUntil(o, &r, [&] { return r.Bodies().size() == 1; });
  REQUIRE(at.files.size() == 1);
  // The folder moved: the same file under another name.
  const fs::path moved = dir.root.string() + "-moved";
  fs::remove_all(moved);
  fs::rename(dir.root, moved);
  o.folders = {moved.string()};
  o.resume = at.files;
  Recorder r2;
  std::string captured;
  {
    CapturedLog log;
    RunUntil(o, &r2, [&] { return r2.Bodies().size() == 1; });
    captured = log.str();
  }
  fs::rename(moved, dir.root);
  CHECK(r2.Bodies() == std::vector<std::string>{R"([{"n":1}])"});  // read from its start
  INFO(captured);
  CHECK(captured.find("none of the checkpoint's 1 positions names an object listed now (the checkpoint has " +
                      at.files.begin()->first) != std::string::npos);
  // Where the names match, nothing is said.
  o.folders = {dir.root.string()};
  Recorder r3;
  std::string quiet;
  {
    CapturedLog log;
    RunUntil(o, &r3, [&] { return r3.assigned >= 1; });  // listed, and taken up where it was left
    quiet = log.str();
  }
  CHECK(r3.assigned >= 1);
  CHECK(r3.Bodies().empty());
  CHECK(quiet.find("none of the checkpoint's") == std::string::npos);
}

TEST_CASE("A blob is read in chunks: records across a chunk's end, or larger than one, come out whole and once") {
  Folder dir;
  std::string blob = "{\"records\":[";
  std::vector<std::string> records;
  for (int i = 0; i < 40; ++i) {
    records.push_back("{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(static_cast<size_t>(i * 7 % 90), 'x') + "\"}");
    blob += (i ? "," : "") + records.back();
  }
  blob += "]}";
  { std::ofstream(dir.blob()) << blob; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  o.read_chunk_bytes = 64;  // smaller than most records
  o.max_message_bytes = 1;  // a record a message
  Recorder r;
  const SourcePositions at = RunUntil(o, &r, [&] { return r.Bodies().size() >= records.size(); });
  std::vector<std::string> expected;
  for (const std::string& rec : records) expected.push_back("[" + rec + "]");
  CHECK(r.Bodies() == expected);
  CHECK(at.files.begin()->second.bytes == static_cast<int64_t>(blob.size()) - 2);
}

// The bad_json count the real decoder gives a body.
uint64_t BadJson(const std::string& body) {
  struct Discard : decode::FlowSink {
    void OnFlows(std::span<FlowRecord>) override {}
  } sink;
  NameTables names;
  decode::Decoder decoder({}, &names);
  decoder.Decode(body, &sink);
  return decoder.stats().errors[static_cast<size_t>(decode::DecodeError::kBadJson)];
}

TEST_CASE("A record longer than max_record_bytes is stepped over alone: its first bytes counted bad_json, its neighbours read") {
  Folder dir;
  const std::string big = R"({"big":")" + std::string(300, 'x') + R"(\"}{[\\"})";  // an escaped quote, a backslash
  const std::string blob = R"({"records":[{"n":1},)" + big + R"(,{"n":3}]})";
  { std::ofstream(dir.blob()) << blob; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  o.read_chunk_bytes = 16;
  o.max_record_bytes = 64;
  Recorder r;
  const SourcePositions at = RunUntil(o, &r, [&] { return r.Bodies().size() >= 3; });
  const std::vector<std::string> bodies = r.Bodies();
  REQUIRE(bodies.size() == 3);
  CHECK(bodies[0] == R"([{"n":1}])");
  // What the read held when the record passed 64 bytes: from its start to byte 19 + 64.
  CHECK(bodies[1] == "[" + blob.substr(20, 63) + "]");
  CHECK(BadJson(bodies[1]) == 1);
  CHECK(bodies[2] == R"([{"n":3}])");
  CHECK(at.files.begin()->second.bytes == static_cast<int64_t>(blob.size()) - 2);
}

TEST_CASE("A record longer than max_record_bytes still being written waits, and is stepped over once it ends") {
  Folder dir;
  const std::string head = R"({"records":[{"n":1},{"big":")" + std::string(200, 'x');
  { std::ofstream(dir.blob()) << head; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  o.read_chunk_bytes = 16;
  o.max_record_bytes = 64;
  Recorder r;
  std::optional<std::chrono::steady_clock::time_point> first;
  SourcePositions at = RunUntil(o, &r, [&] {
    if (!first && !r.Bodies().empty()) first = std::chrono::steady_clock::now();
    return first && std::chrono::steady_clock::now() - *first > std::chrono::milliseconds(300);  // ~15 polls
  });
  CHECK(r.Bodies() == std::vector<std::string>{R"([{"n":1}])"});
  { std::ofstream(dir.blob(), std::ios::app) << R"("},{"n":3}]})"; }
  o.resume = at.files;
  Recorder r2;
  RunUntil(o, &r2, [&] { return r2.Bodies().size() >= 2; });
  REQUIRE(r2.Bodies().size() == 2);
  CHECK(BadJson(r2.Bodies()[0]) == 1);
  CHECK(r2.Bodies()[1] == R"([{"n":3}])");
}

TEST_CASE("A record cut short at the end of an hour its NIC has moved on from is counted bad_json, and the hour retires") {
  Folder dir;
  const auto path = [&](const char* hour) {
    const fs::path p = dir.root / ("y=2021/m=05/d=03/h=" + std::string(hour) + "/m=00/macAddress=A/PT1H.json");
    fs::create_directories(p.parent_path());
    return p;
  };
  const std::string cut = R"({"records":[{"n":1},{"n":2,"cut)";
  { std::ofstream(path("00")) << cut; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  o.idle_timeout = std::chrono::seconds(30);  // never, here
  Recorder r;
  const SourcePositions at = RunUntil(o, &r, [&] {
    const size_t read = r.Bodies().size();
    if (read == 1) {
      std::ofstream(path("01")) << R"({"records":[{"n":3}]})";  // the NIC's next hour
    }
    return read >= 3 && r.Revoked() >= 1;
  });
  const std::vector<std::string> bodies = r.Bodies();
  REQUIRE(bodies.size() == 3);
  CHECK(bodies[0] == R"([{"n":1}])");
  CHECK(bodies[1] == R"([{"n":2,"cut])");  // before the next hour's reads, as a retirement is
  CHECK(BadJson(bodies[1]) == 1);
  CHECK(bodies[2] == R"([{"n":3}])");
  CHECK(r.Revoked() >= 1);  // hour 00, no longer holding event time back
  CHECK(at.files.at(path("00").string()).bytes == static_cast<int64_t>(cut.size()));
}

TEST_CASE("Read ahead on four threads, the same messages come out in the same order as read one after another") {
  Folder dir;
  size_t total = 0;
  for (int h = 0; h < 3; ++h) {
    for (int nic = 0; nic < 10; ++nic) {
      const fs::path d = dir.root / ("y=2021/m=05/d=03/h=0" + std::to_string(h) + "/m=00/macAddress=" + std::to_string(nic));
      fs::create_directories(d);
      std::ofstream out(d / "PT1H.json");
      out << "{\"records\":[";
      for (int i = 0; i < 5; ++i) {
        out << (i ? "," : "") << "{\"h\":" << h << ",\"nic\":" << nic << ",\"n\":" << i << ",\"pad\":\""
            << std::string(static_cast<size_t>((h * 31 + nic * 7 + i * 13) % 200), 'x') << "\"}";
        ++total;
      }
      out << "]}";
    }
  }
  auto read = [&](int parallel) {
    FolderSourceOptions o;
    o.folders = {dir.root.string()};
    o.parallel_reads = parallel;
    o.read_chunk_bytes = 256;  // several reads a file: only the first is made ahead
    o.max_message_bytes = 1;   // a record a message
    Recorder r;
    RunUntil(o, &r, [&] { return r.Bodies().size() >= total; });
    return r.Bodies();
  };
  const std::vector<std::string> serial = read(1);
  REQUIRE(serial.size() == total);
  CHECK(read(4) == serial);
}

TEST_CASE("A checkpoint's position whose bytes changed is read again from the start, and the same bytes read on") {
  Folder dir;
  { std::ofstream(dir.blob()) << R"({"records":[{"n":1},{"n":2}]})"; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  Recorder r;
  const SourcePositions at = RunUntil(o, &r, [&] { return r.Bodies().size() == 1; });
  // Replaced by the same bytes plus one more record: only the new one.
  { std::ofstream(dir.blob() + ".tmp") << R"({"records":[{"n":1},{"n":2},{"n":3}]})"; }
  fs::rename(dir.blob() + ".tmp", dir.blob());
  o.resume = at.files;
  Recorder same;
  RunUntil(o, &same, [&] { return same.Bodies().size() == 1; });
  CHECK(same.Bodies() == std::vector<std::string>{R"([{"n":3}])"});
  // Rewritten with other bytes: the whole file again.
  { std::ofstream(dir.blob()) << R"({"records":[{"n":9},{"n":8},{"n":7}]})"; }
  Recorder other;
  RunUntil(o, &other, [&] { return other.Bodies().size() == 1; });
  CHECK(other.Bodies() == std::vector<std::string>{R"([{"n":9},{"n":8},{"n":7}])"});
}

TEST_CASE("A file rewritten with other bytes while followed is read again from its start, even when it grew") {
  Folder dir;
  { std::ofstream(dir.blob()) << R"({"records":[{"n":1}]})"; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  Recorder r;
  std::atomic<bool> rewritten{false};
  RunUntil(o, &r, [&] {
    if (r.Bodies().size() == 1 && !rewritten.exchange(true)) {
      std::ofstream(dir.blob()) << R"({"records":[{"n":9},{"n":8}]})";  // in place: the same inode, longer
    }
    return r.Bodies().size() == 2;
  });
  // Read on from the old position, it would have given [{"n":8}].
  CHECK(r.Bodies() == std::vector<std::string>{R"([{"n":1}])", R"([{"n":9},{"n":8}])"});
}

TEST_CASE("A .gz file is read whole once its size holds still, and a folder that is not one is refused by name") {
  Folder dir;
  const std::string gz = (dir.root / "y=2021/m=05/d=03/h=00/m=00/PT1H.json.gz").string();
  { std::ofstream(gz, std::ios::binary) << std::string("\x1f\x8b not really gzip", 18); }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  Recorder r;
  const SourcePositions at = RunUntil(o, &r, [&] { return r.Bodies().size() == 1; });
  CHECK(r.Bodies().size() == 1);
  CHECK(r.Bodies()[0].size() == 18);
  CHECK(at.files.at(gz).bytes == 18);
  o.folders = {(dir.root / "missing").string()};
  Recorder none;
  auto refused = FolderSource::Create(o, &none);
  REQUIRE(!refused.ok());
  CHECK(refused.status().message() == "source.files: " + (dir.root / "missing").string() + " is not a folder");
}

TEST_CASE("A file read to its end and still for idle_timeout is retired, and taken up again when it grows") {
  Folder dir;
  { std::ofstream(dir.blob()) << R"({"records":[{"n":1}]})"; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  o.idle_timeout = std::chrono::milliseconds(100);
  Recorder r;
  std::atomic<bool> grown{false};
  RunUntil(o, &r, [&] {
    if (r.revoked == 1 && !grown.exchange(true)) {
      std::fstream f(dir.blob(), std::ios::in | std::ios::out);
      f.seekp(-2, std::ios::end);
      f << R"(,{"n":2}]})";
    }
    return r.Bodies().size() == 2 && r.revoked == 2;
  });
  CHECK(r.Bodies() == std::vector<std::string>{R"([{"n":1}])", R"([{"n":2}])"});
  CHECK(r.assigned == 2);
  CHECK(r.revoked == 2);
}

TEST_CASE("A NIC's hour holds event time until that NIC's next hour begins, or the newest hour is two on") {
  Folder dir;
  const auto write = [&](const char* hour, const char* nic, int n) {
    const fs::path p = dir.root / ("y=2021/m=05/d=03/h=" + std::string(hour) + "/m=00/macAddress=" + nic + "/PT1H.json");
    fs::create_directories(p.parent_path());
    std::ofstream(p) << R"({"records":[{"n":)" << n << "}]}";
  };
  write("00", "A", 1);
  write("00", "B", 2);
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  o.idle_timeout = std::chrono::seconds(30);  // never, here
  Recorder r;
  // The revocations seen once each blob was read (Retire runs before an hour's reads).
  std::vector<size_t> revoked;
  ObjectFollower::Backlog backlog;
  RunUntil(
      o, &r,
      [&] {
        const size_t read = r.Bodies().size();
        if (read != revoked.size() + 2) return read >= 5;
        revoked.push_back(r.Revoked());
        if (read == 2) write("01", "A", 3);  // A's next hour: A's first is over, B's is not
        if (read == 3) write("01", "B", 4);  // and now B's
        if (read == 4) write("03", "A", 5);  // two hours on: B's second is over too, though B has no third
        return false;
      },
      &backlog);
  CHECK(r.Bodies() == std::vector<std::string>{R"([{"n":1}])", R"([{"n":2}])", R"([{"n":3}])", R"([{"n":4}])",
                                               R"([{"n":5}])"});
  CHECK(revoked == std::vector<size_t>{0, 1, 2, 4});
  // B, with nothing in hour 03 nor 02, shows as silent.
  CHECK(backlog.tracked == 5);
  CHECK(backlog.streams == 2);
  CHECK(backlog.streams_silent == 1);
  CHECK(backlog.bytes_behind == 0);
  CHECK(backlog.oldest_unread_ms == -1);
}

TEST_CASE("After a restart a NIC's blob read to its end still holds event time, as it did before, until it retires") {
  Folder dir;
  const auto path = [&](const char* nic) {
    const fs::path p = dir.root / ("y=2021/m=05/d=03/h=00/m=00/macAddress=" + std::string(nic) + "/PT1H.json");
    fs::create_directories(p.parent_path());
    return p.string();
  };
  { std::ofstream(path("A")) << R"({"records":[{"n":1}]})"; }
  { std::ofstream(path("B")) << R"({"records":[{"n":2}]})"; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  o.idle_timeout = std::chrono::seconds(30);  // never, here
  Recorder r;
  o.resume = RunUntil(o, &r, [&] { return r.Bodies().size() == 2; }).files;
  REQUIRE(o.resume.size() == 2);
  // Restarted: A has grown, B has not (yet). Both join: B's next records
  // must not be late for the buckets A's close.
  {
    std::fstream f(path("A"), std::ios::in | std::ios::out);
    f.seekp(-2, std::ios::end);
    f << R"(,{"n":3}]})";
  }
  Recorder r2;
  RunUntil(o, &r2, [&] { return r2.Bodies().size() == 1; });
  CHECK(r2.Bodies() == std::vector<std::string>{R"([{"n":3}])"});
  CHECK(r2.assigned == 2);
  CHECK(r2.revoked == 0);
}

TEST_CASE("Bytes listed and not yet read (a record still being written) are measured, and how long they have waited") {
  Folder dir;
  const std::string partial = R"({"n":2,"text":"a record still being written)";
  { std::ofstream(dir.blob()) << R"({"records":[{"n":1},)" << partial; }
  FolderSourceOptions o;
  o.folders = {dir.root.string()};
  Recorder r;
  ObjectFollower::Backlog backlog;
  const auto before = std::chrono::steady_clock::now();
  RunUntil(o, &r, [&] { return std::chrono::steady_clock::now() - before > std::chrono::milliseconds(600); }, &backlog);
  CHECK(r.Bodies() == std::vector<std::string>{R"([{"n":1}])"});
  CHECK(backlog.tracked == 1);
  CHECK(backlog.streams == 1);
  CHECK(backlog.bytes_behind == static_cast<int64_t>(partial.size()) + 1);  // and the comma before it
  const int64_t since = std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count();
  CHECK(backlog.oldest_unread_ms >= since);
  CHECK(backlog.oldest_unread_ms < since + 500);  // since the first poll, not the last
}

}  // namespace
}  // namespace flowwatch::source
