// MetricFamilies: the metric families of one scrape, built from a snapshot of
// the daemon's counters at scrape time (Redpanda's probes read their counters
// when asked, they do not update a registry per record). Names follow
// flowwatch_<stage>_<noun>_<unit>[_total]; docs/metrics.md lists them all and
// a test keeps it in sync with what /metrics serves.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

namespace flowwatch::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricFamilies {
 public:
  // A counter (monotonic) or gauge sample; samples of one name must be added
  // together, with the same help text.
  void Counter(const std::string& name, const std::string& help, double value, const Labels& labels = {});
  void Gauge(const std::string& name, const std::string& help, double value, const Labels& labels = {});

  // Prometheus text exposition format 0.0.4.
  std::string Serialize() const;
  const std::vector<prometheus::MetricFamily>& families() const { return families_; }

 private:
  prometheus::ClientMetric& Add(const std::string& name, const std::string& help, prometheus::MetricType type,
                                const Labels& labels);
  std::vector<prometheus::MetricFamily> families_;
};

}  // namespace flowwatch::metrics
