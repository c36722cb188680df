#include "daemon/decode_worker.h"

#include <algorithm>

#include "lib/model/flow_key.h"

namespace flowwatch::app {

DecodeWorker::DecodeWorker(const decode::DecoderOptions& options, NameTables* names,
                           const enrich::VmResolver* resolver, shard::Producer* producer,
                           std::function<int64_t()> progress_cap)
    : decoder_(options, names), resolver_(resolver), producer_(producer), progress_cap_(std::move(progress_cap)) {}

void DecodeWorker::BeginInput(int64_t hint_ms) { input_max_ms_ = hint_ms; }

void DecodeWorker::DecodePadded(const char* data, size_t size, size_t capacity) {
  decoder_.DecodePadded(data, size, capacity, this);
  bytes_in_.Add(size);
  producer_->Flush();
}

void DecodeWorker::Decode(std::string_view body, bool flush) {
  decoder_.Decode(body, this);
  bytes_in_.Add(body.size());
  if (flush) producer_->Flush();
}

void DecodeWorker::Flush() { producer_->Flush(); }

void DecodeWorker::OnFlows(std::span<FlowRecord> flows) {
  for (FlowRecord& r : flows) {
    const enrich::VmResolver::Vm vm = resolver_->Resolve(r.local_ip(), r.mac, &cache_);
    r.vm_id = vm.id;
    producer_->Send(r, vm.route_hash);
    if (r.time_ms > input_max_ms_) input_max_ms_ = r.time_ms;
  }
  flows_sent_.Add(flows.size());
  since_progress_ += flows.size();
  if (progress_cap_ && since_progress_ >= kFlowsPerProgress) ReportProgress();
}

void DecodeWorker::ReportProgress() {
  since_progress_ = 0;
  const int64_t progress = std::min(input_max_ms_, progress_cap_());
  if (progress != INT64_MIN) producer_->Progress(progress);
}

}  // namespace flowwatch::app
