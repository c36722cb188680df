#include "lib/gen/output_file.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

namespace flowwatch::gen {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

Status Errno(const std::string& what, const std::string& path) {
  return Status::IoError(what + " " + path + ": " + std::strerror(errno));
}

// Streams data through deflate (gzip wrapper) into f.
Status WriteGzip(std::FILE* f, std::string_view data, const std::string& path, uint64_t* written) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Internal("deflateInit2 failed for " + path);
  }
  std::vector<unsigned char> chunk(1u << 18);
  const unsigned char* in = reinterpret_cast<const unsigned char*>(data.data());
  size_t left = data.size();
  int rc = Z_OK;
  Status status;
  do {
    const uInt take = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    zs.next_in = const_cast<unsigned char*>(in);
    zs.avail_in = take;
    in += take;
    left -= take;
    const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = chunk.data();
      zs.avail_out = static_cast<uInt>(chunk.size());
      rc = deflate(&zs, flush);
      const size_t have = chunk.size() - zs.avail_out;
      if (have > 0 && std::fwrite(chunk.data(), 1, have, f) != have) {
        status = Errno("cannot write", path);
        break;
      }
      *written += have;
    } while (zs.avail_out == 0);
  } while (status.ok() && left > 0);
  deflateEnd(&zs);
  if (status.ok() && rc != Z_STREAM_END) status = Status::Internal("deflate did not finish for " + path);
  return status;
}

}  // namespace

Status WriteOutputFile(const std::string& path, std::string_view data, bool gzip, uint64_t* written) {
  *written = 0;
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return Status::IoError("cannot create folder " + parent.string() + ": " + ec.message());
  }
  const std::string tmp = path + ".tmp";
  FilePtr f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return Errno("cannot create", tmp);
  Status status;
  if (gzip) {
    status = WriteGzip(f.get(), data, tmp, written);
  } else if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f.get()) != data.size()) {
    status = Errno("cannot write", tmp);
  } else {
    *written = data.size();
  }
  if (std::fclose(f.release()) != 0 && status.ok()) status = Errno("cannot close", tmp);
  if (status.ok()) {
    std::filesystem::rename(tmp, path, ec);
    if (ec) status = Status::IoError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
  if (!status.ok()) std::filesystem::remove(tmp, ec);
  return status;
}

}  // namespace flowwatch::gen
