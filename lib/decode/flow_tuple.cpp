#include "lib/decode/flow_tuple.h"

#include <array>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "lib/common/time_util.h"

namespace flowwatch::decode {
namespace {

constexpr size_t kMaxTupleLength = 512;

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

Encryption ParseEncryption(std::string_view s) {
  if (s == "X") return Encryption::kEncrypted;
  if (s == "NX") return Encryption::kNotEncrypted;
  if (s.starts_with("NX_")) return Encryption::kNotEncryptedOther;
  return Encryption::kUnknown;
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

// Tuple parsing is the hottest code in flowwatch. It runs in two steps: find
// where every field ends (a vectorized scan in ScanJsonTuple, a scalar one for
// plain strings), then convert each field knowing its length, so the digit
// loops never test for delimiters.
namespace {

// Decimal digits of [p, p+n) into *v; n in 1..20; false on a non-digit or
// overflow.
inline bool Digits(const char* p, size_t n, uint64_t* v) {
  if (n == 0 || n > 20) return false;
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned d = static_cast<unsigned char>(p[i]) - '0';
    if (d > 9) return false;
    if (i == 19 && x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *v = x;
  return true;
}

inline bool Ipv4(const char* p, size_t n, IpAddress* out) {
  uint32_t v = 0;
  int octets = 0;
  size_t i = 0;
  while (true) {
    const size_t start = i;
    uint32_t octet = 0;
    while (i < n && static_cast<unsigned>(p[i] - '0') <= 9) {
      octet = octet * 10 + static_cast<uint32_t>(p[i] - '0');
      if (++i - start > 3) return false;
    }
    if (i == start || octet > 255 || (i - start > 1 && p[start] == '0')) return false;
    v = (v << 8) | octet;
    if (++octets == 4) break;
    if (i >= n || p[i] != '.') return false;
    ++i;
  }
  if (i != n) return false;
  *out = IpAddress::FromV4(v);
  return true;
}

class Fields {
 public:
  explicit Fields(const TupleFields& f) : f_(f) {}
  const char* ptr(int i) const { return f_.text + begin(i); }
  size_t size(int i) const { return f_.end[i] - begin(i); }
  std::string_view view(int i) const { return std::string_view(ptr(i), size(i)); }
  char one(int i) const { return size(i) == 1 ? *ptr(i) : '\0'; }  // a one-letter field, else NUL

  bool Uint(int i, uint64_t* v) const { return Digits(ptr(i), size(i), v); }
  bool Counter(int i, uint64_t* v) const {
    if (size(i) == 0) {
      *v = 0;
      return true;
    }
    return Uint(i, v);
  }
  bool Port(int i, uint16_t* port) const {
    uint64_t v;
    if (!Uint(i, &v) || v > 65535) return false;
    *port = static_cast<uint16_t>(v);
    return true;
  }
  bool Address(int i, IpAddress* out) const {
    return Ipv4(ptr(i), size(i), out) || IpAddress::Parse(view(i), out);
  }

 private:
  size_t begin(int i) const { return i == 0 ? 0 : f_.end[i - 1] + 1u; }
  const TupleFields& f_;
};

// time, src, dst, sport, dport, direction (field 6).
bool ParseCommon(const Fields& f, FlowRecord* out, DecodeError* error) {
  uint64_t t;
  if (!f.Uint(0, &t) || t > static_cast<uint64_t>(kMaxEventTimeMs) ||
      (out->time_ms = EpochToMs(t)) < kMinEventTimeMs || out->time_ms > kMaxEventTimeMs) {
    *error = DecodeError::kBadTimestamp;
    return false;
  }
  if (!f.Address(1, &out->src) || !f.Address(2, &out->dst)) {
    *error = DecodeError::kBadIp;
    return false;
  }
  *error = DecodeError::kBadTuple;
  if (!f.Port(3, &out->src_port) || !f.Port(4, &out->dst_port)) return false;
  const char dir = f.one(6);
  if (dir != 'I' && dir != 'O') return false;
  out->direction = dir == 'O' ? Direction::kOutbound : Direction::kInbound;
  if (f.size(5) == 1 && (*f.ptr(5) == 'T' || *f.ptr(5) == 'U')) {
    out->protocol = *f.ptr(5) == 'T' ? kProtoTcp : kProtoUdp;
    return true;
  }
  return ParseNsgProtocol(f.view(5), &out->protocol);
}

bool ReadCounters(const Fields& f, FlowRecord* out) {
  return f.Counter(9, &out->packets_sd) && f.Counter(10, &out->bytes_sd) && f.Counter(11, &out->packets_ds) &&
         f.Counter(12, &out->bytes_ds);
}

inline void ZeroCounters(FlowRecord* out) { out->packets_sd = out->bytes_sd = out->packets_ds = out->bytes_ds = 0; }

// The scalar scan, for tuples given as plain strings.
bool ScanText(std::string_view text, TupleFields* f) {
  if (text.empty() || text.size() > kMaxTupleLength) return false;
  f->text = text.data();
  f->count = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      if (f->count == TupleFields::kMax) return false;
      f->end[f->count++] = static_cast<uint16_t>(i);
    }
  }
  return true;
}

}  // namespace

bool ScanJsonTuple(const char* p, TupleFields* f, size_t* length) {
  f->text = p;
  f->count = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i comma = _mm_set1_epi8(',');
  for (size_t off = 0; off <= kMaxTupleLength; off += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + off));
    const uint32_t q = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)));
    const uint32_t before = q ? (1u << __builtin_ctz(q)) - 1 : 0xFFFFu;
    if (static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash))) & before) return false;
    uint32_t c = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma))) & before;
    while (c) {
      if (f->count == TupleFields::kMax - 1) return false;
      f->end[f->count++] = static_cast<uint16_t>(off + static_cast<size_t>(__builtin_ctz(c)));
      c &= c - 1;
    }
    if (q) {
      *length = off + static_cast<size_t>(__builtin_ctz(q));
      f->end[f->count++] = static_cast<uint16_t>(*length);
      return *length > 0;
    }
  }
  return false;
