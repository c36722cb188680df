#include "daemon/alert_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/alert/alert_format.h"
#include "lib/common/durable_file.h"
#include "lib/common/logging.h"
#include "lib/enrich/read_text_file.h"

namespace flowwatch::app {

AlertWriter::AlertWriter(const NameTables* names, Snapshot snapshot, size_t max_queued)
    : names_(names), snapshot_(std::move(snapshot)), max_queued_(max_queued) {
  if (!snapshot_) {
    snapshot_ = [classifier = std::make_shared<const enrich::PeerClassifier>()] {
      return std::make_pair(classifier, std::shared_ptr<const enrich::Inventory>());
    };
  }
  for (AlertStatus status : {AlertStatus::kFiring, AlertStatus::kResolved}) {
    for (Severity severity : {Severity::kWarning, Severity::kCritical}) {
      by_kind_[{std::string(AlertStatusName(status)), std::string(SeverityName(severity)), "volume"}] = 0;
    }
  }
}

namespace {

constexpr size_t kEmittedKept = 100000;  // events remembered; the file is compacted at twice that

}  // namespace

AlertWriter::~AlertWriter() {
  Stop();
  if (own_file_ && out_) std::fclose(out_);
  if (emitted_fd_ >= 0) ::close(emitted_fd_);
}

Status AlertWriter::OpenEmittedLog(const std::string& path) {
  emitted_path_ = path;
  if (Result<std::string> text = enrich::ReadTextFile(path); text.ok()) {
    size_t start = 0;
    const std::string& t = text.value();
    while (start < t.size()) {
      size_t nl = t.find('\n', start);
      if (nl == std::string::npos) break;  // a line cut short by a crash: not recorded
      std::string key = t.substr(start, nl - start);
      start = nl + 1;
      ++emitted_lines_;
      if (!key.empty()) Remember(key);
    }
  }
  emitted_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (emitted_fd_ < 0) return Status::IoError("cannot open " + path + ": " + std::strerror(errno));
  if (!emitted_.empty()) spdlog::info("alerts: {} events already emitted (from {})", emitted_.size(), path);
  return Status::Ok();
}

bool AlertWriter::Remember(const std::string& key) {
  if (!emitted_.insert(key).second) return false;
  emitted_order_.push_back(key);
  if (emitted_order_.size() > kEmittedKept) {
    emitted_.erase(emitted_order_.front());
    emitted_order_.pop_front();
  }
  return true;
}

void AlertWriter::RecordEmitted(const std::vector<std::string>& keys) {
  if (emitted_fd_ < 0 || keys.empty()) return;
  std::string lines;
  for (const std::string& key : keys) lines += key + "\n";
  // One sync for the whole batch: an alert storm must not wait a disk flush per alert.
  if (::write(emitted_fd_, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size()) ||
      ::fdatasync(emitted_fd_) != 0) {
    spdlog::error("alerts: cannot record {} events in {}: {}; after a crash they may be sent again", keys.size(),
                  emitted_path_, std::strerror(errno));
    return;
  }
  emitted_lines_ += keys.size();
  if (emitted_lines_ < 2 * kEmittedKept) return;
  std::string kept;
  for (const std::string& k : emitted_order_) kept += k + "\n";
  if (Status s = WriteFileDurably(emitted_path_, kept); !s.ok()) {
    spdlog::error("alerts: cannot compact {}: {}", emitted_path_, s.message());
    return;
  }
  ::close(emitted_fd_);
  emitted_fd_ = ::open(emitted_path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  emitted_lines_ = emitted_order_.size();
}

void AlertWriter::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [&] { return (queue_.empty() && !busy_) || !thread_.joinable(); });
}

void AlertWriter::SaveActive(state::Writer* w) const {
  std::lock_guard<std::mutex> lock(mu_);
  w->Put<uint64_t>(active_.size());
  for (const auto& [key, json] : active_) {
    w->Put<int64_t>(key.first);
    w->Bytes(key.second);
    w->Bytes(json);
  }
}

