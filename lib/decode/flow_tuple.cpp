#include "lib/decode/flow_tuple.h"

#include <array>

#include "lib/common/time_util.h"

namespace flowwatch::decode {
namespace {

constexpr size_t kMaxFields = 13;
constexpr size_t kMaxTupleLength = 512;

// Splits text on ',' into at most kMaxFields views. Returns the field count, or
// kMaxFields + 1 if there are more.
size_t Split(std::string_view text, std::array<std::string_view, kMaxFields>* fields) {
  size_t n = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      if (n == kMaxFields) return kMaxFields + 1;
      (*fields)[n++] = text.substr(start, i - start);
      start = i + 1;
    }
  }
  return n;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;  // overflow
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool ParseDirection(std::string_view s, Direction* d) {
  if (s == "I") *d = Direction::kInbound;
  else if (s == "O") *d = Direction::kOutbound;
  else return false;
  return true;
}

bool ParseAddresses(std::string_view src, std::string_view dst, FlowRecord* out) {
  return IpAddress::Parse(src, &out->src) && IpAddress::Parse(dst, &out->dst);
}

bool ParseCounters(const std::array<std::string_view, kMaxFields>& f, size_t first, FlowRecord* out) {
  return ParseCounter(f[first], &out->packets_sd) && ParseCounter(f[first + 1], &out->bytes_sd) &&
         ParseCounter(f[first + 2], &out->packets_ds) && ParseCounter(f[first + 3], &out->bytes_ds);
}

Encryption ParseEncryption(std::string_view s) {
  if (s == "X") return Encryption::kEncrypted;
  if (s == "NX") return Encryption::kNotEncrypted;
  if (s.starts_with("NX_")) return Encryption::kNotEncryptedOther;
  return Encryption::kUnknown;
}

// Fields common to both formats: time, addresses, ports, direction.
bool ParseCommon(const std::array<std::string_view, kMaxFields>& f, size_t direction_field,
                 FlowRecord* out, DecodeError* error) {
  if (!ParseTupleTime(f[0], &out->time_ms)) {
    *error = DecodeError::kBadTimestamp;
    return false;
  }
  if (!ParseAddresses(f[1], f[2], out)) {
    *error = DecodeError::kBadIp;
    return false;
  }
  if (!ParsePort(f[3], &out->src_port) || !ParsePort(f[4], &out->dst_port) ||
      !ParseDirection(f[direction_field], &out->direction)) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  return true;
}

}  // namespace

bool ParseTupleTime(std::string_view text, int64_t* time_ms) {
  uint64_t v;
  if (!ParseU64(text, &v) || v > static_cast<uint64_t>(kMaxEventTimeMs)) return false;
  const int64_t ms = EpochToMs(v);
  if (ms < kMinEventTimeMs || ms > kMaxEventTimeMs) return false;
  *time_ms = ms;
  return true;
}

bool ParsePort(std::string_view text, uint16_t* port) {
  uint64_t v;
  if (!ParseU64(text, &v) || v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

bool ParseCounter(std::string_view text, uint64_t* value) {
  if (text.empty()) {
    *value = 0;
    return true;
  }
  return ParseU64(text, value);
}

bool ParseNsgProtocol(std::string_view text, uint8_t* protocol) {
  if (text == "T") *protocol = kProtoTcp;
  else if (text == "U") *protocol = kProtoUdp;
  else {
    uint64_t v;
    if (!ParseU64(text, &v) || v > 255) return false;
    *protocol = static_cast<uint8_t>(v);
  }
  return true;
}

bool ParseMac(std::string_view text, uint64_t* mac) {
  uint64_t v = 0;
  int digits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if ((c == '-' || c == ':') && digits % 2 == 0 && digits > 0 && i + 1 < text.size()) continue;
    else return false;
    if (++digits > 12) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (digits != 12) return false;
  *mac = v;
  return true;
}

bool ParseNsgTuple(std::string_view text, FlowRecord* out, DecodeError* error) {
  std::array<std::string_view, kMaxFields> f;
  const size_t n = text.size() > kMaxTupleLength ? 0 : Split(text, &f);
  if (n != 8 && n != 9 && n != 13) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  if (!ParseCommon(f, 6, out, error)) return false;
  if (!ParseNsgProtocol(f[5], &out->protocol)) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  if (f[7] == "A") out->decision = Decision::kAllow;
  else if (f[7] == "D") out->decision = Decision::kDeny;
  else {
    *error = DecodeError::kBadTuple;
    return false;
  }
  out->encryption = Encryption::kUnknown;
  if (n == 8) {
    out->format = RecordFormat::kNsgV1;
    out->state = FlowState::kNone;
    out->packets_sd = out->bytes_sd = out->packets_ds = out->bytes_ds = 0;
    return true;
  }
  out->format = RecordFormat::kNsgV2;
  if (f[8] == "B") out->state = FlowState::kBegin;
  else if (f[8] == "C") out->state = FlowState::kContinue;
  else if (f[8] == "E") out->state = FlowState::kEnd;
  else {
    *error = DecodeError::kBadTuple;
    return false;
  }
  if (n == 9) {
    out->packets_sd = out->bytes_sd = out->packets_ds = out->bytes_ds = 0;
    return true;
  }
  if (!ParseCounters(f, 9, out)) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  return true;
}

bool ParseVnetTuple(std::string_view text, FlowRecord* out, DecodeError* error) {
  std::array<std::string_view, kMaxFields> f;
  const size_t n = text.size() > kMaxTupleLength ? 0 : Split(text, &f);
  if (n != 9 && n != 13) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  if (!ParseCommon(f, 6, out, error)) return false;
  if (!ParseNsgProtocol(f[5], &out->protocol)) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  out->format = RecordFormat::kVnetV4;
  out->decision = Decision::kAllow;
  if (f[7] == "B") out->state = FlowState::kBegin;
  else if (f[7] == "C") out->state = FlowState::kContinue;
  else if (f[7] == "E") out->state = FlowState::kEnd;
  else if (f[7] == "D") {
    out->state = FlowState::kDeny;
    out->decision = Decision::kDeny;
  } else {
    *error = DecodeError::kBadTuple;
    return false;
  }
  out->encryption = ParseEncryption(f[8]);
  if (n == 9) {
    out->packets_sd = out->bytes_sd = out->packets_ds = out->bytes_ds = 0;
    return true;
  }
  if (!ParseCounters(f, 9, out)) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  return true;
}

}  // namespace flowwatch::decode
