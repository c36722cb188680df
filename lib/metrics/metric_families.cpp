#include "lib/metrics/metric_families.h"

#include <algorithm>

#include <prometheus/text_serializer.h>

namespace flowwatch::metrics {

prometheus::ClientMetric& MetricFamilies::Add(const std::string& name, const std::string& help,
                                              prometheus::MetricType type, const Labels& labels) {
  auto family = std::find_if(families_.begin(), families_.end(), [&](const auto& f) { return f.name == name; });
  if (family == families_.end()) family = families_.insert(family, prometheus::MetricFamily{name, help, type, {}});
  prometheus::ClientMetric& m = family->metric.emplace_back();
  for (const auto& [k, v] : labels) m.label.push_back(prometheus::ClientMetric::Label{k, v});
  return m;
}

void MetricFamilies::Counter(const std::string& name, const std::string& help, double value, const Labels& labels) {
  Add(name, help, prometheus::MetricType::Counter, labels).counter.value = value;
}

void MetricFamilies::Gauge(const std::string& name, const std::string& help, double value, const Labels& labels) {
  Add(name, help, prometheus::MetricType::Gauge, labels).gauge.value = value;
}

std::string MetricFamilies::Serialize() const { return prometheus::TextSerializer().Serialize(families_); }

}  // namespace flowwatch::metrics
