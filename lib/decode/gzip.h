// Gzip inflation for compressed message bodies and .json.gz files.
// Stateless functions; thread-safe. Concatenated gzip members are supported.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace flowwatch::decode {

inline bool IsGzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

enum class InflateStatus { kOk, kCorrupt, kTooLarge };

// Inflates data into out[0, *out_size). out is resized as needed and always ends
// with `padding` zero bytes after *out_size (for simdjson). Stops with kTooLarge
// once the output would exceed max_out bytes.
InflateStatus Gunzip(std::string_view data, size_t max_out, size_t padding, std::vector<char>* out,
                     size_t* out_size);

}  // namespace flowwatch::decode
