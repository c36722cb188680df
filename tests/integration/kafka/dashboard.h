// The Grafana dashboard's queries (deploy/grafana/flowwatch.json) as the
// tests check them: each panel's, variable's and annotation's PromQL with
// Grafana's variables substituted, and the flowwatch metrics each names.
// deploy_test.cpp runs them against a real Prometheus scraping a Kafka
// daemon; blob_test.cpp checks the followed sources' row against a Blob one.
#pragma once

#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <simdjson.h>

namespace flowwatch::testing {

inline const std::string kDashboard = std::string(FW_SOURCE_DIR) + "/deploy/grafana/flowwatch.json";

struct Query {
  std::string where;  // for messages: "panel 'Title' A", "variable vm", ...
  std::string expr;   // as Grafana would send it, its variables substituted
  bool followed = false;  // a panel of the row for source.blob and source.files (kFollowedRow)
};

// The row whose panels show what only a followed source (source.blob,
// source.files) serves.
inline constexpr std::string_view kFollowedRow = "Followed sources";

// Grafana's variables as a query with every option selected would have them.
inline std::string Substitute(std::string expr) {
  static const std::regex kRange(R"(\$__rate_interval|\$__interval|\$__range)");
  static const std::regex kVariable(R"(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)");
  expr = std::regex_replace(expr, kRange, "1m");
  return std::regex_replace(expr, kVariable, ".*");
}

inline void CollectPanels(simdjson::dom::array panels, std::vector<Query>* out, bool followed = false) {
  for (simdjson::dom::element p : panels) {
    std::string_view title, type;
    if (p["title"].get(title)) title = "(untitled)";
    if (!p["type"].get(type) && type == "row") followed = title.rfind(kFollowedRow, 0) == 0;  // until the next row
    simdjson::dom::array targets;
    if (!p["targets"].get(targets)) {
      for (simdjson::dom::element t : targets) {
        std::string_view expr, ref;
        if (t["expr"].get(expr)) continue;
        if (t["refId"].get(ref)) ref = "?";
        out->push_back({"panel '" + std::string(title) + "' " + std::string(ref), Substitute(std::string(expr)), followed});
      }
    }
    simdjson::dom::array nested;
    if (!p["panels"].get(nested)) CollectPanels(nested, out, followed);  // a collapsed row's panels
  }
}

inline std::vector<Query> DashboardQueries(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(json).get(doc) == simdjson::SUCCESS);
  std::vector<Query> out;
  simdjson::dom::array panels;
  REQUIRE(doc["panels"].get(panels) == simdjson::SUCCESS);
  CollectPanels(panels, &out);
  // label_values(SELECTOR, label) is Grafana's, not PromQL: check its selector.
  static const std::regex kLabelValues(R"(^label_values\((.*),\s*[A-Za-z_]+\)$)");
  simdjson::dom::array variables;
  if (!doc["templating"]["list"].get(variables)) {
    for (simdjson::dom::element v : variables) {
      std::string_view name, query;
      if (v["name"].get(name) || v["query"]["query"].get(query)) continue;
      std::smatch m;
      const std::string q(query);
      REQUIRE(std::regex_match(q, m, kLabelValues));
      out.push_back({"variable " + std::string(name), Substitute(m[1])});
    }
  }
  simdjson::dom::array annotations;
  if (!doc["annotations"]["list"].get(annotations)) {
    for (simdjson::dom::element a : annotations) {
      std::string_view name, expr;
      if (a["name"].get(name) || a["expr"].get(expr)) continue;
      out.push_back({"annotation " + std::string(name), Substitute(std::string(expr))});
    }
  }
  return out;
}

inline std::set<std::string> MetricNames(const std::string& expr) {
  static const std::regex kName(R"(\bflowwatch_[a-z0-9_]+)");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName); it != std::sregex_iterator(); ++it) {
    out.insert(it->str());
  }
  return out;
}

}  // namespace flowwatch::testing
