#include "daemon/live_state.h"

#include <algorithm>

#include "lib/common/json_writer.h"
#include "lib/common/time_util.h"

namespace flowwatch::app {

std::vector<DeviationRow> CollectDeviations(const std::vector<const ShardPipeline*>& pipelines,
                                            const NameTables& names) {
  std::vector<DeviationRow> rows;
  for (const ShardPipeline* p : pipelines) {
    for (const detect::Deviation& d : p->detection().deviations()) {
      rows.push_back(DeviationRow{std::string(names.vms.Get(d.key.vm_id)), KeyProtocolText(d.key.protocol),
                                  std::string(DirectionName(d.key.direction)), d});
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const DeviationRow& a, const DeviationRow& b) { return a.d.ratio > b.d.ratio; });
  return rows;
}

std::vector<VmTrafficRow> TopVmTraffic(const std::vector<const ShardPipeline*>& pipelines, const NameTables& names,
                                       size_t k) {
  // A VM's keys live on one shard, so its bytes are in one table.
  std::vector<std::pair<uint32_t, ShardPipeline::VmTraffic>> all;
  for (const ShardPipeline* p : pipelines) {
    p->vm_traffic().ForEach([&](uint32_t vm, const ShardPipeline::VmTraffic& t) { all.emplace_back(vm, t); });
  }
  const auto more = [](const auto& a, const auto& b) {
    return a.second.ingress + a.second.egress > b.second.ingress + b.second.egress;
  };
  k = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), more);
  std::vector<VmTrafficRow> rows;
  for (size_t i = 0; i < k; ++i) rows.push_back(VmTrafficRow{std::string(names.vms.Get(all[i].first)), all[i].second});
  return rows;
}

std::string DeviationsJson(const std::vector<DeviationRow>& rows, const std::string& vm, size_t limit,
                           int64_t bucket_ms) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  size_t n = 0;
  for (const DeviationRow& r : rows) {
    if (n == limit) break;
    if (!vm.empty() && r.vm != vm) continue;
    ++n;
    w.BeginObject();
    w.Field("vm", r.vm);
    w.Field("protocol", r.protocol);
    w.Field("port", static_cast<unsigned>(r.d.key.port));
    w.Field("direction", r.direction);
    w.Field("window_start", FormatIso8601(r.d.window_start_ms));
    w.Field("window_end", FormatIso8601(r.d.window_start_ms + bucket_ms));
    w.Field("observed_bytes", r.d.observed_bytes);
    w.Field("baseline_bytes", static_cast<uint64_t>(r.d.baseline_bytes + 0.5));
    w.FieldDouble("ratio", r.d.ratio, 1);
    w.FieldDouble("zscore", r.d.zscore, 1);
    w.Field("firing", r.d.firing);
    w.EndObject();
  }
  w.EndArray();
  return out;
}

}  // namespace flowwatch::app
