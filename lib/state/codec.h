// Binary encoding for checkpoints: little-endian fixed-width integers, IEEE
// doubles and floats, and length-prefixed strings, appended to a std::string
// (Writer) or read back with bounds checks (Reader). A Reader never reads past
// its input: the first short or malformed read marks it failed, every later
// read returns zero values, and error() says where it went wrong, so decoding
// code checks ok() once at the end of a section instead of after every field.
// Not thread-safe; cheap.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace flowwatch::state {

static_assert(std::endian::native == std::endian::little, "checkpoints are written little-endian");

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  template <typename T>
  void Put(T v) {
    static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>);
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_->append(buf, sizeof(T));
  }
  void Bytes(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  size_t size() const { return out_->size(); }
  std::string* out() { return out_; }

 private:
  std::string* out_;
};

class Reader {
 public:
  Reader(std::string_view in, std::string what) : in_(in), what_(std::move(what)) {}

  template <typename T>
  T Get() {
    static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>);
    T v{};
    if (!Need(sizeof(T))) return v;
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view Bytes() { return Raw(Get<uint32_t>()); }
  // The next n bytes as they are.
  std::string_view Raw(uint64_t n) {
    if (!Need(n)) return {};
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  // A count of items that take at least min_item_bytes each: refused (and the
  // reader failed) if the rest of the input cannot hold that many, so a
  // corrupt count cannot make the caller reserve gigabytes.
  uint64_t Count(size_t min_item_bytes) {
    const uint64_t n = Get<uint64_t>();
    if (ok() && min_item_bytes > 0 && n > remaining() / min_item_bytes) Fail("a count of " + std::to_string(n));
    return ok() ? n : 0;
  }
  void Fail(const std::string& why) {
    if (error_.empty()) error_ = what_ + ": " + why + " at byte " + std::to_string(pos_);
    pos_ = in_.size();
  }

  bool ok() const { return error_.empty(); }
  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  const std::string& error() const { return error_; }

 private:
  bool Need(uint64_t n) {
    if (!ok()) return false;
    if (n > remaining()) {
      Fail("truncated (" + std::to_string(n) + " bytes needed, " + std::to_string(remaining()) + " left)");
      return false;
    }
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string what_;
  std::string error_;
};

}  // namespace flowwatch::state
