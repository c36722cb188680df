// PortReport: the port inventory as a person or a tool reads it: per VM and
// direction, each protocol/port with its flows, bytes, packets, peers (with
// their class), the NSG rules it hit, and when it was first and last seen.
// The JSON form is a contract: `flowwatch ports --json` and the daemon's
// GET /api/v1/ports print the same document for the same flows, so its order
// is fully determined (VM name, direction, protocol, port; peers by bytes).
//
// Built from the PortTables of all shards (a VM's keys live on one shard, so
// rows never need merging). Not thread-safe; the tables must not change while
// a report is built.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/enrich/inventory.h"
#include "lib/enrich/peer_classifier.h"
#include "lib/model/flow_key.h"
#include "lib/model/names.h"
#include "lib/ports/port_table.h"

namespace flowwatch::ports {

struct PortReportFilter {
  std::string vm;                       // exact VM name; empty: all
  std::optional<Direction> direction;   // empty: both
  std::string rule;                     // only keys that hit this NSG rule; empty: all
  bool allowed_only = false;            // hide ports that only saw denied attempts
  int top_peers = 5;
};

// "inbound" or "in", "outbound" or "out", "" for both; false for anything else.
bool ParseDirectionFilter(std::string_view text, std::optional<Direction>* out);

class PortReport {
 public:
  // inventory may be null; peers it knows are shown by VM name.
  PortReport(const NameTables& names, const enrich::PeerClassifier& classifier, const enrich::Inventory* inventory,
             const PortReportFilter& filter);

  void Add(const PortTable& table);

  std::string Json() const;
  std::string Table() const;
  size_t rows() const { return rows_.size(); }

 private:
  struct Row {
    std::string vm;
    FlowKey key;
    const PortStats* stats;
  };
  void Sort() const;
  std::vector<PeerStats> TopPeers(const PortStats& s) const;
  std::vector<RuleHits> SortedRules(const PortStats& s) const;

  const NameTables& names_;
  const enrich::PeerClassifier& classifier_;
  const enrich::Inventory* inventory_;
  const PortReportFilter filter_;
  mutable std::vector<Row> rows_;
  mutable bool sorted_ = true;
};

}  // namespace flowwatch::ports
