// Fuzzes the checkpoint reader: the file format (magic, version, sections,
// checksum) and, past the checksum, every section's decoder (the input is
// also taken as the sections themselves, since random bytes never carry a
// valid checksum). Whatever comes in, a restore either succeeds or says why.
#include <cstdint>
#include <string>

#include "daemon/checkpoint.h"

namespace {

flowwatch::config::Config FuzzConfig() {
  flowwatch::config::Config c;
  c.dedup.max_entries = 1024;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flowwatch;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  state::Checkpoint c;
  if (!state::DecodeCheckpoint(bytes, "fuzz.fwc", &c).ok()) {
    // Split the input into the sections a checkpoint of one shard has.
    c = state::Checkpoint{};
    const size_t q = size / 4;
    c.Add("meta", std::string("\x01\x00\x00\x00\x08\x00\x00\x00" "flowlogs", 16) + bytes.substr(0, q));
    c.Add("names", bytes.substr(q, q));
    c.Add("shard.0", bytes.substr(2 * q, q));
    c.Add("alerts", bytes.substr(3 * q));
  }
  const config::Config cfg = FuzzConfig();
  NameTables names;
  struct Sink : detect::AlertSink {
    void Emit(Alert) override {}
  } sink;
  app::ShardPipeline pipeline(cfg, &sink);
  app::AlertWriter alerts(&names);
  app::CheckpointMeta meta;
  if (app::RestoreCheckpoint(c, "fuzz.fwc", "flowlogs", &names, {&pipeline}, &alerts, &meta).ok()) {
    // A restored pipeline must be usable.
    FlowRecord f;
    f.time_ms = 1620000000000;
    f.bytes_sd = 1000;
    f.dedup_hash = 42;
    pipeline.OnFlow(f);
    pipeline.OnProgress(f.time_ms + 3600 * 1000);
  }
  return 0;
}
