#include "lib/gen/traffic_model.h"

namespace flowwatch::gen {

uint16_t TrafficModel::Rule(const std::string& name) {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i] == name) return static_cast<uint16_t>(i);
  }
  rules_.push_back(name);
  return static_cast<uint16_t>(rules_.size() - 1);
}

uint32_t TrafficModel::AddStream(int32_t src_vm, int32_t dst_vm) {
  streams_.push_back(StreamEnds{src_vm, dst_vm});
  return static_cast<uint32_t>(streams_.size() - 1);
}

}  // namespace flowwatch::gen
