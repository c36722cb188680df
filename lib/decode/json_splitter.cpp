#include "lib/decode/json_splitter.h"

#include <cstring>

namespace flowwatch::decode {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t SkipSpace(std::string_view t, size_t i) {
  while (i < t.size() && IsSpace(t[i])) ++i;
  return i;
}

// Returns the index just past the string whose opening quote is t[i].
size_t SkipString(std::string_view t, size_t i) {
  const char* base = t.data();
  size_t pos = i + 1;
  while (pos < t.size()) {
    const void* q = std::memchr(base + pos, '"', t.size() - pos);
    if (q == nullptr) return t.size();
    const size_t quote = static_cast<size_t>(static_cast<const char*>(q) - base);
    size_t backslashes = 0;
    while (quote - backslashes > i + 1 && base[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote + 1;
    pos = quote + 1;
  }
  return t.size();
}

// Returns the index just past the value that starts at t[i]: a container up to
// its matching bracket, a string, or a scalar up to a delimiter. Returns i for a
// lone closing bracket or comma.
size_t SkipValue(std::string_view t, size_t i) {
  int depth = 0;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '"') {
      i = SkipString(t, i);
      if (depth == 0) return i;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && (c == ',' || c == ':' || IsSpace(c))) {
      return i;
    }
    ++i;
  }
  return t.size();
}

// Splits the elements of the array whose '[' is t[open]; returns the index past
// its ']' (or the end of text if it is truncated).
size_t SplitArray(std::string_view t, size_t open, Piece::Kind kind, std::vector<Piece>* out) {
  size_t i = SkipSpace(t, open + 1);
  while (i < t.size() && t[i] != ']') {
    size_t end = SkipValue(t, i);
    if (end == i) end = i + 1;  // stray '}' or ',': a piece that will fail alone
    out->push_back({i, end, kind});
    i = SkipSpace(t, end);
    if (i < t.size() && t[i] == ',') i = SkipSpace(t, i + 1);
  }
  return i < t.size() ? i + 1 : t.size();
}

// If the object starting at t[open] has a "records" array at depth 1, splits its
// elements and returns the index past the object's '}'. Otherwise returns 0.
size_t SplitRecordsObject(std::string_view t, size_t open, std::vector<Piece>* out) {
  size_t i = SkipSpace(t, open + 1);
  bool found = false;
  while (i < t.size() && t[i] == '"') {
    const size_t key_end = SkipString(t, i);
    const bool is_records = t.substr(i, key_end - i) == "\"records\"";
    i = SkipSpace(t, key_end);
    if (i >= t.size() || t[i] != ':') break;
    i = SkipSpace(t, i + 1);
    if (is_records && !found && i < t.size() && t[i] == '[') {
      found = true;
      i = SkipSpace(t, SplitArray(t, i, Piece::Kind::kRecordElement, out));
    } else {
      const size_t end = SkipValue(t, i);
      if (end == i) break;
      i = SkipSpace(t, end);
    }
    if (i < t.size() && t[i] == ',') {
      i = SkipSpace(t, i + 1);
      continue;
    }
    break;
  }
  if (!found) return 0;
  // Whatever follows the members up to the closing brace is not ours to judge.
  if (i < t.size() && t[i] == '}') return i + 1;
  const size_t end = SkipValue(t, open);
  return end > i ? end : t.size();
}

}  // namespace

void SplitPieces(std::string_view text, std::vector<Piece>* out) {
  size_t i = SkipSpace(text, 0);
  while (i < text.size()) {
    size_t end;
    if (text[i] == '[') {
      end = SplitArray(text, i, Piece::Kind::kArrayElement, out);
    } else if (text[i] == '{' && (end = SplitRecordsObject(text, i, out)) != 0) {
      // the records' elements were appended
    } else if (text[i] == '{' || text[i] == '"') {
      end = SkipValue(text, i);
      out->push_back({i, end, Piece::Kind::kValue});
    } else {
      // Not a document (a scalar, or text that is not JSON): one piece per line,
      // so that garbage is counted once a line, not once a comma.
      const void* nl = std::memchr(text.data() + i, '\n', text.size() - i);
      end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - text.data()) : text.size();
      out->push_back({i, end, Piece::Kind::kValue});
    }
    i = SkipSpace(text, end);
  }
}

bool LooksLikeWholeValue(std::string_view line) {
  size_t b = 0, e = line.size();
  while (b < e && IsSpace(line[b])) ++b;
  while (e > b && IsSpace(line[e - 1])) --e;
  if (e - b < 2) return false;
  return (line[b] == '{' && line[e - 1] == '}') || (line[b] == '[' && line[e - 1] == ']');
}

}  // namespace flowwatch::decode
