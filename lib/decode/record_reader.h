// RecordReader: walks one parsed JSON piece (see json_splitter.h) with simdjson
// On-Demand and turns the flow-log records in it into FlowRecords.
//
// A record is delivered to the sink whole when its object ends, after the fields
// that may come after its tuples (MAC, rule, resource id: key order varies between
// writers) are patched in. Recoverable simdjson errors (a wrong type, a bad
// number) skip the element and are counted; a structural error is returned so the
// caller can count it and drop the record in progress.
// Internal to lib/decode. Owned by one Decoder; not thread-safe.
#pragma once

#include <simdjson.h>

#include <string_view>
#include <vector>

#include "lib/common/interner.h"
#include "lib/decode/decoder.h"
#include "lib/decode/json_splitter.h"

namespace flowwatch::decode {

class RecordReader {
 public:
  RecordReader(const DecoderOptions& options, NameTables* names, DecodeStats* stats);

  // Reads the root value of doc, a piece of the given kind. Returns SUCCESS or the
  // structural error that ended the document (the caller counts it).
  simdjson::error_code ReadPiece(simdjson::ondemand::document& doc, Piece::Kind kind, FlowSink* sink);
  // Reads a whole body parsed as one document: a blob, a bare record or an array.
  // *elements_done counts the elements of its records array (or root array)
  // fully handled, so that after a structural error the caller can re-read the
  // rest piece by piece without delivering any record twice.
  simdjson::error_code ReadDocument(simdjson::ondemand::document& doc, FlowSink* sink, size_t* elements_done);
  // Drops the record in progress after a structural error.
  void Abandon() { batch_.clear(); }

 private:
  struct FlatFields;
  struct Scratch;
  using Value = simdjson::ondemand::value;
  using Object = simdjson::ondemand::object;

  simdjson::error_code ReadObject(Object obj, bool allow_container, FlowSink* sink, size_t* elements_done = nullptr);
  simdjson::error_code ReadRecordsArray(Value v, FlowSink* sink, size_t* elements_done);
  simdjson::error_code ValidateScalar(simdjson::ondemand::document& doc, simdjson::ondemand::json_type type);
  // Walkers: f(key, value) for each field of an object, f(element) for each
  // element of an array. A value of the wrong type marks the record bad.
  template <typename F>
  simdjson::error_code ForEachField(Value v, Scratch* s, F&& f);
  template <typename F>
  simdjson::error_code ForEachElement(Value v, Scratch* s, F&& f);
  // {"rule": r, <body_key>: body}: read_body(body), then r applies to every
  // tuple read from it (the rule may come before or after the tuples).
  template <typename F>
  simdjson::error_code ReadRuleGroup(Value v, Scratch* s, std::string_view body_key, F&& read_body);
  simdjson::error_code ReadNsgProperties(Value v, Scratch* s);
  simdjson::error_code ReadNsgMacGroup(Value v, Scratch* s);
  simdjson::error_code ReadVnetFlowRecords(Value v, Scratch* s);
  simdjson::error_code ReadTuples(Value v, bool vnet, Scratch* s);
  // Reads a name-like string field. Recoverable problems mark the record bad.
  simdjson::error_code ReadName(Value v, std::string_view* out, Scratch* s);
  simdjson::error_code ReadMac(Value v, uint64_t* mac, Scratch* s);
  bool ReadFlatField(std::string_view key, Value v, FlatFields* f, simdjson::error_code* err);
  void FinishObject(Scratch* s, FlowSink* sink);
  void FinishFlat(Scratch* s, FlowSink* sink);
  void Deliver(Scratch* s, FlowSink* sink);
  void Count(DecodeError e) { ++stats_->errors[static_cast<int>(e)]; }

  const DecoderOptions options_;
  DecodeStats* stats_;
  InternCache rules_;
  InternCache resources_;
  std::vector<FlowRecord> batch_;  // tuples of the record being read
};

}  // namespace flowwatch::decode
