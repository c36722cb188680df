#include "lib/decode/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace flowwatch::decode {

InflateStatus Gunzip(std::string_view data, size_t max_out, size_t padding, std::vector<char>* out,
                     size_t* out_size) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return InflateStatus::kCorrupt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(std::min<size_t>(data.size(), UINT32_MAX));
  size_t produced = 0;
  if (out->size() < std::max<size_t>(data.size() * 4, 64 * 1024)) {
    out->resize(std::min(std::max<size_t>(data.size() * 4, 64 * 1024), max_out + padding));
  }
  InflateStatus status = InflateStatus::kOk;
  while (true) {
    if (produced + padding >= out->size()) {
      if (produced >= max_out) {
        status = InflateStatus::kTooLarge;
        break;
      }
      out->resize(std::min(out->size() * 2, max_out + padding + 1));
    }
    const size_t room = std::min<size_t>(out->size() - padding - produced, UINT32_MAX);
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow (concatenated .gz files are legal).
      if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        if (inflateReset(&zs) != Z_OK) {
          status = InflateStatus::kCorrupt;
          break;
        }
        continue;
      }
      break;
    }
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs.avail_out == 0)) {
      status = InflateStatus::kCorrupt;  // includes a truncated stream (Z_BUF_ERROR with input left)
      break;
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      status = InflateStatus::kCorrupt;  // input ended before the stream did
      break;
    }
  }
  inflateEnd(&zs);
  if (status == InflateStatus::kOk && produced > max_out) status = InflateStatus::kTooLarge;
  if (out->size() < produced + padding) out->resize(produced + padding);
  std::memset(out->data() + produced, 0, padding);
  *out_size = produced;
  return status;
}

}  // namespace flowwatch::decode
