#include "lib/gen/generator.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <memory>
#include <vector>

#include "lib/common/ip_address.h"
#include "lib/common/json_writer.h"
#include "lib/common/time_util.h"
#include "lib/gen/blob_writer.h"
#include "lib/gen/demo_model.h"
#include "lib/gen/output_file.h"
#include "lib/gen/realistic_model.h"
#include "lib/gen/scan_model.h"
#include "lib/gen/steady_model.h"

namespace flowwatch::gen {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
// The decoder's plausible event times (2000-01-01 .. 2200-01-01).
constexpr int64_t kEarliestStartMs = 946684800000;
constexpr int64_t kLatestEndMs = 7258118400000;
// Stream id space of the per-NIC record timestamps, apart from the models' streams.
constexpr uint64_t kRecordTimeStream = 0xF10E'7100'0000'0000ull;

Status Validate(const GenOptions& o) {
  if (o.format != RecordFormat::kNsgV2 && o.format != RecordFormat::kVnetV4) {
    return Status::InvalidArgument("gen: format must be nsg_v2 or vnet_v4, not " + std::string(FormatName(o.format)));
  }
  if (o.out_dir.empty()) return Status::InvalidArgument("gen: no output folder");
  if (o.start_ms % kHourMs != 0) {
    return Status::InvalidArgument("gen: start " + FormatIso8601(o.start_ms) + " is not a whole hour");
  }
  if (o.hours < 1 || o.hours > 8784) return Status::InvalidArgument("gen: hours must be 1..8784");
  if (o.start_ms < kEarliestStartMs || o.start_ms + o.hours * kHourMs > kLatestEndMs) {
    return Status::InvalidArgument("gen: the period must lie between 2000 and 2200");
  }
  if (o.scenario == Scenario::kRealistic && (o.vms < 2 || o.vms > 100'000)) {
    return Status::InvalidArgument("gen: vms must be 2..100000 for the realistic scenario");
  }
  if (o.scenario == Scenario::kSteady) {
    if (o.vms < 1 || o.vms > 1'000'000) return Status::InvalidArgument("gen: vms must be 1..1000000");
    if (o.ports_per_vm < 1 || o.ports_per_vm > 10'000) {
      return Status::InvalidArgument("gen: ports_per_vm must be 1..10000");
    }
    if (o.flows_per_minute < 1 || o.flows_per_minute > 1'000) {
      return Status::InvalidArgument("gen: flows_per_minute must be 1..1000");
    }
  }
  return Status::Ok();
}

std::unique_ptr<TrafficModel> MakeModel(const GenOptions& o) {
  switch (o.scenario) {
    case Scenario::kSteady:
      return std::make_unique<SteadyModel>(o.seed, o.vms, o.ports_per_vm, o.flows_per_minute);
    case Scenario::kScan:
      return std::make_unique<ScanModel>(o.seed, o.start_ms, o.hours);
    case Scenario::kRealistic:
      return std::make_unique<RealisticModel>(o.seed, o.start_ms, o.hours, o.vms);
    case Scenario::kDemo:
      break;
  }
  return std::make_unique<DemoModel>(o.seed, o.start_ms, o.hours, /*with_anomaly=*/true);
}

Status WriteInventory(const TrafficModel& model, const std::string& out_dir) {
  std::string csv = "name,ip,mac\n";
  for (const VmSpec& vm : model.vms()) csv += vm.name + "," + vm.ip.ToString() + "," + MacText(vm.mac) + "\n";
  uint64_t written = 0;
  return WriteOutputFile(out_dir + "/inventory.csv", csv, false, &written);
}

Status WriteGroundTruth(const TrafficModel& model, const std::string& out_dir) {
  std::string text;
  for (const GroundTruthEntry& e : model.GroundTruth()) {
    JsonWriter w(&text);
    w.BeginObject();
    w.Field("vm", e.vm);
    w.Field("protocol", ProtocolText(e.protocol));
    w.Field("port", unsigned{e.port});
    w.Field("direction", DirectionName(e.direction));
    w.Field("start", FormatIso8601(e.start_ms));
    w.Field("end", FormatIso8601(e.end_ms));
    w.FieldDouble("factor", e.factor);
    w.Field("kind", e.kind);
    w.Field("attack", e.attack);
    if (e.occurrence > 0) w.Field("occurrence", static_cast<int64_t>(e.occurrence));
    if (e.has_new_peer) w.Field("new_peer", e.new_peer.ToString());
    w.EndObject();
    text.push_back('\n');
  }
  uint64_t written = 0;
  return WriteOutputFile(out_dir + "/ground_truth.jsonl", text, false, &written);
}

// For each VM, the streams that its NIC logs (as sender or receiver), in stream order.
struct NicStreams {
  std::vector<uint32_t> offsets;  // vms + 1
  std::vector<uint32_t> streams;
  std::span<const uint32_t> Of(size_t vm) const {
    return std::span<const uint32_t>(streams).subspan(offsets[vm], offsets[vm + 1] - offsets[vm]);
  }
};

NicStreams IndexStreams(const TrafficModel& model) {
  NicStreams index;
  const size_t vms = model.vms().size();
  index.offsets.assign(vms + 1, 0);
  for (const StreamEnds& e : model.streams()) {
    if (e.src_vm != StreamEnds::kExternal) ++index.offsets[static_cast<size_t>(e.src_vm) + 1];
    if (e.dst_vm != StreamEnds::kExternal) ++index.offsets[static_cast<size_t>(e.dst_vm) + 1];
  }
  for (size_t v = 0; v < vms; ++v) index.offsets[v + 1] += index.offsets[v];
  index.streams.resize(index.offsets[vms]);
  std::vector<uint32_t> next(index.offsets.begin(), index.offsets.end() - 1);
  const auto& streams = model.streams();
  for (uint32_t s = 0; s < streams.size(); ++s) {
    if (streams[s].src_vm != StreamEnds::kExternal) index.streams[next[static_cast<size_t>(streams[s].src_vm)]++] = s;
    if (streams[s].dst_vm != StreamEnds::kExternal) index.streams[next[static_cast<size_t>(streams[s].dst_vm)]++] = s;
  }
  return index;
}

// The NIC's view of the flows of one stream: B + E tuples, or one deny tuple.
void AppendTuples(const std::vector<SyntheticFlow>& flows, size_t first, Direction direction,
                  std::vector<NicTuple>* out) {
  for (size_t i = first; i < flows.size(); ++i) {
    const SyntheticFlow& f = flows[i];
    NicTuple t;
    t.time_ms = f.start_ms;
    t.src = f.src;
    t.dst = f.dst;
    t.src_port = f.src_port;
    t.dst_port = f.dst_port;
    t.protocol = f.protocol;
    t.direction = direction;
    t.rule = direction == Direction::kOutbound ? f.rule_out : f.rule_in;
    t.state = f.denied ? FlowState::kDeny : FlowState::kBegin;
    out->push_back(t);
    if (f.denied) continue;
    t.time_ms = f.end_ms;
    t.state = FlowState::kEnd;
    t.packets_sd = f.packets_sd;
    t.bytes_sd = f.bytes_sd;
    t.packets_ds = f.packets_ds;
    t.bytes_ds = f.bytes_ds;
    out->push_back(t);
  }
}

// Azure stamps a record when it writes it, after the minute's flows: here
// 30-60 s into the minute, with a 7-digit fraction.
int64_t RecordTime100ns(uint64_t seed, uint64_t mac, int64_t minute_ms) {
  FlowRng rng(seed, kRecordTimeStream ^ mac, static_cast<uint64_t>(minute_ms / kMinuteMs));
  return (minute_ms + kTupleWindowMs) * 10'000 + static_cast<int64_t>(DrawBelow(rng, 300'000'000));
}

Result<GenReport> GenerateUnchecked(const GenOptions& o, const std::function<void(const GenReport&)>& progress) {
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) return Status::IoError("gen: cannot create " + o.out_dir + ": " + ec.message());

  const std::unique_ptr<TrafficModel> model = MakeModel(o);
  if (Status s = WriteInventory(*model, o.out_dir); !s.ok()) return s;
  if (Status s = WriteGroundTruth(*model, o.out_dir); !s.ok()) return s;

  const NicStreams index = IndexStreams(*model);
  const std::vector<VmSpec>& vms = model->vms();
  const std::vector<StreamEnds>& ends = model->streams();
  BlobWriter writer(o.format, model->names(), model->rule_names());
  std::vector<SyntheticFlow> flows;
  std::vector<NicTuple> tuples;
  GenReport report;
  // The tuples NIC v logs in the minute starting at minute_ms, grouped by rule.
  auto minute_tuples = [&](size_t v, int64_t minute_ms) {
    flows.clear();
    tuples.clear();
    for (uint32_t s : index.Of(v)) {
      const size_t first = flows.size();
      model->EmitFlows(s, minute_ms, &flows);
      const bool sender = ends[s].src_vm == static_cast<int32_t>(v);
      AppendTuples(flows, first, sender ? Direction::kOutbound : Direction::kInbound, &tuples);
    }
    std::stable_sort(tuples.begin(), tuples.end(), [](const NicTuple& a, const NicTuple& b) {
      return a.rule != b.rule ? a.rule < b.rule : a.time_ms < b.time_ms;
    });
  };
  auto count_tuples = [&]() {
    for (const NicTuple& t : tuples) report.bytes += t.bytes_sd + t.bytes_ds;
    report.tuples += tuples.size();
  };
  if (o.messages) {
    // Minute by minute across all NICs, as the records reach the Event Hub.
    std::string lines;
    for (int h = 0; h < o.hours; ++h) {
      const int64_t hour_ms = o.start_ms + h * kHourMs;
      for (int m = 0; m < 60; ++m) {
        const int64_t minute_ms = hour_ms + m * kMinuteMs;
        for (size_t v = 0; v < vms.size(); ++v) {
          if (model->RecordDelayMinutes(v, minute_ms) < 0) continue;  // a gap in the NIC's logs
          minute_tuples(v, minute_ms);
          count_tuples();
          writer.Begin(vms[v], hour_ms);
          writer.AddRecord(RecordTime100ns(o.seed, vms[v].mac, minute_ms), tuples);
          const std::string message = writer.TakeBody();
          if (message.empty()) continue;
          lines += MacText(vms[v].mac) + "\t" + message + "\n";
          ++report.records;
          ++report.files;  // messages
        }
      }
      if (progress) progress(report);
    }
    uint64_t written = 0;
    if (Status s = WriteOutputFile(o.out_dir + "/messages.ndjson", lines, false, &written); !s.ok()) return s;
    report.output_bytes = written;
    return report;
  }
  // Records a NIC writes late, per NIC: (the minute whose record carries
  // them, their tuples), oldest first.
  std::vector<std::vector<std::pair<int64_t, std::vector<NicTuple>>>> late(vms.size());
  for (int h = 0; h < o.hours; ++h) {
    const int64_t hour_ms = o.start_ms + h * kHourMs;
    for (size_t v = 0; v < vms.size(); ++v) {
      writer.Begin(vms[v], hour_ms);
      for (int m = 0; m < 60; ++m) {
        const int64_t minute_ms = hour_ms + m * kMinuteMs;
        const int delay = model->RecordDelayMinutes(v, minute_ms);
        if (delay >= 0) minute_tuples(v, minute_ms);
        if (delay > 0) {
          late[v].emplace_back(minute_ms + delay * kMinuteMs, tuples);
          std::stable_sort(late[v].begin(), late[v].end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
          tuples.clear();
        }
        if (delay < 0) tuples.clear();  // a gap in the NIC's logs: never written
        // This minute's record also carries what was held back for it.
        size_t due = 0;
        while (due < late[v].size() && late[v][due].first <= minute_ms) {
          tuples.insert(tuples.end(), late[v][due].second.begin(), late[v][due].second.end());
          ++due;
        }
        if (due > 0) {
          late[v].erase(late[v].begin(), late[v].begin() + static_cast<std::ptrdiff_t>(due));
          std::stable_sort(tuples.begin(), tuples.end(), [](const NicTuple& a, const NicTuple& b) {
            return a.rule != b.rule ? a.rule < b.rule : a.time_ms < b.time_ms;
          });
        }
        count_tuples();
        writer.AddRecord(RecordTime100ns(o.seed, vms[v].mac, minute_ms), tuples);
      }
      uint64_t written = 0;
      const uint64_t records = writer.records();
      if (Status s = writer.Finish(o.out_dir, o.gzip, &written); !s.ok()) return s;
      if (records > 0) ++report.files;
      report.records += records;
      report.output_bytes += written;
    }
    if (progress) progress(report);
  }
  return report;
}

}  // namespace

Result<GenReport> Generate(const GenOptions& options, std::function<void(const GenReport&)> progress) {
  if (Status s = Validate(options); !s.ok()) return s;
  try {
    return GenerateUnchecked(options, progress);
  } catch (const std::exception& e) {  // allocation failure, filesystem errors
    return Status::Internal(std::string("gen: ") + e.what());
  }
}

bool ParseScenario(std::string_view text, Scenario* out) {
  if (text == "demo") {
    *out = Scenario::kDemo;
  } else if (text == "steady") {
    *out = Scenario::kSteady;
  } else if (text == "scan") {
    *out = Scenario::kScan;
  } else if (text == "realistic") {
    *out = Scenario::kRealistic;
  } else {
    return false;
  }
  return true;
}

std::string_view ScenarioName(Scenario scenario) {
  switch (scenario) {
    case Scenario::kDemo:
      return "demo";
    case Scenario::kSteady:
      return "steady";
    case Scenario::kScan:
      return "scan";
    case Scenario::kRealistic:
      return "realistic";
  }
  return "demo";
}

}  // namespace flowwatch::gen
