// AlertWriter: the daemon's alert output. Shards Emit() alerts (any thread);
// one writer thread formats each as a JSON line (PRODUCT.md's alert event) and
// appends it to alerts.file ("-": stdout, where AKS log collectors pick it up;
// "": nowhere), flushing every line. Names are resolved when written, with the
// inventory and service tags current at that moment (they change on SIGHUP).
// The queue is bounded: beyond it alerts are counted as dropped (an alert
// storm must not exhaust memory). The writer also hands each event to the
// delivery (the webhook dispatcher, which spools it) and keeps the open
// incidents for GET /api/v1/alerts.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "lib/alert/alert_event.h"
#include "lib/common/counter.h"
#include "lib/common/status.h"
#include "lib/detect/detection.h"
#include "lib/enrich/inventory.h"
#include "lib/enrich/peer_classifier.h"
#include "lib/model/names.h"
#include "lib/state/codec.h"

namespace flowwatch::app {

// What an alert event is, for counting.
struct AlertKind {
  std::string status, severity, detector;
  auto operator<=>(const AlertKind&) const = default;
};

class AlertWriter : public detect::AlertSink {
 public:
  using Snapshot = std::function<std::pair<std::shared_ptr<const enrich::PeerClassifier>,
                                           std::shared_ptr<const enrich::Inventory>>()>;

  // snapshot: the peer classifier and inventory to name peers with; empty
  // means the built-in peer classes and no inventory.
  explicit AlertWriter(const NameTables* names, Snapshot snapshot = {}, size_t max_queued = 100000);
  ~AlertWriter() override;

  // path: "-" for stdout, "" for none, else a file (appended to).
  [[nodiscard]] Status Open(const std::string& path);
  void Start();
  // Writes what is queued, then stops.
  void Stop();

  // Remembers, in a file, which events were written (fingerprint and status),
  // so that flows processed again after a crash (from the last checkpoint on)
  // do not emit them a second time. Loads what the file holds. Before Start().
  [[nodiscard]] Status OpenEmittedLog(const std::string& path);
  // Waits until every alert emitted so far is written and handed on.
  void Flush();
  // The open incidents, for a checkpoint, and back (before Start()).
  void SaveActive(state::Writer* w) const;
  bool LoadActive(state::Reader* r);

  void Emit(Alert alert) override;  // any thread
  // Also hands each event to deliver() on the writer thread. Before Start().
  void SetDelivery(std::function<void(const alert::AlertEvent&)> deliver) { deliver_ = std::move(deliver); }

  // The open incidents, as a JSON array of their firing events (oldest
  // incident first). Any thread.
  std::string ActiveJson() const;

  uint64_t written() const { return written_.value(); }
  // Events written by kind; every status and severity of the volume detector
  // is present from the start, at 0. Any thread.
  std::map<AlertKind, uint64_t> written_by_kind() const;
  uint64_t dropped() const { return dropped_.value(); }
  // Events not written again because the emitted log had them.
  uint64_t repeats() const { return repeats_.value(); }

 private:
  void Run();
  // Adds key to the emitted set (bounded); false if it was there already.
  bool Remember(const std::string& key);
  // Appends keys to the emitted log, with one sync.
  void RecordEmitted(const std::vector<std::string>& keys);

  const NameTables* names_;
  Snapshot snapshot_;
  std::function<void(const alert::AlertEvent&)> deliver_;
  const size_t max_queued_;
  std::FILE* out_ = nullptr;
  bool own_file_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<int64_t, std::string>, std::string> active_;  // (incident start, fingerprint) -> json; mu_
  std::map<AlertKind, uint64_t> by_kind_;                           // mu_
  std::deque<Alert> queue_;  // guarded by mu_
  bool stop_ = false;        // guarded by mu_
  bool busy_ = false;        // an alert taken from queue_ is being written; mu_
  std::condition_variable idle_cv_;
  // The emitted log (writer thread only, after Start()).
  std::string emitted_path_;
  int emitted_fd_ = -1;
  std::unordered_set<std::string> emitted_;
  std::deque<std::string> emitted_order_;
  size_t emitted_lines_ = 0;  // in the file
  std::thread thread_;
  Counter written_;
  Counter dropped_;  // Emit() runs on several threads: counted under mu_
  Counter repeats_;
};

}  // namespace flowwatch::app
