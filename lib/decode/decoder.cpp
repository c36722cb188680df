#include "lib/decode/decoder.h"

#include <simdjson.h>

#include <cstring>

#include "lib/decode/gzip.h"
#include "lib/decode/json_splitter.h"
#include "lib/decode/record_reader.h"

namespace flowwatch::decode {

size_t RequiredPadding() { return simdjson::SIMDJSON_PADDING; }

std::string_view DecodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kBadJson: return "bad_json";
    case DecodeError::kBadUtf8: return "bad_utf8";
    case DecodeError::kBadGzip: return "bad_gzip";
    case DecodeError::kTooLarge: return "too_large";
    case DecodeError::kEmptyBody: return "empty_body";
    case DecodeError::kUnknownFormat: return "unknown_format";
    case DecodeError::kBadRecord: return "bad_record";
    case DecodeError::kBadTuple: return "bad_tuple";
    case DecodeError::kBadIp: return "bad_ip";
    case DecodeError::kBadTimestamp: return "bad_timestamp";
    case DecodeError::kCount: break;
  }
  return "unknown";
}

void DecodeStats::Add(const DecodeStats& o) {
  bodies += o.bodies;
  body_bytes += o.body_bytes;
  records += o.records;
  notifications += o.notifications;
  for (int i = 0; i < kRecordFormatCount; ++i) tuples_by_format[i] += o.tuples_by_format[i];
  for (int i = 0; i < kDecodeErrorCount; ++i) errors[i] += o.errors[i];
}

class Decoder::Impl {
 public:
  Impl(const DecoderOptions& options, NameTables* names, DecodeStats* stats)
      : options_(options), stats_(stats), reader_(options, names, stats) {}

  // counted: TooLarge() already ran for this body.
  void DecodeBody(const char* data, size_t size, size_t capacity, FlowSink* sink, bool counted = false) {
    if (!counted && TooLarge(size)) return;
    if (IsGzip(std::string_view(data, size))) {
      size_t inflated = 0;
      switch (Gunzip(std::string_view(data, size), options_.max_body_bytes, RequiredPadding(),
                     &inflate_buf_, &inflated)) {
        case InflateStatus::kOk: break;
        case InflateStatus::kCorrupt: Count(DecodeError::kBadGzip); return;
        case InflateStatus::kTooLarge: Count(DecodeError::kTooLarge); return;
      }
      DecodeText(inflate_buf_.data(), inflated, inflate_buf_.size(), sink);
      return;
    }
    DecodeText(data, size, capacity, sink);
  }

  // Copies an unpadded body into the reusable padded buffer.
  void DecodeCopy(std::string_view body, FlowSink* sink) {
    if (TooLarge(body.size())) return;  // before copying it
    if (copy_buf_.size() < body.size() + RequiredPadding()) copy_buf_.resize(body.size() + RequiredPadding());
    std::memcpy(copy_buf_.data(), body.data(), body.size());
    std::memset(copy_buf_.data() + body.size(), 0, RequiredPadding());
    DecodeBody(copy_buf_.data(), body.size(), copy_buf_.size(), sink, /*counted=*/true);
  }

 private:
  void Count(DecodeError e) { ++stats_->errors[static_cast<int>(e)]; }

  // Counts the body; true (and counted as too_large) when it is over the limit.
  // A compressed body that is already over the limit would only grow inflated.
  bool TooLarge(size_t size) {
    ++stats_->bodies;
    stats_->body_bytes += size;
    if (size <= options_.max_body_bytes) return false;
    Count(DecodeError::kTooLarge);
    return true;
  }

  static bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

