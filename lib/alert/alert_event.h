// AlertEvent: one alert on its way to the sinks: the alert JSON of PRODUCT.md
// (the generic webhook body, and what the Alertmanager and PagerDuty payloads
// are built from), a one-line text for people, and its identity. Value type.
#pragma once

#include <string>

namespace flowwatch::alert {

struct AlertEvent {
  std::string fingerprint;  // shared by an incident's firing and resolved events
  bool resolved = false;
  std::string json;  // the alert JSON object
  std::string text;  // one line, no newline (Alertmanager summary, PagerDuty summary)

  // What de-duplication goes by: each incident fires once and resolves once.
  std::string key() const { return fingerprint + (resolved ? ":resolved" : ":firing"); }
};

}  // namespace flowwatch::alert
