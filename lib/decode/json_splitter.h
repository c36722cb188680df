// JsonSplitter: cuts a message body into the pieces the decoder parses one at a
// time: each element of a top-level records container ({"records":[...]} or a
// root array), and each other top-level value whole.
//
// The decoder parses bodies up to 8 MiB as one document (fastest) and uses the
// splitter (a) for bigger ones: simdjson needs about 6 bytes of index per input
// byte, so a 100 MB blob parsed whole would cost 600 MB per decoder thread; and
// (b) after a structural error, to go on with the records after the broken one:
// a corrupt or truncated record fails alone.
//
// The splitter only counts brackets outside strings (memchr finds string ends);
// it does not validate. Each piece is validated when simdjson parses it, and
// anything between or after pieces that is not a value becomes its own piece,
// which then fails to parse and is counted. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace flowwatch::decode {

struct Piece {
  size_t begin = 0;
  size_t end = 0;  // exclusive
  enum class Kind : uint8_t {
    kValue,          // a whole top-level value: a bare record, a blob, an event...
    kRecordElement,  // an element of a {"records":[...]} array: must be a record
    kArrayElement,   // an element of a root array: a record, a blob or an event
  } kind = Kind::kValue;
};

// Appends the pieces of text to *out.
void SplitPieces(std::string_view text, std::vector<Piece>* out);

// Whether a line, trimmed, starts with '{' and ends with '}' (or [ and ]): the
// mark of an NDJSON line rather than a fragment of a pretty-printed document.
bool LooksLikeWholeValue(std::string_view line);

}  // namespace flowwatch::decode