  void DecodeText(const char* data, size_t size, size_t capacity, FlowSink* sink) {
    size_t begin = 0;
    if (size >= 3 && std::memcmp(data, "\xEF\xBB\xBF", 3) == 0) begin = 3;  // UTF-8 BOM
    while (begin < size && IsSpace(data[begin])) ++begin;
    if (begin == size) {
      Count(DecodeError::kEmptyBody);
      return;
    }
    const std::string_view text(data + begin, size - begin);
    if (!IsNdjson(text)) {
      DecodeValues(data + begin, size - begin, capacity - begin, sink);
      return;
    }
    // One document per line: a broken line cannot take its neighbours with it.
    size_t pos = 0;
    while (pos < text.size()) {
      const void* nl = std::memchr(text.data() + pos, '\n', text.size() - pos);
      const size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - text.data()) : text.size();
      size_t b = pos;
      while (b < end && IsSpace(text[b])) ++b;
      if (b < end) DecodeValues(data + begin + b, end - b, capacity - begin - b, sink);
      pos = end + 1;
    }
  }

  // NDJSON when one of the first two non-empty lines is a whole value on its own;
  // a pretty-printed document's first lines never are.
  static bool IsNdjson(std::string_view text) {
    size_t pos = 0;
    int lines = 0;
    bool whole = false;
    while (pos < text.size() && lines < 2) {
      const size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) return whole && lines > 0;  // the last line
      const std::string_view line = text.substr(pos, nl - pos);
      if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
        ++lines;
        whole = whole || LooksLikeWholeValue(line);
      }
      pos = nl + 1;
    }
    return whole && text.find_first_not_of(" \t\r\n", pos) != std::string_view::npos;
  }

  // One or more JSON values (not NDJSON). Bodies up to kWholeDocumentMax are
  // parsed as one document: the fast path. Bigger ones, and whatever follows a
  // structural error, are split into records and parsed one by one, so the
  // parser's memory stays bounded and a broken record fails alone.
  static constexpr size_t kWholeDocumentMax = 8u << 20;

  void DecodeValues(const char* data, size_t size, size_t capacity, FlowSink* sink) {
    if (size > kWholeDocumentMax) {
      DecodePieces(data, size, capacity, sink, 0, simdjson::SUCCESS);
      return;
    }
    simdjson::ondemand::document doc;
    size_t done = 0;
    simdjson::error_code err = parser_.iterate(data, size, capacity).get(doc);
    if (!err) err = reader_.ReadDocument(doc, sink, &done);
    if (!err) {
      // Concatenated documents: what follows the first value, piece by piece.
      const char* rest = nullptr;
      if (doc.current_location().get(rest) == simdjson::SUCCESS && rest > data && rest < data + size) {
        const size_t off = static_cast<size_t>(rest - data);
        DecodePieces(data + off, size - off, capacity - off, sink, 0, simdjson::SUCCESS);
      }
      return;
    }
    reader_.Abandon();
    DecodePieces(data, size, capacity, sink, done, err);
  }

  // Parses each piece of the text on its own, skipping the first `skip` record
  // elements (already handled). failure: the error that sent us here; counted
  // once if no piece fails with a structural error of its own.
  void DecodePieces(const char* data, size_t size, size_t capacity, FlowSink* sink, size_t skip,
                    simdjson::error_code failure) {
    pieces_.clear();
    SplitPieces(std::string_view(data, size), &pieces_);
    const uint64_t structural_before = StructuralErrors();
    for (const Piece& piece : pieces_) {
      if (piece.kind != Piece::Kind::kValue && skip > 0) {
        --skip;
        continue;
      }
      simdjson::ondemand::document doc;
      simdjson::error_code err =
          parser_.iterate(data + piece.begin, piece.end - piece.begin, capacity - piece.begin).get(doc);
      if (!err) err = reader_.ReadPiece(doc, piece.kind, sink);
      if (err) {
        reader_.Abandon();
        Count(ErrorFor(err));
      }
    }
    if (failure != simdjson::SUCCESS && StructuralErrors() == structural_before) Count(ErrorFor(failure));
  }

  static DecodeError ErrorFor(simdjson::error_code err) {
    return err == simdjson::UTF8_ERROR ? DecodeError::kBadUtf8
           : err == simdjson::CAPACITY ? DecodeError::kTooLarge
                                       : DecodeError::kBadJson;
  }

  uint64_t StructuralErrors() const {
    return stats_->errors[static_cast<int>(DecodeError::kBadJson)] +
           stats_->errors[static_cast<int>(DecodeError::kBadUtf8)] +
           stats_->errors[static_cast<int>(DecodeError::kTooLarge)];
  }

  const DecoderOptions options_;
  DecodeStats* stats_;
  simdjson::ondemand::parser parser_;
  std::vector<char> copy_buf_;
  std::vector<char> inflate_buf_;
  std::vector<Piece> pieces_;
  RecordReader reader_;
};

Decoder::Decoder(const DecoderOptions& options, NameTables* names)
    : impl_(std::make_unique<Impl>(options, names, &stats_)) {}

Decoder::~Decoder() = default;

void Decoder::Decode(std::string_view body, FlowSink* sink) { impl_->DecodeCopy(body, sink); }

void Decoder::DecodePadded(const char* data, size_t size, size_t capacity, FlowSink* sink) {
  impl_->DecodeBody(data, size, capacity, sink);
}

}  // namespace flowwatch::decode
