// Generator: deterministic synthetic Azure flow logs for demos, tests and
// benchmarks (`flowwatch gen`).
//
// Writes into options.out_dir, the way Azure lays out a storage container:
//  - one PT1H.json (or PT1H.json.gz) per NIC per hour at Azure's blob path (see
//    blob_writer.h), holding one record per minute with that minute's tuples;
//  - inventory.csv (name,ip,mac: one row per VM), for the daemon's inventory;
//  - ground_truth.jsonl: one object per labelled event on a key, {"vm",
//    "protocol","port","direction","start","end","factor","kind","attack"[,
//    "occurrence"]}: injected anomalies (attack true) and, in the realistic
//    scenario, normal events scored apart (level shifts, each occurrence of a
//    job or backup); empty when there is none.
// With `messages`, messages.ndjson replaces the blobs (see GenOptions).
// A flow between two VMs is logged on both NICs (sender: O, receiver: I, same
// 5-tuple and counters); a flow with an outside peer only on the VM's NIC. Each
// allowed flow is a B tuple plus an E tuple in the same minute carrying its
// counters; a denied attempt is one zero-byte deny tuple.
//
// Scenarios:
//  - kDemo: the four-VM story of PRODUCT.md with its anomaly (vm01 TCP 1433 x7
//    and TCP 80 x5 from 23:30 to 23:45; see demo_model.h).
//  - kSteady: `vms` VMs x `ports_per_vm` service keys with diurnal cycles and
//    noise, no anomaly (see steady_model.h): false alerts and benchmarks.
//  - kScan: the demo VMs without anomaly, plus a full TCP port scan of vm03 and
//    a 100,000-source sweep of vm04 TCP 23, all denied (see scan_model.h).
//  - kRealistic: `vms` VMs whose traffic has real shapes (daily and weekly
//    cycles, heavy-tailed bursts, jobs, backups, drift, level shifts, sparse,
//    appearing and vanishing keys, late and missing records) with labelled
//    attacks in it (see realistic_model.h): detection quality.
//
// Same options => byte-identical output: all randomness derives from
// options.seed (std::mt19937_64 for the setup, a counter-based generator for
// each stream-minute), nothing from the clock or unordered containers.
// Memory is bounded by one NIC-hour of output plus the model (~32 bytes a key),
// not by the length of the run or the number of VMs.
//
// Thread-safety: Generate() is reentrant; it uses no globals.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "lib/common/status.h"
#include "lib/model/flow_record.h"

namespace flowwatch::gen {

enum class Scenario { kDemo, kSteady, kScan, kRealistic };

// 2021-05-03T00:00:00Z, the demo's default day.
inline constexpr int64_t kDefaultStartMs = 1620000000000;

struct GenOptions {
  Scenario scenario = Scenario::kDemo;
  RecordFormat format = RecordFormat::kNsgV2;  // kNsgV2 or kVnetV4 only
  uint64_t seed = 1;
  std::string out_dir;                 // created if missing
  int64_t start_ms = kDefaultStartMs;  // must be whole hours
  int hours = 24;                      // length of the generated period, 1..8784
  int vms = 4;                         // steady: number of VMs, 1..1,000,000; realistic: 2..100,000 (demo, scan: always 4)
  int ports_per_vm = 5;                // steady: service ports (keys) per VM, 1..10,000
  int flows_per_minute = 1;            // steady: new flows per key per minute, 1..1,000
  bool gzip = false;                   // write PT1H.json.gz instead of PT1H.json
  // Instead of blobs, write messages.ndjson: what a forwarder puts on the Event
  // Hub, one {"records":[...]} message per NIC and minute, in time order, each
  // line "<MAC>\t<message>" (kcat -P -K '\t' -l messages.ndjson).
  bool messages = false;
};

struct GenReport {
  uint64_t files = 0;         // blobs written
  uint64_t records = 0;       // flow-log records in them
  uint64_t tuples = 0;        // flow tuples in them (what a decoder counts)
  uint64_t bytes = 0;         // sum of the tuples' bytes (both directions), as a decoder sums them
  uint64_t output_bytes = 0;  // size of the blobs on disk (compressed when gzip)
};

// Generates the whole period. `progress`, if set, is called after each hour
// with the totals so far. InvalidArgument for bad options, IoError when the
// output cannot be written (files written so far are left in place).
[[nodiscard]] Result<GenReport> Generate(const GenOptions& options,
                                         std::function<void(const GenReport&)> progress = {});

// "demo" | "steady" | "scan" | "realistic". Returns false (and leaves *out alone) otherwise.
bool ParseScenario(std::string_view text, Scenario* out);
std::string_view ScenarioName(Scenario scenario);

}  // namespace flowwatch::gen
