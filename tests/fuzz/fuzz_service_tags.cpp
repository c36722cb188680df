// Fuzzes the ServiceTags_Public JSON reader of the peer classifier.
#include <cstdint>
#include <string_view>

#include "lib/enrich/peer_classifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flowwatch::enrich::PeerClassifier c;
  if (c.ParseServiceTags(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json").ok()) {
    (void)c.Classify(flowwatch::IpAddress::FromV4(0x0D400001));
  }
  return 0;
}
