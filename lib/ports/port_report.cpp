#include "lib/ports/port_report.h"

#include <algorithm>
#include <cstdio>

#include "lib/common/json_writer.h"
#include "lib/common/text_format.h"
#include "lib/common/time_util.h"

namespace flowwatch::ports {
bool ParseDirectionFilter(std::string_view text, std::optional<Direction>* out) {
  if (text.empty()) {
    out->reset();
  } else if (text == "inbound" || text == "in") {
    *out = Direction::kInbound;
  } else if (text == "outbound" || text == "out") {
    *out = Direction::kOutbound;
  } else {
    return false;
  }
  return true;
}

PortReport::PortReport(const NameTables& names, const enrich::PeerClassifier& classifier,
                       const enrich::Inventory* inventory, const PortReportFilter& filter)
    : names_(names), classifier_(classifier), inventory_(inventory), filter_(filter) {}

void PortReport::Add(const PortTable& table) {
  const uint32_t rule_id_none = UINT32_MAX;
  uint32_t rule_id = rule_id_none;
  if (!filter_.rule.empty() && !names_.rules.Find(filter_.rule, &rule_id)) return;  // no such rule: no rows
  table.ForEach([&](const FlowKey& key, const PortStats& s) {
    const std::string_view vm = names_.vms.Get(key.vm_id);
    if (!filter_.vm.empty() && vm != filter_.vm) return;
    if (filter_.direction && key.direction != *filter_.direction) return;
    if (filter_.allowed_only && s.bytes == 0 && s.flows == s.denied_flows) return;
    if (rule_id != rule_id_none &&
        std::none_of(s.rules.begin(), s.rules.end(), [&](const RuleHits& r) { return r.rule_id == rule_id; })) {
      return;
    }
    rows_.push_back(Row{std::string(vm), key, &s});
  });
  sorted_ = false;
}

void PortReport::Sort() const {
  if (sorted_) return;
  std::sort(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) {
    if (a.vm != b.vm) return a.vm < b.vm;
    if (a.key.direction != b.key.direction) return a.key.direction < b.key.direction;
    if (a.key.protocol != b.key.protocol) return a.key.protocol < b.key.protocol;
    return a.key.port < b.key.port;
  });
  sorted_ = true;
}

std::vector<PeerStats> PortReport::TopPeers(const PortStats& s) const {
  std::vector<PeerStats> peers = s.peers;
  std::sort(peers.begin(), peers.end(), [](const PeerStats& a, const PeerStats& b) {
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    if (a.flows != b.flows) return a.flows > b.flows;
    return a.ip < b.ip;
  });
  if (static_cast<int>(peers.size()) > filter_.top_peers) peers.resize(static_cast<size_t>(std::max(0, filter_.top_peers)));
  return peers;
}

std::vector<RuleHits> PortReport::SortedRules(const PortStats& s) const {
  std::vector<RuleHits> rules = s.rules;
  std::sort(rules.begin(), rules.end(), [&](const RuleHits& a, const RuleHits& b) {
    if (a.flows != b.flows) return a.flows > b.flows;
    return names_.rules.Get(a.rule_id) < names_.rules.Get(b.rule_id);
  });
  return rules;
}

std::string PortReport::Json() const {
  Sort();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("vms");
  w.BeginArray();
  for (size_t i = 0; i < rows_.size(); ++i) {
    const Row& row = rows_[i];
    if (i == 0 || rows_[i - 1].vm != row.vm) {
      w.BeginObject();
      w.Field("vm", row.vm);
      w.Key("ports");
      w.BeginArray();
    }
    const PortStats& s = *row.stats;
    w.BeginObject();
    w.Field("direction", DirectionName(row.key.direction));
    w.Field("protocol", KeyProtocolText(row.key.protocol));
    w.Field("port", static_cast<unsigned>(row.key.port));
    w.Field("flows", s.flows);
    w.Field("denied_flows", s.denied_flows);
    w.Field("tuples", s.tuples);
    w.Field("packets", s.packets);
    w.Field("bytes", s.bytes);
    w.Field("peers", static_cast<uint64_t>(s.peers.size()));
    w.Field("peers_truncated", s.peers_truncated);
    w.Key("top_peers");
    w.BeginArray();
    for (const PeerStats& p : TopPeers(s)) {
      w.BeginObject();
      w.Field("ip", p.ip.ToString());
      w.Field("class", enrich::PeerClassName(classifier_.Classify(p.ip)));
      if (const std::string* vm = inventory_ ? inventory_->FindByIp(p.ip) : nullptr) w.Field("vm", *vm);
      w.Field("flows", p.flows);
      w.Field("bytes", p.bytes);
      w.EndObject();
    }
    w.EndArray();
    w.Key("rules");
    w.BeginArray();
    for (const RuleHits& r : SortedRules(s)) {
      w.BeginObject();
      w.Field("rule", names_.rules.Get(r.rule_id));
      w.Field("flows", r.flows);
      w.Field("tuples", r.tuples);
      w.Field("bytes", r.bytes);
      w.EndObject();
    }
    w.EndArray();
    w.Field("first_seen", FormatIso8601(s.first_seen_ms));
    w.Field("last_seen", FormatIso8601(s.last_seen_ms));
    w.EndObject();
    if (i + 1 == rows_.size() || rows_[i + 1].vm != row.vm) {
      w.EndArray();
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return out;
}

std::string PortReport::Table() const {
  Sort();
  std::string out;
  char line[512];
  for (size_t i = 0; i < rows_.size(); ++i) {
    const Row& row = rows_[i];
    if (i == 0 || rows_[i - 1].vm != row.vm || rows_[i - 1].key.direction != row.key.direction) {
      std::snprintf(line, sizeof line, "%s%s %s\n  %-11s %8s %7s %10s %6s  %-44s %s\n", i == 0 ? "" : "\n",
                    row.vm.c_str(), std::string(DirectionName(row.key.direction)).c_str(), "PORT", "FLOWS", "DENIED",
                    "BYTES", "PEERS", "TOP PEERS", "RULES (flows)");
      out += line;
    }
    const PortStats& s = *row.stats;
    const std::string port = KeyProtocolText(row.key.protocol) + "/" + std::to_string(row.key.port);
    std::string peers;
    for (const PeerStats& p : TopPeers(s)) {
      if (!peers.empty()) peers += ", ";
      const std::string* vm = inventory_ ? inventory_->FindByIp(p.ip) : nullptr;
      peers += vm ? *vm : p.ip.ToString() + " " + std::string(enrich::PeerClassName(classifier_.Classify(p.ip)));
      if (peers.size() > 40) break;
    }
    if (s.peers.size() > static_cast<size_t>(std::count(peers.begin(), peers.end(), ',') + 1)) peers += ", ...";
    std::string rules;
    for (const RuleHits& r : SortedRules(s)) {
      if (!rules.empty()) rules += ", ";
      rules += std::string(names_.rules.Get(r.rule_id)) + " (" + std::to_string(r.flows) + ")";
    }
    std::snprintf(line, sizeof line, "  %-11s %8llu %7llu %10s %6zu%s %-44s %s\n", port.c_str(),
                  static_cast<unsigned long long>(s.flows), static_cast<unsigned long long>(s.denied_flows),
                  HumanBytes(s.bytes).c_str(), s.peers.size(), s.peers_truncated ? "+" : " ", peers.c_str(),
                  rules.c_str());
    out += line;
  }
  if (rows_.empty()) out = "no traffic matches\n";
  return out;
}

}  // namespace flowwatch::ports