#else
  for (size_t i = 0; i <= kMaxTupleLength; ++i) {
    if (p[i] == '\\') return false;
    if (p[i] == ',' || p[i] == '"') {
      if (f->count == TupleFields::kMax) return false;
      f->end[f->count++] = static_cast<uint16_t>(i);
      if (p[i] == '"') {
        *length = i;
        return i > 0;
      }
    }
  }
  return false;
#endif
}

bool ParseNsgFields(const TupleFields& tf, FlowRecord* out, DecodeError* error) {
  *error = DecodeError::kBadTuple;
  const int n = tf.count;
  if (n != 8 && n != 9 && n != 13) return false;
  const Fields f(tf);
  if (!ParseCommon(f, out, error)) return false;
  *error = DecodeError::kBadTuple;
  const char decision = f.one(7);
  if (decision != 'A' && decision != 'D') return false;
  out->decision = decision == 'A' ? Decision::kAllow : Decision::kDeny;
  out->encryption = Encryption::kUnknown;
  if (n == 8) {
    out->format = RecordFormat::kNsgV1;
    out->state = FlowState::kNone;
    ZeroCounters(out);
    return true;
  }
  out->format = RecordFormat::kNsgV2;
  switch (f.one(8)) {
    case 'B': out->state = FlowState::kBegin; break;
    case 'C': out->state = FlowState::kContinue; break;
    case 'E': out->state = FlowState::kEnd; break;
    default: return false;
  }
  if (n == 9) {
    ZeroCounters(out);
    return true;
  }
  return ReadCounters(f, out);
}

bool ParseVnetFields(const TupleFields& tf, FlowRecord* out, DecodeError* error) {
  *error = DecodeError::kBadTuple;
  const int n = tf.count;
  if (n != 9 && n != 13) return false;
  const Fields f(tf);
  if (!ParseCommon(f, out, error)) return false;
  *error = DecodeError::kBadTuple;
  out->format = RecordFormat::kVnetV4;
  out->decision = Decision::kAllow;
  switch (f.one(7)) {
    case 'B': out->state = FlowState::kBegin; break;
    case 'C': out->state = FlowState::kContinue; break;
    case 'E': out->state = FlowState::kEnd; break;
    case 'D':
      out->state = FlowState::kDeny;
      out->decision = Decision::kDeny;
      break;
    default: return false;
  }
  out->encryption = ParseEncryption(f.view(8));
  if (n == 9) {
    ZeroCounters(out);
    return true;
  }
  return ReadCounters(f, out);
}

bool ParseNsgTuple(std::string_view text, FlowRecord* out, DecodeError* error) {
  TupleFields f;
  if (!ScanText(text, &f)) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  return ParseNsgFields(f, out, error);
}

bool ParseVnetTuple(std::string_view text, FlowRecord* out, DecodeError* error) {
  TupleFields f;
  if (!ScanText(text, &f)) {
    *error = DecodeError::kBadTuple;
    return false;
  }
  return ParseVnetFields(f, out, error);
}

}  // namespace flowwatch::decode
