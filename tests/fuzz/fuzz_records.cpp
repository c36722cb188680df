// Fuzzes the followed sources' record scanner (lib/source/object_follower.h):
// whatever the bytes, spans stay inside the text, move forward, and a span's
// records re-scan to the same span; and ValueScanner, fed a record in pieces
// (their sizes from the input's first byte), ends it where WholeRecords does,
// or nowhere when WholeRecords finds it incomplete.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/source/file/folder_source.h"

namespace {

bool IsSeparator(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ','; }

// Where the value at text[first] ends fed in pieces of `piece` bytes, or npos.
size_t ScannedEnd(std::string_view text, size_t first, size_t piece) {
  flowwatch::source::ValueScanner scan;
  for (size_t at = first; at < text.size(); at += piece) {
    const std::string_view p = text.substr(at, piece);
    const size_t end = scan.Feed(p);
    if (end != std::string_view::npos) return at + end;
  }
  return std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool ndjson : {false, true}) {
    size_t at = 0;
    bool start = true;
    for (int guard = 0; guard < 100000; ++guard) {
      const flowwatch::source::RecordSpan s = flowwatch::source::WholeRecords(text, at, start, ndjson, 64);
      if (s.records == 0) break;
      if (s.end > text.size() || s.first > s.end || s.end <= at) std::abort();
      at = s.end;
      start = false;
    }
  }
  // Record by record (max_bytes 1: one a span) from the text's start, mid-file.
  const size_t piece = size > 0 ? 1 + data[0] % 17 : 1;
  size_t at = 0;
  for (int guard = 0; guard < 100000 && at < text.size(); ++guard) {
    size_t first = at;
    while (first < text.size() && IsSeparator(text[first])) ++first;
    if (first == text.size() || text[first] == ']') break;  // the trailer: WholeRecords stops there
    const flowwatch::source::RecordSpan s = flowwatch::source::WholeRecords(text, at, false, false, 1);
    const size_t scanned = ScannedEnd(text, first, piece);
    if (s.records == 0) {
      if (scanned != std::string_view::npos) std::abort();  // incomplete for one, not the other
      break;
    }
    if (s.first != first || scanned != s.end) std::abort();
    at = s.end;
  }
  return 0;
}
