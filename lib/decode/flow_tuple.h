// Flow-tuple parsing: the comma-separated strings inside NSG and VNet records.
//
// NSG (properties.flows[].flows[].flowTuples[]):
//   v1, 8 fields:  time,src,dst,sport,dport,proto(T|U),dir(I|O),decision(A|D)
//   v2, 13 fields: v1 + state(B|C|E),pkts s->d,bytes s->d,pkts d->s,bytes d->s
//                  (counters empty on B tuples)
//   9 fields:      v2 without the counter fields ("...,A,B"), as written by
//                  forwarders that split with trailing-empty removal; read as v2.
// VNet v4 (flowRecords.flows[].flowGroups[].flowTuples[]), 13 fields:
//   time,src,dst,sport,dport,proto(IANA number),dir(I|O),state(B|C|E|D),
//   encryption(X|NX|NX_...),pkts s->d,bytes s->d,pkts d->s,bytes d->s
//   (9 fields without counters accepted; empty counters read as 0).
// Times are seconds or milliseconds, told apart by magnitude. Pure functions,
// thread-safe, no allocation.
#pragma once

#include <string_view>

#include "lib/decode/decode_stats.h"
#include "lib/model/flow_record.h"

namespace flowwatch::decode {

// Fills the tuple fields of *out (not rule/resource/mac/vm/dedup_hash).
// Returns true, or false with *error set to the reason.
bool ParseNsgTuple(std::string_view text, FlowRecord* out, DecodeError* error);
bool ParseVnetTuple(std::string_view text, FlowRecord* out, DecodeError* error);

// The fields of a tuple: where each ends (the comma after it, or the end).
struct TupleFields {
  static constexpr int kMax = 13;
  const char* text = nullptr;
  int count = 0;
  uint16_t end[kMax];  // field i is text[i ? end[i-1] + 1 : 0, end[i])
};

// Finds the string that starts at p (just after its opening quote) in a JSON
// buffer with at least 64 readable bytes past the closing quote (simdjson's
// padding), and its comma-separated fields, in one vectorized pass. Returns
// false if the string is longer than a tuple can be, holds an escape, or has
// more than 13 fields (all: not a tuple). *length gets the string's length.
bool ScanJsonTuple(const char* p, TupleFields* fields, size_t* length);

// Parse already-scanned fields (what ParseNsgTuple/ParseVnetTuple do after a
// scalar scan of their text).
bool ParseNsgFields(const TupleFields& f, FlowRecord* out, DecodeError* error);
bool ParseVnetFields(const TupleFields& f, FlowRecord* out, DecodeError* error);

// Shared field parsers, also used for flat (per-tuple) records.
bool ParseTupleTime(std::string_view text, int64_t* time_ms);
bool ParsePort(std::string_view text, uint16_t* port);
bool ParseCounter(std::string_view text, uint64_t* value);  // "" -> 0
bool ParseNsgProtocol(std::string_view text, uint8_t* protocol);  // T, U or a number

// Plausible event times: 2000-01-01 .. 2200-01-01.
inline constexpr int64_t kMinEventTimeMs = 946684800000;
inline constexpr int64_t kMaxEventTimeMs = 7258118400000;

}  // namespace flowwatch::decode
