// JsonWriter: appends compact JSON to a std::string, for the documents flowwatch
// emits (summary, alert events, port inventory). Escapes strings per RFC 8259
// and replaces invalid UTF-8 with U+FFFD, so output is always valid JSON.
// Commas are inserted automatically. Not thread-safe; cheap to construct.
//
//   JsonWriter w(&out);
//   w.BeginObject(); w.Key("vm"); w.String("vm01"); w.Key("port"); w.Uint(1433); w.EndObject();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowwatch {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(std::string_view k);
  void String(std::string_view s);
  void Uint(uint64_t v);
  void Int(int64_t v);
  // Finite doubles with up to `decimals` fraction digits (trailing zeros dropped).
  void Double(double v, int decimals = 3);
  void Bool(bool v);
  void Null();
  // A value that is already JSON (e.g. an alert object inside a larger document).
  void Raw(std::string_view json);

  // Convenience: "key": value.
  void Field(std::string_view k, std::string_view v) { Key(k); String(v); }
  void Field(std::string_view k, const char* v) { Key(k); String(v); }
  void Field(std::string_view k, uint64_t v) { Key(k); Uint(v); }
  void Field(std::string_view k, int64_t v) { Key(k); Int(v); }
  void Field(std::string_view k, int v) { Key(k); Int(v); }
  void Field(std::string_view k, unsigned v) { Key(k); Uint(v); }
  void Field(std::string_view k, bool v) { Key(k); Bool(v); }
  void FieldDouble(std::string_view k, double v, int decimals = 3) { Key(k); Double(v, decimals); }

  static void AppendEscaped(std::string* out, std::string_view s);

 private:
  void Open(char c);
  void Close(char c);
  void Separate();

  std::string* out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace flowwatch
