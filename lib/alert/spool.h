// Spool: a sink's undelivered alert events on disk, so that they survive a
// restart. One small file per event under the sink's folder, written durably
// (lib/common/durable_file.h) before the event is queued and removed once it is
// delivered, rejected or dropped. An Alertmanager sink keeps an incident's
// delivered firing event too, renamed from .pending to .active, until its
// resolution is delivered: Alertmanager must be reminded of a firing alert
// every few minutes, also after a restart.
//
// File format (text, one field per line): "flowwatch-alert 1", fingerprint,
// status (firing|resolved), the text line, the alert JSON. Files are named by
// a sequence number, so loading restores the order they were queued in.
//
// Not thread-safe: one sink thread uses it, plus the enqueueing thread under
// the sink's lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/alert/alert_event.h"
#include "lib/common/status.h"

namespace flowwatch::alert {

class Spool {
 public:
  struct Entry {
    uint64_t id = 0;
    AlertEvent event;
    bool active = false;  // delivered firing event kept for Alertmanager reminders
  };

  // dir empty: a spool that keeps nothing (every call succeeds).
  explicit Spool(std::string dir) : dir_(std::move(dir)) {}

  // Creates the folder and reads what an earlier run left, in queue order.
  // Files that cannot be read are renamed to *.bad and reported in *errors.
  Status Load(std::vector<Entry>* entries, std::vector<std::string>* errors);

  // Writes a pending event; returns its id in *id.
  Status Put(const AlertEvent& event, uint64_t* id);
  Status MarkActive(uint64_t id);
  Status Remove(uint64_t id, bool active);

  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string PathOf(uint64_t id, bool active) const;

  std::string dir_;
  uint64_t next_id_ = 1;
};

// The text form of an event in a spool file, and back (false if malformed).
std::string SerializeEvent(const AlertEvent& event);
bool ParseEvent(const std::string& text, AlertEvent* event);

}  // namespace flowwatch::alert
