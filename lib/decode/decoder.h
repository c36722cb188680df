// Decoder: turns one message body (a Kafka record value, or a whole file) into
// FlowRecords, whatever shape Azure or a forwarder gave it.
//
// Shapes: {"records":[...]} blobs (whole or partial), a bare record, a JSON array
// of records or of blobs, NDJSON or concatenated documents, any of them gzipped.
// Records: NSG flow logs v1/v2 (properties.flows), VNet flow logs v4
// (flowRecords.flows), flat per-tuple records written by Microsoft's NSG
// connector (sourceAddress, bytesStoD, ...). Event Grid storage notifications are
// recognised and counted, not decoded.
//
// Errors never stop the decoder: each malformed element (body, line, record,
// tuple) is skipped and counted in stats() by a bounded DecodeError, and the good
// elements around it are kept. A record is delivered whole or not at all: a
// structural JSON error inside a record discards the tuples read from it so far.
//
// Ownership and threads: one Decoder per thread; it owns a reused simdjson
// parser and buffers, so after warm-up decoding does not allocate. The interned
// name tables are shared (see NameTables). Not thread-safe.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/decode/decode_stats.h"
#include "lib/model/flow_record.h"
#include "lib/model/names.h"

namespace flowwatch::decode {

struct DecoderOptions {
  // Largest body accepted, after gzip inflation. Bigger bodies count as too_large.
  size_t max_body_bytes = 256u << 20;
  // Longest rule name, resource id or other name field; longer ones are bad_record.
  size_t max_name_bytes = 4096;
};

// Receives the tuples of each accepted record, in input order. The span is only
// valid during the call; the sink may modify the records (the router sets vm_id).
class FlowSink {
 public:
  virtual ~FlowSink() = default;
  virtual void OnFlows(std::span<FlowRecord> flows) = 0;
};

// Bytes of readable slack the zero-copy entry point needs after the body.
size_t RequiredPadding();

class Decoder {
 public:
  Decoder(const DecoderOptions& options, NameTables* names);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes one body. Copies it into an internal padded buffer first.
  void Decode(std::string_view body, FlowSink* sink);
  // Zero-copy variant: [data, data + capacity) must be readable and
  // capacity >= size + RequiredPadding().
  void DecodePadded(const char* data, size_t size, size_t capacity, FlowSink* sink);

  const DecodeStats& stats() const { return stats_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  DecodeStats stats_;
};

}  // namespace flowwatch::decode