bool AlertWriter::LoadActive(state::Reader* r) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t n = r->Count(16);
  for (uint64_t i = 0; i < n && r->ok(); ++i) {
    const int64_t start = r->Get<int64_t>();
    std::string fingerprint(r->Bytes());
    std::string json(r->Bytes());
    if (r->ok()) active_[{start, std::move(fingerprint)}] = std::move(json);
  }
  return r->ok();
}

Status AlertWriter::Open(const std::string& path) {
  if (path.empty()) return Status::Ok();
  if (path == "-") {
    out_ = stdout;
    return Status::Ok();
  }
  out_ = std::fopen(path.c_str(), "a");
  if (!out_) return Status::IoError("alerts.file " + path + ": " + std::strerror(errno));
  own_file_ = true;
  return Status::Ok();
}

void AlertWriter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void AlertWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AlertWriter::Emit(Alert alert) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= max_queued_) {
      dropped_.Add();
      return;
    }
    queue_.push_back(std::move(alert));
  }
  cv_.notify_one();
}

void AlertWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stop_ and nothing left
    std::deque<Alert> batch;
    batch.swap(queue_);
    busy_ = true;
    lock.unlock();
    const auto [classifier, inventory] = snapshot_();
    std::vector<alert::AlertEvent> events;
    std::vector<bool> repeats;  // processed again after a restart: it went out before
    for (const Alert& a : batch) {
      alert::AlertEvent& event = events.emplace_back();
      event.fingerprint = alert::Fingerprint(a, names_->vms.Get(a.key.vm_id));
      event.resolved = a.status == AlertStatus::kResolved;
      event.json = alert::AlertJson(a, *names_, *classifier, inventory.get());
      event.text = alert::AlertText(a, *names_, *classifier, inventory.get());
      repeats.push_back(!Remember(event.key()));
    }
    // The open incidents change before anything goes out, so that a receiver
    // that got an alert finds it in GET /api/v1/alerts (spooling and the
    // emitted log's fsync can take seconds on a busy disk).
    lock.lock();
    for (size_t i = 0; i < batch.size(); ++i) {
      const Alert& a = batch[i];
      const std::pair<int64_t, std::string> key{a.incident_start_ms, events[i].fingerprint};
      if (events[i].resolved) {
        active_.erase(key);
      } else {
        active_[key] = events[i].json;
      }
      if (!repeats[i]) {
        ++by_kind_[{std::string(AlertStatusName(a.status)), std::string(SeverityName(a.severity)),
                    std::string(a.detector)}];
      }
    }
    lock.unlock();
    std::vector<std::string> emitted;
    for (size_t i = 0; i < batch.size(); ++i) {
      const Alert& a = batch[i];
      const alert::AlertEvent& event = events[i];
      if (repeats[i]) {
        repeats_.Add();
        continue;
      }
      if (deliver_) deliver_(event);
      const std::string line = event.json + "\n";
      if (out_) {
        std::fwrite(line.data(), 1, line.size(), out_);
        std::fflush(out_);
      }
      emitted.push_back(event.key());
      written_.Add();
      spdlog::info("alert {} {} {}/{} {} ratio {:.1f}", AlertStatusName(a.status), names_->vms.Get(a.key.vm_id),
                   KeyProtocolText(a.key.protocol), a.key.port, DirectionName(a.key.direction), a.ratio);
    }
    // Handed on (spooled) and written before they are recorded: a crash in
    // between repeats them once rather than losing them.
    RecordEmitted(emitted);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  idle_cv_.notify_all();
}

std::map<AlertKind, uint64_t> AlertWriter::written_by_kind() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_kind_;
}

std::string AlertWriter::ActiveJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "[";
  for (const auto& [key, json] : active_) {
    if (out.size() > 1) out += ",";
    out += json;
  }
  return out + "]";
}

}  // namespace flowwatch::app
