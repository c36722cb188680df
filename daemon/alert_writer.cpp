#include "daemon/alert_writer.h"

#include <cerrno>
#include <cstring>

#include "lib/alert/alert_format.h"
#include "lib/common/logging.h"

namespace flowwatch::app {

AlertWriter::AlertWriter(const NameTables* names, Snapshot snapshot, size_t max_queued)
    : names_(names), snapshot_(std::move(snapshot)), max_queued_(max_queued) {
  for (AlertStatus status : {AlertStatus::kFiring, AlertStatus::kResolved}) {
    for (Severity severity : {Severity::kWarning, Severity::kCritical}) {
      by_kind_[{std::string(AlertStatusName(status)), std::string(SeverityName(severity)), "volume"}] = 0;
    }
  }
}

AlertWriter::~AlertWriter() {
  Stop();
  if (own_file_ && out_) std::fclose(out_);
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
    Alert a = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const auto [classifier, inventory] = snapshot_();
    alert::AlertEvent event;
    event.fingerprint = alert::Fingerprint(a, names_->vms.Get(a.key.vm_id));
    event.resolved = a.status == AlertStatus::kResolved;
    event.json = alert::AlertJson(a, *names_, *classifier, inventory.get());
    event.text = alert::AlertText(a, *names_, *classifier, inventory.get());
    if (deliver_) deliver_(event);
    const std::string line = event.json + "\n";
    if (out_) {
      std::fwrite(line.data(), 1, line.size(), out_);
      std::fflush(out_);
    }
    written_.Add();
    spdlog::info("alert {} {} {}/{} {} ratio {:.1f}", AlertStatusName(a.status), names_->vms.Get(a.key.vm_id),
                 KeyProtocolText(a.key.protocol), a.key.port, DirectionName(a.key.direction), a.ratio);
    lock.lock();
    ++by_kind_[{std::string(AlertStatusName(a.status)), std::string(SeverityName(a.severity)), std::string(a.detector)}];
    if (event.resolved) {
      active_.erase({a.incident_start_ms, event.fingerprint});
    } else {
      active_[{a.incident_start_ms, event.fingerprint}] = std::move(event.json);
    }
  }
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
