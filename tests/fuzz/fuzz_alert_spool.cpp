// Fuzzes what the alert dispatcher reads back: a spool file (from disk, after a
// crash it may be anything) and the alert JSON inside it, which the
// Alertmanager and PagerDuty payloads are built from.
#include <cstdint>
#include <string>

#include "lib/alert/payloads.h"
#include "lib/alert/spool.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  flowwatch::alert::AlertEvent event;
  if (!flowwatch::alert::ParseEvent(text, &event)) {
    event.fingerprint = std::string(1, 'f');
    event.json = text;  // the JSON parsers get arbitrary bytes too
  } else if (flowwatch::alert::SerializeEvent(event) != text) {
    __builtin_trap();  // a spool file that parses must be exactly what was written
  }
  flowwatch::alert::AlertmanagerAlert am;
  if (flowwatch::alert::ToAlertmanager(event, &am)) (void)flowwatch::alert::AlertmanagerBody({am});
  (void)flowwatch::alert::PagerDutyBody(event, "key");
  return 0;
}
