#include "lib/metrics/metric_families.h"

#include <prometheus/text_serializer.h>

namespace flowwatch::metrics {

prometheus::ClientMetric& MetricFamilies::Add(const std::string& name, const std::string& help,
                                              prometheus::MetricType type, const Labels& labels) {
  if (families_.empty() || families_.back().name != name) {
    families_.push_back(prometheus::MetricFamily{name, help, type, {}});
  }
  prometheus::ClientMetric& m = families_.back().metric.emplace_back();
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
