// An alert's JSON and text forms name its new peers (PRODUCT.md: new_peers),
// and leave the field out when there are none.
#include "lib/alert/alert_format.h"

#include <catch2/catch.hpp>

namespace flowwatch::alert {
namespace {

Alert Firing(NameTables* names) {
  Alert a;
  a.key = FlowKey{names->vms.Intern("vm01"), 443, kProtoTcp, Direction::kOutbound};
  a.window_start_ms = 1620084600000;  // 2021-05-03T23:30:00Z
  a.window_end_ms = a.window_start_ms + 300000;
  a.incident_start_ms = a.window_start_ms;
  a.observed_bytes = 30 << 20;
  a.baseline_bytes = a.expected_bytes = 5 << 20;
  a.ratio = 6;
  a.zscore = 12;
  a.duration_ms = 300000;
  a.top_peers = {PeerBytes{IpAddress::FromV4(0x5B3A0F07), 25 << 20}, PeerBytes{IpAddress::FromV4(0x14960101), 5 << 20}};
  return a;
}

}  // namespace

TEST_CASE("new_peers is in the JSON and marked in the text when the alert has some") {
  NameTables names;
  const enrich::PeerClassifier classifier;
  Alert a = Firing(&names);
  {
    const std::string json = AlertJson(a, names, classifier, nullptr);
    CHECK(json.find("\"new_peers\"") == std::string::npos);
    CHECK(AlertText(a, names, classifier, nullptr).find("(new)") == std::string::npos);
  }
  a.new_peers = {IpAddress::FromV4(0x5B3A0F07)};
  const std::string json = AlertJson(a, names, classifier, nullptr);
  INFO(json);
  CHECK(json.find("\"new_peers\":[\"91.58.15.7\"]") != std::string::npos);
  const std::string text = AlertText(a, names, classifier, nullptr);
  INFO(text);
  CHECK(text.find("91.58.15.7 (external) 26.2 MB (new), 20.150.1.1") != std::string::npos);
  CHECK(text.find("(new)") == text.rfind("(new)"));  // the known peer is not marked
}

}  // namespace flowwatch::alert
