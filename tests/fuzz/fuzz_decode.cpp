// Fuzzes the decoder: any message body must be decoded or counted, never crash,
// and the balance must hold (every tuple delivered was counted by format).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "lib/decode/decoder.h"

namespace {

struct CountingSink : flowwatch::decode::FlowSink {
  uint64_t flows = 0;
  void OnFlows(std::span<flowwatch::FlowRecord> f) override { flows += f.size(); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flowwatch::NameTables* names = new flowwatch::NameTables();
  flowwatch::decode::DecoderOptions options;
  options.max_body_bytes = 4u << 20;
  flowwatch::decode::Decoder decoder(options, names);
  CountingSink sink;
  decoder.Decode(std::string_view(reinterpret_cast<const char*>(data), size), &sink);
  if (sink.flows != decoder.stats().tuples()) std::abort();
  return 0;
}
