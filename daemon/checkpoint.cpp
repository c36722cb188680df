#include "daemon/checkpoint.h"

#include <thread>

#include "lib/common/logging.h"

#include "lib/state/codec.h"
#include "lib/state/id_remap.h"

namespace flowwatch::app {
namespace {

void SaveNames(const StringInterner& table, state::Writer* w) {
  const uint32_t n = table.size();
  w->Put<uint32_t>(n);
  for (uint32_t id = 0; id < n; ++id) w->Bytes(table.Get(id));
}

// Interns the saved names; remap gets old id -> new id.
void LoadNames(state::Reader* r, StringInterner* table, std::vector<uint32_t>* remap) {
  const uint64_t n = r->Get<uint32_t>();
  if (n > r->remaining() / 4) r->Fail("a name table of " + std::to_string(n));
  for (uint64_t id = 0; id < n && r->ok(); ++id) {
    const std::string_view name = r->Bytes();
    // The reserved ids ("" and the overflow name) stay themselves.
    remap->push_back(id <= StringInterner::kOverflowId ? static_cast<uint32_t>(id) : table->Intern(name));
  }
}

}  // namespace

state::Checkpoint BuildCheckpoint(uint64_t sequence, const CheckpointMeta& meta, const NameTables& names,
                                  const std::vector<const ShardPipeline*>& shards, const AlertWriter& alerts) {
  state::Checkpoint c;
  c.sequence = sequence;
  c.created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  std::string m;
  state::Writer mw(&m);
  mw.Put<uint32_t>(static_cast<uint32_t>(shards.size()));
  mw.Bytes(meta.topic);
  mw.Put<uint64_t>(meta.offsets.size());
  for (const auto& [p, next] : meta.offsets) {
    mw.Put<int32_t>(p);
    mw.Put<int64_t>(next);
  }
  c.Add("meta", std::move(m));
  if (!meta.files.empty()) {
    std::string f;
    state::Writer fw(&f);
    fw.Put<uint64_t>(meta.files.size());
    for (const auto& [path, at] : meta.files) {
      fw.Bytes(path);
      fw.Put<int64_t>(at.bytes);
      fw.Put<uint64_t>(at.hash);
    }
    c.Add("files", std::move(f));
  }
  if (meta.max_event_ms != INT64_MIN) {
    std::string t;
    state::Writer tw(&t);
    tw.Put<int64_t>(meta.max_event_ms);
    c.Add("frontier", std::move(t));
  }
  std::string n;
  state::Writer nw(&n);
  SaveNames(names.vms, &nw);
  SaveNames(names.rules, &nw);
  c.Add("names", std::move(n));
  std::vector<std::string> saved(shards.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < shards.size(); ++i) {
    threads.emplace_back([&, i] {
      state::Writer w(&saved[i]);
      shards[i]->Save(&w);
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < shards.size(); ++i) c.Add("shard." + std::to_string(i), std::move(saved[i]));
  std::string a;
  state::Writer aw(&a);
  alerts.SaveActive(&aw);
  c.Add("alerts", std::move(a));
  return c;
}

Status ReadCheckpointMeta(const state::Checkpoint& c, const std::string& source, CheckpointMeta* meta) {
  const std::string* m = c.Find("meta");
  if (!m) return Status::Corruption(source + ": the meta section is missing");
  state::Reader mr(*m, source + ": meta");
  CheckpointMeta got;
  got.shards = mr.Get<uint32_t>();
  got.topic = std::string(mr.Bytes());
  const uint64_t offsets = mr.Count(12);
  for (uint64_t i = 0; i < offsets && mr.ok(); ++i) {
    const int32_t p = mr.Get<int32_t>();
    got.offsets[p] = mr.Get<int64_t>();
  }
  if (!mr.ok()) return Status::Corruption(mr.error());
  if (const std::string* f = c.Find("files")) {
    state::Reader fr(*f, source + ": files");
    const uint64_t files = fr.Count(20);
    for (uint64_t i = 0; i < files && fr.ok(); ++i) {
      std::string path(fr.Bytes());
      source::FilePosition& at = got.files[std::move(path)];
      at.bytes = fr.Get<int64_t>();
      at.hash = fr.Get<uint64_t>();
    }
    if (!fr.ok()) return Status::Corruption(fr.error());
  }
  if (const std::string* t = c.Find("frontier")) {
    state::Reader tr(*t, source + ": frontier");
    got.max_event_ms = tr.Get<int64_t>();
    if (!tr.ok()) return Status::Corruption(tr.error());
  }
  *meta = std::move(got);
  return Status::Ok();
}

Status RestoreCheckpoint(const state::Checkpoint& c, const std::string& source, const std::string& topic,
                         NameTables* names, const std::vector<ShardPipeline*>& shards, AlertWriter* alerts,
                         CheckpointMeta* meta) {
  const std::string* n = c.Find("names");
  const std::string* a = c.Find("alerts");
  if (!n || !a) return Status::Corruption(source + ": a section is missing");
  CheckpointMeta got;
  if (Status s = ReadCheckpointMeta(c, source, &got); !s.ok()) return s;
  if (got.topic != topic) {
    return Status::InvalidArgument(source + ": written for topic " + got.topic + ", not " + topic);
  }
  if (got.shards != shards.size()) {
    return Status::InvalidArgument(source + ": written by " + std::to_string(got.shards) + " shards, this run has " +
                                   std::to_string(shards.size()) + "; set pipeline.shards to " +
                                   std::to_string(got.shards) + " to restore it");
  }
  state::IdRemap remap;
  state::Reader nr(*n, source + ": names");
  LoadNames(&nr, &names->vms, &remap.vms);
  LoadNames(&nr, &names->rules, &remap.rules);
  if (!nr.ok()) return Status::Corruption(nr.error());
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = "shard." + std::to_string(i);
    const std::string* s = c.Find(name);
    if (!s) return Status::Corruption(source + ": section " + name + " is missing");
    if (Status st = shards[i]->Load(*s, remap, source + ": " + name, c.version); !st.ok()) return st;
  }
  state::Reader ar(*a, source + ": alerts");
  if (!alerts->LoadActive(&ar)) return Status::Corruption(ar.error());
  *meta = std::move(got);
  return Status::Ok();
}

CheckpointWriter::CheckpointWriter(std::string dir, std::function<void(const source::SourcePositions&)> on_durable)
    : store_(std::move(dir)), on_durable_(std::move(on_durable)) {}

CheckpointWriter::~CheckpointWriter() { Stop(); }

void CheckpointWriter::Start() { thread_ = std::thread([this] { Run(); }); }

void CheckpointWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CheckpointWriter::Submit(state::Checkpoint c, source::SourcePositions positions, double pause_seconds,
                              bool final) {
  if (final) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.reset();  // superseded
    }
    Write(c, positions, pause_seconds);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_) spdlog::warn("checkpoint {} replaces {}, which the disk had not taken yet", c.sequence,
                               std::get<0>(*pending_).sequence);
    pending_.emplace(std::move(c), std::move(positions), pause_seconds);
  }
  cv_.notify_one();
}

void CheckpointWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || pending_; });
    if (!pending_) break;
    auto [c, positions, pause] = std::move(*pending_);
    pending_.reset();
    lock.unlock();
    Write(c, positions, pause);
    lock.lock();
  }
}

void CheckpointWriter::Write(const state::Checkpoint& c, const source::SourcePositions& positions,
                             double pause_seconds) {
  std::lock_guard<std::mutex> one(write_mu_);
  const auto t0 = std::chrono::steady_clock::now();
  size_t bytes = 0;
  const Status s = store_.Write(c, &bytes);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.last_pause_seconds = pause_seconds;
    if (!s.ok()) {
      ++stats_.failures;
      stats_.last_error = s.message();
    } else {
      ++stats_.written;
      stats_.last_bytes = bytes;
      stats_.last_write_seconds = seconds;
      stats_.last_written = std::chrono::steady_clock::now();
      stats_.last_error.clear();
    }
  }
  if (!s.ok()) {
    static LogLimiter limiter(std::chrono::seconds(60), 3);
    uint64_t suppressed = 0;
    if (limiter.Allow("checkpoint", &suppressed)) {
      spdlog::error("checkpoint {} not written: {}; the previous one stays, Kafka commits wait{}", c.sequence,
                    s.message(), suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
    }
    return;
  }
  spdlog::debug("checkpoint {}: {} bytes, shards paused {:.3f} s, written in {:.3f} s", c.sequence, bytes,
                pause_seconds, seconds);
  on_durable_(positions);
}

CheckpointStats CheckpointWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace flowwatch::app
