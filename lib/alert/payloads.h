// The request bodies of the alert sinks other than the generic webhook (whose
// body is the alert JSON itself), built from an AlertEvent:
//
//  - Alertmanager API v2 (POST /api/v2/alerts, an array of alerts). Labels:
//    alertname (FlowwatchDeviation, or FlowwatchAlertStorm for the rate
//    limit's summary), detector, severity, vm, protocol, port, direction;
//    annotations: summary (the text line), fingerprint, observed and baseline
//    bytes, ratio. startsAt is the incident's start; a firing alert's endsAt
//    is set by the sender a few reminder intervals ahead, a resolved one's is
//    the end of the window that resolved it.
//  - PagerDuty Events API v2: trigger or resolve, dedup_key = fingerprint,
//    the alert JSON as custom_details.
//
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lib/alert/alert_event.h"

namespace flowwatch::alert {

struct AlertmanagerAlert {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string starts_at;  // RFC 3339
  std::string ends_at;    // RFC 3339; filled by the sender for firing alerts
};

// False if the event's JSON is not an alert object.
bool ToAlertmanager(const AlertEvent& event, AlertmanagerAlert* out);
std::string AlertmanagerBody(const std::vector<AlertmanagerAlert>& alerts);

std::string PagerDutyBody(const AlertEvent& event, const std::string& routing_key);

}  // namespace flowwatch::alert
