// DecodeStats: what one Decoder saw, by bounded categories. Plain counters owned
// by the decoder's thread; the pipeline sums them (the probe pattern).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "lib/model/flow_record.h"

namespace flowwatch::decode {

// Why an element was skipped. A bounded set: these become metric label values.
enum class DecodeError : uint8_t {
  kBadJson = 0,    // not JSON, truncated, or a structural error
  kBadUtf8,        // invalid UTF-8 in a document
  kBadGzip,        // a gzip body that does not inflate
  kTooLarge,       // a body or a string field beyond the configured limits
  kEmptyBody,      // nothing but whitespace
  kUnknownFormat,  // valid JSON that is no flow-log shape we know
  kBadRecord,      // a known record shape with missing or mistyped fields
  kBadTuple,       // a flow tuple with wrong field count, letters or numbers
  kBadIp,          // a tuple or flat record whose address does not parse
  kBadTimestamp,   // a tuple time out of the plausible range
  kCount,
};
inline constexpr int kDecodeErrorCount = static_cast<int>(DecodeError::kCount);

std::string_view DecodeErrorName(DecodeError e);

struct DecodeStats {
  uint64_t bodies = 0;         // message bodies or files handed to Decode()
  uint64_t body_bytes = 0;     // their size as received (compressed if gzip)
  uint64_t records = 0;        // flow-log records accepted (blob records or flat records)
  uint64_t notifications = 0;  // Event Grid storage notifications (not data)
  std::array<uint64_t, kRecordFormatCount> tuples_by_format{};  // tuples decoded
  std::array<uint64_t, kDecodeErrorCount> errors{};

  uint64_t tuples() const {
    uint64_t n = 0;
    for (uint64_t v : tuples_by_format) n += v;
    return n;
  }
  uint64_t error_total() const {
    uint64_t n = 0;
    for (uint64_t v : errors) n += v;
    return n;
  }
  void Add(const DecodeStats& o);
};

}  // namespace flowwatch::decode
